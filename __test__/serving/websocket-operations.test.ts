/**
 * WebSockets under the master, as users run them: open tunnels in the stats and
 * /metrics, one request-log line per upgraded request when it closes, and reloads that
 * wait for open tunnels (up to --worker-reload-mercy, then close them, saying how many)
 * while new workers serve, with no HTTP request failing meanwhile.
 */
import http from 'node:http';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { freePort } from '../../scripts/lib/processes.mjs';
import { alive, startTsgi, until, type Tsgi } from '../helpers/chaos.js';

const APP = path.resolve('__test__/fixtures/ws-app.mjs');
const running: Tsgi[] = [];
const clients: WebSocket[] = [];

afterEach(() => {
  for (const client of clients.splice(0)) client.terminate();
  for (const tsgi of running.splice(0)) tsgi.kill();
});

async function start(args: string[]): Promise<{ tsgi: Tsgi; port: number }> {
  const port = await freePort();
  const tsgi = await startTsgi(['--http-socket', `127.0.0.1:${port}`, '--module', APP, ...args]);
  running.push(tsgi);
  return { tsgi, port };
}

/** An open client, and a way to ask it one question. */
async function open(port: number, target = '/live'): Promise<WebSocket & { ask(text: string): Promise<string> }> {
  const client = new WebSocket(`ws://127.0.0.1:${port}${target}`);
  clients.push(client);
  await new Promise((resolve, reject) => {
    client.once('open', resolve);
    client.once('error', reject);
  });
  return Object.assign(client, {
    ask: (text: string) =>
      new Promise<string>((resolve) => {
        client.once('message', (data) => resolve(String(data)));
        client.send(text);
      }),
  });
}

/** A GET on a connection of its own (a kept-alive one closing under a reload is another issue's). */
function get(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent: false }, (res) => {
        let body = '';
        res.on('data', (chunk: Buffer) => (body += chunk.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}

function closed(client: WebSocket): Promise<number> {
  return new Promise((resolve) => client.once('close', (code) => resolve(code)));
}

describe('WebSockets under the master', () => {
  it('open tunnels show in /metrics and the stats JSON; the request log has one line per tunnel, when it closes', async () => {
    const statsPort = await freePort();
    const { tsgi, port } = await start(['--stats', `127.0.0.1:${statsPort}`, '--stats-http']);
    const tunnels = async () => Number(/^tsgi_worker_tunnels\{worker="1"\} (\d+)$/m.exec((await get(`http://127.0.0.1:${statsPort}/metrics`)).body)?.[1]);
    const first = await open(port, '/first');
    const second = await open(port, '/second');
    await until(async () => (await tunnels()) === 2, 'two open tunnels in /metrics');
    const json = JSON.parse((await get(`http://127.0.0.1:${statsPort}/`)).body) as { workers: Array<{ tunnels: number; in_flight: number }> };
    expect(json.workers[0]).toMatchObject({ tunnels: 2, in_flight: 2 });

    expect(await first.ask('hello')).toBe('hello');
    expect(tsgi.lines.some((l) => l.text.includes('GET /first'))).toBe(false);
    const heldMs = 300;
    await new Promise((resolve) => setTimeout(resolve, heldMs));
    const gone = closed(first);
    first.close(1000);
    await gone;
    await until(async () => (await tunnels()) === 1, 'one open tunnel after a close');
    const line = await tsgi.line(/GET \/first/);
    // uWSGI's line shape: the status the app's own head gave, the whole life of the tunnel.
    expect(line.text).toMatch(/GET \/first => generated \d+ bytes in \d+ msecs \(HTTP\/1\.1 101\)/);
    expect(Number(/in (\d+) msecs/.exec(line.text)![1])).toBeGreaterThanOrEqual(heldMs);
    expect(tsgi.lines.filter((l) => l.text.includes('GET /first'))).toHaveLength(1);
    expect(await second.ask('still here')).toBe('still here');
  });

  it('a reload with 20 open WebSockets: HTTP served throughout, old tunnels keep working, the old worker leaves when they close', async () => {
    const { tsgi, port } = await start(['--processes', '2', '--worker-reload-mercy', '60']);
    const sockets = await Promise.all(Array.from({ length: 20 }, () => open(port)));
    const oldPids = new Set(await Promise.all(sockets.map((s) => s.ask('pid').then(Number))));
    // Load on plain HTTP during the whole reload; every request must succeed.
    let failures = 0;
    let served = 0;
    let loading = true;
    const load = (async () => {
      while (loading) {
        try {
          const { status } = await get(`http://127.0.0.1:${port}/plain`);
          if (status === 200) served++;
          else failures++;
        } catch {
          failures++;
        }
      }
    })();
    process.kill(tsgi.pid, 'SIGHUP');
    // New workers take the listening socket; plain requests reach them.
    await until(async () => !oldPids.has(Number((await get(`http://127.0.0.1:${port}/`)).body.slice(3))), 'a new worker answering');
    // The old workers wait for their tunnels, which still work.
    for (const pid of oldPids) expect(alive(pid)).toBe(true);
    expect(await sockets[0]!.ask('after the reload')).toBe('after the reload');
    await Promise.all(
      sockets.map((socket) => {
        const done = closed(socket);
        socket.close(1000);
        return done;
      }),
    );
    await until(() => [...oldPids].every((pid) => !alive(pid)), 'the old workers to exit once their tunnels closed');
    loading = false;
    await load;
    expect(failures).toBe(0);
    expect(served).toBeGreaterThan(0);
  });

  it('past --worker-reload-mercy, a reload closes the tunnels still open, and says how many', async () => {
    const { tsgi, port } = await start(['--worker-reload-mercy', '1']);
    const sockets = await Promise.all([open(port), open(port), open(port)]);
    const [oldPid] = tsgi.workers();
    const codes = Promise.all(sockets.map(closed));
    process.kill(tsgi.pid, 'SIGHUP');
    const line = await tsgi.line(/closed 3 tunnel\(s\) \(WebSockets\) still open after 1 s/, 10_000);
    expect(line.text).toContain(`pid ${oldPid}`);
    // Closed without a close frame: the clients see an abnormal closure.
    expect(await codes).toEqual([1006, 1006, 1006]);
    await until(() => !alive(oldPid!), 'the old worker to exit');
  });
});
