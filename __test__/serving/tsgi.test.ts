/**
 * TSGI (PEP 3333 for TypeScript) semantics, end to end: a real in-process Server on
 * 127.0.0.1:0, raw uwsgi packets in, raw HTTP response bytes out.
 */
import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { App, Body, Chunk, Environ, Headers } from '../../src/app/contract.js';
import { ErrorCodes, TsgiError } from '../../src/errors.js';
import { useTestServers } from '../helpers/servers.js';
import { RawClient, delay, exchange, nginxVars, packet, parseResponse, waitFor } from '../helpers/uwsgi.js';

const servers = useTestServers();
const { serve } = servers;

/** The last server `serve` started holds no request and no connection any more. */
async function expectIdle(): Promise<void> {
  const server = servers.started.at(-1)!;
  await waitFor(() => server.activeRequests === 0 && server.connections === 0, {
    what: `the server to be idle (requests ${server.activeRequests}, connections ${server.connections})`,
  });
}

interface Response {
  statusLine: string;
  headers: Array<[string, string]>;
  body: Buffer;
  reset: boolean;
  data: Buffer;
}

/** Sends one request and parses the complete response. */
async function request(address: string, vars: Record<string, string> = nginxVars('GET', '/'), body: Buffer | string = '', modifier1 = 0): Promise<Response> {
  const { data, reset } = await exchange(address, packet(vars, body, modifier1));
  return { ...parseResponse(data), reset, data };
}

function headerValue(headers: Array<[string, string]>, name: string): string | undefined {
  return headers.find(([n]) => n.toLowerCase() === name.toLowerCase())?.[1];
}

function headerNames(headers: Array<[string, string]>): string[] {
  return headers.map(([n]) => n.toLowerCase());
}

const TEXT: Headers = [['Content-Type', 'text/plain']];
const ERROR_BODY = 'Internal Server Error\n';

/** A response that, read as close-delimited, would look complete: it must not be one. */
function looksComplete(data: Buffer, declared?: number): boolean {
  const end = data.indexOf('\r\n\r\n');
  if (end === -1) return false;
  const { headers, body } = parseResponse(data);
  const cl = headerValue(headers, 'Content-Length');
  if (cl !== undefined) return body.length === Number(cl);
  return declared === undefined ? true : body.length === declared;
}

// ---- deferred headers and errors ------------------------------------------------------

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
    await expectIdle();
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
    await expectIdle();
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

// ---- close(), return(), tsgi.signal ------------------------------------------------------

