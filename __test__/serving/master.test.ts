/**
 * The master's operational features, each against a real master and its workers: the
 * pidfile and --vacuum, Unix sockets (stale and live), privileges, reloads (touch file,
 * chain, a broken new version), harakiri's 504, need-app, the request log (--logto and
 * SIGUSR1, --log-format, --log-json), --listen, fast shutdown, and how connections spread
 * over the workers. The fault scenarios with load are in chaos.test.ts.
 */
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { once } from 'node:events';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { alive, Load, refused, startTsgi, until, type Tsgi } from '../helpers/chaos.js';
import { freePort } from '../../scripts/lib/processes.mjs';

const APP = path.resolve('__test__/fixtures/chaos-app.mjs');
const HELLO =
  "export default (e, start) => (start('200 OK', [['Content-Type', 'text/plain'], ['X-Pid', String(process.pid)]]), ['hello ' + e.PATH_INFO + '\\n']);\n";
const isRoot = process.getuid?.() === 0;
const cleanups: Array<() => void> = [];
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

afterEach(() => {
  for (const cleanup of cleanups.splice(0).reverse()) cleanup();
});

function tempDir(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tsgi-master-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function tsgi(args: string[], ready?: RegExp | null): Promise<Tsgi> {
  const started = await startTsgi(args, ready);
  cleanups.push(() => started.kill());
  return started;
}

/** An HTTP GET straight to a tsgi --http-socket: status, X-Pid, body. */
function get(port: number, path = '/', agent: http.Agent | false = false): Promise<{ status: number; pid: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path, agent }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode!, pid: Number(res.headers['x-pid']), body }));
      })
      .on('error', reject);
  });
}

describe('names in ps', () => {
  it('the master is "tsgi master" and each worker "tsgi worker N"', async () => {
    const master = await startTsgi(['--socket', '127.0.0.1:0', '--module', APP, '--processes', '2']);
    cleanups.push(() => master.kill());
    const title = (pid: number) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0+$/, '').replace(/\0/g, ' ');
    expect(title(master.pid)).toBe('tsgi master');
    expect(master.workers().map(title).sort()).toEqual(['tsgi worker 1', 'tsgi worker 2']);
  });
});

describe('respawn', () => {
  it('a worker that dies is replaced at once; the backoff starts at the second death in a row (0.1 s)', async () => {
    const dir = tempDir();
    const module = path.join(dir, 'app.mjs');
    writeFileSync(module, HELLO);
    const port = await freePort();
    const master = await tsgi(['--http-socket', `127.0.0.1:${port}`, '--module', module, '--processes', '1']);
    const [first] = master.workers();
    process.kill(first!, 'SIGKILL');
    expect((await master.line(new RegExp(`\\(pid ${first}\\) killed by SIGKILL.*; respawning$`))).text).not.toMatch(/next try/);
    const second = await until(() => master.workers().find((pid) => pid !== first), 'the replacement');
    // Once it serves, it dies too: soon after its start, so the backoff begins, at its first step.
    await until(async () => (await get(port).catch(() => null))?.pid === second, 'the replacement serving');
    process.kill(second, 'SIGKILL');
    expect((await master.line(new RegExp(`\\(pid ${second}\\) killed by SIGKILL`))).text).toMatch(/2 times in a row soon after start, next try in 0\.1 s$/);
    await until(async () => (await get(port).catch(() => null))?.status === 200, 'a third worker serving');
  });
});

