/**
 * Backpressure on the response, end to end over uwsgi: a large streamed body waits for a
 * client that does not read (the app is not iterated ahead of the socket), then arrives
 * whole.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { useTestServers } from '../helpers/servers.js';
import { nginxVars, packet, waitFor } from '../helpers/uwsgi.js';

const servers = useTestServers();
const { serve } = servers;

describe('backpressure', () => {
  it('a large streamed body waits for a client that does not read, then arrives whole', async () => {
    const CHUNK = 64 * 1024;
    const TOTAL_CHUNKS = 512; // 32 MiB
    let produced = 0;
    const chunkFor = (i: number) => Buffer.alloc(CHUNK, i & 0xff);
    const expected = createHash('sha256');
    for (let i = 0; i < TOTAL_CHUNKS; i++) expected.update(chunkFor(i));
    const address = serve((_environ, start) => {
      start('200 OK', [['Content-Type', 'application/octet-stream']]);
      return (function* () {
        for (let i = 0; i < TOTAL_CHUNKS; i++) {
          produced++;
          yield chunkFor(i);
        }
      })();
    });
    const net = await import('node:net');
    const [host, port] = [address.slice(0, address.lastIndexOf(':')), Number(address.slice(address.lastIndexOf(':') + 1))];
    const socket = net.connect({ host, port });
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    socket.pause();
    socket.write(packet(nginxVars('GET', '/huge')));
    // Wait until production stops moving: the generator is parked on the full queue.
    await waitFor(() => produced > 0, { what: 'the generator to start' });
    let last = -1;
    let stableSince = Date.now();
    await waitFor(
      () => {
        if (produced !== last) {
          last = produced;
          stableSince = Date.now();
        }
        return Date.now() - stableSince > 400;
      },
      { timeout: 8000, interval: 20, what: 'production to stall' },
    );
    expect(produced).toBeLessThan(200);
    expect(produced).toBeLessThan(TOTAL_CHUNKS);
    // Now read everything.
    const hash = createHash('sha256');
    let head = Buffer.alloc(0);
    let headDone = false;
    let bodyBytes = 0;
    let reset = false;
    const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
    socket.on('error', () => (reset = true));
    socket.on('data', (data: Buffer) => {
      if (!headDone) {
        head = Buffer.concat([head, data]);
        const end = head.indexOf('\r\n\r\n');
        if (end === -1) return;
        headDone = true;
        data = head.subarray(end + 4);
        head = head.subarray(0, end);
      }
      hash.update(data);
      bodyBytes += data.length;
    });
    socket.resume();
    await closed;
    expect(reset).toBe(false);
    expect(head.toString('latin1')).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(bodyBytes).toBe(CHUNK * TOTAL_CHUNKS);
    expect(hash.digest('hex')).toBe(expected.digest('hex'));
    expect(produced).toBe(TOTAL_CHUNKS);
  });
});
