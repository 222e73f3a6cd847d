/**
 * Operating a running tsgi (docs/operations.md): the control socket, spoken by the real
 * `tsgi ctl` and by a raw client; uWSGI's master FIFO; SIGTTIN and SIGTTOU at the bounds;
 * the names in ps. Each against a real master and its workers, counted from /proc.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { alive, startTsgi, until, type Tsgi } from '../helpers/chaos.js';

const APP = path.resolve('__test__/fixtures/chaos-app.mjs');
const CLI = path.resolve('dist/cli.js');
const cleanups: Array<() => void> = [];

afterEach(() => {
  for (const cleanup of cleanups.splice(0).reverse()) cleanup();
});

function tempDir(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tsgi-control-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function tsgi(args: string[], ready?: RegExp | null): Promise<Tsgi> {
  const socket = args.some((a) => a.endsWith('-socket') && a !== '--control-socket') ? [] : ['--socket', '127.0.0.1:0'];
  const started = await startTsgi([...socket, '--module', APP, ...args], ready);
  cleanups.push(() => started.kill());
  return started;
}

/** `tsgi ctl PATH ...words`, the real CLI: its exit code, stdout and stderr. */
function ctl(socket: string, ...words: string[]): Promise<{ code: number; stdout: string; stderr: string; answer: Record<string, any> | null }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, 'ctl', socket, ...words], (error, stdout, stderr) => {
      let answer: Record<string, any> | null = null;
      try {
        answer = JSON.parse(stdout) as Record<string, any>;
      } catch {
        // no answer: the socket is not there
      }
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr, answer });
    });
  });
}

/** One raw line to the control socket, the answer's text. */
function raw(socket: string, line: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const client = net.connect(socket, () => client.write(line));
    client.setEncoding('utf8').on('data', (d: string) => (text += d));
    client.on('end', () => resolve(text));
    client.on('error', reject);
  });
}

/** The master's live worker processes named `tsgi worker N`, by N. */
function workerIds(master: Tsgi): number[] {
  return master
    .workers()
    .map((pid) => {
      try {
        return Number(/^tsgi worker (\d+)/.exec(readFileSync(`/proc/${pid}/cmdline`, 'utf8'))?.[1] ?? 0);
      } catch {
        return 0;
      }
    })
    .filter((id) => id > 0)
    .sort((a, b) => a - b);
}

/** Waits until exactly `ids` are the live workers (a retired one has exited). */
function workersAre(master: Tsgi, ids: number[]): Promise<true> {
  return until(
    () => JSON.stringify(workerIds(master)) === JSON.stringify(ids) || undefined,
    `workers ${ids.join(', ')} (now ${workerIds(master).join(', ')})`,
    20_000,
  );
}

