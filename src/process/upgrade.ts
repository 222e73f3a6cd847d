/**
 * An upgrade in place (SIGUSR2, `upgrade()`): a new master starts from the installed
 * tsgi (the same Node and Node flags, the same CLI path, arguments and directory, the
 * environment as it was at start) and takes this master's listening sockets as systemd
 * passes them (`sd_listen_fds(3)`): fds 3... with `LISTEN_FDS`, `LISTEN_FDNAMES` and
 * `LISTEN_PID`, adopted by the code that adopts systemd's (src/net/activation.ts). Once
 * every one of its workers is ready it says so on a pipe; this master then lets go of
 * the files (the pidfile and the Unix sockets are the new master's), stops accepting and
 * exits once its workers have finished their requests. The sockets never stop listening:
 * no connection is refused during the switch.
 *
 * `LISTEN_PID` must name the new master, whose pid Node cannot know before it exists: a
 * shell sets it to its own pid (`$$`) and execs Node, which keeps that pid. The pipe's
 * descriptor is named by `TSGI_UPGRADE_FD`, tsgi's own variable, and the Unix sockets
 * whose files tsgi made (not systemd) by `TSGI_UPGRADE_FILES`.
 *
 * If the new master exits, or is not ready within --start-timeout (and a margin for its
 * start), it is stopped and this master serves on, its pidfile written again.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, writeFileSync, writeSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { log } from '../log.js';
import type { BoundSocket } from '../net/sockets.js';
import { workerExecArgv } from './node-args.js';

/** The descriptor a new master says "ready" on (src/config/environment.ts knows it). */
export const UPGRADE_FD_VARIABLE = 'TSGI_UPGRADE_FD';
/** The passed descriptors that are Unix sockets tsgi made (not systemd): their files are
 * the new master's to remove at exit (--vacuum). Comma-separated. */
export const UPGRADE_FILES_VARIABLE = 'TSGI_UPGRADE_FILES';
/** The first descriptor of `sd_listen_fds`. */
const FIRST_FD = 3;
/** What a new master's start takes beyond --start-timeout (Node, the config, binding). */
const START_MARGIN_MS = 10_000;
/** A new master asked to stop (SIGTERM) is killed this long after, if still there. */
const KILL_AFTER_MS = 5000;
/** systemd's `systemd:NAME`, which names a passed socket by its FileDescriptorName=. */
const BY_NAME = 'systemd:';

/** How this process was started: what an upgrade starts again. */
export interface UpgradeSource {
  readonly execPath: string;
  readonly execArgv: readonly string[];
  /** The CLI's path, as started (a symlink to the installed tsgi stays one). */
  readonly cli: string;
  readonly argv: readonly string[];
  /** The environment as it was before tsgi read it (and took systemd's variables out). */
  readonly env: NodeJS.ProcessEnv;
  readonly cwd: string;
}

export interface UpgradeParts {
  readonly source: UpgradeSource;
  /** The sockets the workers serve now. */
  sockets(): readonly BoundSocket[];
  startTimeoutMs(): number;
  pidfile(): string | undefined;
  /** Lets go of what the new master binds again (the stats socket). */
  release(): Promise<void>;
  /** The new master did not take over: takes back what `release` let go. */
  restore(): Promise<void>;
  /** The new master serves: it owns the files now; this master stops gracefully. */
  handOver(pid: number): void;
}

export interface Upgrader {
  /** Resolves true once the new master serves (this one is then stopping). */
  start(why: string): Promise<boolean>;
  /** This master stops: a new master not ready yet is stopped too. */
  abort(): void;
}

/** One upgrade under way. */
interface Attempt {
  child?: ChildProcess;
  /** This master began to stop meanwhile. */
  stopped: boolean;
}

/** SIGUSR2's upgrade, one at a time. */
export function upgrader(parts: UpgradeParts): Upgrader {
  let attempt: Attempt | null = null;
  return {
    async start(why) {
      if (attempt) {
        log.warn(`upgrade (${why}): one is already under way`);
        return false;
      }
      attempt = { stopped: false };
      try {
        return await upgrade(parts, why, attempt);
      } finally {
        attempt = null;
      }
    },
    abort() {
      if (!attempt || attempt.stopped) return;
      attempt.stopped = true;
      if (!attempt.child) return;
      log.info(`upgrade: this master is stopping; the new master (pid ${attempt.child.pid}), not ready yet, is stopped too`);
      attempt.child.kill('SIGTERM');
    },
  };
}