describe('pidfile, sockets and privileges', () => {
  it('--stats on a port that is taken: one line naming the option and the cause, exit 1, the sockets let go', async () => {
    const taken = net.createServer().listen(0, '127.0.0.1');
    await once(taken, 'listening');
    cleanups.push(() => void taken.close());
    const statsPort = (taken.address() as net.AddressInfo).port;
    const port = await freePort();
    const master = await startTsgi(['--http-socket', `127.0.0.1:${port}`, '--module', APP, '--stats', `127.0.0.1:${statsPort}`], null);
    cleanups.push(() => master.kill());
    expect((await master.exited).code).toBe(1);
    expect(master.lines.map((l) => l.text)).toEqual([`tsgi: --stats 127.0.0.1:${statsPort}: address already in use (EADDRINUSE)`]);
    // The HTTP socket bound before it is free again.
    const again = net.createServer().listen(port, '127.0.0.1');
    await once(again, 'listening');
    again.close();
  });

  it('writes the pidfile and a Unix socket with --chmod-socket; --vacuum (the default) removes both on exit', async () => {
    const dir = tempDir();
    const pidfile = path.join(dir, 'tsgi.pid');
    const socket = path.join(dir, 'app.sock');
    const master = await tsgi(['--socket', socket, '--chmod-socket', '600', '--module', APP, '--pidfile', pidfile]);
    expect(readFileSync(pidfile, 'utf8')).toBe(`${master.pid}\n`);
    expect(statSync(socket).mode & 0o777).toBe(0o600);
    process.kill(master.pid, 'SIGTERM');
    expect(await master.exited).toEqual({ code: 0, signal: null });
    expect(existsSync(pidfile)).toBe(false);
    expect(existsSync(socket)).toBe(false);
  });

  it('refuses a Unix socket a live instance holds, and replaces a stale one', async () => {
    const dir = tempDir();
    const socket = path.join(dir, 'app.sock');
    const first = await tsgi(['--socket', socket, '--module', APP]);
    const second = await startTsgi(['--socket', socket, '--module', APP], null);
    expect(await second.exited).toEqual({ code: 1, signal: null });
    expect(second.lines.map((l) => l.text)).toContain(`tsgi: --socket ${socket}: another server is listening on this socket (EADDRINUSE)`);
    // A crash leaves the file behind: the next start takes the path over.
    first.kill();
    await until(() => !alive(first.pid), 'the first master to die');
    expect(existsSync(socket)).toBe(true);
    const third = await tsgi(['--socket', socket, '--module', APP]);
    expect(third.workers()).toHaveLength(1);
  });

  it.skipIf(!isRoot)('--uid and --gid: the master and its workers run as that user, after binding a port below 1024', async () => {
    const master = await tsgi(['--socket', '127.0.0.1:1023', '--module', APP, '--uid', 'nobody', '--gid', 'nogroup']);
    const nobody = Number(/^nobody:[^:]*:(\d+):/m.exec(readFileSync('/etc/passwd', 'utf8'))![1]);
    const uidOf = (pid: number) => Number(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
    expect(uidOf(master.pid)).toBe(nobody);
    for (const worker of master.workers()) expect(uidOf(worker)).toBe(nobody);
    expect(await refused(1023)).toBe(false);
  });

  it.skipIf(!isRoot)('as root, refuses to run workers without --uid or --allow-root', async () => {
    const { spawn } = await import('node:child_process');
    const child = spawn(process.execPath, [path.resolve('dist/cli.js'), '--socket', '127.0.0.1:0', '--module', APP]);
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const code = await new Promise((resolve) => child.on('exit', resolve));
    expect(code).toBe(2);
    expect(stderr).toBe(
      'tsgi: refusing to run workers as root: give --uid (and --gid) to run as another user; in a container image, run as a non-root user instead (USER node in the Dockerfile: the official node images have that user), or pass --allow-root\n',
    );
  });

  const cap = Number(readFileSync('/proc/sys/net/core/somaxconn', 'utf8'));
  // With somaxconn at its maximum no --listen can exceed it: the test says so and skips.
  it.skipIf(cap >= 65535)(`--listen above the kernel cap (somaxconn ${cap}) is warned about, with the sysctl to raise it`, async () => {
    const master = await tsgi(['--socket', '127.0.0.1:0', '--module', APP, '--listen', '65535']);
    expect((await master.line(/--listen 65535/)).text).toContain(`the kernel caps listen queues at ${cap} (net.core.somaxconn)`);
  });
});

describe('reloads', () => {
  it('--touch-reload: touching the file replaces every worker', async () => {
    const dir = tempDir();
    const touch = path.join(dir, 'reload.txt');
    writeFileSync(touch, '');
    const master = await tsgi(['--socket', '127.0.0.1:0', '--module', APP, '--processes', '2', '--touch-reload', touch]);
    const before = master.workers();
    const later = new Date(Date.now() + 5000);
    utimesSync(touch, later, later);
    await master.line(/reload \(.*reload\.txt touched\): done/, 5000);
    await until(() => master.workers().every((pid) => !before.includes(pid)) && master.workers().length === 2, 'the old workers to go');
  });

  it('--chain-reload replaces one worker at a time, each new one accepting before the old one stops', async () => {
    const port = await freePort();
    const master = await tsgi(['--http-socket', `127.0.0.1:${port}`, '--module', APP, '--processes', '3', '--chain-reload']);
    const before = master.workers();
    // A sample every few ms: at no moment does a place have no worker.
    let fewest = Infinity;
    const sampler = setInterval(() => (fewest = Math.min(fewest, master.workers().length)), 2);
    process.kill(master.pid, 'SIGHUP');
    await master.line(/reload \(SIGHUP\): done/, 10_000);
    await until(() => master.workers().length === 3 && master.workers().every((pid) => !before.includes(pid)), 'the old workers to go');
    clearInterval(sampler);
    expect(fewest).toBeGreaterThanOrEqual(3);
    expect((await get(port, '/ok')).status).toBe(200);
    expect(master.lines.some((l) => /starting 3 new worker\(s\), one at a time/.test(l.text))).toBe(true);
  });

  it('a new version that fails to load leaves the old workers serving, and says why', async () => {
    const dir = tempDir();
    const module = path.join(dir, 'app.mjs');
    writeFileSync(module, HELLO);
    const port = await freePort();
    const master = await tsgi(['--http-socket', `127.0.0.1:${port}`, '--module', module, '--processes', '2']);
    const before = master.workers();
    writeFileSync(module, 'export default ;;; this is not JavaScript\n');
    process.kill(master.pid, 'SIGHUP');
    const failed = await master.line(/reload failed/, 10_000);
    expect(failed.text).toMatch(
      /reload failed: the new worker \d \(pid \d+\) exited with code 4: --module .*app\.mjs: cannot load .*; the old workers go on serving/,
    );
    await sleep(300);
    expect(master.workers()).toEqual(before);
    const reply = await get(port, '/still');
    expect(reply.body).toBe('hello /still\n');
    expect(before).toContain(reply.pid);
  });

  it('with --need-app false, a module that cannot load is retried with backoff instead of stopping tsgi', async () => {
    const dir = tempDir();
    const module = path.join(dir, 'app.mjs');
    writeFileSync(module, 'export default 42;\n');
    const master = await tsgi(['--socket', '127.0.0.1:0', '--module', module, '--need-app', 'false'], null);
    await master.line(/times in a row soon after start/, 5000);
    expect(alive(master.pid)).toBe(true);
  });
});

describe('harakiri and stopping', () => {
  it('a request past --harakiri while the loop turns gets a 504, its signal fires, and the worker lives on', async () => {
    const dir = tempDir();
    const module = path.join(dir, 'app.mjs');
    writeFileSync(
      module,
      `export default async (environ, start) => {
        if (environ.PATH_INFO === '/hang') {
          await new Promise((resolve) => environ['tsgi.signal'].addEventListener('abort', () => { console.log('signal: ' + environ['tsgi.signal'].reason.code); resolve(); }));
        }
        start('200 OK', [['Content-Type', 'text/plain'], ['X-Pid', String(process.pid)]]);
        return ['done\\n'];
      };\n`,
    );
    const port = await freePort();
    const master = await tsgi(['--http-socket', `127.0.0.1:${port}`, '--module', module, '--harakiri', '1']);
    const [worker] = master.workers();
    const started = Date.now();
    const reply = await get(port, '/hang');
    expect(reply.status).toBe(504);
    expect(reply.body).toBe('Gateway Timeout\n');
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
    expect(Date.now() - started).toBeLessThan(2500);
    expect((await master.line(/harakiri: worker 1/)).text).toMatch(/GET \/hang ran for 1\.\d s \(--harakiri 1\); aborted, answered 504/);
    await master.line(/signal: TSGI_ERR_HARAKIRI/);
    expect(master.workers()).toEqual([worker]);
    expect((await get(port, '/next')).pid).toBe(worker);
  });

  it('a request past --harakiri whose response had begun is cut with a reset, never completed', async () => {
    const dir = tempDir();
    const module = path.join(dir, 'app.mjs');
    writeFileSync(
      module,
      "export default (e, start) => { start('200 OK', [['Content-Type', 'text/plain']]); return (async function* () { yield 'first\\n'; await new Promise(() => {}); })(); };\n",
    );
    const port = await freePort();
    const master = await tsgi(['--http-socket', `127.0.0.1:${port}`, '--module', module, '--harakiri', '1']);
    const outcome = await new Promise<string>((resolve) => {
      http
        .get({ host: '127.0.0.1', port, path: '/stuck', agent: false }, (res) => {
          let body = '';
          res.setEncoding('utf8').on('data', (d: string) => (body += d));
          res.on('end', () => resolve(`complete: ${body}`));
          res.on('error', () => resolve(`cut after: ${body}`));
          res.on('aborted', () => resolve(`cut after: ${body}`));
        })
        .on('error', () => {}); // the reset, once the response has been cut
    });
    expect(outcome).toBe('cut after: first\n');
    expect((await master.line(/harakiri: worker 1/)).text).toMatch(
      /GET \/stuck ran for 1\.\d s \(--harakiri 1\); aborted, connection reset \(its response had begun\)/,
    );
  });

  it('SIGINT is a fast shutdown: requests in flight are cut, tsgi exits at once', async () => {
    const port = await freePort();
    const master = await tsgi(['--http-socket', `127.0.0.1:${port}`, '--module', APP]);
    const slow = get(port, '/slow?ms=5000').catch((error: Error) => error);
    await sleep(200);
    const at = Date.now();
    process.kill(master.pid, 'SIGINT');
    expect(await slow).toBeInstanceOf(Error);
    expect((await master.exited).code).toBe(0);
    expect(Date.now() - at).toBeLessThan(1500);
  });

  it('a reload does not wait on idle kept-alive connections: the old worker closes them and exits', async () => {
    const port = await freePort();
    const master = await tsgi(['--http-socket', `127.0.0.1:${port}`, '--module', APP]);
    const [old] = master.workers();
    const agent = new http.Agent({ keepAlive: true });
    cleanups.push(() => agent.destroy());
    expect((await get(port, '/ok', agent)).pid).toBe(old);
    process.kill(master.pid, 'SIGHUP');
    await master.line(/reload \(SIGHUP\): done/, 5000);
    await until(() => !alive(old!), 'the old worker to exit', 3000); // far below --worker-reload-mercy
    expect((await get(port, '/ok', agent)).pid).not.toBe(old);
  });
});

describe('storms and stalls', () => {
  it('a storm of SIGHUPs is coalesced: a reload or two, the right number of workers, no zombie', async () => {
    const master = await tsgi(['--socket', '127.0.0.1:0', '--module', APP, '--processes', '2']);
    for (let i = 0; i < 50; i++) process.kill(master.pid, 'SIGHUP');
    await master.line(/reload \(SIGHUP\): done/, 10_000);
    await sleep(1500);
    const reloads = master.lines.filter((l) => /reload \(.*\): done/.test(l.text)).length;
    expect(reloads).toBeGreaterThanOrEqual(1);
    expect(reloads).toBeLessThanOrEqual(3);
    await until(() => master.workers().length === 2, 'two workers, and no more');
    for (const pid of master.workers()) expect(alive(pid)).toBe(true); // no zombie among them
  });

  it('too few file descriptors to start every worker: one line naming the cause and the limit, exit 1', async () => {
    const master = await startTsgi(['--socket', '127.0.0.1:0', '--module', APP, '--processes', '12'], null, { fdLimit: 40 });
    cleanups.push(() => master.kill());
    expect((await master.exited).code).toBe(1);
    const text = master.lines.map((l) => l.text).join('\n');
    expect(text).toMatch(
      /^tsgi: cannot start worker \d+: the master is out of file descriptors \(EMFILE, too many open files\): raise its limit \(ulimit -n, systemd LimitNOFILE=\)$/m,
    );
    expect(text).not.toMatch(/TypeError|    at /);
  });

  it('without a master, an uncaught exception lets the request in flight finish, then exits 1', async () => {
    const port = await freePort();
    const alone = await startTsgi(['--http-socket', `127.0.0.1:${port}`, '--module', APP, '--master', 'false'], /no master/);
    cleanups.push(() => alone.kill());
    // Its connection is accepted first (the listen queue is in order), so it is in flight
    // when the timer of the next request throws, 50 ms after that one was answered.
    const slow = get(port, '/slow?ms=800');
    expect((await get(port, '/throw-later')).status).toBe(200);
    await alone.line(/worker 0 \(pid \d+\): accepting nothing more; finishing 1 request\(s\) in flight \(GET \/slow\?ms=800\)/);
    expect((await slow).status).toBe(200);
    expect((await alone.exited).code).toBe(1);
  });

  it('a log destination that stops reading costs dropped lines, counted, never a request', async () => {
    const port = await freePort();
    const master = await tsgi(['--http-socket', `127.0.0.1:${port}`, '--module', APP]);
    // Nobody reads tsgi's stderr from now on: the pipe fills, then the master's queue.
    master.child.stderr!.pause();
    master.child.stderr!.removeAllListeners('data');
    const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
    cleanups.push(() => agent.destroy());
    const long = `/ok?${'x'.repeat(8000)}`; // 8 KB lines: 5 MB of log in 650 requests
    const started = Date.now();
    const replies = await Promise.all(Array.from({ length: 650 }, () => get(port, long, agent)));
    expect(replies.every((r) => r.status === 200)).toBe(true);
    expect(Date.now() - started).toBeLessThan(15_000);
    // Reading again, the log says what it had to drop.
    let text = '';
    master.child.stderr!.setEncoding('utf8').on('data', (d: string) => (text += d));
    master.child.stderr!.resume();
    await until(() => /tsgi: \d+ log line\(s\) dropped: the log destination did not keep up/.test(text), 'the drop count', 10_000);
  });
});

describe('the request log', () => {
  it("logs each request in uWSGI's shape by default", async () => {
    const port = await freePort();
    const master = await tsgi(['--http-socket', `127.0.0.1:${port}`, '--module', APP]);
    await get(port, '/ok?x=1');
    const line = await master.line(/^\[pid: /);
    expect(line.text).toMatch(
      /^\[pid: \d+\|app: 0\|req: 1\/1\] 127\.0\.0\.1 \(\) \{\d+ vars in \d+ bytes\} \[\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}\] GET \/ok\?x=1 => generated \d+ bytes in \d+ msecs \(HTTP\/1\.1 200\) \d+ headers in \d+ bytes \(1 switches on core 0\)$/,
    );
  });

  it('--log-format with %(var) names, and --log-json', async () => {
    const port = await freePort();
    const master = await tsgi([
      '--http-socket',
      `127.0.0.1:${port}`,
      '--module',
      APP,
      '--log-format',
      '%(addr) "%(method) %(uri) %(proto)" %(status) %(rsize) wid=%(wid) ua=%(var.HTTP_USER_AGENT)',
    ]);
    await new Promise<void>((resolve) => http.get({ port, path: '/ok', headers: { 'User-Agent': 'chaos/1' } }, (res) => res.resume().on('end', resolve)));
    expect((await master.line(/^127\.0\.0\.1 "/)).text).toMatch(/^127\.0\.0\.1 "GET \/ok HTTP\/1\.1" 200 \d+ wid=1 ua=chaos\/1$/);

    const jsonPort = await freePort();
    const json = await tsgi(['--http-socket', `127.0.0.1:${jsonPort}`, '--module', APP, '--log-json']);
    await get(jsonPort, '/ok');
    const entry = JSON.parse((await json.line(/^\{"time".*"uri":/)).text);
    expect(entry).toMatchObject({ method: 'GET', uri: '/ok', status: 200, wid: 1, addr: '127.0.0.1', proto: 'HTTP/1.1' });
  });

  it('an unknown %(var) is refused at start, naming it', async () => {
    const master = await startTsgi(['--socket', '127.0.0.1:0', '--log-format', '%(method) %(nope)'], null);
    expect((await master.exited).code).toBe(2);
    expect(master.lines[0]!.text).toMatch(/^tsgi: --log-format: unknown variable %\(nope\): .*; known: %\(uri\) %\(method\)/);
  });

  it.each([
    ['with a master', [] as string[], 'worker(s) ready'],
    ['without a master (--master false)', ['--master', 'false'], '(no master)'],
  ])('--logto writes every line to a file, and SIGUSR1 reopens it after a rotation: %s', async (_how, extra, ready) => {
    const dir = tempDir();
    const logfile = path.join(dir, 'tsgi.log');
    const port = await freePort();
    const master = await tsgi(['--http-socket', `127.0.0.1:${port}`, '--module', APP, '--logto', logfile, ...extra], null);
    await until(() => existsSync(logfile) && readFileSync(logfile, 'utf8').includes(ready), 'the log file to say ready');
    await get(port, '/before');
    await until(() => readFileSync(logfile, 'utf8').includes('GET /before'), 'the request line');
    renameSync(logfile, `${logfile}.1`);
    process.kill(master.pid, 'SIGUSR1');
    await until(() => existsSync(logfile) && readFileSync(logfile, 'utf8').includes('reopened'), 'the reopened file');
    await get(port, '/after');
    await until(() => readFileSync(logfile, 'utf8').includes('GET /after'), 'the request line in the new file');
    expect(readFileSync(`${logfile}.1`, 'utf8')).not.toContain('GET /after');
    // Nothing of it went to stderr.
    expect(master.lines.map((l) => l.text).join('\n')).not.toMatch(/GET \/(before|after)/);
  });

  it.each([
    [[] as string[], '/nonexistent-tsgi-dir/tsgi.log', 'no such directory: /nonexistent-tsgi-dir'],
    [['--master', 'false'], '/nonexistent-tsgi-dir/tsgi.log', 'no such directory: /nonexistent-tsgi-dir'],
    [[] as string[], os.tmpdir(), 'it is a directory'],
  ])('a --logto that cannot be opened is one line and exit 2, before anything is served (%j %s)', async (extra, logto, why) => {
    const master = await startTsgi(['--http-socket', '127.0.0.1:0', '--module', APP, '--logto', logto, ...extra], null);
    cleanups.push(() => master.kill());
    expect((await master.exited).code).toBe(2);
    expect(master.lines.map((l) => l.text)).toEqual([`tsgi: --logto ${logto}: cannot open it: ${why}`]);
  });

  it('workers write their request lines themselves: the log goes on while the master is stopped', async () => {
    const dir = tempDir();
    const logfile = path.join(dir, 'tsgi.log');
    const port = await freePort();
    const master = await tsgi(['--http-socket', `127.0.0.1:${port}`, '--module', APP, '--processes', '2', '--logto', logfile], null);
    await until(() => existsSync(logfile) && readFileSync(logfile, 'utf8').includes('worker(s) ready'), 'the log file to say ready');
    process.kill(master.pid, 'SIGSTOP');
    try {
      for (let i = 0; i < 4; i++) expect((await get(port, `/while-stopped-${i}`)).status).toBe(200);
      await until(() => (readFileSync(logfile, 'utf8').match(/GET \/while-stopped-\d/g) ?? []).length === 4, 'the 4 request lines, with the master stopped');
    } finally {
      process.kill(master.pid, 'SIGCONT');
    }
  });

  it('lines from several workers to one stderr pipe stay whole, long ones included', async () => {
    // Each worker's own socket (--worker-sockets, any free port) takes half the requests,
    // so both log.
    const master = await tsgi(['--http-socket', '127.0.0.1:0', '--worker-sockets', '--module', APP, '--processes', '2']);
    const ports = [1, 2].map((wid) => Number(master.lines.find((l) => l.text.includes(`(worker ${wid}'s own)`))!.text.match(/:(\d+) \(worker/)![1]));
    const agent = new http.Agent({ keepAlive: true, maxSockets: 20 });
    const long = 'x'.repeat(3000);
    const requests = 400;
    // The pipe is left unread meanwhile: it fills, and the workers' writes go in as the
    // reader makes room, where one process's write could cut into another's.
    master.child.stderr!.pause();
    await Promise.all(Array.from({ length: requests }, (_, i) => get(ports[i % 2]!, `/long-${i}?${long}`, agent)));
    agent.destroy();
    master.child.stderr!.resume();
    // Every request's text arrived (whole lines or not: that is checked next).
    const arrived = () =>
      master.lines
        .map((l) => l.text)
        .join('\n')
        .match(/ => generated /g)?.length ?? 0;
    await until(() => arrived() >= requests, `${requests} request lines`);
    const logged = master.lines.filter((l) => l.text.includes('/long-'));
    // Each line is one request's, from its start to its end: no other line cut into it.
    for (const { text } of logged)
      expect(text).toMatch(
        new RegExp(
          `^\\[pid: \\d+\\|app: 0\\|req: \\d+/\\d+\\] [^\\[]*\\[[^\\]]+\\] GET /long-\\d+\\?${long} => generated \\d+ bytes in \\d+ msecs \\(HTTP/1\\.1 200\\) \\d+ headers in \\d+ bytes \\(1 switches on core 0\\)$`,
        ),
      );
    expect(logged).toHaveLength(requests);
    expect(new Set(logged.map((l) => /^\[pid: (\d+)/.exec(l.text)![1])).size).toBe(2);
  });

  it('--disable-logging keeps only what --log-4xx, --log-5xx and --log-slow ask for', async () => {
    const dir = tempDir();
    const module = path.join(dir, 'app.mjs');
    writeFileSync(
      module,
      "export default async (e, start) => { const code = e.PATH_INFO.slice(1); if (code === 'slow') await new Promise((r) => setTimeout(r, 150)); start(code === 'slow' ? '200 OK' : `${code} X`, [['Content-Type', 'text/plain']]); return ['x']; };\n",
    );
    const port = await freePort();
    const master = await tsgi(['--http-socket', `127.0.0.1:${port}`, '--module', module, '--disable-logging', '--log-4xx', '--log-slow', '100']);
    for (const code of ['200', '404', '503', 'slow']) await get(port, `/${code}`);
    await get(port, '/418');
    await master.line(/GET \/418/);
    const logged = master.lines.filter((l) => l.text.startsWith('[pid:')).map((l) => /GET (\/\w+)/.exec(l.text)![1]);
    expect(logged).toEqual(['/404', '/slow', '/418']);
  });
});

describe('load spread', () => {
  it('new connections spread over the workers: none takes them all', async () => {
    const port = await freePort();
    const master = await tsgi(['--http-socket', `127.0.0.1:${port}`, '--module', APP, '--processes', '2', '--disable-logging']);
    // A connection per request, as nginx's uwsgi_pass makes them.
    const load = new Load((p) => `http://127.0.0.1:${port}${p}`, 300, '/slow?ms=20', { keepAlive: false }).start();
    await sleep(2000);
    const { failed } = await load.stop();
    expect(failed).toEqual([]);
    const counts = new Map<number, number>();
    for (const o of load.outcomes) counts.set(o.pid!, (counts.get(o.pid!) ?? 0) + 1);
    expect([...counts.keys()].sort()).toEqual(master.workers());
    const shares = [...counts.values()].map((n) => n / load.outcomes.length);
    expect(Math.min(...shares)).toBeGreaterThan(0.2);
  });
});
