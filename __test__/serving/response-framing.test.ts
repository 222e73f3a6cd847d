/**
 * Response bodies and their framing, end to end over uwsgi: async apps, arrays, strings,
 * Uint8Arrays and generators; when Content-Length is added and when the response is
 * close-delimited; HEAD, 204 and 304 without a body; a declared Content-Length met,
 * exceeded (cut to it) or not reached (reset).
 */
import { describe, expect, it } from 'vitest';
import type { Body } from '../../src/app/contract.js';
import { useTestServers } from '../helpers/servers.js';
import { TEXT, expectIdle, headerNames, headerValue, looksComplete, request } from '../helpers/tsgi.js';
import { delay, exchange, nginxVars, packet, waitFor } from '../helpers/uwsgi.js';

const servers = useTestServers();
const { serve } = servers;

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
    await expectIdle(servers);
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
