/**
 * The chaos harness: a real tsgi master with its workers (the CLI, as users run it), a
 * constant-rate load that records every request's fate, and a report table of what each
 * fault cost. Used by __test__/serving/chaos.test.ts with a real nginx in front.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { afterEach } from 'vitest';

const CLI = path.resolve('dist/cli.js');

/** Pids whose parent is `pid`, from /proc. */
export function childrenOf(pid: number): number[] {
  const children: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // The command name is in parentheses and may hold spaces: fields start after it.
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) children.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return children.sort((a, b) => a - b);
}

/** SIGKILL to a master the test did not start (an upgrade's successor) and its workers. */
export function killTree(pid: number): void {
  for (const child of [...childrenOf(pid), pid]) {
    try {
      process.kill(child, 'SIGKILL');
    } catch {
      // gone already
    }
  }
}

/** Whether process `pid` exists (and is not a zombie). */
export function alive(pid: number): boolean {
  try {
    return !readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z ');
  } catch {
    return false;
  }
}

export async function until<T>(check: () => T | Promise<T>, what: string, timeoutMs = 10_000, everyMs = 20): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

/** A running `tsgi` master. */
export interface Tsgi {
  readonly child: ChildProcess;
  readonly pid: number;
  /** Every line it printed (stderr and stdout), with when. */
  readonly lines: Array<{ at: number; text: string }>;
  /** Resolves with the first line (past or future) matching `pattern`. */
  line(pattern: RegExp, timeoutMs?: number): Promise<{ at: number; text: string }>;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** The worker processes now. */
  workers(): number[];
  /** SIGKILL to the master and its workers, if still there. */
  kill(): void;
}

/**
 * For a test file that starts tsgi: `tsgi(args, ready)` starts it as `startTsgi` does, and
 * after each test every tsgi started and whatever else was pushed onto `cleanups` is undone,
 * the last first.
 */
export function useTsgi(): { tsgi: (args: string[], ready?: RegExp | null) => Promise<Tsgi>; cleanups: Array<() => void> } {
  const cleanups: Array<() => void> = [];
  afterEach(() => {
    for (const cleanup of cleanups.splice(0).reverse()) cleanup();
  });
  return {
    cleanups,
    async tsgi(args, ready) {
      const started = await startTsgi(args, ready);
      cleanups.push(() => started.kill());
      return started;
    },
  };
}

/** tsgi refuses to run workers as root without leave; CI runs as root. */
export const AS_ROOT = process.getuid?.() === 0 ? ['--allow-root'] : [];

/**
 * Starts the CLI with `args`; resolves once `ready` is printed (default: the workers are
 * ready). `fdLimit`: the process starts with that many file descriptors at most (ulimit -n).
 * `env`: added to the environment. `launcher`: a command that execs the CLI (given as its
 * last arguments), e.g. systemd-socket-activate; its pid becomes tsgi's. `nodeFlags`:
 * Node's own flags, before the CLI (`--import tsx`).
 */
export async function startTsgi(
  args: string[],
  ready: RegExp | null = /worker\(s\) ready/,
  { fdLimit, env, launcher = [], nodeFlags = [] }: { fdLimit?: number; env?: NodeJS.ProcessEnv; launcher?: string[]; nodeFlags?: string[] } = {},
): Promise<Tsgi> {
  const command = [...launcher, process.execPath, ...nodeFlags, CLI, ...AS_ROOT, ...args];
  const options = { stdio: ['ignore', 'pipe', 'pipe'] as ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } };
  const child =
    fdLimit === undefined
      ? spawn(command[0]!, command.slice(1), options)
      : spawn('bash', ['-c', `ulimit -n ${fdLimit} && exec "$0" "$@"`, ...command], options);
  const lines: Tsgi['lines'] = [];
  const waiters = new Set<() => void>();
  for (const stream of [child.stdout!, child.stderr!]) {
    let rest = '';
    stream.setEncoding('utf8').on('data', (chunk: string) => {
      const parts = (rest + chunk).split('\n');
      rest = parts.pop()!;
      for (const text of parts) lines.push({ at: Date.now(), text });
      for (const wake of waiters) wake();
    });
  }
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  const line = (pattern: RegExp, timeoutMs = 10_000) =>
    new Promise<{ at: number; text: string }>((resolve, reject) => {
      const look = (): boolean => {
        const found = lines.find((l) => pattern.test(l.text));
        if (found) {
          waiters.delete(look);
          clearTimeout(timer);
          resolve(found);
        }
        return Boolean(found);
      };
      const timer = setTimeout(() => {
        waiters.delete(look);
        reject(new Error(`no line matching ${pattern} within ${timeoutMs} ms; tsgi printed:\n${lines.map((l) => l.text).join('\n')}`));
      }, timeoutMs);
      if (!look()) waiters.add(look);
    });
  const pid = child.pid!;
  const tsgi: Tsgi = {
    child,
    pid,
    lines,
    line,
    exited,
    workers: () => childrenOf(pid),
    kill: () => {
      for (const worker of childrenOf(pid)) {
        try {
          process.kill(worker, 'SIGKILL');
        } catch {
          // exited between the listing and the kill
        }
      }
      child.kill('SIGKILL');
    },
  };
  if (ready)
    await Promise.race([
      line(ready, 15_000),
      exited.then((e) => Promise.reject(new Error(`tsgi exited (${JSON.stringify(e)}):\n${lines.map((l) => l.text).join('\n')}`))),
    ]);
  return tsgi;
}

