/**
 * `--exclusive-accept` (on by default): workers sharing a listening socket are woken one
 * at a time for a new connection, with the native reactor (EPOLLEXCLUSIVE in Node's epoll
 * set, each worker that took connections going to the back of the line). What is held
 * here is behaviour, not speed: no connection is lost, and the connections go round the
 * workers instead of all landing on the first. The pure reactor cannot do it (libuv
 * registers its listener for every worker), so there only the first holds, and with the
 * option off the native reactor is the thundering herd it was, still losing nothing.
 * bench/wakeups.mjs measures the wake-ups.
 */
import http from 'node:http';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startTsgi, type Tsgi } from '../helpers/chaos.js';
import { freePort } from '../../scripts/lib/processes.mjs';

const APP = path.resolve('__test__/fixtures/chaos-app.mjs');
const native = process.env.TSGI_NATIVE !== '0';
const WORKERS = 4;
const started: Tsgi[] = [];

afterEach(() => {
  for (const tsgi of started.splice(0)) tsgi.kill();
});

/** A GET on a fresh connection: its status and the worker's pid (chaos-app's X-Pid). */
function get(port: number): Promise<{ status: number; pid: number }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode!, pid: Number(res.headers['x-pid']) }));
      })
      .on('error', reject);
  });
}

/** `count` requests, each on its own connection, `parallel` at a time: the worker of each. */
async function spread(port: number, count: number, parallel: number): Promise<Map<number, number>> {
  const byPid = new Map<number, number>();
  let next = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next++ < count) {
        const { status, pid } = await get(port);
        expect(status).toBe(200);
        byPid.set(pid, (byPid.get(pid) ?? 0) + 1);
      }
    }),
  );
  return byPid;
}

async function serve(extra: string[]): Promise<{ port: number; workers: number[] }> {
  const port = await freePort();
  const tsgi = await startTsgi(['--http-socket', `127.0.0.1:${port}`, '--module', APP, '--processes', String(WORKERS), '--disable-logging', ...extra]);
  started.push(tsgi);
  return { port, workers: tsgi.workers() };
}

const total = (byPid: Map<number, number>) => [...byPid.values()].reduce((a, b) => a + b, 0);

describe('--exclusive-accept', () => {
  it(`one connection after another: ${native ? 'every worker takes its turn' : 'every connection answered'}`, async () => {
    const { port, workers } = await serve([]);
    const byPid = await spread(port, 80, 1);
    expect(total(byPid)).toBe(80);
    for (const pid of byPid.keys()) expect(workers).toContain(pid);
    if (native) expect(byPid.size).toBe(WORKERS);
  });

  it('many connections at once: none lost, and served by several workers', async () => {
    const { port } = await serve([]);
    const byPid = await spread(port, 400, 16);
    expect(total(byPid)).toBe(400);
    expect(byPid.size).toBeGreaterThan(1);
  });

  it('off: every connection is still answered', async () => {
    const { port, workers } = await serve(['--exclusive-accept', 'false']);
    const byPid = await spread(port, 200, 8);
    expect(total(byPid)).toBe(200);
    for (const pid of byPid.keys()) expect(workers).toContain(pid);
  });
});
