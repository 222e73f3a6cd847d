/**
 * A reload that reads the configuration again (SIGHUP, --touch-reload, `reload()`): the
 * sources given at start are read anew (the same command line, the files it names, the
 * environment as it was at start; or `serve()`'s options and their files), checked,
 * and compared with the running configuration. The master then starts its new workers
 * with it and the old ones drain, as in any graceful reload (src/process/master.ts).
 * Sockets the new configuration adds are bound before; sockets it no longer names are
 * closed once the old workers serving on them have exited.
 *
 * Options the master reads only at start (`RESTART_ONLY`) keep their running values; the
 * reload names those that changed (an upgrade, SIGUSR2, or a restart applies them). A
 * configuration with a mistake is refused whole: each problem is logged, as at start,
 * and the running configuration and workers serve on.
 */
import { OPTIONS, type Config, type LoadedConfig, type OptionSpec } from '../config/index.js';
import { describeError, TsgiError } from '../errors.js';
import { log } from '../log.js';
import { closeSockets, type BoundSocket, type Listener } from '../net/sockets.js';

/** What new workers get: a configuration and the sockets it names. */
export interface Generation {
  readonly config: Config;
  readonly sockets: readonly BoundSocket[];
}

/** A reload's new generation, and what is done once the reload is over. */
export interface Reconfiguration {
  readonly next: Generation;
  /** `ok`: the new workers serve (`drained` resolves once the old ones have exited);
   * otherwise the old configuration goes on and the sockets bound for it are closed. */
  settled(ok: boolean, drained: Promise<unknown>): void;
}

/**
 * Read once by the master or the container at start, so kept as they are by a reload:
 * privileges and files the master holds (uid, gid, pidfile, the log file and the shape
 * of its own lines), where it runs, the stats server, and how sockets are made (the
 * queue length, a Unix socket's mode and owner, whether files are removed at exit).
 */
export const RESTART_ONLY = [
  'master',
  'uid',
  'gid',
  'allow-root',
  'pidfile',
  'chdir',
  'logto',
  'log-json',
  'log-date',
  'stats',
  'stats-http',
  'listen',
  'chmod-socket',
  'chown-socket',
  'vacuum',
] as const satisfies ReadonlyArray<keyof Config>;

/** The options given by name only, never compared (the command line's flags, the files). */
const NOT_COMPARED = new Set(['ini', 'json', 'toml', 'yaml', 'print-config', 'help', 'version']);

export interface ReconfigureParts {
  /** The sources of start, read again; throws a TsgiError listing the problems. */
  reread(): LoadedConfig;
  /** The checks of start that need no socket (src/process/container.ts). */
  check(config: Config): void;
  /** The sockets a configuration names. */
  listeners(config: Config): Listener[];
  bind(listener: Listener): Promise<BoundSocket>;
  /** Every socket open in this process: bound ones are added, closed ones taken out. */
  readonly open: BoundSocket[];
  /** What the master serves now. */
  current(): Generation;
  /** Whether closing a Unix socket removes its file (--vacuum, and not handed over). */
  vacuum(): boolean;
  /** A new configuration serves: the container's own uses of it follow. */
  applied(config: Config): void;
}

/** The master's `reconfigure` hook: the next generation, undefined when nothing changed,
 * null when the configuration was refused (logged). */
export function reconfigurer(parts: ReconfigureParts): (why: string) => Promise<Reconfiguration | null | undefined> {
  const closeStale = async (): Promise<void> => {
    const serving = new Set(parts.current().sockets);
    const stale = parts.open.filter((s) => !serving.has(s));
    if (stale.length === 0) return;
    for (const socket of stale) parts.open.splice(parts.open.indexOf(socket), 1);
    await closeSockets(stale, parts.vacuum());
    log.info(`closed ${stale.map((s) => s.local).join(', ')}: the configuration no longer names them and their workers are gone`);
  };
  return async (why) => {
    let loaded: LoadedConfig;
    try {
      loaded = parts.reread();
      parts.check(loaded.config);
    } catch (error) {
      const lines = error instanceof TsgiError ? error.message.split('\n') : [describeError(error)];
      for (const line of lines) log.error(line);
      log.error(`reload (${why}) refused: ${lines.length} problem(s) in the configuration; the running configuration and workers serve on`);
      return null;
    }
    for (const warning of loaded.warnings) log.warn(warning);
    const running = parts.current();
    const kept = RESTART_ONLY.filter((name) => !sameValue(running.config[name], loaded.config[name]));
    const config = { ...loaded.config } as Record<string, unknown>;
    for (const name of RESTART_ONLY) config[name] = running.config[name];
    const next = config as Config;
    const changed = (OPTIONS as readonly OptionSpec[])
      .map((spec) => spec.name as keyof Config)
      .filter((name) => !NOT_COMPARED.has(name) && !sameValue(running.config[name], next[name]));
    if (kept.length > 0) log.warn(`reload (${why}): changed, but kept as they are until a restart (or an upgrade, SIGUSR2): ${kept.join(', ')}`);

    const sockets: BoundSocket[] = [];
    const added: BoundSocket[] = [];
    try {
      for (const listener of parts.listeners(next)) {
        // A socket being drained after the last reload serves again.
        const same = parts.open.find((s) => s.protocol === listener.protocol && s.name === listener.name && s.worker === listener.worker);
        if (same) {
          sockets.push(same);
          continue;
        }
        const socket = await parts.bind(listener);
        parts.open.push(socket);
        added.push(socket);
        sockets.push(socket);
      }
    } catch (error) {
      await close(parts, added);
      const message = error instanceof TsgiError ? error.message : describeError(error);
      log.error(`reload (${why}) refused: ${message}; the running configuration and workers serve on`);
      return null;
    }
    const dropped = running.sockets.filter((s) => !sockets.includes(s));
    if (changed.length === 0 && added.length === 0 && dropped.length === 0) {
      log.info(`reload (${why}): configuration read again, unchanged`);
      return undefined;
    }
    const what = [
      changed.length > 0 ? `changed: ${changed.join(', ')}` : 'no option changed',
      ...(added.length > 0 ? [`bound ${added.map((s) => s.local).join(', ')}`] : []),
      ...(dropped.length > 0 ? [`closing ${dropped.map((s) => s.local).join(', ')} once the old workers are gone`] : []),
    ];
    log.info(`reload (${why}): configuration read again; ${what.join('; ')}`);
    return {
      next: { config: next, sockets },
      settled(ok, drained) {
        if (!ok) {
          void close(parts, added);
          return;
        }
        parts.applied(next);
        void drained.then(closeStale);
      },
    };
  };
}

/** Closes the sockets a refused or failed reload bound (any new worker on them is stopping). */
async function close(parts: ReconfigureParts, sockets: readonly BoundSocket[]): Promise<void> {
  for (const socket of sockets) parts.open.splice(parts.open.indexOf(socket), 1);
  await closeSockets(sockets, true);
}

function sameValue(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** Runs `read` where the process started, for the relative paths of start (--chdir has
 * moved the process since). */
export function readFrom<T>(directory: string, read: () => T): T {
  const now = process.cwd();
  if (now === directory) return read();
  process.chdir(directory);
  try {
    return read();
  } finally {
    process.chdir(now);
  }
}