describe('the control socket and tsgi ctl', () => {
  it('status, workers N/+1/-1 within the bounds, and errors naming the bound; a 0600 socket, removed on exit', async () => {
    const socket = path.join(tempDir(), 'ctl.sock');
    const master = await tsgi(['--processes', '3', '--cheaper', '1', '--control-socket', socket]);
    expect(statSync(socket).mode & 0o777).toBe(0o600);
    expect(statSync(socket).uid).toBe(process.getuid!());

    const status = await ctl(socket, 'status');
    expect(status.code).toBe(0);
    expect(status.answer).toMatchObject({ ok: true, command: 'status', master: { pid: master.pid }, bounds: { min: 1, max: 3 }, running: 1, standby: null });
    const [first] = master.workers();
    expect(status.answer!.workers).toEqual([
      { id: 1, pid: first, state: 'idle', requests: 0, in_flight: 0 },
      { id: 2, pid: 0, state: 'cheap', requests: 0, in_flight: 0 },
      { id: 3, pid: 0, state: 'cheap', requests: 0, in_flight: 0 },
    ]);

    expect((await ctl(socket, 'workers', '+1')).answer).toEqual({ ok: true, command: 'workers', running: 2, was: 1, bounds: { min: 1, max: 3 } });
    await workersAre(master, [1, 2]);
    expect((await ctl(socket, 'workers', '3')).answer).toMatchObject({ ok: true, running: 3, was: 2 });
    await workersAre(master, [1, 2, 3]);

    const over = await ctl(socket, 'workers', '+1');
    expect(over.code).toBe(1);
    expect(over.answer).toEqual({ ok: false, command: 'workers', error: 'cannot run 4 worker(s): at most 3 worker(s) run (--processes 3)' });
    expect(over.stderr).toBe('tsgi: ctl workers +1: cannot run 4 worker(s): at most 3 worker(s) run (--processes 3)\n');

    expect((await ctl(socket, 'workers', '-1')).answer).toMatchObject({ ok: true, running: 2, was: 3 });
    await workersAre(master, [1, 2]);
    expect((await ctl(socket, 'workers', '1')).answer).toMatchObject({ ok: true, running: 1, was: 2 });
    await workersAre(master, [1]);
    const under = await ctl(socket, 'workers', '0');
    expect(under.code).toBe(1);
    expect(under.answer!.error).toBe('cannot run 0 worker(s): at least 1 worker(s) run (one is the least)');
    // Back up: the place of lowest id is taken again.
    await ctl(socket, 'workers', '+1');
    await workersAre(master, [1, 2]);

    expect((await ctl(socket, 'stop')).answer).toMatchObject({ ok: true, command: 'stop' });
    expect(await master.exited).toEqual({ code: 0, signal: null });
    expect(existsSync(socket)).toBe(false);
  });

  it('the bounds of --cheaper; plain and JSON commands; bad commands get an error answer and the master serves on', async () => {
    const socket = path.join(tempDir(), 'ctl.sock');
    const master = await tsgi(['--processes', '4', '--cheaper', '2', '--cheaper-initial', '3', '--control-socket', socket]);
    expect(workerIds(master)).toEqual([1, 2, 3]);
    expect(JSON.parse(await raw(socket, '{"command":"workers","args":["1"]}\n'))).toEqual({
      ok: false,
      command: 'workers',
      error: 'cannot run 1 worker(s): at least 2 worker(s) run (--cheaper 2)',
    });
    expect(JSON.parse(await raw(socket, 'status\n'))).toMatchObject({ ok: true, bounds: { min: 2, max: 4 }, running: 3 });
    expect(JSON.parse(await raw(socket, 'bogus\n'))).toEqual({
      ok: false,
      command: 'bogus',
      error: 'unknown command "bogus"; expected one of status, workers, reload, chain-reload, reopen-logs, stop, shutdown, upgrade',
    });
    expect(JSON.parse(await raw(socket, '{"command":\n'))).toEqual({ ok: false, error: 'the command is not valid JSON' });
    expect(JSON.parse(await raw(socket, 'workers many\n'))).toMatchObject({ ok: false, error: 'workers: expected N, +N or -N (e.g. workers 4, workers +1)' });
    expect(JSON.parse(await raw(socket, 'status please\n'))).toMatchObject({ ok: false, error: 'status takes no arguments' });
    expect(JSON.parse(await raw(socket, 'bogus 1 2\n'))).toMatchObject({
      ok: false,
      command: 'bogus',
      error: expect.stringMatching(/^unknown command "bogus"/),
    });
    expect(JSON.parse(await raw(socket, `${'x'.repeat(5000)}\n`))).toMatchObject({ ok: false, error: 'the command is longer than 4096 bytes' });
    // upgrade is SIGUSR2's path: reload-upgrade.test.ts runs it through tsgi ctl.
    expect((await ctl(socket, 'reopen-logs')).answer).toEqual({
      ok: false,
      command: 'reopen-logs',
      error: 'there is no --logto file to reopen: tsgi logs to stderr',
    });
    expect(JSON.parse(await raw(socket, 'status\n'))).toMatchObject({ ok: true, running: 3 });
    expect(alive(master.pid)).toBe(true);
  });

  it('reload and chain-reload replace every worker (chain: one at a time); reopen-logs reopens --logto', async () => {
    const dir = tempDir();
    const socket = path.join(dir, 'ctl.sock');
    const logfile = path.join(dir, 'tsgi.log');
    const master = await tsgi(['--processes', '2', '--control-socket', socket, '--logto', logfile], null);
    await until(() => existsSync(logfile) && readFileSync(logfile, 'utf8').includes('worker(s) ready'), 'the log file to say ready');
    const log = () => readFileSync(logfile, 'utf8');
    const before = master.workers();

    expect((await ctl(socket, 'reload')).answer).toMatchObject({ ok: true, command: 'reload' });
    await until(() => log().includes('reload (control socket: reload): done'), 'the reload to be done');
    await until(() => master.workers().length === 2 && master.workers().every((pid) => !before.includes(pid)), 'new workers only');

    const middle = master.workers();
    expect((await ctl(socket, 'chain-reload')).answer).toMatchObject({ ok: true, command: 'chain-reload' });
    // While it runs, neither another reload nor a change of the count is taken.
    expect(JSON.parse(await raw(socket, 'reload\n'))).toEqual({ ok: false, command: 'reload', error: 'a reload is running; try again once it is done' });
    expect(JSON.parse(await raw(socket, 'workers 1\n'))).toEqual({
      ok: false,
      command: 'workers',
      error: 'cannot run 1 worker(s): a reload is running; try again once it is done',
    });
    await until(() => log().includes('reload (control socket: chain-reload): done'), 'the chain reload to be done');
    expect(log()).toContain('reload (control socket: chain-reload): starting 2 new worker(s), one at a time');
    await until(() => master.workers().length === 2 && master.workers().every((pid) => !middle.includes(pid)), 'new workers only');

    renameSync(logfile, `${logfile}.1`);
    expect((await ctl(socket, 'reopen-logs')).answer).toEqual({ ok: true, command: 'reopen-logs' });
    await until(() => existsSync(logfile) && log().includes('control socket: reopen-logs: reopened --logto'), 'the new log file');

    expect((await ctl(socket, 'shutdown')).answer).toMatchObject({ ok: true, command: 'shutdown' });
    expect((await master.exited).code).toBe(0);
    expect(existsSync(socket)).toBe(false);
  });

  it('tsgi ctl on a path where nothing listens: one line, exit 1', async () => {
    const socket = path.join(tempDir(), 'none.sock');
    const result = await ctl(socket, 'status');
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe(`tsgi: ctl ${socket}: no tsgi is listening there (is it running with --control-socket?)\n`);
  });

  it('a control socket path another tsgi holds, or that cannot be bound: one line, exit 1, nothing served', async () => {
    const dir = tempDir();
    const socket = path.join(dir, 'ctl.sock');
    await tsgi(['--control-socket', socket]);
    const second = await startTsgi(['--http-socket', '127.0.0.1:0', '--module', APP, '--control-socket', socket], null);
    cleanups.push(() => second.kill());
    expect(await second.exited).toEqual({ code: 1, signal: null });
    expect(second.lines.map((l) => l.text)).toEqual([`tsgi: --control-socket ${socket}: another server is listening on this socket (EADDRINUSE)`]);

    const missing = path.join(dir, 'no-such-dir', 'ctl.sock');
    const third = await startTsgi(['--http-socket', '127.0.0.1:0', '--module', APP, '--control-socket', missing], null);
    cleanups.push(() => third.kill());
    expect(await third.exited).toEqual({ code: 1, signal: null });
    expect(third.lines.map((l) => l.text)).toEqual([`tsgi: --control-socket ${missing}: no such directory: ${path.dirname(missing)}`]);

    const file = path.join(dir, 'plain-file');
    writeFileSync(file, 'mine');
    const fourth = await startTsgi(['--http-socket', '127.0.0.1:0', '--module', APP, '--control-socket', file], null);
    cleanups.push(() => fourth.kill());
    expect(await fourth.exited).toEqual({ code: 1, signal: null });
    expect(fourth.lines.map((l) => l.text)).toEqual([`tsgi: --control-socket ${file}: the path exists and is not a socket`]);
    expect(readFileSync(file, 'utf8')).toBe('mine');
  });
});

