/**
 * startResponse, end to end over uwsgi: a second call, excInfo before and after the head
 * went out, write() and its order with the body; invalid status lines and headers thrown
 * at call time with their codes, and a 500 when the app lets them through.
 */
import { describe, expect, it } from 'vitest';
import type { Headers } from '../../src/app/contract.js';
import { ErrorCodes, TsgiError } from '../../src/errors.js';
import { useTestServers } from '../helpers/servers.js';
import { ERROR_BODY, TEXT, headerValue, request } from '../helpers/tsgi.js';
import { waitFor } from '../helpers/uwsgi.js';

const servers = useTestServers();
const { serve } = servers;

describe('startResponse and excInfo', () => {
  it('a second call without excInfo throws TSGI_ERR_START_RESPONSE_TWICE and the first stands', async () => {
    let caught: unknown;
    const address = serve((_environ, start) => {
      start('200 OK', TEXT);
      try {
        start('201 Created', TEXT);
      } catch (error) {
        caught = error;
      }
      return ['first'];
    });
    const response = await request(address);
    expect(caught).toBeInstanceOf(TsgiError);
    expect((caught as TsgiError).code).toBe(ErrorCodes.START_RESPONSE_TWICE);
    expect(response.statusLine).toBe('HTTP/1.1 200 OK');
    expect(response.body.toString()).toBe('first');
  });

  it('with excInfo before headers are sent, replaces status and headers', async () => {
    let threw = false;
    const address = serve((_environ, start) => {
      start('200 OK', [...TEXT, ['X-First', '1']]);
      try {
        start(
          '503 Service Unavailable',
          [
            ['Content-Type', 'text/plain'],
            ['Retry-After', '5'],
          ],
          new Error('upstream down'),
        );
      } catch {
        threw = true;
      }
      return ['down'];
    });
    const response = await request(address);
    expect(threw).toBe(false);
    expect(response.statusLine).toBe('HTTP/1.1 503 Service Unavailable');
    expect(headerValue(response.headers, 'Retry-After')).toBe('5');
    expect(headerValue(response.headers, 'X-First')).toBeUndefined();
    expect(response.body.toString()).toBe('down');
  });

  it('with excInfo before headers, also from inside the body before any data', async () => {
    const address = serve((_environ, start) => {
      start('200 OK', TEXT);
      return (function* () {
        yield '';
        start('500 Handled', TEXT, new Error('late but in time'));
        yield 'handled';
      })();
    });
    const response = await request(address);
    expect(response.statusLine).toBe('HTTP/1.1 500 Handled');
    expect(response.body.toString()).toBe('handled');
  });

  it('with excInfo after headers are sent, rethrows excInfo itself', async () => {
    let outcome = '';
    const address = serve((_environ, start) => {
      start('200 OK', TEXT);
      return (function* () {
        yield 'first,';
        const excInfo = new Error('too late');
        try {
          start('500 Too Late', TEXT, excInfo);
          outcome = 'returned';
        } catch (error) {
          outcome = error === excInfo ? 'rethrown' : `other: ${String(error)}`;
        }
        yield 'second';
      })();
    });
    const response = await request(address);
    expect(outcome).toBe('rethrown');
    expect(response.statusLine).toBe('HTTP/1.1 200 OK');
    expect(response.body.toString()).toBe('first,second');
  });

  it('write() from startResponse sends data before the iterable, in order', async () => {
    const address = serve((_environ, start) => {
      const write = start('200 OK', TEXT);
      write('one,');
      write(Buffer.from('two,'));
      return (function* () {
        yield 'three,';
        yield 'four';
      })();
    });
    const response = await request(address);
    expect(response.statusLine).toBe('HTTP/1.1 200 OK');
    expect(response.body.toString()).toBe('one,two,three,four');
    expect(response.reset).toBe(false);
  });

  it('write() then an array body: the declared length, if any, matches what is sent', async () => {
    const address = serve((_environ, start) => {
      const write = start('200 OK', TEXT);
      write('head-');
      return ['tail'];
    });
    const response = await request(address);
    expect(response.body.toString()).toBe('head-tail');
    const cl = headerValue(response.headers, 'Content-Length');
    if (cl !== undefined) expect(Number(cl)).toBe(response.body.length);
  });

  it('write() returns a boolean', async () => {
    let returned: unknown;
    const address = serve((_environ, start) => {
      returned = start('200 OK', TEXT)('x');
      return [];
    });
    const response = await request(address);
    expect(response.body.toString()).toBe('x');
    expect(typeof returned).toBe('boolean');
  });
});

