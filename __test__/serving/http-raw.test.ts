/**
 * The HTTP/1.1 listener (`listen(address, { protocol: 'http' })`) over raw sockets: the
 * exact bytes of every response (the `Date` value masked), keep-alive, pipelining, request
 * bodies in both framings, response framing (Content-Length, chunked, close-delimited),
 * HTTP/1.0, HEAD, bodiless statuses, app failures, client aborts, and a table of malformed
 * and smuggling requests (rows from crates/tsgi-wire/tests/http_cases.rs), each followed by
 * a smuggled request that must never reach the app, sent whole, in pieces and byte by byte.
 */
import { createHash, randomBytes } from 'node:crypto';
import { beforeEach, describe, expect, it } from 'vitest';
import type { App, Environ } from '../../src/app/contract.js';
import type { ServerOptions } from '../../src/server/server.js';
import { validate } from '../../src/app/validate.js';
import { useTestServers } from '../helpers/servers.js';
import { delay, exchangeSlowly, waitFor, type RawResult } from '../helpers/uwsgi.js';
import { Events, chunked, deferred, maskDate, oneShot, open, refusal, req, res, type HttpClient } from '../helpers/http-raw.js';

const servers = useTestServers();

// ---- the app -----------------------------------------------------------------------------

/** "METHOD REQUEST_URI" of every call, in order. */
let calls: string[] = [];
const events = new Events();
/** Gates a route waits on, by id, opened by the test. */
const gates = new Map<string, ReturnType<typeof deferred<void>>>();
function gate(id: string): ReturnType<typeof deferred<void>> {
  let g = gates.get(id);
  if (!g) gates.set(id, (g = deferred()));
  return g;
}

beforeEach(() => {
  calls = [];
  events.clear();
  gates.clear();
});

function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

async function readAll(environ: Environ): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of environ['tsgi.input']) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks);
}

const TEXT: Array<[string, string]> = [['Content-Type', 'text/plain']];

/** The environ keys /environ reports. */
const ENVIRON_KEYS = [
  'REQUEST_METHOD',
  'REQUEST_URI',
  'SCRIPT_NAME',
  'PATH_INFO',
  'QUERY_STRING',
  'SERVER_PROTOCOL',
  'SERVER_NAME',
  'SERVER_PORT',
  'REMOTE_ADDR',
  'REMOTE_PORT',
  'CONTENT_TYPE',
  'CONTENT_LENGTH',
  'HTTP_HOST',
  'HTTP_X_FOO',
  'HTTP_X_DROPPED',
  'HTTP_PROXY',
  'HTTP_COOKIE',
  'HTTP_CONTENT_LENGTH',
  'tsgi.url_scheme',
];

const app: App = async (environ, start) => {
  const path = environ.PATH_INFO;
  const q = new URLSearchParams(environ.QUERY_STRING);
  calls.push(`${environ.REQUEST_METHOD} ${environ.REQUEST_URI}`);
  events.fire(`called ${path}`);
  if (path.startsWith('/ok/')) {
    start('200 OK', TEXT);
    return [`ok ${path}`];
  }
  if (path.startsWith('/environ')) {
    // The server's environ goes through validate(): the contract's checks on it.
    return validate((env, start2) => {
      const seen: Record<string, string> = {};
      for (const key of ENVIRON_KEYS) if (typeof env[key] === 'string') seen[key] = env[key] as string;
      start2('200 OK', [['Content-Type', 'application/json']]);
      return [JSON.stringify(seen)];
    })(environ, start);
  }
  switch (path) {
    case '/':
      start('200 OK', TEXT);
      return ['hello'];
    case '/echo': {
      // The body back, with what the environ said about it.
      const body = await readAll(environ);
      start('200 OK', TEXT);
      return [`${environ.CONTENT_LENGTH ?? '-'} ${body.length}:${body.toString('latin1')}`];
    }
    case '/sha256': {
      const body = await readAll(environ);
      start('200 OK', TEXT);
      return [`${body.length} ${sha256(body)}`];
    }
    case '/list':
      start('200 OK', TEXT);
      return ['ab', Buffer.from('cd'), '', 'e'];
    case '/stream': {
      // An async body: chunked on HTTP/1.1. Sizes 1, 0x14, 0 (skipped), 0x12c.
      start('200 OK', TEXT);
      return (async function* () {
        yield 'a';
        yield 'b'.repeat(20);
        yield '';
        yield Buffer.alloc(300, 'c');
      })();
    }
    case '/sync-stream':
      start('200 OK', TEXT);
      return (function* () {
        yield 'one';
        yield 'two';
      })();
    case '/write': {
      // WSGI's write(), then an empty list.
      const write = start('200 OK', TEXT);
      write('x');
      write('yz');
      return [];
    }
    case '/declared':
      // The app's own Content-Length: no chunking.
      start('200 OK', [...TEXT, ['Content-Length', '6']]);
      return (async function* () {
        yield 'abc';
        yield 'def';
      })();
    case '/empty':
      start('200 OK', TEXT);
      return [];
    case '/status': {
      const code = q.get('code')!;
      start(`${code} ${code === '204' ? 'No Content' : 'Not Modified'}`, [['X-Code', code]]);
      return ['a body the status forbids'];
    }
    case '/gate': {
      // A slow first response: waits for the test to open its gate.
      const id = q.get('id')!;
      events.fire(`entered ${id}`);
      start('200 OK', TEXT);
      return (async function* () {
        await gate(id).promise;
        yield 'slow 1 ';
        await delay(20);
        yield 'slow 2';
      })();
    }
    case '/throw':
      throw new Error('boom (thrown on purpose by the test app)');
    case '/throw-mid':
      start('200 OK', TEXT);
      return (async function* () {
        yield 'first';
        await delay(10);
        throw new Error('boom after the first chunk (on purpose)');
      })();
    case '/slow': {
      // Streams until the client goes: records the abort and close().
      const id = q.get('id')!;
      const signal = environ['tsgi.signal'];
      signal.addEventListener('abort', () => events.fire(`aborted ${id}`, signal.reason));
      start('200 OK', TEXT);
      const gen = (async function* () {
        for (let i = 0; i < 500 && !signal.aborted; i++) {
          yield `tick ${i}\n`;
          await delay(10);
        }
      })();
      return Object.assign(gen, { close: () => events.fire(`closed ${id}`) });
    }
    case '/early': {
      // Answers (head and a first chunk) before reading the body, then reads it.
      start('200 OK', TEXT);
      return (async function* () {
        yield 'early ';
        try {
          const body = await readAll(environ);
          yield `${body.length}`;
        } catch (error) {
          events.fire('early input failed', error);
          throw error;
        }
      })();
    }
    case '/big': {
      // 4 MiB in 64 KiB pieces, as a stream (chunked).
      start('200 OK', [['Content-Type', 'application/octet-stream']]);
      return (async function* () {
        for (let i = 0; i < 64; i++) yield Buffer.alloc(64 * 1024, 97 + (i % 26));
      })();
    }
    case '/ignore-body':
      start('200 OK', TEXT);
      return ['ignored'];
    default:
      start('404 Not Found', TEXT);
      return [`no route ${path}`];
  }
};

