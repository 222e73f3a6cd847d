/**
 * FastCGI responses, byte for byte: STDOUT is the uwsgi response with a Status: line, for
 * every kind of body; the empty STDOUT and END_REQUEST close it; STDOUT records of 1 to
 * 65535 bytes (F26); tsgi.errors written as STDERR records of their request.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { App, Body, Headers } from '../../src/app/contract.js';
import { FCGI, fcgiExchange, nginxParams, record, recordsOf, reply, request, stderrOf } from '../helpers/fastcgi.js';
import { ERROR_500, FASTCGI, TEXT, cat, cgi, encode, expectBytes, expectComplete, get, ok, routedFcgiServer } from '../helpers/fastcgi-server.js';
import { useTestServers } from '../helpers/servers.js';
import { delay, exchange, nginxVars, packet, waitFor } from '../helpers/uwsgi.js';

const servers = useTestServers();
const { serve } = servers;
const fcgiServer = routedFcgiServer(servers);

describe('responses', () => {
  it('a one-chunk body is one STDOUT record (head and body), the empty STDOUT, END_REQUEST, then the close', async () => {
    const address = serve(
      (_environ, start) => {
        start('201 Created', [
          ['Content-Type', 'text/plain'],
          ['X-Order', '1'],
          ['Set-Cookie', 'a=1'],
          ['Set-Cookie', 'b=2'],
        ]);
        return ['hello'];
      },
      undefined,
      FASTCGI,
    );
    const result = await fcgiExchange(address, request(1, nginxParams('GET', '/one')));
    expectBytes(
      result.data,
      reply(1, 'Status: 201 Created\r\nContent-Type: text/plain\r\nX-Order: 1\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nContent-Length: 5\r\n\r\nhello'),
    );
    expect(result.ended).toBe(true);
    expect(result.reset).toBe(false);
  });

  it('an app that throws before any output gets a 500 (with a Status: line), logged', async () => {
    const { address } = fcgiServer({
      '/boom': () => {
        throw new Error('boom-before-output');
      },
    });
    const result = await fcgiExchange(address, get('/boom'));
    expectBytes(result.data, reply(1, ERROR_500));
    await waitFor(() => servers.logs.find(/boom-before-output/), { what: 'the log line' });
  });

  const text =
    (status: string, headers: Headers, body: () => Body): App =>
    (_environ, start) => {
      start(status, headers);
      return body();
    };
  it.each<[string, string, App]>([
    ['an array of one chunk', 'GET', text('200 OK', TEXT, () => ['hello'])],
    ['an array of several chunks, UTF-8', 'GET', text('200 OK', TEXT, () => ['h\u00e9', 'llo ', Buffer.from('w\u00f6rld')])],
    ['an empty array', 'GET', text('200 OK', TEXT, () => [])],
    ['an empty generator', 'GET', text('200 OK', TEXT, () => (function* () {})())],
    [
      'a generator of several chunks',
      'GET',
      text('200 OK', TEXT, () =>
        (function* () {
          yield 'one ';
          yield '';
          yield 'two';
        })(),
      ),
    ],
    [
      'an async generator',
      'GET',
      text('200 OK', TEXT, () =>
        (async function* () {
          yield 'a';
          await delay(5);
          yield 'b';
        })(),
      ),
    ],
    [
      'a declared Content-Length with a generator',
      'GET',
      text(
        '200 OK',
        [
          ['Content-Length', '5'],
          ['Content-Type', 'text/plain'],
        ],
        () =>
          (function* () {
            yield 'he';
            yield 'llo';
          })(),
      ),
    ],
    ['HEAD with an array body', 'HEAD', text('200 OK', TEXT, () => ['hello'])],
    ['204', 'GET', text('204 No Content', [['X-A', 'b']], () => [])],
    ['304', 'GET', text('304 Not Modified', [['ETag', '"x"']], () => [])],
    [
      '404 with repeated headers in order',
      'GET',
      text(
        '404 Not Found',
        [
          ['Set-Cookie', 'a=1'],
          ['Content-Type', 'text/html'],
          ['Set-Cookie', 'b=2'],
        ],
        () => ['<h1>no</h1>'],
      ),
    ],
  ])('%s: STDOUT is the uwsgi response with a Status: line', async (_name, method, app) => {
    const uwsgi = serve(app);
    const fcgi = serve(app, undefined, FASTCGI);
    const http = (await exchange(uwsgi, packet(nginxVars(method, '/x')))).data.toString('latin1');
    expect(http).toMatch(/^HTTP\/1\.1 /);
    const result = await fcgiExchange(fcgi, request(1, nginxVars(method, '/x')));
    expectComplete(result.records, 1, http.replace(/^HTTP\/1\.1 /, 'Status: '));
    expect(result.rest.length).toBe(0);
  });

  describe('F26 record sizes', () => {
    const BINARY: Headers = [['Content-Type', 'application/octet-stream']];
    const headOf = (extra = ''): string => `Status: 200 OK\r\nContent-Type: application/octet-stream\r\n${extra}\r\n`;

    it('chunks of 0, 65535, 0, 65536 and 1 bytes: STDOUT records of 1..65535 bytes, no early empty one, exact content', async () => {
      const chunks = [Buffer.alloc(0), randomBytes(65535), Buffer.alloc(0), randomBytes(65536), Buffer.from('z')];
      const address = serve(
        (_environ, start) => {
          start('200 OK', BINARY);
          return (function* () {
            yield* chunks;
          })();
        },
        undefined,
        FASTCGI,
      );
      const result = await fcgiExchange(address, get('/f26'));
      expectComplete(result.records, 1, cat(headOf(), ...chunks));
    });

    it('a 1 MiB one-chunk body, with its Content-Length', async () => {
      const body = randomBytes(1 << 20);
      const address = serve(
        (_environ, start) => {
          start('200 OK', BINARY);
          return [body];
        },
        undefined,
        FASTCGI,
      );
      const result = await fcgiExchange(address, get('/big'));
      expectComplete(result.records, 1, cat(headOf('Content-Length: 1048576\r\n'), body));
    });

    it('head and body of exactly 65535 bytes are one STDOUT record; 65536 are two', async () => {
      const h = headOf('Content-Length: 65xxx\r\n').length;
      let size = 0;
      const address = serve(
        (_environ, start) => {
          start('200 OK', BINARY);
          return [Buffer.alloc(size, 0x61)];
        },
        undefined,
        FASTCGI,
      );
      size = 65535 - h;
      const one = await fcgiExchange(address, get('/max'));
      expectBytes(one.data, reply(1, cat(headOf(`Content-Length: ${size}\r\n`), Buffer.alloc(size, 0x61))));
      size = 65536 - h;
      const two = await fcgiExchange(address, get('/max'));
      expectComplete(two.records, 1, cat(headOf(`Content-Length: ${size}\r\n`), Buffer.alloc(size, 0x61)));
      expect(recordsOf(two.records, 1).filter((r) => r.type === FCGI.STDOUT && r.content.length > 0)).toHaveLength(2);
    });
  });
});

describe('tsgi.errors', () => {
  it('write() becomes a STDERR record of the request, before its END_REQUEST, with no empty STDERR', async () => {
    const { address } = fcgiServer({
      '/err': (environ, start) => {
        environ['tsgi.errors'].write('some text');
        start('200 OK', TEXT);
        return ['ok'];
      },
    });
    const result = await fcgiExchange(address, get('/err'));
    expectBytes(result.data, cat(record(FCGI.STDERR, 1, 'some text'), reply(1, cgi('ok'))));
  });

  it('writelines() between streamed chunks, on request 2 of a multiplexed connection', async () => {
    const { address } = fcgiServer({
      '/err': (environ, start) => {
        start('200 OK', TEXT);
        return (async function* () {
          yield 'a';
          await delay(5);
          environ['tsgi.errors'].writelines(['x ', 'y']);
          environ['tsgi.errors'].flush();
          yield 'b';
        })();
      },
    });
    const result = await fcgiExchange(address, cat(get('/plain', { keepConn: true }, 1), get('/err', {}, 2)), { until: [1, 2] });
    expectBytes(encode(recordsOf(result.records, 1)), reply(1, ok('/plain')));
    const mine = recordsOf(result.records, 2);
    expect(stderrOf(result.records, 2).toString()).toBe('x y');
    expect(stderrOf(result.records, 1).length).toBe(0);
    const stderr = mine.filter((r) => r.type === FCGI.STDERR);
    expect(stderr.every((r) => r.content.length > 0)).toBe(true);
    const types = mine.map((r) => r.type);
    expect(types.lastIndexOf(FCGI.STDERR)).toBeLessThan(types.indexOf(FCGI.END_REQUEST));
    expectComplete(result.records, 2, 'Status: 200 OK\r\nContent-Type: text/plain\r\n\r\nab');
  });
});