describe('close() is always called', () => {
  it('after a normal end (array body), and the signal does not fire', async () => {
    let closed = 0;
    let signal: AbortSignal | undefined;
    const address = serve((environ, start) => {
      signal = environ['tsgi.signal'];
      start('200 OK', TEXT);
      return Object.assign(['done'], { close: () => void closed++ });
    });
    const response = await request(address);
    expect(response.body.toString()).toBe('done');
    await waitFor(() => closed === 1, { what: 'close()' });
    await delay(20);
    expect(closed).toBe(1);
    expect(signal!.aborted).toBe(false);
  });

  it('after a normal end (custom iterable object)', async () => {
    let closed = 0;
    const address = serve((_environ, start) => {
      start('200 OK', TEXT);
      const parts = ['a', 'b', 'c'];
      return {
        [Symbol.iterator]: () => parts[Symbol.iterator](),
        close: () => void closed++,
      };
    });
    const response = await request(address);
    expect(response.body.toString()).toBe('abc');
    await waitFor(() => closed === 1, { what: 'close()' });
  });

  it('after a normal end (async generator with close)', async () => {
    let closed = 0;
    const address = serve((_environ, start) => {
      start('200 OK', TEXT);
      async function* gen(): AsyncGenerator<Chunk> {
        yield 'x';
        await delay(1);
        yield 'y';
      }
      return Object.assign(gen(), { close: () => void closed++ });
    });
    const response = await request(address);
    expect(response.body.toString()).toBe('xy');
    await waitFor(() => closed === 1, { what: 'close()' });
  });

  it('after an error mid-iteration (before and after headers went out)', async () => {
    let closed = 0;
    let step = 0;
    let failAt = 0;
    const address = serve((_environ, start) => {
      start('200 OK', TEXT);
      step = 0;
      return {
        [Symbol.iterator]: () => ({
          next: (): IteratorResult<Chunk> => {
            step++;
            if (step === failAt) throw new Error(`boom-at-${step}`);
            return step > 3 ? { done: true, value: undefined } : { done: false, value: `part${step}` };
          },
        }),
        close: () => void closed++,
      };
    });
    failAt = 1;
    const first = await request(address);
    expect(first.statusLine).toBe('HTTP/1.1 500 Internal Server Error');
    await waitFor(() => closed === 1, { what: 'close() after the 500' });
    failAt = 2;
    const { reset } = await exchange(address, packet(nginxVars('GET', '/')));
    expect(reset).toBe(true);
    await waitFor(() => closed === 2, { what: 'close() after the reset' });
  });

  it('when the app itself throws, close() of nothing is not an issue, and a rejected Promise body is logged', async () => {
    const address = serve(() => Promise.reject(new Error('boom-rejected')));
    const response = await request(address);
    expect(response.statusLine).toBe('HTTP/1.1 500 Internal Server Error');
    await waitFor(() => servers.logs.find(/boom-rejected/), { what: 'the log line' });
  });

  it('when the client goes mid-stream: close(), return(), and tsgi.signal fires exactly once', async () => {
    let closed = 0;
    let finallyRan = 0;
    let aborts = 0;
    let produced = 0;
    let signal: AbortSignal | undefined;
    const address = serve((environ, start) => {
      signal = environ['tsgi.signal'];
      signal.addEventListener('abort', () => aborts++);
      start('200 OK', TEXT);
      async function* slow(): AsyncGenerator<Chunk> {
        try {
          for (;;) {
            produced++;
            yield `tick ${produced}\n`;
            await delay(10);
          }
        } finally {
          finallyRan++;
        }
      }
      return Object.assign(slow(), { close: () => void closed++ });
    });
    const client = new RawClient(address);
    await client.connected;
    await client.write(packet(nginxVars('GET', '/stream')));
    await waitFor(() => client.data.includes('tick 2'), { what: 'some of the stream' });
    client.destroy();
    await waitFor(() => closed === 1, { what: 'close()' });
    expect(finallyRan).toBe(1);
    expect(signal!.aborted).toBe(true);
    expect(signal!.reason).toBeInstanceOf(TsgiError);
    expect((signal!.reason as TsgiError).code).toBe(ErrorCodes.CLIENT_GONE);
    const after = produced;
    await delay(60);
    expect(produced).toBe(after);
    expect(aborts).toBe(1);
    expect(closed).toBe(1);
    await expectIdle();
  });

  it('when the client goes before an async app returns: the signal fires, and close() runs on the late body', async () => {
    let closed = 0;
    let aborted = false;
    let reason: unknown;
    const address = serve(async (environ, start) => {
      const signal = environ['tsgi.signal'];
      await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
      aborted = signal.aborted;
      reason = signal.reason;
      start('200 OK', TEXT);
      return Object.assign(['too late'], { close: () => void closed++ });
    });
    const client = new RawClient(address);
    await client.connected;
    await client.write(packet(nginxVars('GET', '/slow')));
    await delay(20);
    client.destroy();
    await waitFor(() => closed === 1, { what: 'close() of the late body' });
    expect(aborted).toBe(true);
    expect((reason as TsgiError).code).toBe(ErrorCodes.CLIENT_GONE);
    await expectIdle();
  });

  it('when the client goes while a sync generator waits for the queue to drain', async () => {
    let closed = 0;
    let finallyRan = 0;
    let produced = 0;
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    const address = serve((_environ, start) => {
      start('200 OK', TEXT);
      function* endless(): Generator<Chunk> {
        try {
          for (;;) {
            produced++;
            yield chunk;
          }
        } finally {
          finallyRan++;
        }
      }
      return Object.assign(endless(), { close: () => void closed++ });
    });
    const client = new RawClient(address);
    await client.connected;
    client.socket.pause();
    await client.write(packet(nginxVars('GET', '/endless')));
    await waitFor(() => produced > 4, { what: 'the generator to fill the queue' });
    client.destroy();
    await waitFor(() => closed === 1, { what: 'close()' });
    expect(finallyRan).toBe(1);
    await expectIdle();
  });
});