describe('invalid status lines and headers throw at call time', () => {
  const statusCases: unknown[] = ['200OK', '20 OK', 'OK', '2000 OK', '099 Low', '200 OK\r\n', '200 OK\n', '200 O\rK', '200 OK\0', '', ' 200 OK', 200, null];
  it.each(statusCases.map((s) => [JSON.stringify(s) ?? String(s), s]))('status %s → TSGI_ERR_INVALID_STATUS', async (_label, status) => {
    let caught: unknown;
    const address = serve((_environ, start) => {
      try {
        start(status as string, TEXT);
      } catch (error) {
        caught = error;
      }
      start('200 OK', TEXT);
      return ['after'];
    });
    const response = await request(address);
    expect(caught).toBeInstanceOf(TsgiError);
    expect((caught as TsgiError).code).toBe(ErrorCodes.INVALID_STATUS);
    // The failed call does not count: the second one is accepted as the first.
    expect(response.statusLine).toBe('HTTP/1.1 200 OK');
    expect(response.body.toString()).toBe('after');
  });

  const headerCases: Array<[string, unknown, string]> = [
    ['name with CRLF', [['X-Bad\r\nInjected', 'v']], ErrorCodes.INVALID_HEADER],
    ['name with LF', [['X-Bad\nInjected', 'v']], ErrorCodes.INVALID_HEADER],
    ['name with NUL', [['X-Bad\0', 'v']], ErrorCodes.INVALID_HEADER],
    ['name with a space', [['X Bad', 'v']], ErrorCodes.INVALID_HEADER],
    ['name with a colon', [['X-Bad:', 'v']], ErrorCodes.INVALID_HEADER],
    ['empty name', [['', 'v']], ErrorCodes.INVALID_HEADER],
    ['value with CRLF', [['X-Ok', 'v\r\nSet-Cookie: evil=1']], ErrorCodes.INVALID_HEADER],
    ['value with LF', [['X-Ok', 'a\nb']], ErrorCodes.INVALID_HEADER],
    ['value with CR', [['X-Ok', 'a\rb']], ErrorCodes.INVALID_HEADER],
    ['value with NUL', [['X-Ok', 'a\0b']], ErrorCodes.INVALID_HEADER],
    ['value outside latin-1', [['X-Ok', 'caf\u0113']], ErrorCodes.INVALID_HEADER],
    ['a Status header', [['Status', '200 OK']], ErrorCodes.INVALID_HEADER],
    ['a non-numeric Content-Length', [['Content-Length', '12abc']], ErrorCodes.INVALID_HEADER],
    [
      'conflicting Content-Lengths',
      [
        ['Content-Length', '1'],
        ['Content-Length', '2'],
      ],
      ErrorCodes.INVALID_HEADER,
    ],
    ['a pair of three', [['X-Ok', 'v', 'w']], ErrorCodes.INVALID_HEADER],
    ['headers not an array', { 'X-Ok': 'v' }, ErrorCodes.INVALID_HEADER],
    ['Connection', [['Connection', 'close']], ErrorCodes.HOP_BY_HOP_HEADER],
    ['Transfer-Encoding', [['Transfer-Encoding', 'chunked']], ErrorCodes.HOP_BY_HOP_HEADER],
    ['transfer-encoding (lower case)', [['transfer-encoding', 'chunked']], ErrorCodes.HOP_BY_HOP_HEADER],
    ['Keep-Alive', [['Keep-Alive', 'timeout=5']], ErrorCodes.HOP_BY_HOP_HEADER],
    ['Upgrade', [['Upgrade', 'websocket']], ErrorCodes.HOP_BY_HOP_HEADER],
    ['TE', [['TE', 'trailers']], ErrorCodes.HOP_BY_HOP_HEADER],
    ['Trailer', [['Trailer', 'X']], ErrorCodes.HOP_BY_HOP_HEADER],
    ['Proxy-Connection', [['Proxy-Connection', 'keep-alive']], ErrorCodes.HOP_BY_HOP_HEADER],
  ];
  it.each(headerCases)('%s → %s... thrown by startResponse', async (_label, headers, code) => {
    let caught: unknown;
    const address = serve((_environ, start) => {
      try {
        start('200 OK', headers as Headers);
      } catch (error) {
        caught = error;
      }
      start('200 OK', TEXT);
      return ['after'];
    });
    const response = await request(address);
    expect(caught).toBeInstanceOf(TsgiError);
    expect((caught as TsgiError).code).toBe(code);
    expect(response.statusLine).toBe('HTTP/1.1 200 OK');
    expect(response.data.toString('latin1')).not.toMatch(/Injected|evil|Set-Cookie/);
  });

  it('an uncaught header error becomes a 500 and is logged with its code', async () => {
    const address = serve((_environ, start) => {
      start('200 OK', [['X-Bad', 'a\r\nb']]);
      return ['never'];
    });
    const response = await request(address);
    expect(response.statusLine).toBe('HTTP/1.1 500 Internal Server Error');
    expect(response.body.toString()).toBe(ERROR_BODY);
    await waitFor(() => servers.logs.find(/invalid value for header X-Bad/), { what: 'the log line' });
  });
});