async function upgrade(parts: UpgradeParts, why: string, attempt: Attempt): Promise<boolean> {
  const sockets = parts.sockets();
  await parts.release();
  if (attempt.stopped) return false;
  const { source } = parts;
  let child: ChildProcess;
  try {
    child = spawn(
      '/bin/sh',
      ['-c', 'LISTEN_PID=$$; export LISTEN_PID; exec "$@"', 'tsgi', source.execPath, ...workerExecArgv(source.execArgv), source.cli, ...source.argv],
      {
        cwd: source.cwd,
        env: handoverEnvironment(source.env, sockets),
        stdio: ['ignore', 'inherit', 'inherit', ...sockets.map((s) => s.fd), 'pipe'],
      },
    );
  } catch (error) {
    await parts.restore();
    log.error(`upgrade (${why}) failed: cannot start a new master: ${(error as Error).message}; this master (pid ${process.pid}) serves on`);
    return false;
  }
  attempt.child = child;
  const exited = new Promise<string>((resolve) => {
    child.once('exit', (code, signal) => resolve(signal ? `was killed by ${signal}` : `exited with code ${code}`));
    child.once('error', (error) => resolve(`could not be started: ${error.message}`));
  });
  log.info(`upgrade (${why}): new master (pid ${child.pid}) starting from ${source.cli} with ${sockets.length} socket(s) of this one`);
  const timeoutMs = parts.startTimeoutMs() + START_MARGIN_MS;
  let timer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([
    saysReady(child.stdio[FIRST_FD + sockets.length] as Readable | null),
    exited.then((how) => `${how} before it was ready`),
    new Promise<string>(
      (resolve) =>
        (timer = setTimeout(() => resolve(`was not ready within ${timeoutMs / 1000} s (--start-timeout + ${START_MARGIN_MS / 1000} s); stopped`), timeoutMs)),
    ),
  ]);
  clearTimeout(timer);
  // Stopped meanwhile (abort): the new master is stopping too; the files are this one's.
  if (attempt.stopped) return false;
  if (outcome === true) {
    child.unref();
    child.stdio[FIRST_FD + sockets.length]?.destroy();
    log.info(`upgrade (${why}): the new master (pid ${child.pid}) serves; this master (pid ${process.pid}) stops, its workers finish their requests`);
    parts.handOver(child.pid!);
    return true;
  }
  if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
    child.kill('SIGTERM');
    const kill = setTimeout(() => child.kill('SIGKILL'), KILL_AFTER_MS);
    await exited;
    clearTimeout(kill);
  }
  // The new master wrote its pid there as it started (and may have removed the file).
  const pidfile = parts.pidfile();
  if (pidfile) writeFileSync(pidfile, `${process.pid}\n`);
  await parts.restore();
  log.error(`upgrade (${why}) failed: the new master (pid ${child.pid ?? 'none'}) ${outcome}; this master (pid ${process.pid}) serves on`);
  return false;
}

/** The new master's environment: the one of start, and the sockets as systemd passes them. */
function handoverEnvironment(start: NodeJS.ProcessEnv, sockets: readonly BoundSocket[]): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...start,
    LISTEN_FDS: String(sockets.length),
    // A name only for the sockets the options name by one (`systemd:NAME`); addresses hold ':'.
    LISTEN_FDNAMES: sockets.map((s) => (s.name.startsWith(BY_NAME) ? s.name.slice(BY_NAME.length) : 'unknown')).join(':'),
    [UPGRADE_FD_VARIABLE]: String(FIRST_FD + sockets.length),
    [UPGRADE_FILES_VARIABLE]: sockets.flatMap((s, i) => (s.path === undefined ? [] : [FIRST_FD + i])).join(','),
  };
  delete env.LISTEN_PID;
  return env;
}

/** Resolves true when the new master writes `ready` on its pipe; never otherwise (nor
 * when the process could not be made: no pipe). */
function saysReady(pipe: Readable | null): Promise<true> {
  return new Promise((resolve) => {
    if (!pipe) return;
    let text = '';
    pipe.setEncoding('utf8');
    pipe.on('data', (chunk: string) => {
      text += chunk;
      if (text.includes('ready\n')) resolve(true);
    });
    pipe.on('error', () => {});
  });
}

/**
 * In a master an upgrade started: says "ready" to the old master, once, and names the
 * socket files it takes over; null in any other master. The variables are taken out of
 * the environment, so the workers do not see them.
 */
export function upgradeHandover(env: NodeJS.ProcessEnv = process.env): { ready(): void; files: ReadonlySet<number> } | null {
  const fd = Number(env[UPGRADE_FD_VARIABLE]);
  const files = new Set((env[UPGRADE_FILES_VARIABLE] ?? '').split(',').filter(Boolean).map(Number));
  delete env[UPGRADE_FD_VARIABLE];
  delete env[UPGRADE_FILES_VARIABLE];
  if (!Number.isInteger(fd) || fd < FIRST_FD) return null;
  return {
    files,
    ready() {
      try {
        writeSync(fd, 'ready\n');
        closeSync(fd);
      } catch {
        // The old master is gone: nobody is waiting.
      }
    },
  };
}