function serveHttp(options?: ServerOptions): string {
  return servers.serve(app, options, { protocol: 'http' });
}

/** The JSON of /environ: validate() wraps the body, so it comes chunked, in one chunk. */
async function jsonBody(client: HttpClient): Promise<Record<string, string>> {
  await client.until((d) => d.toString('latin1').endsWith('}\r\n0\r\n\r\n'), 'the JSON');
  expect(client.text()).toMatch(
    /^HTTP\/1\.1 200 OK\r\nContent-Type: application\/json\r\nDate: <date>\r\nServer: tsgi\r\nTransfer-Encoding: chunked\r\n\r\n[0-9a-f]+\r\n\{/,
  );
  return JSON.parse(/\{.*\}/s.exec(client.data.toString('latin1'))![0]);
}

const OK = (path: string, connection?: 'close' | 'keep-alive') => res('200 OK', { body: `ok ${path}`, connection });

// ---- one request, keep-alive -----------------------------------------------------------

describe('responses, byte for byte', () => {
  it('a GET: status line, the app headers, Content-Length, Date, Server; the connection stays open', async () => {
    const address = serveHttp();
    const client = await open(address);
    const text = await client.exchange(req('GET', '/'), res('200 OK', { body: 'hello' }));
    expect(text).toBe('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nDate: <date>\r\nServer: tsgi\r\n\r\nhello');
    // The Date is a real IMF-fixdate, now.
    const date = /Date: ([^\r]+)\r\n/.exec(client.data.toString('latin1'))![1]!;
    expect(Math.abs(Date.parse(date) - Date.now())).toBeLessThan(5_000);
    expect(client.closed).toBe(false);
    client.destroy();
  });

  it('keep-alive: 3 requests one after another on one connection, one accepted connection', async () => {
    const address = serveHttp();
    const server = servers.started[0]!;
    const client = await open(address);
    for (const i of [1, 2, 3]) {
      expect(await client.exchange(req('GET', `/ok/${i}`), OK(`/ok/${i}`))).toBe(OK(`/ok/${i}`));
    }
    expect(server.acceptedConnections).toBe(1);
    expect(calls).toEqual(['GET /ok/1', 'GET /ok/2', 'GET /ok/3']);
    expect(client.closed).toBe(false);
    client.destroy();
  });

  it('the environ of an HTTP request (run through validate)', async () => {
    const address = serveHttp();
    const client = await open(address);
    const request = req('GET', '/environ?x=1&y=%20', {
      headers: [
        ['Host', 'example.test:8080'],
        ['X-Foo', 'bar'],
        ['X_Dropped', 'names with _ are dropped'],
        ['Proxy', 'httpoxy'],
        ['Cookie', 'a=1'],
      ],
    });
    await client.write(request);
    const environ = await jsonBody(client);
    expect(environ).toEqual({
      REQUEST_METHOD: 'GET',
      REQUEST_URI: '/environ?x=1&y=%20',
      SCRIPT_NAME: '',
      PATH_INFO: '/environ',
      QUERY_STRING: 'x=1&y=%20',
      SERVER_PROTOCOL: 'HTTP/1.1',
      SERVER_NAME: 'example.test',
      SERVER_PORT: '8080',
      REMOTE_ADDR: '127.0.0.1',
      REMOTE_PORT: String(client.socket.localPort),
      HTTP_HOST: 'example.test:8080',
      HTTP_X_FOO: 'bar',
      HTTP_COOKIE: 'a=1',
      'tsgi.url_scheme': 'http',
    });
    client.destroy();
  });

  it("PATH_INFO is percent-decoded; REQUEST_URI is not; no Host port: SERVER_PORT is the socket's", async () => {
    const address = serveHttp();
    const client = await open(address);
    await client.write(
      req('POST', '/environ/a%20b%2Fc?q=%41', {
        headers: [
          ['Host', 'h.test'],
          ['Content-Type', 'text/x'],
          ['Content-Length', '0'],
        ],
      }),
    );
    const environ = await jsonBody(client);
    expect(environ).toMatchObject({
      PATH_INFO: '/environ/a b/c',
      REQUEST_URI: '/environ/a%20b%2Fc?q=%41',
      QUERY_STRING: 'q=%41',
      SERVER_NAME: 'h.test',
      SERVER_PORT: address.split(':')[1],
      CONTENT_TYPE: 'text/x',
      CONTENT_LENGTH: '0',
    });
    client.destroy();
    const other = await oneShot(address, req('GET', '/a%20b', { headers: [['Connection', 'close']] }));
    expect(other.text).toBe(res('404 Not Found', { body: 'no route /a b', connection: 'close' }));
  });

  it('a list body gets Content-Length (empty chunks skipped)', async () => {
    const address = serveHttp();
    const client = await open(address);
    const expected = res('200 OK', { body: 'abcde' });
    expect(await client.exchange(req('GET', '/list'), expected)).toBe(expected);
    client.destroy();
  });

  it('an empty list body: Content-Length: 0', async () => {
    const address = serveHttp();
    const client = await open(address);
    const expected = res('200 OK', { body: '', length: 0 });
    expect(await client.exchange(req('GET', '/empty'), expected)).toBe(expected);
    // Still serving on it.
    expect(await client.exchange(req('GET', '/ok/2'), OK('/ok/2'))).toBe(OK('/ok/2'));
    client.destroy();
  });

  it('a streamed (async) body is chunked: hex sizes, CRLFs, empty chunks skipped, 0\\r\\n\\r\\n at the end', async () => {
    const address = serveHttp();
    const client = await open(address);
    const body = chunked(['a', 'b'.repeat(20), 'c'.repeat(300)]);
    expect(body).toContain('\r\n14\r\n');
    expect(body).toContain('\r\n12c\r\n');
    const expected = res('200 OK', { chunked: true, body });
    expect(await client.exchange(req('GET', '/stream'), expected)).toBe(expected);
    // The connection goes on.
    expect(await client.exchange(req('GET', '/ok/2'), OK('/ok/2'))).toBe(OK('/ok/2'));
    client.destroy();
  });

  it('a synchronous generator body is chunked too', async () => {
    const address = serveHttp();
    const client = await open(address);
    const expected = res('200 OK', { chunked: true, body: chunked(['one', 'two']) });
    expect(await client.exchange(req('GET', '/sync-stream'), expected)).toBe(expected);
    client.destroy();
  });

  it('write() before the body: chunked, each write its own chunk', async () => {
    const address = serveHttp();
    const client = await open(address);
    const expected = res('200 OK', { chunked: true, body: chunked(['x', 'yz']) });
    expect(await client.exchange(req('GET', '/write'), expected)).toBe(expected);
    client.destroy();
  });

  it("the app's own Content-Length: no chunking, no second Content-Length", async () => {
    const address = serveHttp();
    const client = await open(address);
    const expected = res('200 OK', { headers: [...TEXT, ['Content-Length', '6']], length: null, body: 'abcdef' });
    expect(await client.exchange(req('GET', '/declared'), expected)).toBe(expected);
    expect(await client.exchange(req('GET', '/ok/2'), OK('/ok/2'))).toBe(OK('/ok/2'));
    client.destroy();
  });
});

// ---- HTTP/1.0, HEAD, bodiless, Connection: close -----------------------------------------

describe('HTTP/1.0, HEAD, 204/304, Connection: close', () => {
  it('HTTP/1.0 with a streamed body: close-delimited, Connection: close, then FIN', async () => {
    const address = serveHttp();
    const { text, reset } = await oneShot(address, req('GET', '/stream', { version: 'HTTP/1.0' }));
    expect(text).toBe(res('200 OK', { length: null, connection: 'close', body: `ab${'b'.repeat(19)}${'c'.repeat(300)}` }));
    expect(reset).toBe(false);
  });

  it('HTTP/1.0 with a list body: Content-Length and Connection: close, then FIN', async () => {
    const address = serveHttp();
    const { text, reset } = await oneShot(address, req('GET', '/ok/1', { version: 'HTTP/1.0' }));
    expect(text).toBe(OK('/ok/1', 'close'));
    expect(reset).toBe(false);
  });

  it('HTTP/1.0 with Connection: keep-alive and a known length: Connection: keep-alive, the connection stays', async () => {
    const address = serveHttp();
    const server = servers.started[0]!;
    const client = await open(address);
    const keep = { version: 'HTTP/1.0', headers: [['Connection', 'keep-alive']] as Array<[string, string]> };
    expect(await client.exchange(req('GET', '/ok/1', keep), OK('/ok/1', 'keep-alive'))).toBe(OK('/ok/1', 'keep-alive'));
    expect(await client.exchange(req('GET', '/ok/2', keep), OK('/ok/2', 'keep-alive'))).toBe(OK('/ok/2', 'keep-alive'));
    expect(client.closed).toBe(false);
    // A streamed body cannot be framed on HTTP/1.0: close-delimited, whatever was asked.
    await client.write(req('GET', '/sync-stream', keep));
    const { data, reset } = await client.whenClosed;
    expect(maskDate(data)).toBe(OK('/ok/1', 'keep-alive') + OK('/ok/2', 'keep-alive') + res('200 OK', { length: null, connection: 'close', body: 'onetwo' }));
    expect(reset).toBe(false);
    expect(server.acceptedConnections).toBe(1);
  });

  it('HEAD: the headers of the GET (Content-Length of the list body), no body; keep-alive goes on', async () => {
    const address = serveHttp();
    const client = await open(address);
    const head = res('200 OK', { length: 5 });
    expect(await client.exchange(req('HEAD', '/'), head)).toBe(head);
    // A streamed body: neither Content-Length nor chunked, and nothing after the head.
    const streamed = res('200 OK', { length: null });
    expect(await client.exchange(req('HEAD', '/stream'), streamed)).toBe(streamed);
    expect(await client.exchange(req('GET', '/ok/3'), OK('/ok/3'))).toBe(OK('/ok/3'));
    expect(client.text()).toBe(head + streamed + OK('/ok/3'));
    client.destroy();
  });

  for (const [code, status] of [
    ['204', '204 No Content'],
    ['304', '304 Not Modified'],
  ] as const) {
    it(`${code}: no body, no Content-Length, no chunking, even though the app returned one; keep-alive goes on`, async () => {
      const address = serveHttp();
      const client = await open(address);
      const expected = res(status, { headers: [['X-Code', code]], length: null });
      expect(await client.exchange(req('GET', `/status?code=${code}`), expected)).toBe(expected);
      expect(await client.exchange(req('GET', '/ok/2'), OK('/ok/2'))).toBe(OK('/ok/2'));
      expect(client.text()).toBe(expected + OK('/ok/2'));
      client.destroy();
    });
  }

  it('Connection: close from the client: the response says so and the server closes (FIN)', async () => {
    const address = serveHttp();
    const { text, reset } = await oneShot(address, req('GET', '/ok/1', { headers: [['Connection', 'close']] }));
    expect(text).toBe(OK('/ok/1', 'close'));
    expect(reset).toBe(false);
  });

  it('Connection: close on a chunked response: chunked to its end, then FIN', async () => {
    const address = serveHttp();
    const { text, reset } = await oneShot(address, req('GET', '/sync-stream', { headers: [['Connection', 'close']] }));
    expect(text).toBe(res('200 OK', { chunked: true, connection: 'close', body: chunked(['one', 'two']) }));
    expect(reset).toBe(false);
  });

  it('Connection: close in a pipeline: requests after it are never read', async () => {
    const address = serveHttp();
    const { text } = await oneShot(
      address,
      Buffer.concat([req('GET', '/ok/1'), req('GET', '/ok/2', { headers: [['Connection', 'close']] }), req('GET', '/ok/3')]),
    );
    expect(text).toBe(OK('/ok/1') + OK('/ok/2', 'close'));
    expect(calls).toEqual(['GET /ok/1', 'GET /ok/2']);
  });
});

// ---- failures and aborts ---------------------------------------------------------------

describe('app failures and client aborts', () => {
  const ERROR_500 = res('500 Internal Server Error', { body: 'Internal Server Error\n' });

  it('an app that throws before its head: a 500 with a static body, keep-alive goes on', async () => {
    const address = serveHttp();
    const client = await open(address);
    expect(await client.exchange(req('GET', '/throw'), ERROR_500)).toBe(ERROR_500);
    expect(await client.exchange(req('GET', '/ok/2'), OK('/ok/2'))).toBe(OK('/ok/2'));
    await waitFor(() => servers.logs.find(/GET \/throw: app error: Error: boom/), { what: 'the app error log line' });
    client.destroy();
  });

  it('an app that throws before its head on HTTP/1.0: the 500 says Connection: close', async () => {
    const address = serveHttp();
    const { text, reset } = await oneShot(address, req('GET', '/throw', { version: 'HTTP/1.0' }));
    expect(text).toBe(res('500 Internal Server Error', { body: 'Internal Server Error\n', connection: 'close' }));
    expect(reset).toBe(false);
  });

  it('an app that throws after its head: the connection is reset, the chunked body never ends', async () => {
    const address = serveHttp();
    const client = await open(address);
    await client.write(req('GET', '/throw-mid'));
    const { data, reset } = await client.whenClosed;
    expect(reset).toBe(true);
    const text = maskDate(data);
    // What arrived (if anything did before the reset) is a prefix of the head and first chunk, never the last chunk.
    expect((res('200 OK', { chunked: true }) + '5\r\nfirst').startsWith(text)).toBe(true);
    expect(text).not.toContain('0\r\n\r\n');
    await waitFor(() => servers.logs.find(/GET \/throw-mid: app error: Error: boom after the first chunk/), { what: 'the app error log line' });
    // The server goes on.
    const after = await oneShot(address, req('GET', '/ok/2', { headers: [['Connection', 'close']] }));
    expect(after.text).toBe(OK('/ok/2', 'close'));
  });

  it('a client that disconnects mid-response: tsgi.signal fires, close() runs, the server keeps serving', async () => {
    const address = serveHttp();
    const server = servers.started[0]!;
    const client = await open(address);
    await client.write(req('GET', '/slow?id=s1'));
    await client.until((d) => d.includes('tick 0'), 'the first chunk');
    client.destroy();
    const reason = await events.when<Error>('aborted s1');
    expect(reason).toBeInstanceOf(Error);
    expect((reason as Error & { code?: string }).code).toBe('TSGI_ERR_CLIENT_GONE');
    await events.when('closed s1');
    await waitFor(() => server.activeRequests === 0, { what: 'no active requests' });
    const after = await oneShot(address, req('GET', '/ok/after', { headers: [['Connection', 'close']] }));
    expect(after.text).toBe(OK('/ok/after', 'close'));
  });
});

// ---- request bodies ------------------------------------------------------------------------

describe('request bodies', () => {
  it('a Content-Length body reaches the app whole; CONTENT_LENGTH is set', async () => {
    const address = serveHttp();
    const client = await open(address);
    const expected = res('200 OK', { body: '11 11:hello world' });
    expect(await client.exchange(req('POST', '/echo', { headers: [['Content-Length', '11']], body: 'hello world' }), expected)).toBe(expected);
    client.destroy();
  });

  it('a 1 MiB Content-Length body sent in 37 pieces: sha256 matches', async () => {
    const address = serveHttp();
    const body = randomBytes(1 << 20);
    const request = req('POST', '/sha256', {
      headers: [
        ['Content-Length', String(body.length)],
        ['Connection', 'close'],
      ],
      body,
    });
    const result = await exchangeSlowly(address, request, { split: 37, delayMs: 1 });
    expect(maskDate(result.data)).toBe(res('200 OK', { body: `${body.length} ${sha256(body)}`, connection: 'close' }));
  });

  const CHUNKED_BODY = `5;name=value;q="a b"\r\nhello\r\n1\r\n \r\n5;x\r\nworld\r\n0;last=1\r\nX-Trailer: t\r\nX-Other: u\r\n\r\n`;

  for (const [mode, split] of [
    ['whole', 1],
    ['byte by byte', 'bytes'],
  ] as const) {
    it(`a chunked body with extensions and trailers, sent ${mode}, reaches the app whole (no CONTENT_LENGTH)`, async () => {
      const address = serveHttp();
      const request = req('POST', '/echo', {
        headers: [
          ['Transfer-Encoding', 'chunked'],
          ['Connection', 'close'],
        ],
        body: CHUNKED_BODY,
      });
      const result = await exchangeSlowly(address, request, { split, delayMs: 0 });
      expect(maskDate(result.data)).toBe(res('200 OK', { body: '- 11:hello world', connection: 'close' }));
      expect(result.reset).toBe(false);
    });
  }

  it('a chunked body, then the next request on the same connection', async () => {
    const address = serveHttp();
    const client = await open(address);
    const first = res('200 OK', { body: '- 11:hello world' });
    expect(await client.exchange(req('POST', '/echo', { headers: [['Transfer-Encoding', 'chunked']], body: CHUNKED_BODY }), first)).toBe(first);
    expect(await client.exchange(req('GET', '/ok/2'), OK('/ok/2'))).toBe(OK('/ok/2'));
    client.destroy();
  });

  it('a body the app never reads is skipped to reach the next request (Content-Length and chunked)', async () => {
    const address = serveHttp();
    const client = await open(address);
    const ignored = res('200 OK', { body: 'ignored' });
    await client.write(
      Buffer.concat([
        req('POST', '/ignore-body', { headers: [['Content-Length', '10']], body: '0123456789' }),
        req('POST', '/ignore-body', { headers: [['Transfer-Encoding', 'chunked']], body: chunked(['abc', 'GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n']) }),
        req('GET', '/ok/3'),
      ]),
    );
    const expected = ignored + ignored + OK('/ok/3');
    expect(await client.untilText(expected)).toBe(expected);
    expect(calls).toEqual(['POST /ignore-body', 'POST /ignore-body', 'GET /ok/3']);
    client.destroy();
  });

  it('a 1 MiB body the app never reads, then a pipelined request: skipped, the next one served', async () => {
    const address = serveHttp();
    const client = await open(address);
    const body = randomBytes(1 << 20);
    await client.write(Buffer.concat([req('POST', '/ignore-body', { headers: [['Content-Length', String(body.length)]], body }), req('GET', '/ok/2')]));
    const expected = res('200 OK', { body: 'ignored' }) + OK('/ok/2');
    expect(await client.untilText(expected)).toBe(expected);
    expect(calls).toEqual(['POST /ignore-body', 'GET /ok/2']);
    client.destroy();
  });

  it('a 256 KiB chunked body in 1 KiB chunks: sha256 matches', async () => {
    const address = serveHttp();
    const body = randomBytes(256 * 1024);
    const pieces = Array.from({ length: 256 }, (_, i) => body.subarray(i * 1024, (i + 1) * 1024));
    const request = Buffer.concat([
      req('POST', '/sha256', {
        headers: [
          ['Transfer-Encoding', 'chunked'],
          ['Connection', 'close'],
        ],
      }),
      ...pieces.flatMap((p) => [Buffer.from(`${p.length.toString(16)}\r\n`), p, Buffer.from('\r\n')]),
      Buffer.from('0\r\n\r\n'),
    ]);
    const result = await exchangeSlowly(address, request, { split: 9, delayMs: 1 });
    expect(maskDate(result.data)).toBe(res('200 OK', { body: `${body.length} ${sha256(body)}`, connection: 'close' }));
  });
});

// ---- Expect: 100-continue ---------------------------------------------------------------

describe('Expect: 100-continue', () => {
  const CONTINUE = 'HTTP/1.1 100 Continue\r\n\r\n';

  it('no 100 Continue before the app reads; when it reads: 100, then the body, then the response', async () => {
    const address = serveHttp();
    const client = await open(address);
    await client.write(
      req('POST', '/gate?id=c1', {
        headers: [
          ['Content-Length', '5'],
          ['Expect', '100-continue'],
        ],
      }),
    );
    await events.when('entered c1');
    // The app runs and has not read the body: nothing was sent.
    await delay(50);
    expect(client.received).toBe(0);
    client.destroy();
    gate('c1').resolve();

    const client2 = await open(address);
    await client2.write(
      req('POST', '/echo', {
        headers: [
          ['Content-Length', '5'],
          ['Expect', '100-continue'],
        ],
      }),
    );
    await client2.until((d) => d.toString('latin1') === CONTINUE, 'the 100 Continue');
    const expected = res('200 OK', { body: '5 5:hello' });
    expect(await client2.exchange('hello', expected)).toBe(expected);
    expect(client2.text()).toBe(CONTINUE + expected);
    // Keep-alive goes on.
    expect(await client2.exchange(req('GET', '/ok/2'), OK('/ok/2'))).toBe(OK('/ok/2'));
    client2.destroy();
  });

  it('an app that answers without reading: no 100 Continue, and Connection: close (the body is never sent)', async () => {
    const address = serveHttp();
    const { text, reset } = await oneShot(
      address,
      req('POST', '/ignore-body', {
        headers: [
          ['Content-Length', '5'],
          ['Expect', '100-continue'],
        ],
      }),
    );
    expect(text).toBe(res('200 OK', { body: 'ignored', connection: 'close' }));
    expect(reset).toBe(false);
  });

  it('an app that fails without reading: its 500 says Connection: close too (the body is never sent)', async () => {
    const address = serveHttp();
    const { text, reset } = await oneShot(
      address,
      req('POST', '/throw', {
        headers: [
          ['Content-Length', '5'],
          ['Expect', '100-continue'],
        ],
      }),
    );
    expect(text).toBe(res('500 Internal Server Error', { body: 'Internal Server Error\n', connection: 'close' }));
    expect(reset).toBe(false);
  });

  it('a client that sends the body without waiting for the 100: served, keep-alive goes on', async () => {
    const address = serveHttp();
    const client = await open(address);
    const expected = res('200 OK', { body: '5 5:hello' });
    await client.write(
      Buffer.concat([
        req('POST', '/echo', {
          headers: [
            ['Content-Length', '5'],
            ['Expect', '100-continue'],
          ],
          body: 'hello',
        }),
        req('GET', '/ok/2'),
      ]),
    );
    const text = await client.untilText(CONTINUE + expected + OK('/ok/2'));
    expect(text).toBe(CONTINUE + expected + OK('/ok/2'));
    client.destroy();
  });

  it('HTTP/1.0 ignores Expect: no 100 Continue', async () => {
    const address = serveHttp();
    const { text } = await oneShot(
      address,
      req('POST', '/echo', {
        version: 'HTTP/1.0',
        headers: [
          ['Content-Length', '5'],
          ['Expect', '100-continue'],
        ],
        body: 'hello',
      }),
    );
    expect(text).toBe(res('200 OK', { body: '5 5:hello', connection: 'close' }));
  });
});

// ---- pipelining -------------------------------------------------------------------------

describe('pipelining', () => {
  it('5 requests in one write are answered in order, byte for byte', async () => {
    const address = serveHttp();
    const client = await open(address);
    await client.write(
      Buffer.concat([
        req('GET', '/ok/1'),
        req('POST', '/echo', { headers: [['Content-Length', '5']], body: 'hello' }),
        req('GET', '/stream'),
        req('HEAD', '/'),
        req('POST', '/echo', { headers: [['Transfer-Encoding', 'chunked']], body: chunked(['ab', 'c']) }),
      ]),
    );
    const expected =
      OK('/ok/1') +
      res('200 OK', { body: '5 5:hello' }) +
      res('200 OK', { chunked: true, body: chunked(['a', 'b'.repeat(20), 'c'.repeat(300)]) }) +
      res('200 OK', { length: 5 }) +
      res('200 OK', { body: '- 3:abc' });
    expect(await client.untilText(expected)).toBe(expected);
    expect(calls).toEqual(['GET /ok/1', 'POST /echo', 'GET /stream', 'HEAD /', 'POST /echo']);
    expect(client.closed).toBe(false);
    client.destroy();
  });

  it('a slow first response is not overtaken: the next requests wait, unread by the app, until it ends', async () => {
    const address = serveHttp();
    const client = await open(address);
    await client.write(Buffer.concat([req('GET', '/gate?id=g1'), req('GET', '/ok/2'), req('GET', '/ok/3'), req('GET', '/ok/4'), req('GET', '/ok/5')]));
    await events.when('entered g1');
    // A moment for anything that would overtake it.
    await delay(50);
    expect(calls).toEqual(['GET /gate?id=g1']);
    expect(client.received).toBe(0);
    gate('g1').resolve();
    const expected = res('200 OK', { chunked: true, body: chunked(['slow 1 ', 'slow 2']) }) + [2, 3, 4, 5].map((i) => OK(`/ok/${i}`)).join('');
    expect(await client.untilText(expected)).toBe(expected);
    expect(calls).toEqual(['GET /gate?id=g1', 'GET /ok/2', 'GET /ok/3', 'GET /ok/4', 'GET /ok/5']);
    client.destroy();
  });

  it('a 4 MiB streamed response with requests pipelined behind it: all whole, in order', async () => {
    const address = serveHttp();
    const client = await open(address);
    await client.write(Buffer.concat([req('GET', '/big'), req('GET', '/ok/2'), req('GET', '/big'), req('GET', '/ok/4')]));
    const big = res('200 OK', {
      headers: [['Content-Type', 'application/octet-stream']],
      chunked: true,
      body: chunked(Array.from({ length: 64 }, (_, i) => String.fromCharCode(97 + (i % 26)).repeat(64 * 1024))),
    });
    const expected = big + OK('/ok/2') + big + OK('/ok/4');
    const text = await client.untilText(expected, 20_000);
    expect(text.length).toBe(expected.length);
    expect(text === expected).toBe(true);
    client.destroy();
  });

  it('1,000 requests in one write (past the 64 KiB pipelining buffer): all answered, in order', async () => {
    const address = serveHttp();
    const client = await open(address);
    const n = 1000;
    const requests = Buffer.concat(Array.from({ length: n }, (_, i) => req('GET', `/ok/${i}`, { headers: [['X-Pad', 'p'.repeat(60)]] })));
    expect(requests.length).toBeGreaterThan(64 * 1024);
    await client.write(requests);
    const expected = Array.from({ length: n }, (_, i) => OK(`/ok/${i}`)).join('');
    expect(await client.untilText(expected, 20_000)).toBe(expected);
    expect(calls).toHaveLength(n);
    client.destroy();
  });

  for (const k of [1, 3]) {
    it(`a malformed request ${k} of 4: responses 1..${k - 1}, then the 400, then close; nothing after it reaches the app`, async () => {
      const address = serveHttp();
      const pipeline = [1, 2, 3, 4].map((i) =>
        i === k
          ? req('POST', '/smuggle', {
              headers: [
                ['Content-Length', '5'],
                ['Transfer-Encoding', 'chunked'],
              ],
              body: '0\r\n\r\n',
            })
          : req('GET', `/ok/${i}`),
      );
      const { text, reset } = await oneShot(address, Buffer.concat(pipeline));
      const before = Array.from({ length: k - 1 }, (_, i) => OK(`/ok/${i + 1}`)).join('');
      expect(text).toBe(before + refusal(400));
      expect(reset).toBe(false);
      expect(calls).toEqual(Array.from({ length: k - 1 }, (_, i) => `GET /ok/${i + 1}`));
      await waitFor(() => servers.logs.find(/^http: .*Content-Length.*Transfer-Encoding.*; answered 400$/), { what: 'the refusal log line' });
    });
  }
});

// ---- malformed and smuggling requests ------------------------------------------------------

const SMUGGLED = 'GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n';
const get = (fields: string) => `GET / HTTP/1.1\r\nHost: a\r\n${fields}\r\n`;
const post = (fields: string, body: string) => `POST /echo HTTP/1.1\r\nHost: a\r\n${fields}\r\n${body}`;
const chunkedPost = (body: string) => post('Transfer-Encoding: chunked\r\n', body);

interface Row {
  name: string;
  bytes: string;
  status: 400 | 413 | 414 | 417 | 431;
  options?: ServerOptions;
  /** The error is in the body: the app may have been called with the head (never the smuggled one). */
  body?: boolean;
  /** Too long to send byte by byte. */
  large?: boolean;
}

const rows: Row[] = [
  {
    name: 'CL + TE (llhttp "POST with Transfer-Encoding and Content-Length")',
    bytes: post('Transfer-Encoding: chunked\r\nContent-Length: 5\r\n', '0\r\n\r\n'),
    status: 400,
  },
  {
    name: 'CL then TE (gunicorn rfc9112_smuggle_cl_te_chunked_01)',
    bytes: post('Content-Length: 5\r\nTransfer-Encoding: chunked\r\n', '0\r\n\r\n'),
    status: 400,
  },
  { name: 'duplicate Content-Length, same value', bytes: post('Content-Length: 5\r\nContent-Length: 5\r\n', 'hello'), status: 400 },
  { name: 'duplicate Content-Length, different values', bytes: post('Content-Length: 5\r\nContent-Length: 6\r\n', 'hello!'), status: 400 },
  { name: 'Content-Length 1 2 (CVE-2018-7159)', bytes: post('Content-Length: 1 2\r\n', 'hello'), status: 400 },
  { name: 'Content-Length +5 (waitress GHSA-4f7p-27jc-3c36)', bytes: post('Content-Length: +5\r\n', 'hello'), status: 400 },
  { name: 'Transfer-Encoding twice (CVE-2020-8287)', bytes: post('Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n', '0\r\n\r\n'), status: 400 },
  { name: 'Transfer-Encoding: chunked, gzip (CVE-2019-15605)', bytes: post('Transfer-Encoding: chunked, gzip\r\n', '0\r\n\r\n'), status: 400 },
  { name: 'Transfer-Encoding on HTTP/1.0 (gunicorn 22)', bytes: 'POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', status: 400 },
  { name: 'Transfer_Encoding (puma#4021)', bytes: post('Transfer_Encoding: chunked\r\n', '0\r\n\r\n'), status: 400 },
  { name: 'Content_Length (CVE-2026-68006)', bytes: post('Content_Length: 5\r\n', 'hello'), status: 400 },
  { name: 'bare LF line ends (CVE-2022-32214)', bytes: 'GET / HTTP/1.1\nHost: a\n\n', status: 400 },
  { name: 'LF-only empty line (waitress CVE-2019-16785)', bytes: 'GET / HTTP/1.1\r\nHost: a\r\n\n', status: 400 },
  { name: 'obs-fold after Transfer-Encoding (CVE-2022-32215)', bytes: post('Transfer-Encoding: chunked\r\n , identity\r\n', '0\r\n\r\n'), status: 400 },
  { name: 'space before the colon (CVE-2021-22959)', bytes: post('Transfer-Encoding : chunked\r\n', '0\r\n\r\n'), status: 400 },
  { name: 'head ended by \\r\\n\\rX (CVE-2025-23167)', bytes: 'GET / HTTP/1.1\r\nHost: a\r\n\rX', status: 400 },
  { name: 'x:\\rTransfer-Encoding (CVE-2022-35256)', bytes: post('x:\rTransfer-Encoding: chunked\r\n', '0\r\n\r\n'), status: 400 },
  { name: 'space before the first header (CVE-2024-27982)', bytes: 'POST /echo HTTP/1.1\r\n Content-Length: 5\r\nHost: a\r\n\r\nhello', status: 400 },
  { name: 'HTTP/1.1 without Host', bytes: 'GET / HTTP/1.1\r\n\r\n', status: 400 },
  { name: 'lower-case method', bytes: 'get / HTTP/1.1\r\nHost: a\r\n\r\n', status: 400 },
  { name: 'HTTP/2 preface', bytes: 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', status: 400 },
  { name: 'Expect: foo', bytes: get('Expect: foo\r\n'), status: 417 },
  { name: 'chunk size 0x5 (gunicorn chunked_01)', bytes: chunkedPost('0x5\r\nhello\r\n0\r\n\r\n'), status: 400, body: true },
  { name: 'chunk size -5', bytes: chunkedPost('-5\r\nhello\r\n0\r\n\r\n'), status: 400, body: true },
  { name: 'space before ;ext (gunicorn chunked_12)', bytes: chunkedPost('5 ;a=b\r\nhello\r\n0\r\n\r\n'), status: 400, body: true },
  { name: 'chunk size of 2^53', bytes: chunkedPost('20000000000000\r\n'), status: 400, body: true },
  { name: 'control byte in a chunk extension (CVE-2021-22960)', bytes: chunkedPost('5;a\u0001=b\r\nhello\r\n0\r\n\r\n'), status: 400, body: true },
  { name: 'chunk data too long (llhttp "Invalid chunk data terminator")', bytes: chunkedPost('5\r\nhelloXX\r\n0\r\n\r\n'), status: 400, body: true },
  { name: 'bare LF after the chunk size', bytes: chunkedPost('5\nhello\r\n0\r\n\r\n'), status: 400, body: true },
  { name: 'trailer with \\r\\n\\rX (CVE-2025-23167)', bytes: chunkedPost('0\r\nX: y\r\n\rX'), status: 400, body: true },
  { name: 'request line over 8192 bytes', bytes: `GET /${'a'.repeat(9000)} HTTP/1.1\r\nHost: a\r\n\r\n`, status: 414, large: true },
  { name: 'header section over 16 KiB', bytes: get(`X-Big: ${'b'.repeat(17_000)}\r\n`), status: 431, large: true },
  { name: '101 header fields (over 100)', bytes: get(Array.from({ length: 100 }, (_, i) => `X-H${i}: v\r\n`).join('')), status: 431, large: true },
  { name: 'chunk extension over 4096 bytes', bytes: chunkedPost(`5;a=${'x'.repeat(5000)}\r\nhello\r\n0\r\n\r\n`), status: 413, body: true, large: true },
  // The limits are options: each at a small value.
  {
    name: 'request line of 25 bytes over httpMaxRequestLine 24',
    bytes: 'GET /0123456789a HTTP/1.1\r\nHost: a\r\n\r\n',
    status: 414,
    options: { httpMaxRequestLine: 24 },
  },
  { name: 'head over httpMaxHead 64', bytes: get(`X-Big: ${'b'.repeat(40)}\r\n`), status: 431, options: { httpMaxHead: 64 } },
  { name: '3 header fields over httpMaxHeaders 2', bytes: get('X-A: 1\r\nX-B: 2\r\n'), status: 431, options: { httpMaxHeaders: 2 } },
  {
    name: 'chunk extension over httpMaxChunkExtension 4',
    bytes: chunkedPost('5;abcd=e\r\nhello\r\n0\r\n\r\n'),
    status: 413,
    options: { httpMaxChunkExtension: 4 },
    body: true,
  },
  { name: 'Content-Length 11 over limitPost 10', bytes: post('Content-Length: 11\r\n', 'hello world'), status: 413, options: { limitPost: 10 } },
  { name: 'chunked body over limitPost 10', bytes: chunkedPost('5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n'), status: 413, options: { limitPost: 10 }, body: true },
];

const modes: Array<{ name: string; send: (address: string, bytes: Buffer) => Promise<RawResult>; small?: boolean }> = [
  { name: 'whole', send: (address, bytes) => exchangeSlowly(address, bytes, { split: 1, end: true }) },
  { name: 'in 3 pieces', send: (address, bytes) => exchangeSlowly(address, bytes, { split: 3, delayMs: 10, end: true }) },
  { name: 'byte by byte', send: (address, bytes) => exchangeSlowly(address, bytes, { split: 'bytes', delayMs: 0, end: true }), small: true },
];

describe('malformed and smuggling requests: the static refusal, then close; the smuggled request never reaches the app', () => {
  for (const row of rows) {
    for (const mode of modes) {
      if (mode.small && row.large) continue;
      it(`${row.name}, sent ${mode.name} → ${row.status}`, async () => {
        const address = serveHttp(row.options);
        const bytes = Buffer.concat([Buffer.from(row.bytes, 'latin1'), Buffer.from(SMUGGLED)]);
        const result = await mode.send(address, bytes);
        expect(result.data.toString('latin1')).toBe(refusal(row.status));
        // A lingering close: the client reads the refusal, not a reset.
        expect(result.reset).toBe(false);
        expect(calls.filter((c) => c.includes('smuggled'))).toEqual([]);
        // A head error: the app never ran. A body error: it ran once, for this request.
        if (row.body) expect(calls.length).toBeLessThanOrEqual(1);
        else expect(calls).toEqual([]);
        const line = await waitFor(() => servers.logs.find(/^http: /), { what: 'the refusal log line' });
        expect(line.level).toBe('warn');
        expect(line.line).toMatch(row.body ? /; request aborted$/ : new RegExp(`; answered ${row.status}$`));
        expect(servers.logs.lines.filter((l) => l.line.startsWith('http: '))).toHaveLength(1);
        expect(line.line).not.toMatch(/smuggled|hello|bbbb/);
        // The server keeps serving.
        const before = calls.length;
        const after = await oneShot(address, req('GET', '/ok/after', { headers: [['Connection', 'close']] }));
        expect(after.text).toBe(OK('/ok/after', 'close'));
        expect(calls.slice(before)).toEqual(['GET /ok/after']);
      });
    }
  }

  it('several bad connections at once, then a good one: all refused, the good one served', async () => {
    const address = serveHttp();
    const bad = rows.filter((r) => !r.large && !r.options).slice(0, 12);
    const results = await Promise.all([
      ...bad.map((r) => oneShot(address, r.bytes + SMUGGLED)),
      oneShot(address, req('GET', '/ok/good', { headers: [['Connection', 'close']] })),
    ]);
    expect(results.slice(0, -1).map((r) => r.text)).toEqual(bad.map((r) => refusal(r.status)));
    expect(results.at(-1)!.text).toBe(OK('/ok/good', 'close'));
    expect(calls).toEqual(['GET /ok/good']);
  });

  for (const [what, rest] of [
    ['over limitPost', '6\r\n world\r\n0\r\n\r\n'],
    ['with a bad chunk size', 'zz\r\n0\r\n\r\n'],
  ] as const) {
    it(`a chunked body ${what} after the response ended: the connection closes (FIN), no second response`, async () => {
      // Before the fix, a static 413/400 followed the complete 200: a pipelining client (or
      // a proxy keeping the connection) takes it as the answer to its next request.
      const address = serveHttp({ limitPost: 10 });
      const client = await open(address);
      const ignored = res('200 OK', { body: 'ignored' });
      expect(await client.exchange(req('POST', '/ignore-body', { headers: [['Transfer-Encoding', 'chunked']], body: '5\r\nhello\r\n' }), ignored)).toBe(
        ignored,
      );
      await client.write(rest + SMUGGLED);
      const { data, reset } = await client.whenClosed;
      expect(maskDate(data)).toBe(ignored);
      expect(reset).toBe(false);
      expect(calls).toEqual(['POST /ignore-body']);
      await waitFor(() => servers.logs.find(/^http: .*; request aborted$/), { what: 'the log line' });
    });
  }

  it('a chunked body over limitPost after the app answered its head: the connection is reset, no 413', async () => {
    const address = serveHttp({ limitPost: 10 });
    const client = await open(address);
    await client.write(req('POST', '/early', { headers: [['Transfer-Encoding', 'chunked']] }));
    await client.until((d) => d.includes('early '), 'the early head and chunk');
    await client.write('5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n' + SMUGGLED);
    const { data, reset } = await client.whenClosed;
    expect(reset).toBe(true);
    expect(maskDate(data)).toBe(res('200 OK', { chunked: true, body: '6\r\nearly ' }));
    const error = await events.when<Error & { code?: string }>('early input failed');
    expect(error.code).toBe('TSGI_ERR_BODY_TRUNCATED');
    expect(calls).toEqual(['POST /early']);
    await waitFor(() => servers.logs.find(/^http: .*limit-post.*; request aborted$/), { what: 'the log line' });
  });
});
