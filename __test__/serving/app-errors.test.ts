/**
 * An app's mistakes, end to end (a real in-process Server, raw uwsgi packets in, raw HTTP
 * response bytes out): an error before the first non-empty chunk is a static 500, the head
 * being deferred until then; an error after it resets the connection, never a response
 * that looks complete; data before startResponse, a body without it, a body that is not
 * iterable are 500s. Each is logged.
 */
import { describe, expect, it } from 'vitest';
import type { App, Body } from '../../src/app/contract.js';
import { useTestServers } from '../helpers/servers.js';
import { ERROR_BODY, TEXT, expectIdle, headerValue, looksComplete, request } from '../helpers/tsgi.js';
import { RawClient, delay, exchange, nginxVars, packet, parseResponse, waitFor } from '../helpers/uwsgi.js';

const servers = useTestServers();
const { serve } = servers;

describe('deferred headers: an error before the first non-empty chunk', () => {
  const cases: Array<[string, (start: Parameters<App>[1]) => Body | Promise<Body>]> = [
    [
      'the app throws after startResponse',
      (start) => {
        start('200 OK', [...TEXT, ['X-From-App', 'yes']]);
        throw new Error('boom-sync-app');
      },
    ],
    [
      'a generator throws on its first step',
      (start) => {
        start('200 OK', [...TEXT, ['X-From-App', 'yes']]);
        return (function* () {
          throw new Error('boom-first-step');
        })();
      },
    ],
    [
      'a generator yields only empty chunks, then throws',
      (start) => {
        start('200 OK', [...TEXT, ['X-From-App', 'yes']]);
        return (function* () {
          yield '';
          yield new Uint8Array(0);
          throw new Error('boom-after-empty');
        })();
      },
    ],
    [
      'an async generator throws before yielding data',
      (start) => {
        start('200 OK', [...TEXT, ['X-From-App', 'yes']]);
        return (async function* () {
          await delay(5);
          yield '';
          throw new Error('boom-async-gen');
        })();
      },
    ],
    [
      'a Promise-returning app rejects after startResponse',
      async (start) => {
        start('200 OK', [...TEXT, ['X-From-App', 'yes']]);
        await delay(5);
        throw new Error('boom-promise');
      },
    ],
  ];

  it.each(cases)('%s → a static 500, the error logged', async (_name, body) => {
    const address = serve((_environ, start) => body(start));
    const response = await request(address);
    expect(response.statusLine).toBe('HTTP/1.1 500 Internal Server Error');
    expect(response.body.toString()).toBe(ERROR_BODY);
    expect(headerValue(response.headers, 'Content-Length')).toBe(String(ERROR_BODY.length));
    expect(headerValue(response.headers, 'X-From-App')).toBeUndefined();
    expect(response.reset).toBe(false);
    const line = await waitFor(() => servers.logs.find(/boom-/), { what: 'the app error in the log' });
    expect(line.level).toBe('error');
    expect(line.line).toMatch(/app error/);
    expect(line.line).toMatch(/GET \//);
  });

  it('a HEAD request that fails gets the 500 head without a body', async () => {
    const address = serve((_environ, start) => {
      start('200 OK', TEXT);
      throw new Error('boom-head');
    });
    const response = await request(address, nginxVars('HEAD', '/'));
    expect(response.statusLine).toBe('HTTP/1.1 500 Internal Server Error');
    expect(response.body.length).toBe(0);
  });
});

describe('an error after the first non-empty chunk was sent', () => {
  it('resets the connection (sync generator): never a fake complete response', async () => {
    const address = serve((_environ, start) => {
      start('200 OK', TEXT);
      return (function* () {
        yield 'partial body';
        throw new Error('boom-mid-body');
      })();
    });
    const { data, reset } = await exchange(address, packet(nginxVars('GET', '/')));
    expect(reset).toBe(true);
    expect(looksComplete(data)).toBe(false);
    await waitFor(() => servers.logs.find(/boom-mid-body/), { what: 'the log line' });
    await expectIdle(servers);
  });

  it('resets the connection after data went out (async generator)', async () => {
    const address = serve((_environ, start) => {
      start('200 OK', TEXT);
      return (async function* () {
        yield 'partial body';
        await delay(30);
        throw new Error('boom-mid-async');
      })();
    });
    const client = new RawClient(address);
    await client.connected;
    await client.write(packet(nginxVars('GET', '/')));
    await waitFor(() => client.data.includes('partial body'), { what: 'the first chunk' });
    await client.whenClosed;
    // No Content-Length was declared: a FIN here would pass the truncated body as complete.
    expect(headerValue(parseResponse(client.data).headers, 'Content-Length')).toBeUndefined();
    expect(client.reset).toBe(true);
    expect(client.ended).toBe(false);
    await waitFor(() => servers.logs.find(/boom-mid-async/), { what: 'the log line' });
    await expectIdle(servers);
  });
});

describe('other app mistakes', () => {
  it('data before startResponse → 500 and TSGI_ERR_NO_START_RESPONSE logged', async () => {
    const address = serve(() => ['no head']);
    const response = await request(address);
    expect(response.statusLine).toBe('HTTP/1.1 500 Internal Server Error');
    expect(response.body.toString()).toBe(ERROR_BODY);
    await waitFor(() => servers.logs.find(/before startResponse\(\) was called/), { what: 'the log line' });
  });

  it('a body that ends without startResponse → 500', async () => {
    const address = serve(() => (function* () {})());
    const response = await request(address);
    expect(response.statusLine).toBe('HTTP/1.1 500 Internal Server Error');
    await waitFor(() => servers.logs.find(/without startResponse\(\)/), { what: 'the log line' });
  });

  it.each([
    ['a number', 42],
    ['null', null],
    ['a plain object', { not: 'iterable' }],
  ])('returning %s → 500, logged', async (_name, value) => {
    const address = serve((_environ, start) => {
      start('200 OK', TEXT);
      return value as unknown as Body;
    });
    const response = await request(address);
    expect(response.statusLine).toBe('HTTP/1.1 500 Internal Server Error');
    await waitFor(() => servers.logs.find(/app error/), { what: 'the log line' });
  });

  it('write() then a throw: the head went out, so the connection is reset', async () => {
    const address = serve((_environ, start) => {
      start('200 OK', TEXT)('partial');
      throw new Error('boom-after-write');
    });
    const { data, reset } = await exchange(address, packet(nginxVars('GET', '/')));
    expect(reset).toBe(true);
    expect(looksComplete(data)).toBe(false);
    await waitFor(() => servers.logs.find(/boom-after-write/), { what: 'the log line' });
  });
});