describe('iterator return() when the server stops early', () => {
  it('runs the generator finally when Content-Length is reached before the end', async () => {
    let finallyRan = 0;
    let resumedAfterLimit = false;
    const address = serve((_environ, start) => {
      start('200 OK', [...TEXT, ['Content-Length', '5']]);
      return (function* () {
        try {
          yield 'hel';
          yield 'lo, and more';
          resumedAfterLimit = true;
          yield 'even more';
        } finally {
          finallyRan++;
        }
      })();
    });
    const response = await request(address);
    expect(response.body.toString()).toBe('hello');
    await waitFor(() => finallyRan === 1, { what: 'the finally block' });
    expect(resumedAfterLimit).toBe(false);
  });

  it('runs the async generator finally when Content-Length is reached before the end', async () => {
    let finallyRan = 0;
    const address = serve((_environ, start) => {
      start('200 OK', [...TEXT, ['Content-Length', '4']]);
      return (async function* () {
        try {
          for (;;) {
            await delay(1);
            yield 'ab';
          }
        } finally {
          finallyRan++;
        }
      })();
    });
    const response = await request(address);
    expect(response.body.toString()).toBe('abab');
    await waitFor(() => finallyRan === 1, { what: 'the finally block' });
  });

  // The server stops iterating because the app yielded something it cannot send: as with
  // for-of, the iterator's return() must run so the generator's finally releases what it holds.
  it('runs the generator finally when a chunk is invalid', async () => {
    let finallyRan = 0;
    let closed = 0;
    const address = serve((_environ, start) => {
      start('200 OK', TEXT);
      const gen = (function* () {
        try {
          yield 42 as unknown as Chunk;
          yield 'never';
        } finally {
          finallyRan++;
        }
      })();
      return Object.assign(gen, { close: () => void closed++ });
    });
    const response = await request(address);
    expect(response.statusLine).toBe('HTTP/1.1 500 Internal Server Error');
    await waitFor(() => servers.logs.find(/TSGI_ERR_INVALID_CHUNK|must be a string or a Uint8Array/), { what: 'the log line' });
    await waitFor(() => closed === 1, { what: 'close()' });
    expect(finallyRan).toBe(1);
  });
});

// ---- startResponse rules -------------------------------------------------------------

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

// ---- bodies and framing ---------------------------------------------------------------------

