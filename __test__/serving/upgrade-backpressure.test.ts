/**
 * Backpressure both ways on an upgraded connection, watched from outside a real worker
 * (the CLI): a client that reads nothing while the app pipes 100 MiB into its socket, and
 * an app that reads nothing while the client sends 100 MiB, each leave the worker's
 * memory bounded and the producer waiting; once the other side reads, every byte arrives.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort } from '../../scripts/lib/processes.mjs';
import { startTsgi, until, type Tsgi } from '../helpers/chaos.js';

const APP = path.resolve('__test__/fixtures/backpressure-app.mjs');
const MiB = 1024 * 1024;
const FLOOD = 100 * MiB;
const running: Tsgi[] = [];
const sockets: net.Socket[] = [];

afterEach(() => {
  for (const socket of sockets.splice(0)) socket.destroy();
  for (const tsgi of running.splice(0)) tsgi.kill();
});

/** Resident memory of `pid`, bytes. */
function rss(pid: number): number {
  return Number(/^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) * 1024;
}

/** GET `target` of the app: the progress it reports, as JSON. */
async function ask(port: number, target = '/progress'): Promise<{ sent: number; read: number }> {
  return new Promise((resolve, reject) => {
    http
      .get(`http://127.0.0.1:${port}${target}`, { agent: false }, (res) => {
        let body = '';
        res.on('data', (chunk: Buffer) => (body += chunk.toString()));
        res.on('end', () => resolve(JSON.parse(body) as { sent: number; read: number }));
      })
      .on('error', reject);
  });
}

/** An upgraded raw connection: resolves once the 101 head is in, with what came after it. */
async function upgrade(port: number, protocol: string): Promise<{ socket: net.Socket; after: Buffer }> {
  const socket = net.connect(port, '127.0.0.1');
  sockets.push(socket);
  socket.write(`GET /${protocol} HTTP/1.1\r\nHost: x\r\nUpgrade: ${protocol}\r\nConnection: Upgrade\r\n\r\n`);
  let received = Buffer.alloc(0);
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      const end = received.indexOf('\r\n\r\n');
      if (end === -1) return;
      socket.off('data', onData);
      socket.pause();
      expect(received.subarray(0, 12).toString()).toBe('HTTP/1.1 101');
      resolve({ socket, after: received.subarray(end + 4) });
    };
    socket.on('data', onData);
    socket.once('error', reject);
  });
}

/** Waits for the worker's memory and the producer to settle: two readings 300 ms apart alike. */
async function settle(read: () => Promise<number>): Promise<number> {
  let last = await read();
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, 300));
    const now = await read();
    if (now === last) return now;
    last = now;
  }
}

describe('backpressure on an upgraded connection, in a real worker', () => {
  it('a client that reads nothing: the app waits, the worker stays small; then all 100 MiB arrive', async () => {
    const port = await freePort();
    const tsgi = await startTsgi(['--http-socket', `127.0.0.1:${port}`, '--module', APP]);
    running.push(tsgi);
    const [worker] = tsgi.workers();
    const before = rss(worker!);
    const { socket, after } = await upgrade(port, 'flood');
    const sent = await settle(async () => (await ask(port)).sent);
    // What the kernel's buffers, the reactor's queue and the pipe hold: far from 100 MiB.
    expect(sent).toBeLessThan(24 * MiB);
    expect(rss(worker!) - before).toBeLessThan(64 * MiB);
    let received = after.length;
    socket.on('data', (chunk: Buffer) => (received += chunk.length));
    socket.resume();
    await until(() => received === FLOOD, 'all 100 MiB', 60_000);
    expect(rss(worker!) - before).toBeLessThan(64 * MiB);
  });

  it('an app that reads nothing: the client waits, the worker stays small; then all 100 MiB arrive', async () => {
    const port = await freePort();
    const tsgi = await startTsgi(['--http-socket', `127.0.0.1:${port}`, '--module', APP]);
    running.push(tsgi);
    const [worker] = tsgi.workers();
    const before = rss(worker!);
    const { socket } = await upgrade(port, 'sink');
    const chunk = Buffer.alloc(64 * 1024, 0x62);
    let written = 0;
    const writer = (async () => {
      while (written < FLOOD) {
        written += chunk.length;
        if (!socket.write(chunk)) await new Promise((resolve) => socket.once('drain', resolve));
      }
    })();
    const stalled = await settle(async () => written);
    expect(stalled).toBeLessThan(24 * MiB);
    expect((await ask(port)).read).toBe(0);
    expect(rss(worker!) - before).toBeLessThan(64 * MiB);
    await ask(port, '/start-reading');
    await writer;
    await until(async () => (await ask(port)).read === FLOOD, 'the app to read all 100 MiB', 60_000);
    expect(rss(worker!) - before).toBeLessThan(64 * MiB);
  });
});