describe('SIGTTIN and SIGTTOU', () => {
  it('add and retire a worker, never past --processes nor under --cheaper, saying so at the bounds', async () => {
    const master = await tsgi(['--processes', '3', '--cheaper', '2']);
    expect(workerIds(master)).toEqual([1, 2]);
    process.kill(master.pid, 'SIGTTIN');
    await workersAre(master, [1, 2, 3]);
    await master.line(/SIGTTIN: 2 → 3 worker\(s\)/);
    process.kill(master.pid, 'SIGTTIN');
    await master.line(/SIGTTIN: cannot run 4 worker\(s\): at most 3 worker\(s\) run \(--processes 3\); still 3/);
    expect(workerIds(master)).toEqual([1, 2, 3]);
    process.kill(master.pid, 'SIGTTOU');
    await workersAre(master, [1, 2]);
    process.kill(master.pid, 'SIGTTOU');
    await master.line(/SIGTTOU: cannot run 1 worker\(s\): at least 2 worker\(s\) run \(--cheaper 2\); still 2/);
    expect(workerIds(master)).toEqual([1, 2]);
    // Sent to every process, as to a whole group (kill -TTIN -PGID): the workers are not
    // stopped by it (its default action), the master alone acts.
    for (const pid of [...master.workers(), master.pid]) process.kill(pid, 'SIGTTIN');
    await workersAre(master, [1, 2, 3]);
    for (const pid of master.workers()) expect(readFileSync(`/proc/${pid}/stat`, 'utf8')).not.toMatch(/\) T /);
  });

  it('a retired worker finishes its request in flight first (a drain, as a recycle)', async () => {
    const socket = path.join(tempDir(), 'ctl.sock');
    const master = await tsgi(['--http-socket', '127.0.0.1:0', '--worker-sockets', '--processes', '2', '--control-socket', socket]);
    // Worker 2's own socket: the slow request is surely its.
    const port = Number(master.lines.find((l) => l.text.includes("(worker 2's own)"))!.text.match(/:(\d+) \(worker/)![1]);
    const slow = fetch(`http://127.0.0.1:${port}/slow?ms=1500`).then(async (r) => ({ status: r.status, body: await r.text() }));
    await until(async () => JSON.parse(await raw(socket, 'status\n')).workers[1].in_flight === 1, 'worker 2 to hold the request');
    process.kill(master.pid, 'SIGTTOU');
    await master.line(/SIGTTOU: 2 → 1 worker\(s\)/);
    expect(await slow).toMatchObject({ status: 200, body: expect.stringMatching(/^ok from/) });
    await workersAre(master, [1]);
    expect(master.lines.map((l) => l.text).join('\n')).not.toMatch(/aborted|killed/);
  });
});