describe('response bodies and framing', () => {
  it('an async app (Promise of an array) is served with Content-Length', async () => {
    const address = serve(async (_environ, start) => {
      await delay(5);
      start('200 OK', TEXT);
      return ['async ', 'app'];
    });
    const response = await request(address);
    expect(response.statusLine).toBe('HTTP/1.1 200 OK');
    expect(response.body.toString()).toBe('async app');
    expect(headerValue(response.headers, 'Content-Length')).toBe('9');
  });

  it('an async generator body is streamed in order, close-delimited', async () => {
    const address = serve((_environ, start) => {
      start('200 OK', TEXT);
      return (async function* () {
        for (let i = 0; i < 5; i++) {
          await delay(2);
          yield `chunk${i};`;
        }
      })();
    });
    const response = await request(address);
    expect(response.body.toString()).toBe('chunk0;chunk1;chunk2;chunk3;chunk4;');
    expect(headerValue(response.headers, 'Content-Length')).toBeUndefined();
    expect(response.reset).toBe(false);
  });

  it('a Promise resolving to an async generator, with startResponse called inside the iteration', async () => {
    const address = serve(async (_environ, start) => {
      await delay(1);
      return (async function* () {
        start('202 Accepted', TEXT);
        yield 'late start';
      })();
    });
    const response = await request(address);
    expect(response.statusLine).toBe('HTTP/1.1 202 Accepted');
    expect(response.body.toString()).toBe('late start');
  });

  it('an array body gets a Content-Length counting UTF-8 bytes', async () => {
    const address = serve((_environ, start) => {
      start('200 OK', TEXT);
      return ['héllo ', Buffer.from([0, 1, 2, 0xff]), '', '€'];
    });
    const response = await request(address);
    expect(headerValue(response.headers, 'Content-Length')).toBe(String(7 + 4 + 3));
    expect(response.body).toEqual(Buffer.concat([Buffer.from('héllo '), Buffer.from([0, 1, 2, 0xff]), Buffer.from('€')]));
  });

  it('a string or Uint8Array returned directly is one chunk with Content-Length', async () => {
    const address = serve((environ, start) => {
      start('200 OK', TEXT);
      return (environ.PATH_INFO === '/bytes' ? new Uint8Array([65, 66]) : 'plain') as unknown as Body;
    });
    const a = await request(address, nginxVars('GET', '/str'));
    expect(a.body.toString()).toBe('plain');
    expect(headerValue(a.headers, 'Content-Length')).toBe('5');
    const b = await request(address, nginxVars('GET', '/bytes'));
    expect(b.body.toString()).toBe('AB');
    expect(headerValue(b.headers, 'Content-Length')).toBe('2');
  });

  it('a generator body of several chunks has no Content-Length and is close-delimited (FIN, not reset)', async () => {
    const address = serve((_environ, start) => {
      start('200 OK', TEXT);
      return (function* () {
        yield 'one ';
        yield Buffer.from('two ');
        yield 'three';
      })();
    });
    const response = await request(address);
    expect(response.statusLine).toBe('HTTP/1.1 200 OK');
    expect(headerNames(response.headers)).not.toContain('content-length');
    expect(headerNames(response.headers)).not.toContain('transfer-encoding');
    expect(response.body.toString()).toBe('one two three');
    expect(response.reset).toBe(false);
  });

  it.each([
    ['an empty array', (): Body => []],
    ['an array of empty chunks', (): Body => ['', new Uint8Array(0)]],
    ['an empty generator', (): Body => (function* () {})()],
    ['an empty async generator', (): Body => (async function* () {})()],
  ])('%s → Content-Length: 0', async (_name, make) => {
    const address = serve((_environ, start) => {
      start('200 OK', TEXT);
      return make();
    });
    const response = await request(address);
    expect(response.statusLine).toBe('HTTP/1.1 200 OK');
    expect(headerValue(response.headers, 'Content-Length')).toBe('0');
    expect(response.body.length).toBe(0);
  });

  it.each([
    ['array', (): Body => ['hello world']],
    [
      'generator',
      (): Body =>
        (function* () {
          yield 'hello ';
          yield 'world';
        })(),
    ],
  ])('HEAD gets the head but no body (%s)', async (_name, make) => {
    const address = serve((_environ, start) => {
      start('200 OK', [...TEXT, ['X-Head', 'yes']]);
      return make();
    });
    const response = await request(address, nginxVars('HEAD', '/'));
    expect(response.statusLine).toBe('HTTP/1.1 200 OK');
    expect(headerValue(response.headers, 'X-Head')).toBe('yes');
    expect(response.body.length).toBe(0);
    const cl = headerValue(response.headers, 'Content-Length');
    if (cl !== undefined) expect(cl).toBe('11');
    expect(response.reset).toBe(false);
  });

  it.each([
    ['204 No Content', 'array'],
    ['204 No Content', 'generator'],
    ['304 Not Modified', 'array'],
    ['304 Not Modified', 'generator'],
  ])('%s carries no body and no Content-Length (%s)', async (status, kind) => {
    const address = serve((_environ, start) => {
      start(status, [['X-Kind', kind]]);
      return kind === 'array'
        ? ['must not be sent']
        : (function* () {
            yield 'must not ';
            yield 'be sent';
          })();
    });
    const response = await request(address);
    expect(response.statusLine).toBe(`HTTP/1.1 ${status}`);
    expect(headerValue(response.headers, 'X-Kind')).toBe(kind);
    expect(headerNames(response.headers)).not.toContain('content-length');
    expect(response.body.length).toBe(0);
  });

  it.each(['array', 'generator'])('a declared Content-Length with more bytes sent: only Content-Length bytes go out (%s)', async (kind) => {
    const address = serve((_environ, start) => {
      start('200 OK', [...TEXT, ['Content-Length', '5']]);
      return kind === 'array'
        ? ['hello world']
        : (function* () {
            yield 'hel';
            yield 'lo world';
          })();
    });
    const response = await request(address);
    expect(headerValue(response.headers, 'Content-Length')).toBe('5');
    expect(response.body.toString()).toBe('hello');
    expect(response.reset).toBe(false);
    await waitFor(() => servers.logs.find(/more than its Content-Length 5/), { what: 'the log line' });
  });

  it.each(['array', 'async generator'])('a declared Content-Length with fewer bytes sent: reset (%s)', async (kind) => {
    const address = serve((_environ, start) => {
      start('200 OK', [...TEXT, ['Content-Length', '10']]);
      return kind === 'array'
        ? ['abc']
        : (async function* () {
            yield 'abc';
            await delay(10);
          })();
    });
    const { data, reset } = await exchange(address, packet(nginxVars('GET', '/')));
    expect(reset).toBe(true);
    expect(looksComplete(data)).toBe(false);
    await waitFor(() => servers.logs.find(/sent 3 of its Content-Length 10/), { what: 'the log line' });
    await expectIdle();
  });

  it('a declared Content-Length that is met exactly is kept as is', async () => {
    const address = serve((_environ, start) => {
      start('200 OK', [...TEXT, ['Content-Length', '6']]);
      return (function* () {
        yield 'abc';
        yield 'def';
      })();
    });
    const response = await request(address);
    expect(response.headers.filter(([n]) => n.toLowerCase() === 'content-length')).toEqual([['Content-Length', '6']]);
    expect(response.body.toString()).toBe('abcdef');
    expect(response.reset).toBe(false);
  });
});

// ---- the request body ---------------------------------------------------------------------

/** Sends a POST whose body arrives in several writes, and returns the response. */
async function post(address: string, body: Buffer, pieces = 3): Promise<Response> {
  const client = new RawClient(address);
  await client.connected;
  await client.write(packet(nginxVars('POST', '/upload', { CONTENT_LENGTH: String(body.length), CONTENT_TYPE: 'application/octet-stream' })));
  for (let i = 0; i < pieces; i++) {
    await delay(3);
    await client.write(body.subarray(Math.floor((i * body.length) / pieces), Math.floor(((i + 1) * body.length) / pieces)));
  }
  const { data, reset } = await client.whenClosed;
  return { ...parseResponse(data), reset, data };
}

