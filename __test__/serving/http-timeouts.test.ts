/**
 * HTTP timeouts: a kept-alive connection may idle for --http-keepalive-timeout, a head must
 * arrive within --socket-timeout of its first byte (a client at 1 byte per 100 ms cannot
 * hold a connection), and a stalled body is aborted.
 */
import { describe, expect, it } from 'vitest';
import type { App } from '../../src/app/contract.js';
import { useTestServers } from '../helpers/servers.js';
import { RawClient, delay, waitFor } from '../helpers/uwsgi.js';

const servers = useTestServers();
const { serve } = servers;
const HTTP = { protocol: 'http' as const };
const hello: App = (_environ, start) => {
  start('200 OK', [['Content-Type', 'text/plain']]);
  return ['hi'];
};
const GET = 'GET / HTTP/1.1\r\nHost: x\r\n\r\n';
const responses = (client: RawClient): number => client.data.toString('latin1').split('HTTP/1.1 200 OK').length - 1;

describe('HTTP timeouts', () => {
  it('a kept-alive connection idles past socket-timeout, up to http-keepalive-timeout', async () => {
    const address = serve(hello, { socketTimeout: 0.3, keepaliveTimeout: 1.5 }, HTTP);
    const client = new RawClient(address);
    await client.write(GET);
    await waitFor(() => responses(client) === 1);
    await delay(700); // over socket-timeout, under the keep-alive timeout
    expect(client.closed).toBe(false);
    await client.write(GET);
    await waitFor(() => responses(client) === 2);
    const idleStart = Date.now();
    await client.whenClosed;
    const idled = Date.now() - idleStart;
    expect(idled).toBeGreaterThanOrEqual(1300);
    expect(client.reset).toBe(false); // a quiet close, no log line
    expect(servers.logs.find(/no complete request head/)).toBeUndefined();
  });

  it('a head trickling in at 1 byte per 100 ms is closed at socket-timeout from its first byte', async () => {
    let called = 0;
    const address = serve(() => (called++, []), { socketTimeout: 0.5, keepaliveTimeout: 30 }, HTTP);
    const client = new RawClient(address);
    const started = Date.now();
    for (const byte of 'GET /slow HTTP/1.1\r\nHost: x\r\nX-Long: aaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n') {
      if (client.closed) break;
      await client.write(byte).catch(() => undefined);
      await delay(100);
    }
    await client.whenClosed;
    expect(Date.now() - started).toBeLessThan(2500);
    expect(called).toBe(0);
    expect(servers.logs.find(/http: no complete request head within socket-timeout 0\.5 s .*--socket-timeout/)).toBeDefined();
  });

  it('a body that stalls for socket-timeout aborts the request and answers 408, then closes', async () => {
    let aborted = false;
    const app: App = async (environ, start) => {
      environ['tsgi.signal'].addEventListener('abort', () => (aborted = true));
      for await (const _ of environ['tsgi.input']);
      start('200 OK', []);
      return [];
    };
    const address = serve(app, { socketTimeout: 0.3 }, HTTP);
    const client = new RawClient(address);
    await client.write('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc');
    await client.whenClosed;
    expect(client.data.toString('latin1')).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
    await waitFor(() => aborted);
    expect(
      servers.logs.find(/http: request body stalled for socket-timeout 0\.3 s with 7 bytes missing; aborted with 408 \(raise --socket-timeout\)/),
    ).toBeDefined();
  });

  it('a chunked body that stalls for socket-timeout: 408, then closed', async () => {
    const app: App = async (environ, start) => {
      for await (const _ of environ['tsgi.input']);
      start('200 OK', []);
      return [];
    };
    const address = serve(app, { socketTimeout: 0.3 }, HTTP);
    const client = new RawClient(address);
    await client.write('POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab');
    await client.whenClosed;
    expect(client.data.toString('latin1')).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
    expect(servers.logs.find(/http: chunked request body stalled for socket-timeout 0\.3 s; aborted with 408/)).toBeDefined();
  });

  it('a body that stalls after the app began its response: reset, no second response', async () => {
    const app: App = async function* (environ, start) {
      start('200 OK', [['Content-Type', 'text/plain']]);
      yield 'started\n';
      for await (const _ of environ['tsgi.input']);
      yield 'never\n';
    };
    const address = serve(app, { socketTimeout: 0.3 }, HTTP);
    const client = new RawClient(address);
    await client.write('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc');
    await client.whenClosed;
    const text = client.data.toString('latin1');
    expect(text).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(text).not.toContain('408');
  });
});

describe('HTTP request deadline', () => {
  it('a body trickling in steadily is cut at http-request-timeout: 408 before the app answers', async () => {
    let aborted = false;
    const app: App = async (environ, start) => {
      environ['tsgi.signal'].addEventListener('abort', () => (aborted = true));
      for await (const _ of environ['tsgi.input']);
      start('200 OK', []);
      return [];
    };
    const address = serve(app, { socketTimeout: 0.4, requestTimeout: 0.8 }, HTTP);
    const client = new RawClient(address);
    await client.write('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n');
    // One byte every 100 ms: never idle for socket-timeout, never done either.
    for (let i = 0; i < 30 && !client.closed; i++) {
      await client.write('a').catch(() => undefined);
      await delay(100);
    }
    await client.whenClosed;
    expect(client.data.toString('latin1')).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
    await waitFor(() => aborted);
    expect(servers.logs.find(/http-request-timeout 0\.8 s; .*--http-request-timeout/)).toBeDefined();
  });
});
