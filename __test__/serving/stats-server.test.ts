/**
 * The stats server lives in the master, so it must never cost the master its file
 * descriptors: a connection lasts 5 s at most, whatever the client trickles meanwhile, and
 * at most 64 are open at once. Both are checked against a real master.
 */
import { readdirSync } from 'node:fs';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import path from 'node:path';
import { startTsgi, until, type Tsgi } from '../helpers/chaos.js';
import { freePort } from '../../scripts/lib/processes.mjs';

const APP = path.resolve('__test__/fixtures/chaos-app.mjs');
const cleanups: Array<() => void> = [];

afterEach(() => {
  for (const cleanup of cleanups.splice(0).reverse()) cleanup();
});

async function withStats(): Promise<{ master: Tsgi; statsPort: number }> {
  const statsPort = await freePort();
  const master = await startTsgi(['--socket', '127.0.0.1:0', '--module', APP, '--stats', `127.0.0.1:${statsPort}`, '--stats-http']);
  cleanups.push(() => master.kill());
  return { master, statsPort };
}

/** A connection to the stats port; `closed` resolves (with the time) when the master closes it. */
function connect(port: number): { socket: net.Socket; closed: Promise<number> } {
  const socket = net.connect(port, '127.0.0.1').on('error', () => {});
  cleanups.push(() => socket.destroy());
  const closed = new Promise<number>((resolve) => socket.on('close', () => resolve(Date.now())));
  return { socket, closed };
}

describe('the stats server holds no descriptor for long', () => {
  it('closes a client that trickles its request head a byte at a time after 5 s', async () => {
    const { statsPort } = await withStats();
    const { socket, closed } = connect(statsPort);
    await new Promise((resolve) => socket.once('connect', resolve));
    const opened = Date.now();
    const trickle = setInterval(() => socket.write('G'), 500);
    cleanups.push(() => clearInterval(trickle));
    const at = await closed;
    // An idle timeout would never fire: a byte comes every 0.5 s.
    expect(at - opened).toBeGreaterThanOrEqual(4500);
    expect(at - opened).toBeLessThan(9000);
  });

  it('keeps at most 64 connections open and still answers once they are gone', async () => {
    const { master, statsPort } = await withStats();
    const descriptors = () => readdirSync(`/proc/${master.pid}/fd`).length;
    const before = descriptors();
    const clients = Array.from({ length: 100 }, () => connect(statsPort));
    // The ones past 64 are closed as they come, long before the 5 s deadline.
    const early: number[] = [];
    for (const c of clients) void c.closed.then((at) => early.push(at));
    await until(() => early.length >= 36 || undefined, '36 connections closed at once', 4000);
    const held = descriptors() - before;
    for (const c of clients) c.socket.destroy();
    expect(held).toBeLessThanOrEqual(64);
    const reply = await new Promise<string>((resolve, reject) => {
      let text = '';
      net
        .connect(statsPort, '127.0.0.1', function (this: net.Socket) {
          this.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
        })
        .setEncoding('utf8')
        .on('data', (d: string) => (text += d))
        .on('end', () => resolve(text))
        .on('error', reject);
    });
    expect(reply).toMatch(/^HTTP\/1\.1 200 OK/);
    expect(reply).toContain('"workers"');
  });
});
