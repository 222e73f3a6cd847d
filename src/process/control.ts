/**
 * Operating a running tsgi: the control socket (`--control-socket`, spoken by
 * `tsgi ctl`), uWSGI's master FIFO (`--master-fifo`, one letter a command) and what both
 * do, in one table of commands over the container's actions, so that a command, its
 * signal and its FIFO letter do the same thing.
 *
 * The control socket takes one command line, plain (`workers +1`) or JSON
 * (`{"command":"workers","args":["+1"]}`), answers one JSON line (`"ok"`: true, or false
 * with `"error"`) and closes. It is a Unix socket of mode 0600, owned by the master's
 * user: whoever may signal the master may use it, nobody else.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, closeSync, constants, existsSync, lstatSync, openSync, unlinkSync } from 'node:fs';
import net from 'node:net';
import { dirname } from 'node:path';
import { describeError, ErrorCodes, TsgiError } from '../errors.js';
import { log } from '../log.js';
import { describeErrno } from '../net/server-handle.js';
import { removeStaleSocket } from '../net/sockets.js';
import { statsJson } from '../observe/stats.js';
import type { Master } from './master.js';

/** The longest command line read. */
const MAX_LINE = 4096;
/** How long a control connection may take to send its command. */
const COMMAND_DEADLINE_MS = 5000;

/** What the commands act on: the master, and the container's stops (as its signals do). */
export interface Actions {
  readonly master: Master;
  /** Graceful, as SIGTERM (with --shutdown-delay, its drain first). */
  stop(why: string): void;
  /** At once, as SIGQUIT. */
  shutdown(why: string): void;
  /** As SIGUSR1: why not, when there is no --logto or it cannot be reopened. */
  reopenLogs(why: string): string | null;
  /** As SIGUSR2: a new master on the same sockets; null where none can be started (serve()). */
  readonly upgrade: ((why: string) => void) | null;
}

/** One answer; `after` runs once the answer is out (a stop must not cut its own answer). */
interface Outcome {
  readonly answer: Record<string, unknown>;
  readonly after?: () => void;
}

const COMMANDS = ['status', 'workers', 'reload', 'chain-reload', 'reopen-logs', 'stop', 'shutdown', 'upgrade'] as const;

function failure(command: string | undefined, error: string): Outcome {
  return { answer: { ok: false, ...(command !== undefined && { command }), error } };
}

/** A command line, plain or JSON, as a command and its arguments; a string is a refusal. */
export function parseCommand(line: string): { command: string; args: string[] } | string {
  const text = line.trim();
  if (text.startsWith('{')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      return 'the command is not valid JSON';
    }
    const { command, args = [] } = parsed as { command?: unknown; args?: unknown };
    if (typeof command !== 'string') return 'the JSON command has no "command" string';
    if (!Array.isArray(args) || !args.every((a) => typeof a === 'string' || typeof a === 'number')) return '"args" must be a list of strings or numbers';
    return { command, args: args.map(String) };
  }
  const [command, ...args] = text.split(/\s+/);
  if (!command) return `an empty command; expected one of ${COMMANDS.join(', ')}`;
  return { command, args };
}

/** The worker count asked for: `N`, `+N` or `-N` from `running`. */
function targetOf(arg: string | undefined, running: number): number | string {
  const match = arg === undefined ? null : /^([+-]?)(\d{1,4})$/.exec(arg);
  if (!match) return 'workers: expected N, +N or -N (e.g. workers 4, workers +1)';
  const n = Number(match[2]);
  return match[1] === '+' ? running + n : match[1] === '-' ? running - n : n;
}