describe('tsgi.input', () => {
  const payload = Buffer.concat([Buffer.from('line one\r\nline two\n'), Buffer.from([0, 1, 0xfe, 0xff, 0x0a]), Buffer.from('tail without newline')]);

  it('read() gives the exact bytes', async () => {
    const address = serve(async (environ, start) => {
      const body = await environ['tsgi.input'].read();
      const again = await environ['tsgi.input'].read();
      start('200 OK', [['X-Again', String(again.length)]]);
      return [body];
    });
    const response = await post(address, payload);
    expect(response.body).toEqual(payload);
    expect(headerValue(response.headers, 'X-Again')).toBe('0');
  });

  it('read(size) gives at most size bytes each time, then empty at the end', async () => {
    const sizes: number[] = [];
    const address = serve(async (environ, start) => {
      const parts: Uint8Array[] = [];
      for (;;) {
        const part = await environ['tsgi.input'].read(7);
        sizes.push(part.length);
        if (part.length === 0) break;
        parts.push(part);
      }
      start('200 OK', []);
      return parts;
    });
    const response = await post(address, payload);
    expect(response.body).toEqual(payload);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(7);
    expect(sizes.at(-1)).toBe(0);
  });

  it('readline() splits at \\n, keeps it, and returns the tail then empty', async () => {
    let lines: Buffer[] = [];
    const address = serve(async (environ, start) => {
      lines = [];
      for (;;) {
        const line = await environ['tsgi.input'].readline();
        lines.push(Buffer.from(line));
        if (line.length === 0) break;
      }
      start('200 OK', []);
      return [];
    });
    await post(address, payload);
    expect(lines.map((l) => l.toString('latin1'))).toEqual(['line one\r\n', 'line two\n', '\x00\x01\xfe\xff\n', 'tail without newline', '']);
    expect(Buffer.concat(lines)).toEqual(payload);
  });

  it('readline(size) returns at most size bytes', async () => {
    let lines: string[] = [];
    const address = serve(async (environ, start) => {
      lines = [];
      for (;;) {
        const line = await environ['tsgi.input'].readline(4);
        if (line.length === 0) break;
        lines.push(Buffer.from(line).toString('latin1'));
      }
      start('200 OK', []);
      return [];
    });
    await post(address, Buffer.from('abcdefg\nhi\n'));
    expect(lines).toEqual(['abcd', 'efg\n', 'hi\n']);
  });

  it('async iteration gives the exact bytes', async () => {
    let chunks = 0;
    const address = serve(async (environ, start) => {
      const parts: Uint8Array[] = [];
      for await (const part of environ['tsgi.input']) {
        expect(part).toBeInstanceOf(Uint8Array);
        parts.push(part);
      }
      chunks = parts.length;
      start('200 OK', []);
      return parts;
    });
    const response = await post(address, payload);
    expect(response.body).toEqual(payload);
    expect(chunks).toBeGreaterThan(0);
  });

  it('an app that ignores a 2 MiB body still gets its response to the client (lingering close, no reset)', async () => {
    const address = serve((_environ, start) => {
      start('200 OK', TEXT);
      return ['ignored'];
    });
    const big = Buffer.alloc(2 * 1024 * 1024, 1);
    const response = await request(address, nginxVars('POST', '/ignore', { CONTENT_LENGTH: String(big.length) }), big);
    expect(response.statusLine).toBe('HTTP/1.1 200 OK');
    expect(response.body.toString()).toBe('ignored');
    expect(response.reset).toBe(false);
    await expectIdle();
  });

  it('a request without a body reads empty at once', async () => {
    const address = serve(async (environ, start) => {
      const body = await environ['tsgi.input'].read();
      const line = await environ['tsgi.input'].readline();
      let iterated = 0;
      for await (const _ of environ['tsgi.input']) iterated++;
      start('200 OK', []);
      return [`${body.length},${line.length},${iterated}`];
    });
    const response = await request(address);
    expect(response.body.toString()).toBe('0,0,0');
  });

  it.each(['async iteration', 'read(64 KiB) in a loop'])('a 5 MiB body is read whole and intact (%s)', async (mode) => {
    const big = randomBytes(5 * 1024 * 1024);
    const expected = createHash('sha256').update(big).digest('hex');
    const address = serve(async (environ, start) => {
      const hash = createHash('sha256');
      let length = 0;
      if (mode === 'async iteration') {
        for await (const part of environ['tsgi.input']) {
          hash.update(part);
          length += part.length;
        }
      } else {
        for (;;) {
          const part = await environ['tsgi.input'].read(64 * 1024);
          if (part.length === 0) break;
          hash.update(part);
          length += part.length;
        }
      }
      start('200 OK', TEXT);
      return [`${length} ${hash.digest('hex')}`];
    });
    const response = await request(address, nginxVars('POST', '/big', { CONTENT_LENGTH: String(big.length) }), big);
    expect(response.body.toString()).toBe(`${big.length} ${expected}`);
  });

  // read() of the whole body must not deadlock against the input's high-water pause.
  it('a 5 MiB body is read whole and intact with read()', async () => {
    const big = randomBytes(5 * 1024 * 1024);
    const expected = createHash('sha256').update(big).digest('hex');
    const address = serve(async (environ, start) => {
      const all = await environ['tsgi.input'].read();
      start('200 OK', TEXT);
      return [`${all.length} ${createHash('sha256').update(all).digest('hex')}`];
    });
    const response = await Promise.race([
      request(address, nginxVars('POST', '/big', { CONTENT_LENGTH: String(big.length) }), big),
      delay(5000).then(() => null),
    ]);
    expect(response, 'no response within 5 s').not.toBeNull();
    expect(response!.body.toString()).toBe(`${big.length} ${expected}`);
  });

  // Nor readline() when no newline arrives within the high-water mark.
  it('readline() of a 1 MiB line returns it whole', async () => {
    const line = Buffer.concat([Buffer.alloc(1024 * 1024, 0x61), Buffer.from('\n')]);
    const address = serve(async (environ, start) => {
      const got = await environ['tsgi.input'].readline();
      start('200 OK', TEXT);
      return [String(got.length)];
    });
    const response = await Promise.race([
      request(address, nginxVars('POST', '/line', { CONTENT_LENGTH: String(line.length) }), line),
      delay(5000).then(() => null),
    ]);
    expect(response, 'no response within 5 s').not.toBeNull();
    expect(response!.body.toString()).toBe(String(line.length));
  });

  it('a slow reader: the server stops reading the socket, then the body arrives whole', async () => {
    const big = randomBytes(32 * 1024 * 1024);
    const expected = createHash('sha256').update(big).digest('hex');
    let go!: () => void;
    const ready = new Promise<void>((resolve) => (go = resolve));
    const address = serve(async (environ, start) => {
      await ready;
      const hash = createHash('sha256');
      let length = 0;
      for await (const part of environ['tsgi.input']) {
        hash.update(part);
        length += part.length;
      }
      start('200 OK', TEXT);
      return [`${length} ${hash.digest('hex')}`];
    });
    const client = new RawClient(address);
    await client.connected;
    client.socket.write(packet(nginxVars('POST', '/slow-reader', { CONTENT_LENGTH: String(big.length) })));
    client.socket.write(big);
    // While the app reads nothing, the server must stop taking bytes: most of the body
    // stays in the client's own write queue.
    let last = -1;
    let stableSince = Date.now();
    await waitFor(
      () => {
        const pending = client.socket.writableLength;
        if (pending !== last) {
          last = pending;
          stableSince = Date.now();
        }
        return Date.now() - stableSince > 300;
      },
      { timeout: 8000, interval: 20, what: 'the upload to stall' },
    );
    expect(client.socket.writableLength).toBeGreaterThan(16 * 1024 * 1024);
    go();
    const { data } = await client.whenClosed;
    expect(parseResponse(data).body.toString()).toBe(`${big.length} ${expected}`);
  });
});

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

