/**
 * The container: sockets bound → pidfile written → privileges dropped → a master and its
 * workers serving, with stats and logs. The command line runs it as its whole process;
 * `serve()` runs it from code, inside the caller's process.
 *
 * It runs in the master's process, which never loads the app nor the native reactor
 * (it imports nothing from native/ or server/): the workers do.
 */
import { readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { staticExpires, staticMaps, type Config } from '../config/index.js';
import { ErrorCodes, TsgiError } from '../errors.js';
import { log, logThrough, setLogSink } from '../log.js';
import { LogFile } from '../observe/log-file.js';
import { fdBackend, LogWriter } from '../observe/log-writer.js';
import { Master } from './master.js';
import { checkNotRoot, dropPrivileges, socketOwner } from './privileges.js';
import { requestLogger } from '../observe/request-log.js';
import { logDate } from '../observe/strftime.js';
import { noteIn, ownLineFormat } from '../observe/own-lines.js';
import { bindSocket, closeSockets, listenersOf, somaxconn, warnIfExposed, workerListenersOf, type BoundSocket } from '../net/sockets.js';
import { serveStats } from '../observe/stats.js';
import { inheritedSockets, refuseUnclaimed, takeInherited } from '../net/activation.js';
import { systemdNotifier } from './systemd.js';

/** Where tsgi serves when no socket is named: loopback, never every interface. */
export const DEFAULT_SOCKET = '127.0.0.1:3031';
const PROTOCOL_NAMES = { uwsgi: 'uwsgi', fastcgi: 'FastCGI', http: 'HTTP' } as const;

export function packageVersion(): string {
  return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

export interface ContainerOptions {
  /** Take the process's signals as uWSGI's master does: SIGTERM graceful shutdown,
   * SIGINT/SIGQUIT fast, SIGHUP reload, SIGUSR1 reopen `--logto`. */
  readonly handleSignals: boolean;
  /** Send this process's own tsgi log lines through the container's log (to `--logto`,
   * in order with the workers' lines), instead of the process's log sink. */
  readonly ownLog: boolean;
}

/** A socket being served. */
export interface BoundAddress {
  readonly protocol: 'uwsgi' | 'fastcgi' | 'http';
  /** As the options named it (`:0`, `/run/app.sock`). */
  readonly name: string;
  /** As bound: `127.0.0.1:41234` (the real port for port 0) or the socket path. */
  readonly address: string;
  /** A worker's own socket (`--worker-sockets`): its place, 1..processes; absent for a
   * socket every worker shares. */
  readonly worker?: number;
}

/** A running container. */
export interface Container {
  readonly addresses: readonly BoundAddress[];
  /** The worker processes now. */
  readonly pids: readonly number[];
  /** A graceful reload: new workers (re-importing the app) accept before the old ones stop.
   * Resolves true once done, false if the new workers failed to start (the old ones
   * serve on) or a reload is already running (one more is then done after it). */
  reload(): Promise<boolean>;
  /** Stops serving: gracefully (in-flight requests finish, up to `--reload-mercy`) or at
   * once. Resolves, as `closed` does, with the exit code the CLI would use. */
  close(options?: { graceful?: boolean }): Promise<number>;
  /** Resolves once every worker is gone and the sockets are closed. */
  readonly closed: Promise<number>;
}

/** The checks that need no socket: they fail before anything is bound. */
export function checkStartable(config: Config): void {
  checkNotRoot(config.uid, config['allow-root']);
  const health = config['health-path'];
  if (health !== undefined && !health.startsWith('/')) {
    throw new TsgiError(ErrorCodes.INVALID_OPTION, `--health-path ${health}: expected a path beginning with /, e.g. /healthz`);
  }
  checkStaticFiles(config);
  // Mistakes in the log template or the date format are found now, not in every worker.
  requestLogger(config);
  logDate(config['log-date']);
}

/** A bad --static-map or --static-expires, or a mapped directory that is not one, is
 * found before anything starts (src/server/static-files.ts serves them). */
function checkStaticFiles(config: Config): void {
  try {
    staticExpires(config['static-expires'] ?? []);
    for (const { prefix, dir } of staticMaps(config['static-map'] ?? [])) {
      const stats = statSync(dir, { throwIfNoEntry: false });
      if (!stats?.isDirectory()) throw new Error(`--static-map ${prefix}=${dir}: ${stats ? 'not a directory' : 'no such directory'}`);
    }
  } catch (error) {
    throw new TsgiError(ErrorCodes.INVALID_OPTION, (error as Error).message, { cause: error });
  }
}

/** The listen queue length: `--listen`, else the kernel's cap (warning if asked for more). */
export async function backlogOf(config: Config): Promise<number> {
  const cap = await somaxconn();
  if (config.listen !== undefined && config.listen > cap) {
    log.warn(`--listen ${config.listen}: the kernel caps listen queues at ${cap} (net.core.somaxconn); raise it with sysctl for a longer queue`);
  }
  return config.listen ?? cap;
}

/** Starts a master and its workers; resolves once every worker is ready. */
export async function startContainer(config: Config, options: ContainerOptions): Promise<Container> {
  checkStartable(config);
  // The shared sockets first: a worker's own socket that takes the address of another
  // socket of the options is then the one reported.
  const shared = listenersOf(config, DEFAULT_SOCKET);
  const listeners = [...shared, ...(config['worker-sockets'] ? workerListenersOf(shared, config.processes) : [])];
  const owner = config['chown-socket'] === undefined ? undefined : socketOwner(config['chown-socket']);
  const output = openLogs(config.logto);
  const ownLines = ownLineFormat(config);
  noteIn(output.logs, config, ownLines);
  const previousSink = options.ownLog ? logThrough(output.logs, ownLines) : null;
  const restoreLog = (): void => void (previousSink && setLogSink(previousSink));
  const backlog = await backlogOf(config);
  const sockets: BoundSocket[] = [];
  let stats: Awaited<ReturnType<typeof serveStats>> | null = null;
  try {
    // systemd's sockets (LISTEN_FDS) serve the options naming their address.
    const inherited = inheritedSockets();
    for (const listener of listeners) {
      const socket = (await takeInherited(listener, inherited)) ?? (await bindSocket(listener, config['chmod-socket'], owner));
      sockets.push(socket);
      // A worker's own socket is on the host of its shared one, warned about already.
      if (listener.worker === undefined) warnIfExposed(listener, socket.local);
    }
    refuseUnclaimed(inherited);
    // Bound with the others, before the privilege drop: a taken port is a start-up error.
    if (config.stats) stats = await serveStats(config.stats, config['stats-http'], () => master.snapshot());
    if (config.pidfile) writeFileSync(config.pidfile, `${process.pid}\n`);
    dropPrivileges(config.uid, config.gid, config['allow-root']);
  } catch (error) {
    stats?.close();
    await closeSockets(sockets, true);
    restoreLog();
    throw error;
  }
  const systemd = await systemdNotifier();
  const handlers = new Map<NodeJS.Signals, () => void>();
  const cleanup = async (): Promise<void> => {
    systemd.close();
    for (const [signal, handler] of handlers) process.off(signal, handler);
    stats?.close();
    await closeSockets(sockets, config.vacuum);
    if (config.pidfile && config.vacuum) {
      try {
        unlinkSync(config.pidfile);
      } catch {
        // already gone
      }
    }
    await output.logs.flushed();
    await output.stdout.flushed();
    output.close();
    restoreLog();
  };
  let settleClosed!: (code: number) => void;
  const closed = new Promise<number>((resolve) => (settleClosed = resolve));
  let failStart!: (error: TsgiError) => void;
  const startFailed = new Promise<never>((_, reject) => (failStart = reject));
  const master: Master = new Master({
    config,
    sockets,
    backlog,
    logs: output.logs,
    stdout: output.stdout,
    logFd: () => output.fd,
    version: `tsgi ${packageVersion()}`,
    onExit: (code) => void cleanup().then(() => settleClosed(code)),
    // Only before every worker was ever ready (--need-app): the start fails with it.
    onFatal: (error) => void cleanup().then(() => failStart(error)),
    notify: systemd.send,
  });
  /** --shutdown-delay's wait, until it ends or another stop comes first. */
  let delayed: NodeJS.Timeout | undefined;
  const shutdown = (graceful: boolean): void => {
    clearTimeout(delayed);
    systemd.send(`STOPPING=1\nSTATUS=stopping${graceful ? ': the workers finish their requests' : ''}`);
    master.shutdown(graceful);
    // New connections are refused at once, not once the last worker has gone.
    if (graceful) void closeSockets(sockets, config.vacuum);
  };
  if (options.handleSignals) {
    // SIGTERM is a graceful shutdown (uWSGI 2.0 made it a reload, a classic trap): the
    // workers stop accepting and finish their requests. SIGINT and SIGQUIT are fast.
    // With --shutdown-delay, the first SIGTERM only drains: health answers 503 so load
    // balancers and endpoints let go, while requests routed meanwhile are still served.
    const stop = (): void => {
      log.info(`SIGTERM: graceful shutdown; the workers finish their requests (up to --reload-mercy ${config['reload-mercy']} s)`);
      shutdown(true);
    };
    handlers.set('SIGTERM', () => {
      const delay = config['shutdown-delay'];
      if (delay === 0 || delayed !== undefined) return stop();
      log.info(`SIGTERM: draining: --health-path answers 503, serving on for --shutdown-delay ${delay} s, then a graceful shutdown (another SIGTERM: at once)`);
      systemd.send(`STOPPING=1\nSTATUS=draining for --shutdown-delay ${delay} s`);
      master.drain();
      delayed = setTimeout(stop, delay * 1000);
    });
    for (const signal of ['SIGINT', 'SIGQUIT'] as const) {
      handlers.set(signal, () => {
        log.info(`${signal}: fast shutdown`);
        shutdown(false);
      });
    }
    handlers.set('SIGHUP', () => master.background(master.reload('SIGHUP')));
    handlers.set('SIGUSR1', () => {
      if (!config.logto || !output.reopen()) return;
      void master.reopenLogs().then(() => log.info(`SIGUSR1: reopened --logto ${config.logto}`));
    });
    for (const [signal, handler] of handlers) process.on(signal, handler);
  }
  if (stats) log.info(`stats on ${stats.local}${config['stats-http'] ? ' (HTTP: / and /metrics)' : ''}`);
  await Promise.race([master.start(), startFailed]);
  for (const socket of sockets) {
    const whose = socket.worker === undefined ? (socket.inherited ? ' (from systemd)' : '') : ` (worker ${socket.worker}'s own)`;
    log.info(`serving ${config.module ?? 'the built-in example app'} over ${PROTOCOL_NAMES[socket.protocol]} on ${socket.local}${whose}`);
  }
  log.info(`${config.processes} worker(s) ready (pid ${master.pids.join(', ')}); master pid ${process.pid}`);
  systemd.send(`READY=1\nSTATUS=${config.processes} worker(s) serving on ${sockets.map((s) => s.local).join(', ')}`);
  return {
    addresses: sockets.map((s) => ({ protocol: s.protocol, name: s.name, address: s.local, ...(s.worker !== undefined && { worker: s.worker }) })),
    get pids() {
      return master.pids;
    },
    reload: () => master.reload('reload()'),
    close: ({ graceful = true } = {}) => {
      shutdown(graceful);
      return closed;
    },
    closed,
  };
}

interface Logs {
  readonly logs: LogWriter;
  /** The apps' stdout. */
  readonly stdout: LogWriter;
  /** Where tsgi's log lines go now (stderr, or the `--logto` file): each worker inherits
   * it and writes its own lines there. */
  readonly fd: number;
  /** After logrotate moved `--logto`: write to a new file of that name; false (and logged)
   * if it cannot be opened. */
  reopen(): boolean;
  /** Closes the `--logto` file, once flushed. */
  close(): void;
}

/** Where log lines go: stderr (the apps' stdout to stdout), or all to `--logto`. */
function openLogs(logto: string | undefined): Logs {
  if (logto === undefined) return { logs: new LogWriter(fdBackend(2)), stdout: new LogWriter(fdBackend(1)), fd: 2, reopen: () => false, close() {} };
  const file = new LogFile(logto);
  return {
    logs: file.writer,
    stdout: file.writer,
    get fd() {
      return file.fd;
    },
    reopen() {
      try {
        file.reopen();
        return true;
      } catch (error) {
        log.error(`SIGUSR1: cannot reopen --logto ${logto}: ${(error as Error).message}; still writing to the old file`);
        return false;
      }
    },
    close: () => file.close(),
  };
}