/** Runs one command; `why` names where it came from in the log (`control socket`). */
export async function runCommand(actions: Actions, command: string, args: readonly string[], why: string): Promise<Outcome> {
  const { master } = actions;
  const ok = (answer: Record<string, unknown> = {}, after?: () => void): Outcome => ({ answer: { ok: true, command, ...answer }, after });
  if (!(COMMANDS as readonly string[]).includes(command)) {
    return failure(command, `unknown command ${JSON.stringify(command)}; expected one of ${COMMANDS.join(', ')}`);
  }
  if (command !== 'workers' && args.length > 0) return failure(command, `${command} takes no arguments`);
  switch (command) {
    case 'status': {
      const snapshot = await master.snapshot();
      const { min, max, running } = master.workerCount;
      return ok({
        master: { pid: snapshot.pid, version: snapshot.version },
        bounds: { min, max },
        running,
        workers: snapshot.workers.map((w) => ({ id: w.id, pid: w.pid, state: w.status, requests: w.requests, in_flight: w.in_flight })),
        // --standby-worker's process, forked ahead and serving nothing (null: none waits).
        standby: master.standbyPid,
      });
    }
    case 'workers': {
      const { min, max, running } = master.workerCount;
      const target = targetOf(args[0], running);
      if (typeof target === 'string') return failure(command, target);
      const refusal = master.scaleTo(target, `${why}: workers ${args[0]}`);
      return refusal ? failure(command, `cannot run ${target} worker(s): ${refusal}`) : ok({ running: target, was: running, bounds: { min, max } });
    }
    case 'reload':
    case 'chain-reload': {
      const chain = command === 'chain-reload';
      const busy = master.changing;
      if (busy) return failure(command, busy);
      master.background(master.reload(`${why}: ${command}`, chain || undefined));
      return ok({ detail: `${chain ? 'one worker at a time: ' : ''}new workers start, then the old ones finish their requests; the log says when it is done` });
    }
    case 'reopen-logs': {
      const refusal = actions.reopenLogs(`${why}: reopen-logs`);
      return refusal ? failure(command, refusal) : ok();
    }
    case 'stop':
      return ok({ detail: 'graceful shutdown: the workers finish their requests' }, () => actions.stop(`${why}: stop`));
    case 'shutdown':
      return ok({ detail: 'fast shutdown' }, () => actions.shutdown(`${why}: shutdown`));
    case 'upgrade':
      if (!actions.upgrade) return failure(command, 'upgrade is not available');
      return ok({ detail: 'a new master starts on the same sockets; the log says when it serves' }, () => actions.upgrade!(`${why}: upgrade`));
    default:
      throw new Error(`no case for the command ${command}`);
  }
}

/** The control socket's server; `close()` removes its file. */
export interface ControlSocket {
  close(): void;
}

/** Serves `--control-socket PATH`; a path that cannot be bound is a start-up error. */
export async function serveControl(path: string, actions: Actions): Promise<ControlSocket> {
  const refuse = (cause: string, error?: unknown): TsgiError => new TsgiError(ErrorCodes.LISTEN, `--control-socket ${path}: ${cause}`, { cause: error });
  // Node says EACCES for a directory that is not there: said plainly here instead.
  if (!existsSync(dirname(path))) throw refuse(`no such directory: ${dirname(path)}`);
  try {
    await removeStaleSocket(path);
  } catch (error) {
    throw refuse(error instanceof TsgiError ? error.message : describeError(error), error);
  }
  const server = net.createServer((socket) => answer(socket, actions));
  server.maxConnections = 16;
  // Made 0600 as it is created: no moment where another user could connect.
  const umask = process.umask(0o177);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', (error: NodeJS.ErrnoException) =>
        reject(refuse(typeof error.errno === 'number' ? describeErrno(error.errno) : error.message, error)),
      );
      server.listen(path, resolve);
    });
  } finally {
    process.umask(umask);
  }
  server.on('error', (error) => log.warn(`control socket: ${error.message}`));
  chmodSync(path, 0o600);
  return {
    close() {
      server.close();
      removeFile(path);
    },
  };
}

function removeFile(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // already gone
  }
}

/** Reads one command line from a control connection, answers it, closes. */
function answer(socket: net.Socket, actions: Actions): void {
  socket.on('error', () => {});
  const deadline = setTimeout(() => socket.destroy(), COMMAND_DEADLINE_MS);
  socket.on('close', () => clearTimeout(deadline));
  let text = '';
  let done = false;
  const respond = (outcome: Outcome): void => {
    socket.end(`${JSON.stringify(outcome.answer)}\n`, () => outcome.after?.());
  };
  const take = (): void => {
    if (done) return;
    done = true;
    const line = text.split('\n')[0]!;
    const parsed = parseCommand(line);
    if (typeof parsed === 'string') return respond(failure(undefined, parsed));
    runCommand(actions, parsed.command, parsed.args, 'control socket').then(respond, (error: unknown) =>
      respond(failure(parsed.command, `failed: ${describeError(error)}`)),
    );
  };
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    text += chunk;
    if (text.length > MAX_LINE) {
      done = true;
      return respond(failure(undefined, `the command is longer than ${MAX_LINE} bytes`));
    }
    if (text.includes('\n')) take();
  });
  socket.on('end', take);
}

// ---- uWSGI's master FIFO -------------------------------------------------------------------

/** uWSGI's letters tsgi does, as control commands (`+`/`-` are `workers +1`/`-1`). */
const FIFO_LETTERS: Readonly<Record<string, readonly [command: string, ...args: string[]]>> = {
  r: ['reload'],
  w: ['reload'],
  c: ['chain-reload'],
  q: ['stop'],
  Q: ['shutdown'],
  l: ['reopen-logs'],
  '+': ['workers', '+1'],
  '-': ['workers', '-1'],
};

