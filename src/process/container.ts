/**
 * The container: sockets bound → pidfile written → privileges dropped → a master and its
 * workers serving, with stats and logs. The command line runs it as its whole process;
 * `serve()` runs it from code, inside the caller's process.
 *
 * It runs in the master's process, which never loads the app nor the native reactor
 * (it imports nothing from native/ or server/): the workers do.
 */
import { readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { staticExpires, staticMaps, type Config, type LoadedConfig } from '../config/index.js';
import { ErrorCodes, TsgiError } from '../errors.js';
import { log, logThrough, setLogSink } from '../log.js';
import { LogFile } from '../observe/log-file.js';
import { fdBackend, LogWriter } from '../observe/log-writer.js';
import { Master } from './master.js';
import { checkCheaper } from './cheaper.js';
import { openMasterFifo, serveControl, type Actions, type ControlSocket, type MasterFifo } from './control.js';
import { checkNotRoot, dropPrivileges, socketOwner } from './privileges.js';
import { requestLogger } from '../observe/request-log.js';
import { logDate } from '../observe/strftime.js';
import { checkSlowlog } from '../observe/slowlog.js';
import { noteIn, ownLineFormat } from '../observe/own-lines.js';
import { bindSocket, closeSockets, listenersOf, somaxconn, warnIfExposed, workerListenersOf, type BoundSocket, type Listener } from '../net/sockets.js';
import type { serveStats } from '../observe/stats.js';
import { inheritedSockets, refuseUnclaimed, takeInherited } from '../net/activation.js';
import { systemdNotifier } from './systemd.js';
import { reconfigurer } from './reconfigure.js';
import { upgradeHandover, upgrader, type UpgradeSource } from './upgrade.js';

/** Where tsgi serves when no socket is named: loopback, never every interface. */
export const DEFAULT_SOCKET = '127.0.0.1:3031';
const PROTOCOL_NAMES = { uwsgi: 'uwsgi', fastcgi: 'FastCGI', http: 'HTTP' } as const;

export function packageVersion(): string {
  return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

export interface ContainerOptions {
  /** Take the process's signals as uWSGI's master does: SIGTERM graceful shutdown,
   * SIGINT/SIGQUIT fast, SIGHUP reload, SIGUSR1 reopen `--logto`, SIGTTIN and SIGTTOU a worker more or less. */
  readonly handleSignals: boolean;
  /** Send this process's own tsgi log lines through the container's log (to `--logto`,
   * in order with the workers' lines), instead of the process's log sink. */
  readonly ownLog: boolean;
  /** The configuration's sources, read again by each reload (src/process/reconfigure.ts);
   * without them a reload keeps the running configuration. */
  readonly reread?: () => LoadedConfig;
  /** How this process was started, for an upgrade in place (SIGUSR2): the command line's. */
  readonly upgrade?: UpgradeSource;
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
  /** An upgrade in place (src/process/upgrade.ts): a new master from the installed tsgi takes
   * the sockets over and this one stops. Resolves true once the new master serves, false
   * if it failed (this one serves on) or this container was started from code. */
  upgrade(): Promise<boolean>;
  /** Stops serving: gracefully (in-flight requests finish, up to `--reload-mercy`) or at
   * once. Resolves, as `closed` does, with the exit code the CLI would use. */
  close(options?: { graceful?: boolean }): Promise<number>;
  /** Resolves once every worker is gone and the sockets are closed. */
  readonly closed: Promise<number>;
}

/** The checks that need no socket: they fail before anything is bound. */
export function checkStartable(config: Config): void {
  checkNotRoot(config.uid, config['allow-root']);
  checkCheaper(config);
  if (config['standby-worker'] && config['worker-sockets']) {
    // A worker's own sockets (--worker-sockets) are given to it at its fork, for its place.
    throw new TsgiError(
      ErrorCodes.INVALID_OPTION,
      '--standby-worker cannot be used with --worker-sockets: a worker there gets the sockets of its place when it starts',
    );
  }
  const health = config['health-path'];
  if (health !== undefined && !health.startsWith('/')) {
    throw new TsgiError(ErrorCodes.INVALID_OPTION, `--health-path ${health}: expected a path beginning with /, e.g. /healthz`);
  }
  checkStaticFiles(config);
  // Mistakes in the log template or the date format are found now, not in every worker.
  requestLogger(config);
  logDate(config['log-date']);
  checkSlowlog(config);
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

/** The sockets a configuration names: the shared ones first (a worker's own socket that
 * takes the address of another socket of the options is then the one reported). */
function listenersFor(config: Config): Listener[] {
  const shared = listenersOf(config, DEFAULT_SOCKET);
  return [...shared, ...(config['worker-sockets'] ? workerListenersOf(shared, config.processes) : [])];
}

/** Starts a master and its workers; resolves once every worker is ready. */
export async function startContainer(config: Config, options: ContainerOptions): Promise<Container> {
  checkStartable(config);
  const listeners = listenersFor(config);
  const owner = config['chown-socket'] === undefined ? undefined : socketOwner(config['chown-socket']);
  const output = openLogs(config.logto);
  const ownLines = ownLineFormat(config);
  noteIn(output.logs, config, ownLines);
  const previousSink = options.ownLog ? logThrough(output.logs, ownLines) : null;
  const restoreLog = (): void => void (previousSink && setLogSink(previousSink));
  const backlog = await backlogOf(config);
  /** Every socket open: those served, and those a reload dropped until their workers are gone. */
  const sockets: BoundSocket[] = [];
  const bind = async (listener: Listener): Promise<BoundSocket> => {
    const socket = await bindSocket(listener, config['chmod-socket'], owner);
    // A worker's own socket is on the host of its shared one, warned about already.
    if (listener.worker === undefined) warnIfExposed(listener, socket.local);
    return socket;
  };
  let stats = null as Awaited<ReturnType<typeof serveStats>> | null;
  // Loaded only when asked for, as every module the master loads delays the first worker.
  const startStats = async (): Promise<void> => {
    if (config.stats) stats = await (await import('../observe/stats.js')).serveStats(config.stats, config['stats-http'], () => master.snapshot());
  };
  // A master an upgrade started: its sockets are the old master's, its files once it serves.
  const handover = upgradeHandover();
  /** Whether this process removes its Unix socket files and pidfile as it exits: not once
   * an upgrade handed them over, nor in a new master that never took over. */
  let ownsFiles = handover === null;
  const vacuum = (): boolean => config.vacuum && ownsFiles;
  try {
    // systemd's sockets (LISTEN_FDS), or the old master's, serve the options naming their address.
    const inherited = inheritedSockets(process.env, handover?.files);
    for (const listener of listeners) sockets.push((await takeInherited(listener, inherited)) ?? (await bind(listener)));
    refuseUnclaimed(inherited);
    // Bound with the others, before the privilege drop: a taken port is a start-up error.
    await startStats();
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
  let control: ControlSocket | null = null;
  let fifo: MasterFifo | null = null;
  /** Binds --control-socket and --master-fifo, when asked for. */
  const startControl = async (): Promise<void> => {
    if (config['control-socket']) control = await serveControl(config['control-socket'], actions);
    if (config['master-fifo']) fifo = openMasterFifo(config['master-fifo'], actions);
  };
  const cleanup = async (): Promise<void> => {
    systemd.close();
    control?.close();
    fifo?.close();
    for (const [signal, handler] of handlers) process.off(signal, handler);
    stats?.close();
    await closeSockets(sockets, vacuum());
    if (config.pidfile && vacuum()) {
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
    ...(options.reread && {
      reconfigure: reconfigurer({
        reread: options.reread,
        check: checkStartable,
        listeners: listenersFor,
        bind,
        open: sockets,
        current: () => master.generation,
        vacuum,
        applied: (next) => (config = next),
      }),
    }),
  });
  const upgrade = options.upgrade
    ? upgrader({
        source: options.upgrade,
        sockets: () => master.generation.sockets,
        startTimeoutMs: () => config['start-timeout'] * 1000,
        pidfile: () => config.pidfile,
        // The new master binds the stats, control socket and FIFO paths itself: this one lets
        // them go for the switch, and takes them back if the upgrade fails.
        release: async () => {
          stats?.close();
          control?.close();
          fifo?.close();
          control = fifo = null;
        },
        restore: async () => {
          await startStats().catch((error: unknown) => log.error(`upgrade: ${(error as Error).message}; the stats are not served`));
          await startControl().catch((error: unknown) => log.error(`upgrade: ${(error as Error).message}; no control socket`));
        },
        handOver: (pid) => {
          ownsFiles = false;
          // systemd follows the new master (NotifyAccess=main takes its word from now on).
          systemd.send(`MAINPID=${pid}\nSTATUS=upgraded: the new master (pid ${pid}) serves`);
          master.shutdown(true);
          void closeSockets(sockets, vacuum());
        },
      })
    : null;
  const upgradeNow = async (why: string): Promise<boolean> => {
    if (upgrade) return upgrade.start(why);
    log.warn(`upgrade (${why}): only a master started by the command line can start its successor`);
    return false;
  };
  /** --shutdown-delay's wait, until it ends or another stop comes first. */
  let delayed: NodeJS.Timeout | undefined;
  const shutdown = (graceful: boolean): void => {
    clearTimeout(delayed);
    upgrade?.abort();
    systemd.send(`STOPPING=1\nSTATUS=stopping${graceful ? ': the workers finish their requests' : ''}`);
    master.shutdown(graceful);
    // New connections are refused at once, not once the last worker has gone.
    if (graceful) void closeSockets(sockets, vacuum());
  };
  // What the signals, the control socket and the master FIFO do (control.ts's commands).
  const gracefulStop = (why: string): void => {
    log.info(`${why}: graceful shutdown; the workers finish their requests (up to --reload-mercy ${config['reload-mercy']} s)`);
    shutdown(true);
  };
  const actions: Actions = {
    master,
    upgrade: upgrade && ((why) => master.background(upgrade.start(why))),
    // With --shutdown-delay, the first stop only drains: health answers 503 so load
    // balancers and endpoints let go, while requests routed meanwhile are still served.
    stop(why) {
      const delay = config['shutdown-delay'];
      if (delay === 0 || delayed !== undefined) return gracefulStop(why);
      log.info(`${why}: draining: --health-path answers 503, serving on for --shutdown-delay ${delay} s, then a graceful shutdown (another SIGTERM: at once)`);
      systemd.send(`STOPPING=1\nSTATUS=draining for --shutdown-delay ${delay} s`);
      master.drain();
      delayed = setTimeout(() => gracefulStop(why), delay * 1000);
    },
    shutdown(why) {
      log.info(`${why}: fast shutdown`);
      shutdown(false);
    },
    reopenLogs(why) {
      if (!config.logto) return 'there is no --logto file to reopen: tsgi logs to stderr';
      if (!output.reopen()) return `cannot reopen --logto ${config.logto}; still writing to the old file (the log says why)`;
      void master.reopenLogs().then(() => log.info(`${why}: reopened --logto ${config.logto}`));
      return null;
    },
  };
  if (options.handleSignals) {
    // SIGTERM is a graceful shutdown (uWSGI 2.0 made it a reload, a classic trap): the
    // workers stop accepting and finish their requests. SIGINT and SIGQUIT are fast.
    handlers.set('SIGTERM', () => actions.stop('SIGTERM'));
    for (const signal of ['SIGINT', 'SIGQUIT'] as const) handlers.set(signal, () => actions.shutdown(signal));
    handlers.set('SIGHUP', () => master.background(master.reload('SIGHUP')));
    handlers.set('SIGUSR1', () => void actions.reopenLogs('SIGUSR1'));
    // A worker more or less, within --cheaper (or 1) and --processes, as gunicorn's.
    handlers.set('SIGTTIN', () => void master.scaleTo(master.workerCount.running + 1, 'SIGTTIN'));
    handlers.set('SIGTTOU', () => void master.scaleTo(master.workerCount.running - 1, 'SIGTTOU'));
    if (actions.upgrade) handlers.set('SIGUSR2', () => actions.upgrade!('SIGUSR2'));
    for (const [signal, handler] of handlers) process.on(signal, handler);
  }
  try {
    // Before any worker starts: a path that cannot be bound fails the start.
    await startControl();
  } catch (error) {
    master.shutdown(false);
    await closed;
    throw error;
  }
  if (stats) log.info(`stats on ${stats.local}${config['stats-http'] ? ' (HTTP: / and /metrics)' : ''}`);
  await Promise.race([master.start(), startFailed]);
  for (const socket of sockets) {
    const passed = handover ? ' (from the old master)' : ' (from systemd)';
    const whose = socket.worker === undefined ? (socket.inherited ? passed : '') : ` (worker ${socket.worker}'s own)`;
    log.info(`serving ${config.module ?? 'the built-in example app'} over ${PROTOCOL_NAMES[socket.protocol]} on ${socket.local}${whose}`);
  }
  const { running, max } = master.workerCount;
  const more = running < max ? `, up to ${max} on demand` : '';
  log.info(`${running} worker(s) ready (pid ${master.pids.join(', ')}${more}); master pid ${process.pid}`);
  systemd.send(`READY=1\nSTATUS=${running} worker(s) serving on ${sockets.map((s) => s.local).join(', ')}`);
  if (handover) {
    ownsFiles = true;
    handover.ready();
  }
  return {
    get addresses() {
      return master.generation.sockets.map((s) => ({
        protocol: s.protocol,
        name: s.name,
        address: s.local,
        ...(s.worker !== undefined && { worker: s.worker }),
      }));
    },
    get pids() {
      return master.pids;
    },
    reload: () => master.reload('reload()'),
    upgrade: () => upgradeNow('upgrade()'),
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
    reopen: () => file.reopen(),
    close: () => file.close(),
  };
}