describe("uWSGI's master FIFO", () => {
  it('+ - s r c q as uWSGI, and one line for a letter tsgi does not do', async () => {
    const dir = tempDir();
    const fifo = path.join(dir, 'fifo');
    const master = await tsgi(['--processes', '3', '--cheaper', '1', '--master-fifo', fifo]);
    expect(statSync(fifo).isFIFO()).toBe(true);
    expect(statSync(fifo).mode & 0o777).toBe(0o600);
    const send = (letters: string) => writeFileSync(fifo, letters);
    send('++');
    await workersAre(master, [1, 2, 3]);
    send('-');
    await workersAre(master, [1, 2]);
    // `s` logs the stats; the second worker may still be starting (its process is named
    // before it is ready), so it is asked until both are idle.
    const STATS = /master FIFO s: stats: /;
    const statuses = async (): Promise<string> => {
      const seen = master.lines.filter((l) => STATS.test(l.text)).length;
      send('s');
      const line = await until(() => master.lines.filter((l) => STATS.test(l.text))[seen], 'the stats line');
      return JSON.stringify(JSON.parse(line.text.replace(/^.*master FIFO s: stats: /, '')).workers.map((w: { status: string }) => w.status));
    };
    await until(async () => (await statuses()) === JSON.stringify(['idle', 'idle', 'cheap']) || undefined, 'workers 1 and 2 idle, place 3 cheap');
    send('p');
    await master.line(/master FIFO p: pausing the instance: not done by tsgi; ignored/);
    send('x');
    await master.line(/master FIFO x: not one of uWSGI's master FIFO commands; ignored/);
    // A reload keeps the count: the two places running get new workers, the third stays cheap.
    const before = master.workers();
    send('r');
    await master.line(/reload \(master FIFO: reload\): done/, 20_000);
    await until(() => master.workers().length === 2 && master.workers().every((pid) => !before.includes(pid)), 'new workers only');
    const middle = master.workers();
    send('c');
    await master.line(/reload \(master FIFO: chain-reload\): done/, 20_000);
    await until(() => master.workers().length === 2 && master.workers().every((pid) => !middle.includes(pid)), 'new workers only');
    expect(workerIds(master)).toEqual([1, 2]);
    send('q');
    expect(await master.exited).toEqual({ code: 0, signal: null });
    expect(existsSync(fifo)).toBe(false);
  });

  it("a uwsgi.ini's cheaper and master-fifo keys are honoured; cheaper-algo is warned about", async () => {
    const dir = tempDir();
    const fifo = path.join(dir, 'fifo');
    const ini = path.join(dir, 'uwsgi.ini');
    writeFileSync(
      ini,
      [
        '[uwsgi]',
        `module = ${APP}`,
        'socket = 127.0.0.1:0',
        'master = true',
        'processes = 3',
        'cheaper-algo = spare',
        'cheaper = 1',
        `master-fifo = ${fifo}`,
        '',
      ].join('\n'),
    );
    const master = await startTsgi([ini]);
    cleanups.push(() => master.kill());
    expect(master.lines[0]!.text).toMatch(
      /^tsgi: warning: .*uwsgi\.ini:6: cheaper-algo: a uWSGI option tsgi does not have, ignored: tsgi has one algorithm: --cheaper's/,
    );
    expect(workerIds(master)).toEqual([1]);
    writeFileSync(fifo, '+');
    await workersAre(master, [1, 2]);
  });

  it('a path that is not a FIFO is refused at start: one line, exit 1', async () => {
    const file = path.join(tempDir(), 'plain');
    writeFileSync(file, '');
    const master = await startTsgi(['--http-socket', '127.0.0.1:0', '--module', APP, '--master-fifo', file], null);
    cleanups.push(() => master.kill());
    expect(await master.exited).toEqual({ code: 1, signal: null });
    expect(master.lines.map((l) => l.text)).toEqual([`tsgi: --master-fifo ${file}: the path exists and is not a FIFO`]);
  });
});

describe('names in ps', () => {
  it("uWSGI's procname options: prefix, spaced prefix, append, the master's own name", async () => {
    const master = await tsgi([
      '--processes',
      '2',
      '--procname-prefix',
      'shop-',
      '--procname-prefix-spaced',
      '[eu]',
      '--procname-append',
      ' (v2)',
      '--procname-master',
      'boss',
    ]);
    const title = (pid: number) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0+$/, '').replace(/\0/g, ' ');
    expect(title(master.pid)).toBe('shop-[eu] boss (v2)');
    expect(master.workers().map(title).sort()).toEqual(['shop-[eu] tsgi worker 1 (v2)', 'shop-[eu] tsgi worker 2 (v2)']);
  });

  it("--auto-procname false leaves Node's command lines", async () => {
    const master = await tsgi(['--auto-procname', 'false']);
    const title = (pid: number) => readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    expect(title(master.pid)).toContain(CLI);
    expect(master.workers().map(title)).toEqual([expect.stringContaining('worker-main.js')]);
  });

  it('--procname names every process, the master too', async () => {
    const master = await tsgi(['--procname', 'myapp']);
    const title = (pid: number) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0+$/, '').replace(/\0/g, ' ');
    expect(title(master.pid)).toBe('myapp');
    expect(master.workers().map(title)).toEqual(['myapp']);
  });
});