// ---- environ ---------------------------------------------------------------------------------

describe('environ', () => {
  it('has the CGI and tsgi keys, with PEP 3333 defaults and exclusions', async () => {
    let seen: Record<string, unknown> = {};
    let keys: string[] = [];
    const address = serve((environ, start) => {
      keys = Object.keys(environ);
      seen = { ...environ };
      start('200 OK', TEXT);
      return [];
    });
    await request(
      address,
      nginxVars('POST', '/p/a?x=1&y=2', {
        CONTENT_LENGTH: '0',
        CONTENT_TYPE: 'text/plain',
        HTTP_CONTENT_LENGTH: '999',
        HTTP_CONTENT_TYPE: 'application/evil',
        HTTP_PROXY: 'http://evil.example:8080',
        HTTP_USER_AGENT: 'raw-test',
      }),
    );
    expect(seen).toMatchObject({
      REQUEST_METHOD: 'POST',
      SCRIPT_NAME: '',
      PATH_INFO: '/p/a',
      QUERY_STRING: 'x=1&y=2',
      CONTENT_TYPE: 'text/plain',
      CONTENT_LENGTH: '0',
      SERVER_NAME: 'localhost',
      SERVER_PORT: '80',
      SERVER_PROTOCOL: 'HTTP/1.1',
      REMOTE_ADDR: '127.0.0.1',
      REQUEST_URI: '/p/a?x=1&y=2',
      HTTP_HOST: 'localhost',
      HTTP_USER_AGENT: 'raw-test',
      'tsgi.url_scheme': 'http',
      'tsgi.multithread': false,
      'tsgi.multiprocess': false,
      'tsgi.run_once': false,
    });
    expect(seen['tsgi.version']).toEqual([1, 0]);
    for (const key of ['HTTP_CONTENT_LENGTH', 'HTTP_CONTENT_TYPE', 'HTTP_PROXY']) {
      expect(keys).not.toContain(key);
      expect(seen[key]).toBeUndefined();
    }
    for (const key of [
      'tsgi.version',
      'tsgi.url_scheme',
      'tsgi.input',
      'tsgi.errors',
      'tsgi.multithread',
      'tsgi.multiprocess',
      'tsgi.run_once',
      'tsgi.signal',
      'tsgi.file_wrapper',
    ]) {
      expect(keys).toContain(key);
    }
    expect(typeof (seen['tsgi.input'] as { read?: unknown }).read).toBe('function');
    expect(typeof (seen['tsgi.errors'] as { write?: unknown }).write).toBe('function');
    expect(seen['tsgi.signal']).toBeInstanceOf(AbortSignal);
    expect(typeof seen['tsgi.file_wrapper']).toBe('function');
    for (const [key, value] of Object.entries(seen)) if (!key.includes('.')) expect(typeof value, key).toBe('string');
  });

  it('HTTP_CONTENT_LENGTH and friends are absent even when looked up directly', async () => {
    let probes: unknown[] = [];
    const address = serve((environ, start) => {
      probes = [environ.HTTP_CONTENT_LENGTH, environ.HTTP_CONTENT_TYPE, environ.HTTP_PROXY, 'HTTP_PROXY' in environ];
      start('200 OK', TEXT);
      return [];
    });
    await request(address, nginxVars('GET', '/', { HTTP_CONTENT_LENGTH: '5', HTTP_CONTENT_TYPE: 'x/y', HTTP_PROXY: 'http://evil' }));
    expect(probes).toEqual([undefined, undefined, undefined, false]);
  });

  it('fills the required keys when the proxy sends only REQUEST_METHOD', async () => {
    let seen: Record<string, unknown> = {};
    const address = serve((environ, start) => {
      seen = { ...environ };
      start('200 OK', TEXT);
      return [];
    });
    await request(address, { REQUEST_METHOD: 'GET' });
    expect(seen).toMatchObject({
      REQUEST_METHOD: 'GET',
      SCRIPT_NAME: '',
      PATH_INFO: '/',
      QUERY_STRING: '',
      SERVER_PROTOCOL: 'HTTP/1.0',
      SERVER_NAME: 'localhost',
      SERVER_PORT: '80',
    });
    expect(seen.CONTENT_LENGTH).toBeUndefined();
  });

  it('SCRIPT_NAME "/" becomes ""; PATH_INFO falls back to the decoded REQUEST_URI path', async () => {
    let seen: unknown[] = [];
    const address = serve((environ, start) => {
      seen = [environ.SCRIPT_NAME, environ.PATH_INFO, environ.QUERY_STRING];
      start('200 OK', TEXT);
      return [];
    });
    await request(address, { REQUEST_METHOD: 'GET', SCRIPT_NAME: '/', REQUEST_URI: '/a%20b/c?q=1', QUERY_STRING: 'q=1' });
    expect(seen).toEqual(['', '/a b/c', 'q=1']);
  });

  it('joins repeated HTTP_X_FOO with ", " and HTTP_COOKIE with "; "; other repeats: last wins', async () => {
    let seen: unknown[] = [];
    const address = serve((environ, start) => {
      seen = [environ.HTTP_X_FOO, environ.HTTP_COOKIE, environ.SERVER_NAME];
      start('200 OK', TEXT);
      return [];
    });
    const vars: Array<[string, string]> = [
      ...Object.entries(nginxVars('GET', '/')),
      ['HTTP_X_FOO', 'a'],
      ['HTTP_COOKIE', 'c1=1'],
      ['HTTP_X_FOO', 'b, c'],
      ['HTTP_COOKIE', 'c2=2'],
      ['SERVER_NAME', 'second.example'],
    ];
    const { data } = await exchange(address, packet(vars));
    expect(parseResponse(data).statusLine).toBe('HTTP/1.1 200 OK');
    expect(seen).toEqual(['a, b, c', 'c1=1; c2=2', 'second.example']);
  });

  it('a var named __proto__ is plain data; Object.prototype is untouched', async () => {
    const before = Object.getOwnPropertyNames(Object.prototype).sort();
    let seen: unknown[] = [];
    const address = serve((environ, start) => {
      seen = [
        environ['__proto__'],
        Object.getPrototypeOf(environ),
        environ['constructor'],
        environ['hasOwnProperty'],
        environ['toString'],
        Object.keys(environ).includes('__proto__'),
        Object.prototype.hasOwnProperty.call(environ, '__proto__'),
      ];
      start('200 OK', TEXT);
      return [];
    });
    const vars: Array<[string, string]> = [
      ...Object.entries(nginxVars('GET', '/')),
      ['__proto__', 'polluted=1'],
      ['constructor', 'ctor'],
      ['hasOwnProperty', 'own'],
    ];
    await exchange(address, packet(vars));
    expect(seen).toEqual(['polluted=1', null, 'ctor', 'own', undefined, true, true]);
    expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(before);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.getPrototypeOf({})).toBe(Object.prototype);
  });

  it('the app can set and delete keys, including derived and tsgi ones', async () => {
    let seen: unknown[] = [];
    const address = serve((environ, start) => {
      environ.MY_KEY = 'mine';
      environ.PATH_INFO = '/rewritten';
      const mutable = environ as Partial<Environ>;
      delete mutable.QUERY_STRING;
      delete mutable.HTTP_HOST;
      delete mutable['tsgi.file_wrapper'];
      const keys = Object.keys(environ);
      seen = [
        environ.MY_KEY,
        environ.PATH_INFO,
        environ.QUERY_STRING,
        'QUERY_STRING' in environ,
        environ.HTTP_HOST,
        keys.includes('MY_KEY'),
        keys.includes('QUERY_STRING'),
        keys.includes('HTTP_HOST'),
        keys.includes('tsgi.file_wrapper'),
      ];
      start('200 OK', TEXT);
      return [];
    });
    await request(address, nginxVars('GET', '/orig?q=1'));
    expect(seen).toEqual(['mine', '/rewritten', undefined, false, undefined, true, false, false, false]);
  });

  it('modifier1 30 strips SCRIPT_NAME from the front of PATH_INFO; modifier1 0 does not', async () => {
    let seen: unknown[] = [];
    const address = serve((environ, start) => {
      seen = [environ.SCRIPT_NAME, environ.PATH_INFO];
      start('200 OK', TEXT);
      return [];
    });
    const vars = nginxVars('GET', '/app/page', { SCRIPT_NAME: '/app' });
    const r30 = await request(address, vars, '', 30);
    expect(r30.statusLine).toBe('HTTP/1.1 200 OK');
    expect(seen).toEqual(['/app', '/page']);
    await request(address, vars, '', 0);
    expect(seen).toEqual(['/app', '/app/page']);
    await request(address, nginxVars('GET', '/other', { SCRIPT_NAME: '/app' }), '', 30);
    expect(seen).toEqual(['/app', '/other']);
    // Only at a path-segment boundary: "/app" is not a prefix of "/application".
    await request(address, nginxVars('GET', '/application', { SCRIPT_NAME: '/app' }), '', 30);
    expect(seen).toEqual(['/app', '/application']);
    await request(address, nginxVars('GET', '/app', { SCRIPT_NAME: '/app' }), '', 30);
    expect(seen).toEqual(['/app', '']);
  });

  it.each([
    [{ REQUEST_SCHEME: 'https' }, 'https', '80'],
    [{ REQUEST_SCHEME: 'http' }, 'http', '80'],
    [{ REQUEST_SCHEME: 'https', SERVER_PORT: '' }, 'https', '443'],
  ])('tsgi.url_scheme follows REQUEST_SCHEME (%o)', async (extra, scheme, port) => {
    let seen: unknown[] = [];
    const address = serve((environ, start) => {
      seen = [environ['tsgi.url_scheme'], environ.SERVER_PORT];
      start('200 OK', TEXT);
      return [];
    });
    await request(address, nginxVars('GET', '/', extra));
    expect(seen).toEqual([scheme, port]);
  });

  it('tsgi.url_scheme is https with HTTPS=on and no REQUEST_SCHEME', async () => {
    let seen: unknown;
    const address = serve((environ, start) => {
      seen = environ['tsgi.url_scheme'];
      start('200 OK', TEXT);
      return [];
    });
    await request(address, { REQUEST_METHOD: 'GET', PATH_INFO: '/', HTTPS: 'on' });
    expect(seen).toBe('https');
  });

  it('environ values survive after the batch that delivered the request (async app)', async () => {
    let seen: unknown[] = [];
    const address = serve(async (environ, start) => {
      await delay(20);
      // Other requests have come and gone since: this one's vars must be intact.
      seen = [environ.PATH_INFO, environ.HTTP_X_ID, Object.keys(environ).includes('HTTP_X_ID')];
      start('200 OK', TEXT);
      return [String(environ.HTTP_X_ID)];
    });
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => request(address, nginxVars('GET', `/r${i}`, { HTTP_X_ID: `id-${i}` }))));
    results.forEach((r, i) => expect(r.body.toString()).toBe(`id-${i}`));
    expect(seen[2]).toBe(true);
  });
});