/** One request of a load run. */
export interface Outcome {
  path: string;
  start: number;
  end: number;
  /** The HTTP status, or 0 for a connection error. */
  status: number;
  /** The worker that answered (the app's X-Pid header). */
  pid?: number;
  error?: string;
}

/**
 * Requests at a constant rate through one URL prefix, whatever happens to the server:
 * every one is recorded with its start, end and outcome. Kept-alive connections, as a
 * browser's, unless `keepAlive: false` (a connection per request).
 */
export class Load {
  readonly outcomes: Outcome[] = [];
  private readonly agent: http.Agent;
  private timer: NodeJS.Timeout | undefined;
  private pending = new Set<Promise<void>>();

  constructor(
    private readonly url: (path: string) => string,
    private readonly perSecond: number,
    private readonly path = '/ok',
    { keepAlive = true } = {},
  ) {
    this.agent = new http.Agent({ keepAlive, maxSockets: 256 });
  }

  start(): this {
    const begun = Date.now();
    let sent = 0;
    // Catches up on missed ticks, so the rate holds even when timers run late.
    this.timer = setInterval(() => {
      const due = Math.floor(((Date.now() - begun) / 1000) * this.perSecond);
      while (sent < due) {
        sent++;
        this.fire(this.path);
      }
    }, 5);
    return this;
  }

  /** One request outside the steady rate. */
  fire(path: string): Promise<void> {
    const outcome: Outcome = { path, start: Date.now(), end: 0, status: 0 };
    this.outcomes.push(outcome);
    const done = new Promise<void>((resolve) => {
      const req = http.get(this.url(path), { agent: this.agent, timeout: 30_000 }, (res) => {
        res.resume();
        res.on('end', () => {
          outcome.end = Date.now();
          outcome.status = res.statusCode ?? 0;
          const pid = Number(res.headers['x-pid']);
          if (pid) outcome.pid = pid;
          resolve();
        });
        res.on('error', (error) => ((outcome.end = Date.now()), (outcome.error = error.message), resolve()));
      });
      req.on('timeout', () => req.destroy(new Error('timed out')));
      req.on('error', (error) => ((outcome.end = Date.now()), (outcome.error = error.message), resolve()));
    });
    this.pending.add(done);
    void done.then(() => this.pending.delete(done));
    return done;
  }

  /** Stops sending and waits for every request in flight. */
  async stop(): Promise<{ sent: number; failed: Outcome[] }> {
    clearInterval(this.timer);
    await Promise.all(this.pending);
    this.agent.destroy();
    return { sent: this.outcomes.length, failed: this.outcomes.filter((o) => o.status < 200 || o.status >= 300) };
  }
}

/** Whether a TCP connection to `port` on loopback is refused. */
export function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.on('connect', () => (socket.destroy(), resolve(false)));
    socket.on('error', () => resolve(true));
  });
}

/** The report: one row per scenario, printed when the suite ends. */
export interface ChaosRow {
  scenario: string;
  sent: number;
  failed: number;
  /** What recovering took, or what else was measured. */
  recovery: string;
}

export function reportTable(rows: readonly ChaosRow[]): string {
  const lines = ['| scenario | requests sent | failed | recovery |', '|---|---:|---:|---|'];
  for (const row of rows) lines.push(`| ${row.scenario} | ${row.sent} | ${row.failed} | ${row.recovery} |`);
  return lines.join('\n');
}