/** uWSGI's letters tsgi does not do, and why, for the line said instead. */
const FIFO_NOT_DONE: Readonly<Record<string, string>> = {
  R: "a brutal reload; tsgi's reloads are graceful: use r",
  W: "a brutal reload of the workers; tsgi's reloads are graceful: use r",
  L: 'log rotation; rotate with logrotate, then l reopens the log',
  p: 'pausing the instance',
  P: 'rewriting the pidfiles',
  f: 're-forking the master',
  b: 're-binding the Unix sockets',
  B: "the Emperor's broodlord mode",
  C: 'cheap mode',
  E: 'an Emperor rescan',
  S: 'subscriptions',
};

/** The master FIFO's reader; `close()` removes it. */
export interface MasterFifo {
  close(): void;
}

/**
 * Makes `--master-fifo PATH` (mode 0600; a FIFO left there by a crash is replaced,
 * anything else at the path is refused) and acts on each letter written to it, as
 * uWSGI's master does: `echo r > PATH`, several at once (`echo ++s > PATH`).
 */
export function openMasterFifo(path: string, actions: Actions): MasterFifo {
  const refuse = (cause: string, error?: unknown): TsgiError => new TsgiError(ErrorCodes.LISTEN, `--master-fifo ${path}: ${cause}`, { cause: error });
  try {
    if (!lstatSync(path).isFIFO()) throw refuse('the path exists and is not a FIFO');
    unlinkSync(path);
  } catch (error) {
    if (error instanceof TsgiError) throw error;
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw refuse(describeError(error), error);
  }
  try {
    // Node has no mkfifo(3); coreutils' mkfifo(1) is on every Linux.
    execFileSync('mkfifo', ['-m', '600', path], { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (error) {
    const said = (error as { stderr?: Buffer }).stderr?.toString().trim();
    throw refuse(`cannot make the FIFO: ${said || describeError(error)}`, error);
  }
  // Read and write: opening never waits for a writer, and the last writer closing is
  // no end of file (the master holds a writer itself).
  const fd = openSync(path, constants.O_RDWR | constants.O_NONBLOCK);
  const stream = new net.Socket({ fd, readable: true, writable: false });
  stream.setEncoding('latin1');
  let queue = Promise.resolve();
  stream.on('data', (chunk: string) => {
    for (const letter of chunk) queue = queue.then(() => fifoLetter(letter, actions));
  });
  stream.on('error', (error) => log.warn(`master FIFO: ${error.message}`));
  return {
    close() {
      stream.destroy();
      try {
        closeSync(fd);
      } catch {
        // closed with the stream
      }
      removeFile(path);
    },
  };
}

async function fifoLetter(letter: string, actions: Actions): Promise<void> {
  if (/\s/.test(letter)) return;
  const why = `master FIFO ${letter}`;
  if (letter === 's') {
    log.info(`${why}: stats: ${statsJson(await actions.master.snapshot())}`);
    return;
  }
  const known = FIFO_LETTERS[letter];
  if (!known) {
    const what = FIFO_NOT_DONE[letter] ?? (/^[0-9]$/.test(letter) ? 'FIFO slots (one --master-fifo here)' : null);
    log.warn(`${why}: ${what ? `${what}: not done by tsgi` : "not one of uWSGI's master FIFO commands"}; ignored`);
    return;
  }
  const [command, ...args] = known;
  const { answer, after } = await runCommand(actions, command, args, 'master FIFO');
  if (!answer.ok) log.warn(`${why}: ${String(answer.error)}`);
  after?.();
}

// ---- the client: tsgi ctl ---------------------------------------------------------------

/** `tsgi ctl PATH COMMAND [ARGS]`: sends the command, resolves with the answer's line. */
export function ctl(path: string, words: readonly string[]): Promise<{ ok: boolean; line: string }> {
  return new Promise((resolve, reject) => {
    let text = '';
    const socket = net.connect(path);
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write(`${words.join(' ')}\n`));
    socket.on('data', (chunk: string) => (text += chunk));
    socket.on('end', () => {
      const line = text.trim();
      try {
        resolve({ ok: (JSON.parse(line) as { ok?: unknown }).ok === true, line });
      } catch {
        reject(new TsgiError(ErrorCodes.LISTEN, `ctl ${path}: not a tsgi control socket (it answered ${JSON.stringify(line.slice(0, 80))})`));
      }
    });
    socket.on('error', (error: NodeJS.ErrnoException) => {
      const cause =
        error.code === 'ENOENT' || error.code === 'ECONNREFUSED'
          ? 'no tsgi is listening there (is it running with --control-socket?)'
          : typeof error.errno === 'number'
            ? describeErrno(error.errno)
            : error.message;
      reject(new TsgiError(ErrorCodes.LISTEN, `ctl ${path}: ${cause}`, { cause: error }));
    });
  });
}