describe('cheaper and control options are checked together', () => {
  it.each([
    [['--processes', '2', '--cheaper', '2'], 'tsgi: --cheaper 2: must be lower than --processes 2 (the most workers); raise --processes or lower --cheaper'],
    [['--processes', '4', '--cheaper', '2', '--cheaper-initial', '1'], 'tsgi: --cheaper-initial 1: must be from --cheaper 2 to --processes 4'],
    [['--processes', '4', '--cheaper', '2', '--cheaper-initial', '5'], 'tsgi: --cheaper-initial 5: must be from --cheaper 2 to --processes 4'],
    [['--processes', '4', '--cheaper-initial', '2'], 'tsgi: --cheaper-initial 2: needs --cheaper (the least number of workers), which is off'],
    [
      ['--master', 'false', '--control-socket', '/tmp/x.sock'],
      'tsgi: --control-socket needs the master (leave out --master false): it is the master that takes the commands',
    ],
    [
      ['--master', 'false', '--master-fifo', '/tmp/x.fifo'],
      'tsgi: --master-fifo needs the master (leave out --master false): it is the master that takes the commands',
    ],
    [
      ['--master', 'false', '--processes', '2', '--cheaper', '1'],
      'tsgi: --cheaper needs the master (leave out --master false): one process serves alone, there is no worker to add',
    ],
  ])('%j is refused: %s', async (args, line) => {
    const master = await startTsgi(['--socket', '127.0.0.1:0', '--module', APP, ...args], null);
    cleanups.push(() => master.kill());
    expect((await master.exited).code).toBe(2);
    expect(master.lines.map((l) => l.text)).toEqual([line]);
  });
});
