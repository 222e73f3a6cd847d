/**
 * --worker-sockets against a real master and its workers (the CLI): each worker place's own
 * TCP port and Unix path beside the shared sockets, what the start-up log, the stats and
 * /metrics say of them, that they follow the place across a reload and a respawn, vacuum,
 * and the one-line refusals (a taken port, a port with no room, --master false).
 */
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { alive, startTsgi, until, type Tsgi } from '../helpers/chaos.js';
import { exchange, nginxVars, packet, parseResponse } from '../helpers/uwsgi.js';
import { checkPortFree, freePort } from '../../scripts/lib/processes.mjs';
import { placePids, portWithRoom, statsOf } from '../helpers/worker-sockets.js';

/** Answers with the pid of the worker that served it. */
const PID_APP = "export default (e, start) => (start('200 OK', [['Content-Type', 'text/plain'], ['X-Pid', String(process.pid)]]), [String(process.pid)]);\n";
const cleanups: Array<() => void> = [];

afterEach(() => {
  for (const cleanup of cleanups.splice(0).reverse()) cleanup();
});

function tempDir(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tsgi-wsock-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function pidApp(dir: string): string {
  const module = path.join(dir, 'app.mjs');
  writeFileSync(module, PID_APP);
  return module;
}

async function tsgi(args: string[]): Promise<Tsgi> {
  const started = await startTsgi(args);
  cleanups.push(() => started.kill());
  return started;
}

/** Two workers with --worker-sockets on a TCP --http-socket and a Unix --socket (the app
 * answering its pid), and their stats over HTTP. */
async function twoWorkers(extra: string[] = []): Promise<{ master: Tsgi; port: number; socket: string; statsPort: number }> {
  const dir = tempDir();
  const port = await portWithRoom(2);
  const statsPort = await freePort();
  const socket = path.join(dir, 'app.sock');
  const master = await tsgi([
    ...['--http-socket', `127.0.0.1:${port}`, '--socket', socket, '--processes', '2', '--worker-sockets'],
    ...['--module', pidApp(dir), '--stats', `127.0.0.1:${statsPort}`, '--stats-http', ...extra],
  ]);
  return { master, port, socket, statsPort };
}

/** The pid that answered a GET on its own connection (Connection: close). */
function pidOverHttp(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
        res.resume();
        res.on('end', () => (res.statusCode === 200 ? resolve(Number(res.headers['x-pid'])) : reject(new Error(`status ${res.statusCode}`))));
      })
      .on('error', reject);
  });
}

/** The pid that answered a uwsgi request on a Unix socket. */
async function pidOverUwsgi(socketPath: string): Promise<number> {
  const { headers } = parseResponse((await exchange(socketPath, packet(nginxVars('GET', '/')))).data);
  return Number(headers.find(([name]) => name === 'X-Pid')![1]);
}

/** Each of `tries` requests (a connection each) answered by `pid`. */
async function expectAlways(ask: () => Promise<number>, pid: number, tries = 6): Promise<void> {
  for (let i = 0; i < tries; i++) expect(await ask()).toBe(pid);
}

