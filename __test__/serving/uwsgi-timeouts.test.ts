/**
 * uwsgi connections that stall: a head that does not arrive within socketTimeout of the
 * connection (U27), whether it trickles or never starts, and a peer that reads nothing of
 * the response; each is closed, logged, and the server keeps serving.
 */
import { describe, expect, it } from 'vitest';
import { useTestServers } from '../helpers/servers.js';
import { countingServers, expectStillServing } from '../helpers/uwsgi-server.js';
import { RawClient, exchangeSlowly, nginxVars, packet, waitFor } from '../helpers/uwsgi.js';

const servers = useTestServers();
const { serve } = servers;
const countingServer = countingServers(servers);

describe('U27: head timeout', () => {
  it('a client that sends 2 bytes and stalls is closed after socketTimeout, logged, app not called', async () => {
    const { address, calls } = countingServer({ socketTimeout: 0.5 });
    const client = new RawClient(address);
    await client.connected;
    const started = Date.now();
    await client.write(Buffer.from([0, 30]));
    const { data } = await client.whenClosed;
    const elapsed = Date.now() - started;
    expect(data.length).toBe(0);
    expect(elapsed).toBeGreaterThanOrEqual(400);
    expect(elapsed).toBeLessThan(2500);
    await waitFor(() => servers.logs.find(/no complete request head within socket-timeout 0.5 s \(2 bytes received\); closed \(raise --socket-timeout\)/), {
      what: 'the log line',
    });
    expect(calls()).toBe(0);
    await expectStillServing(address, calls, 0);
  });

  it('a client that connects and sends nothing is closed after socketTimeout', async () => {
    const { address, calls } = countingServer({ socketTimeout: 0.3 });
    const client = new RawClient(address);
    await client.connected;
    const started = Date.now();
    await client.whenClosed;
    expect(Date.now() - started).toBeGreaterThanOrEqual(200);
    expect(Date.now() - started).toBeLessThan(2500);
    expect(calls()).toBe(0);
  });

  it('the head timeout counts from the connection, not the last byte (a trickling head is cut off)', async () => {
    const { address, calls } = countingServer({ socketTimeout: 0.5 });
    const bytes = packet(nginxVars('GET', '/slow'));
    const started = Date.now();
    // ~100 ms per byte: the whole head would take well over the timeout.
    const result = await exchangeSlowly(address, bytes, { split: 'bytes', delayMs: 100 });
    expect(Date.now() - started).toBeLessThan(2500);
    expect(result.data.length).toBe(0);
    expect(calls()).toBe(0);
  });
});

describe('a peer that reads nothing of the response', () => {
  it('is cut off after socketTimeout: the request is aborted (signal, close()), logged, the connection closed', async () => {
    let aborted = false;
    let closed = false;
    const address = serve(
      (environ, start) => {
        const signal = environ['tsgi.signal'];
        signal.addEventListener('abort', () => (aborted = true));
        start('200 OK', [['Content-Type', 'application/octet-stream']]);
        const chunk = Buffer.alloc(64 * 1024, 'x');
        // Endless, with backpressure: it waits whenever the connection's queue is full.
        const body = (function* () {
          while (!signal.aborted) yield chunk;
        })();
        return Object.assign(body, { close: () => void (closed = true) });
      },
      { socketTimeout: 0.5 },
    );
    const client = new RawClient(address);
    await client.connected;
    await client.write(packet(nginxVars('GET', '/firehose')));
    // Read a little, then nothing: the kernel's buffers fill and the response stalls.
    await waitFor(() => client.received > 0, { what: 'the first bytes' });
    client.socket.pause();
    await waitFor(() => closed, { timeout: 10_000, what: 'close() after the stall' });
    expect(aborted).toBe(true);
    await waitFor(() => servers.logs.find(/uwsgi: peer read nothing of the response for socket-timeout 0.5 s; aborted \(raise --socket-timeout\)/), {
      what: 'the log line',
    });
    // Closed (with a reset, which a client that stopped reading may see only as an end).
    client.socket.resume();
    await client.whenClosed;
  });
});