describe('--worker-sockets', () => {
  it('gives each worker a TCP port and a Unix path of its own beside the shared ones, listed at start, in the stats and /metrics; --vacuum removes them', async () => {
    const { master, port, socket, statsPort } = await twoWorkers(['--chmod-socket', '600']);
    const [first, second] = await placePids(statsPort);
    expect(new Set([first, second])).toEqual(new Set(master.workers()));

    // Worker N's own sockets always reach worker N.
    await expectAlways(() => pidOverHttp(port + 1), first!);
    await expectAlways(() => pidOverHttp(port + 2), second!);
    await expectAlways(() => pidOverUwsgi(`${socket}.1`), first!);
    await expectAlways(() => pidOverUwsgi(`${socket}.2`), second!);
    // The shared sockets still spread over both.
    for (const ask of [() => pidOverHttp(port), () => pidOverUwsgi(socket)]) {
      const seen = new Set<number>();
      await until(async () => {
        for (const pid of await Promise.all(Array.from({ length: 8 }, ask))) seen.add(pid);
        return seen.size === 2;
      }, 'both workers to answer on a shared socket');
    }

    // The Unix ones get --chmod-socket and the shared one's owner.
    for (const own of [`${socket}.1`, `${socket}.2`]) {
      expect(statSync(own).mode & 0o777).toBe(0o600);
      expect([statSync(own).uid, statSync(own).gid]).toEqual([statSync(socket).uid, statSync(socket).gid]);
    }

    const serving = master.lines.filter((l) => / over (HTTP|uwsgi) on /.test(l.text)).map((l) => l.text.replace(/^tsgi\[\d+\]: serving .* over /, ''));
    expect(serving).toEqual([
      `uwsgi on ${socket}`,
      `HTTP on 127.0.0.1:${port}`,
      `uwsgi on ${socket}.1 (worker 1's own)`,
      `uwsgi on ${socket}.2 (worker 2's own)`,
      `HTTP on 127.0.0.1:${port + 1} (worker 1's own)`,
      `HTTP on 127.0.0.1:${port + 2} (worker 2's own)`,
    ]);

    const { sockets } = await statsOf(statsPort);
    expect(sockets.map(({ name, proto, worker }) => ({ name, proto, worker }))).toEqual([
      { name: socket, proto: 'uwsgi', worker: undefined },
      { name: `127.0.0.1:${port}`, proto: 'http', worker: undefined },
      { name: `${socket}.1`, proto: 'uwsgi', worker: 1 },
      { name: `${socket}.2`, proto: 'uwsgi', worker: 2 },
      { name: `127.0.0.1:${port + 1}`, proto: 'http', worker: 1 },
      { name: `127.0.0.1:${port + 2}`, proto: 'http', worker: 2 },
    ]);
    const metrics = await (await fetch(`http://127.0.0.1:${statsPort}/metrics`)).text();
    expect(metrics).toContain(`tsgi_listen_queue{socket="127.0.0.1:${port}",proto="http"} 0\n`);
    expect(metrics).toContain(`tsgi_listen_queue{socket="127.0.0.1:${port + 2}",proto="http",worker="2"} 0\n`);
    expect(metrics).toContain(`tsgi_listen_queue_max{socket="${socket}.1",proto="uwsgi",worker="1"} `);

    process.kill(master.pid, 'SIGTERM');
    expect(await master.exited).toEqual({ code: 0, signal: null });
    expect([socket, `${socket}.1`, `${socket}.2`].filter((p) => existsSync(p))).toEqual([]);
  });

  it("after a SIGHUP reload and after a worker is killed, place N's sockets reach the new worker N", async () => {
    const { master, port, socket, statsPort } = await twoWorkers();
    const before = await placePids(statsPort);

    process.kill(master.pid, 'SIGHUP');
    await master.line(/reload \(SIGHUP\): done/, 10_000);
    // The old workers stop accepting on their way out; once gone, only the new ones can answer.
    await until(() => before.every((pid) => !alive(pid)), 'the old workers to exit');
    const reloaded = await placePids(statsPort, before);
    for (const [i, pid] of reloaded.entries()) {
      await expectAlways(() => pidOverHttp(port + i + 1), pid, 3);
      await expectAlways(() => pidOverUwsgi(`${socket}.${i + 1}`), pid, 3);
    }

    // Worker 2 killed: a request sent at once to its port is not refused; it waits in
    // the socket's queue (the master holds the socket) for the replacement.
    const [, killed] = reloaded;
    process.kill(killed!, 'SIGKILL');
    await until(() => !alive(killed!), 'worker 2 to die');
    const answered = pidOverHttp(port + 2);
    const overUwsgi = pidOverUwsgi(`${socket}.2`);
    const respawned = await placePids(statsPort, [killed!]);
    expect(respawned[0]).toBe(reloaded[0]);
    expect(await answered).toBe(respawned[1]);
    expect(await overUwsgi).toBe(respawned[1]);
    await expectAlways(() => pidOverHttp(port + 2), respawned[1]!, 3);
    await expectAlways(() => pidOverHttp(port + 1), respawned[0]!, 3);
  });

  it('port 0: each worker listens on a free port of its own', async () => {
    const dir = tempDir();
    const statsPort = await freePort();
    const master = await tsgi([
      '--http-socket',
      '127.0.0.1:0',
      '--processes',
      '2',
      '--worker-sockets',
      '--module',
      pidApp(dir),
      '--stats',
      `:${statsPort}`,
      '--stats-http',
    ]);
    const pids = await placePids(statsPort);
    const ports = [1, 2].map((n) => {
      const line = master.lines.find((l) => l.text.endsWith(`(worker ${n}'s own)`))!;
      return Number(/ on 127\.0\.0\.1:(\d+) \(worker/.exec(line.text)![1]);
    });
    const shared = Number(/ over HTTP on 127\.0\.0\.1:(\d+)$/m.exec(master.lines.map((l) => l.text).join('\n'))![1]);
    expect(new Set([shared, ...ports]).size).toBe(3);
    expect(ports.every((p) => p > 0)).toBe(true);
    for (const [i, p] of ports.entries()) await expectAlways(() => pidOverHttp(p), pids[i]!, 3);
  });

  it('a taken port stops the start with one line naming the option and the worker', async () => {
    const dir = tempDir();
    const port = await portWithRoom(2);
    const squatter = net.createServer();
    await new Promise<void>((resolve) => squatter.listen(port + 2, '127.0.0.1', resolve));
    cleanups.push(() => squatter.close());
    const master = await startTsgi(['--http-socket', `127.0.0.1:${port}`, '--processes', '2', '--worker-sockets', '--module', pidApp(dir)], null);
    cleanups.push(() => master.kill());
    expect(await master.exited).toEqual({ code: 1, signal: null });
    expect(master.lines.map((l) => l.text)).toEqual([
      `tsgi: --worker-sockets: worker 2's --http-socket 127.0.0.1:${port + 2}: address already in use (EADDRINUSE)`,
    ]);
    // Nothing was left bound: the shared port and worker 1's are free again.
    await checkPortFree(port);
    await checkPortFree(port + 1);
  });

  it('a port with no room for the last worker, and --master false, are refused before anything is bound', async () => {
    const noRoom = await startTsgi(['--http-socket', '127.0.0.1:65534', '--processes', '2', '--worker-sockets'], null);
    cleanups.push(() => noRoom.kill());
    expect(await noRoom.exited).toEqual({ code: 2, signal: null });
    expect(noRoom.lines.map((l) => l.text)).toEqual([
      "tsgi: --worker-sockets: --http-socket 127.0.0.1:65534: worker 2's port would be 65536, past 65535; with --processes 2, name a port up to 65533",
    ]);

    const port = await freePort();
    const alone = await startTsgi(['--http-socket', `127.0.0.1:${port}`, '--master', 'false', '--worker-sockets'], null);
    cleanups.push(() => alone.kill());
    expect(await alone.exited).toEqual({ code: 2, signal: null });
    expect(alone.lines.map((l) => l.text)).toEqual([
      'tsgi: --worker-sockets needs the master (leave out --master false): one process serves every socket alone',
    ]);
    await checkPortFree(port);
  });
});
