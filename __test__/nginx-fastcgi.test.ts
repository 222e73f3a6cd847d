/**
 * A real nginx in front of an in-process tsgi Server speaking FastCGI (`fastcgi_pass`,
 * nginx's own fastcgi_params), over TCP and a Unix socket, with a connection per request
 * and with kept-alive connections (`fastcgi_keep_conn on` + `upstream { keepalive }`),
 * driven with node:http as a browser would drive it. Skips, saying why, when nginx is not
 * installed (CI installs it; with CI=true a missing nginx fails).
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { App, Environ } from '../src/app.js';
import { Server } from '../src/server.js';
import { validate } from '../src/validate.js';
import { disconnectAfterFirstPiece, rawHeaderValues, request, type Reply } from './helpers/http.js';
import { announceNginx, hasNginx, nginxVersionText, startNginx, type Nginx } from './helpers/nginx.js';

announceNginx();

// ---- the app --------------------------------------------------------------------------

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

const BIG = randomBytes(8 * 1024 * 1024);
const BIG_SHA256 = sha256(BIG);
const BIG_PIECE = 64 * 1024;

/** When each chunk of a streamed response was produced, by the `id` query parameter. */
const produced = new Map<string, number[]>();
/** Slow streams, by id: chunks produced, when tsgi.signal fired, when close() ran. */
interface SlowRecord {
  chunks: number;
  closedAt?: number;
  aborted: Promise<number>;
}
const slow = new Map<string, SlowRecord>();
/** Requests inside the delayed echo at once: now, and the most seen. */
const concurrency = { now: 0, peak: 0 };

function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

function json(start: Parameters<App>[1], value: unknown, status = '200 OK') {
  start(status, [['Content-Type', 'application/json']]);
  return [JSON.stringify(value)];
}

/** The environ keys the echo route reports, when present. */
const ECHOED = [
  'REQUEST_METHOD',
  'REQUEST_URI',
  'SCRIPT_NAME',
  'PATH_INFO',
  'QUERY_STRING',
  'SERVER_PROTOCOL',
  'SERVER_NAME',
  'SERVER_PORT',
  'REMOTE_ADDR',
  'GATEWAY_INTERFACE',
  'CONTENT_TYPE',
  'CONTENT_LENGTH',
  'HTTP_HOST',
  'HTTP_X_FOO',
  'HTTP_CONTENT_TYPE',
  'HTTP_CONTENT_LENGTH',
  'tsgi.url_scheme',
];

function slowStream(environ: Environ, id: string): AsyncGenerator<string> & { close(): void } {
  const signal = environ['tsgi.signal'];
  let fired!: (at: number) => void;
  const record: SlowRecord = { chunks: 0, aborted: new Promise<number>((resolve) => (fired = resolve)) };
  slow.set(id, record);
  signal.addEventListener('abort', () => fired(Date.now()));
  async function* gen(): AsyncGenerator<string> {
    for (let i = 0; i < 200 && !signal.aborted; i++) {
      if (i > 0) await sleep(100);
      record.chunks++;
      yield `slow ${i}\n`;
    }
  }
  return Object.assign(gen(), {
    close() {
      record.closedAt = Date.now();
    },
  });
}

const app: App = async (environ, start) => {
  // The request path is /<via>/<route>: route on the rest. (REQUEST_URI, not PATH_INFO:
  // what PATH_INFO holds is one of the things under test.)
  const url = new URL(String(environ.REQUEST_URI ?? '/'), 'http://x');
  const route = url.pathname.replace(/^\/[^/]+/, '');
  const q = url.searchParams;
  switch (route.startsWith('/echo/') ? '/echo' : route) {
    case '/echo': {
      const delay = Number(q.get('delay') ?? 0);
      if (delay > 0) {
        concurrency.now++;
        concurrency.peak = Math.max(concurrency.peak, concurrency.now);
        await sleep(delay);
        concurrency.now--;
      }
      const chunks: Uint8Array[] = [];
      for await (const chunk of environ['tsgi.input']) chunks.push(chunk);
      const body = Buffer.concat(chunks).toString();
      return json(start, { ...Object.fromEntries(ECHOED.filter((k) => environ[k] !== undefined).map((k) => [k, environ[k]])), body, i: q.get('i') });
    }
    case '/sha256': {
      const hash = createHash('sha256');
      let bytes = 0;
      for await (const chunk of environ['tsgi.input']) {
        hash.update(chunk);
        bytes += chunk.byteLength;
      }
      return json(start, { sha256: hash.digest('hex'), bytes, CONTENT_LENGTH: environ.CONTENT_LENGTH ?? null });
    }
    case '/stream': {
      const id = q.get('id') ?? 'stream';
      const count = Number(q.get('n') ?? 5);
      const delay = Number(q.get('delay') ?? 200);
      start('200 OK', [['Content-Type', 'text/plain'], ['X-Accel-Buffering', 'no']]);
      return (async function* () {
        const times: number[] = [];
        produced.set(id, times);
        for (let i = 0; i < count; i++) {
          if (i > 0) await sleep(delay);
          times.push(Date.now());
          yield `chunk ${i}\n`;
        }
      })();
    }
    case '/big':
      start('200 OK', [['Content-Type', 'application/octet-stream']]);
      return Array.from({ length: BIG.length / BIG_PIECE }, (_, i) => BIG.subarray(i * BIG_PIECE, (i + 1) * BIG_PIECE));
    case '/big-stream':
      start('200 OK', [['Content-Type', 'application/octet-stream']]);
      return (async function* () {
        for (let at = 0; at < BIG.length; at += BIG_PIECE) yield BIG.subarray(at, at + BIG_PIECE);
      })();
    case '/missing':
      start('404 Not Found', [
        ['Content-Type', 'text/plain'],
        ['X-Custom', 'custom value'],
        ['Set-Cookie', 'a=1; Path=/'],
        ['Set-Cookie', 'b=2; Path=/; HttpOnly'],
      ]);
      return ['not here\n'];
    case '/redirect':
      start('302 Found', [['Location', 'http://example.test/next?from=tsgi'], ['Content-Type', 'text/plain']]);
      return ['see elsewhere\n'];
    case '/errors': {
      environ['tsgi.errors'].write(`stderr marker ${q.get('id')}`);
      return json(start, { ok: true });
    }
    case '/throw':
      throw new Error('boom (thrown on purpose by the test app)');
    case '/reject':
      await sleep(10);
      throw new Error('async boom (on purpose)');
    case '/throw-in-body':
      start('200 OK', [['Content-Type', 'text/plain']]);
      return (async function* () {
        await sleep(10);
        throw new Error('boom before the first chunk (on purpose)');
      })();
    case '/slow':
      start('200 OK', [['Content-Type', 'text/plain'], ['X-Accel-Buffering', 'no']]);
      return slowStream(environ, q.get('id') ?? 'slow');
    case '/ok':
      start('200 OK', [['Content-Type', 'text/plain']]);
      return [`ok ${q.get('i')}`];
    default:
      start('404 Not Found', [['Content-Type', 'text/plain']]);
      return [`no route ${route}\n`];
  }
};

async function waitFor(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms)));
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** `total` GETs of /<via>/ok with `workers` clients each sending one after another, over
 * node's fetch (kept-alive HTTP connections to nginx). Resolves with the bodies that were wrong. */
async function fetchMany(baseUrl: string, total: number, workers: number): Promise<string[]> {
  const wrong: string[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: workers }, async () => {
      while (next < total) {
        const i = next++;
        const response = await fetch(`${baseUrl}?i=${i}`, { signal: AbortSignal.timeout(10_000) });
        const text = await response.text();
        if (response.status !== 200 || text !== `ok ${i}`) wrong.push(`#${i}: ${response.status} ${JSON.stringify(text.slice(0, 200))}`);
      }
    }),
  );
  return wrong;
}

// ---- the tests ---------------------------------------------------------------------------

/** The four ways to the main server: transport × connection reuse. */
const VIAS = [
  { via: 'tcp', what: 'TCP, a connection per request' },
  { via: 'tcp-ka', what: 'TCP, kept-alive connections' },
  { via: 'unix', what: 'a Unix socket, a connection per request' },
  { via: 'unix-ka', what: 'a Unix socket, kept-alive connections' },
] as const;

describe.skipIf(!hasNginx)(`nginx (${nginxVersionText ?? 'not installed'}) in front of tsgi, fastcgi_pass`, () => {
  /** Serves the behaviour tests. */
  let server: Server;
  /** Serves only the connection-counting tests, so that nothing else adds to its count. */
  let counted: Server;
  let nginx: Nginx;
  let dir: string;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'tsgi-nginx-fastcgi-test-'));
    server = new Server(validate(app));
    const tcp = server.listen('127.0.0.1:0', { protocol: 'fastcgi' });
    const unix = server.listen(path.join(dir, 'tsgi.sock'), { protocol: 'fastcgi', mode: 0o666 });
    counted = new Server(app);
    const countedTcp = counted.listen('127.0.0.1:0', { protocol: 'fastcgi' });
    const countedUnix = counted.listen(path.join(dir, 'counted.sock'), { protocol: 'fastcgi', mode: 0o666 });
    // keepalive 16 ≥ the 8 clients of the counting test, and no 1000-request cap per
    // upstream connection (nginx's default keepalive_requests): reuse is never cut short.
    const kept = { keepalive: 16, keepaliveRequests: 1_000_000 };
    nginx = await startNginx({
      locations: [
        { path: '/tcp/', fastcgiPass: tcp },
        { path: '/tcp-ka/', fastcgiPass: tcp, keepalive: 8 },
        { path: '/unix/', fastcgiPass: `unix:${unix}` },
        { path: '/unix-ka/', fastcgiPass: `unix:${unix}`, keepalive: 8 },
        // An app mounted at /mounted, the way nginx's docs split a path for FastCGI.
        { path: '/mounted/', fastcgiPass: tcp, extra: ['fastcgi_split_path_info ^(/mounted)(/.*)$;', 'fastcgi_param PATH_INFO $fastcgi_path_info;'] },
        { path: '/count/', fastcgiPass: countedTcp },
        { path: '/count-unix/', fastcgiPass: `unix:${countedUnix}` },
        { path: '/count-ka/', fastcgiPass: countedTcp, ...kept },
        { path: '/count-unix-ka/', fastcgiPass: `unix:${countedUnix}`, ...kept },
      ],
    });
  });

  afterAll(async () => {
    // TSGI_NGINX_LOG=1 shows the whole nginx error log (info level) of the run.
    if (process.env.TSGI_NGINX_LOG === '1' && nginx) console.log(`--- nginx error.log ---\n${nginx.errorLog()}`);
    await nginx?.stop();
    server?.close();
    counted?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  beforeEach((context) => {
    const mark = nginx.errorLog().length;
    context.onTestFailed(() => {
      const lines = nginx.errorLog().slice(mark).trim();
      console.error(`--- nginx error.log during "${context.task.name}" ---\n${lines || '(nothing)'}\n--- config: ${nginx.conf} ---`);
    });
  });

  for (const { via, what } of VIAS) {
    describe(`over ${what} (/${via}/)`, () => {
      it('GET with a query string: the environ the app sees', async () => {
        const reply = await request(nginx.url(`/${via}/echo?x=1&y=a%20b`), { headers: { Host: 'example.test', 'X-Foo': 'bar' } });
        expect(reply.status).toBe(200);
        const environ = JSON.parse(reply.body.toString());
        expect(environ).toMatchObject({
          REQUEST_METHOD: 'GET',
          REQUEST_URI: `/${via}/echo?x=1&y=a%20b`,
          SCRIPT_NAME: '',
          PATH_INFO: `/${via}/echo`,
          QUERY_STRING: 'x=1&y=a%20b',
          SERVER_PROTOCOL: 'HTTP/1.1',
          SERVER_NAME: 'localhost',
          SERVER_PORT: String(nginx.port),
          REMOTE_ADDR: '127.0.0.1',
          GATEWAY_INTERFACE: 'CGI/1.1',
          HTTP_HOST: 'example.test',
          HTTP_X_FOO: 'bar',
          'tsgi.url_scheme': 'http',
          body: '',
        });
      });

      it('POST with a small body: CONTENT_TYPE and CONTENT_LENGTH, no HTTP_CONTENT_*', async () => {
        const reply = await request(nginx.url(`/${via}/echo`), { method: 'POST', headers: { 'Content-Type': 'text/plain; charset=utf-8' }, body: Buffer.from('hello') });
        expect(reply.status).toBe(200);
        const environ = JSON.parse(reply.body.toString());
        expect(environ).toMatchObject({ REQUEST_METHOD: 'POST', CONTENT_TYPE: 'text/plain; charset=utf-8', CONTENT_LENGTH: '5', body: 'hello' });
        expect(environ).not.toHaveProperty('HTTP_CONTENT_TYPE');
        expect(environ).not.toHaveProperty('HTTP_CONTENT_LENGTH');
      });

      it('POST of 10 MiB: the app hashes tsgi.input', async () => {
        const body = randomBytes(10 * 1024 * 1024);
        const reply = await request(nginx.url(`/${via}/sha256`), { method: 'POST', headers: { 'Content-Type': 'application/octet-stream' }, body });
        expect(reply.status).toBe(200);
        expect(JSON.parse(reply.body.toString())).toEqual({ sha256: sha256(body), bytes: body.length, CONTENT_LENGTH: String(body.length) });
      });

      it('streams a response: every chunk arrives, the first before the last is produced', async () => {
        const id = `stream-${via}`;
        const reply = await request(nginx.url(`/${via}/stream?id=${id}&n=5&delay=200`));
        expect(reply.status).toBe(200);
        expect(reply.body.toString()).toBe('chunk 0\nchunk 1\nchunk 2\nchunk 3\nchunk 4\n');
        const times = produced.get(id)!;
        expect(times).toHaveLength(5);
        expect(reply.pieces[0]!.at).toBeLessThan(times[4]!);
        expect(reply.pieces.length).toBeGreaterThanOrEqual(3);
      });

      for (const route of ['big', 'big-stream'] as const) {
        it(`sends an 8 MiB response (/${route}) intact`, async () => {
          const reply = await request(nginx.url(`/${via}/${route}`));
          expect(reply.status).toBe(200);
          expect(reply.body.length).toBe(BIG.length);
          expect(sha256(reply.body)).toBe(BIG_SHA256);
        });
      }

      it('passes status and headers through: a 404 with custom headers and two Set-Cookie', async () => {
        const reply = await request(nginx.url(`/${via}/missing`));
        expect(reply.status).toBe(404);
        expect(reply.headers['x-custom']).toBe('custom value');
        expect(rawHeaderValues(reply, 'Set-Cookie')).toEqual(['a=1; Path=/', 'b=2; Path=/; HttpOnly']);
        expect(reply.body.toString()).toBe('not here\n');
      });

      it('passes a redirect through: 302 with its Location', async () => {
        const reply = await request(nginx.url(`/${via}/redirect`));
        expect(reply.status).toBe(302);
        expect(reply.headers.location).toBe('http://example.test/next?from=tsgi');
        expect(reply.body.toString()).toBe('see elsewhere\n');
      });

      for (const route of ['throw', 'reject', 'throw-in-body']) {
        it(`an app that fails (/${route}) gives a 500, and the next request is served`, async () => {
          const reply = await request(nginx.url(`/${via}/${route}`));
          expect(reply.status).toBe(500);
          expect(reply.body.toString()).toBe('Internal Server Error\n');
          const after = await request(nginx.url(`/${via}/ok?i=after`));
          expect([after.status, after.body.toString()]).toEqual([200, 'ok after']);
        });
      }

      it("tsgi.errors goes to nginx's error log (FastCGI STDERR)", async () => {
        const id = `${via}-${randomBytes(4).toString('hex')}`;
        const reply = await request(nginx.url(`/${via}/errors?id=${id}`));
        expect(reply.status).toBe(200);
        // nginx logs a STDERR record when it reads it, before it passes the response on.
        expect(nginx.errorLog()).toMatch(new RegExp(`FastCGI sent in stderr: "stderr marker ${id}"`));
      });

      it('a client that disconnects mid-response fires tsgi.signal, and the server keeps serving', async () => {
        const id = `disconnect-${via}`;
        const { status, destroyedAt } = await disconnectAfterFirstPiece(nginx.url(`/${via}/slow?id=${id}`));
        expect(status).toBe(200);
        const record = slow.get(id)!;
        expect(record).toBeDefined();
        const abortedAt = await within(record.aborted, 5_000, 'tsgi.signal after the client went away');
        expect(abortedAt - destroyedAt).toBeLessThan(5_000);
        await waitFor(() => record.closedAt !== undefined, 3_000, "the slow body's close()");
        await waitFor(() => server.activeRequests === 0, 3_000, 'no active requests');
        expect(record.chunks).toBeLessThan(60);
        const after = await request(nginx.url(`/${via}/echo?after=1`));
        expect(after.status).toBe(200);
        expect(JSON.parse(after.body.toString())).toMatchObject({ QUERY_STRING: 'after=1' });
      });
    });
  }

  it('SCRIPT_NAME + PATH_INFO rebuild the request path (PEP 3333 URL reconstruction)', async () => {
    // nginx's fastcgi_params sends SCRIPT_NAME=$fastcgi_script_name (the whole path) and no
    // PATH_INFO; an app that rebuilds its URL (url_for, redirects) joins the two.
    const reply = await request(nginx.url('/tcp/echo/sub%20dir?q=1'));
    expect(reply.status).toBe(200);
    const { SCRIPT_NAME, PATH_INFO } = JSON.parse(reply.body.toString());
    expect(`${SCRIPT_NAME}${PATH_INFO}`, `SCRIPT_NAME ${JSON.stringify(SCRIPT_NAME)}, PATH_INFO ${JSON.stringify(PATH_INFO)}`).toBe('/tcp/echo/sub dir');
  });

  it('an app mounted with fastcgi_split_path_info: SCRIPT_NAME is the mount point, PATH_INFO the rest', async () => {
    const reply = await request(nginx.url('/mounted/echo?m=1'));
    expect(reply.status).toBe(200);
    expect(JSON.parse(reply.body.toString())).toMatchObject({ SCRIPT_NAME: '/mounted', PATH_INFO: '/echo', QUERY_STRING: 'm=1', REQUEST_URI: '/mounted/echo?m=1' });
  });

  it('serves 500 concurrent requests, none lost', async () => {
    const count = 500;
    concurrency.peak = 0;
    const replies = await Promise.allSettled(
      Array.from({ length: count }, (_, i) => request(nginx.url(`/${VIAS[i % VIAS.length]!.via}/echo?i=${i}&delay=50`), { timeoutMs: 25_000 })),
    );
    const failures = replies.flatMap((r, i) => (r.status === 'rejected' ? [`#${i}: ${String(r.reason)}`] : []));
    expect(failures, failures.slice(0, 10).join('\n')).toEqual([]);
    const statuses = new Map<number, number>();
    replies.forEach((r, i) => {
      const reply = (r as PromiseFulfilledResult<Reply>).value;
      statuses.set(reply.status, (statuses.get(reply.status) ?? 0) + 1);
      if (reply.status === 200) expect(JSON.parse(reply.body.toString())).toMatchObject({ i: String(i), QUERY_STRING: `i=${i}&delay=50` });
    });
    expect(Object.fromEntries(statuses)).toEqual({ 200: count });
    // They really overlapped inside the app (each waits 50 ms there).
    expect(concurrency.peak).toBeGreaterThanOrEqual(100);
    await waitFor(() => server.activeRequests === 0, 3_000, 'no active requests');
  });

  describe('connections', () => {
    it('10,000 requests over kept-alive connections (TCP) use at most 10 connections', async () => {
      const before = counted.acceptedConnections;
      const wrong = await fetchMany(nginx.url('/count-ka/ok'), 10_000, 8);
      expect(wrong.slice(0, 10)).toEqual([]);
      expect(counted.acceptedConnections - before).toBeGreaterThanOrEqual(1);
      expect(counted.acceptedConnections - before).toBeLessThanOrEqual(10);
    });

    it('2,000 requests over kept-alive connections (Unix socket) use at most 10 connections', async () => {
      const before = counted.acceptedConnections;
      const wrong = await fetchMany(nginx.url('/count-unix-ka/ok'), 2_000, 8);
      expect(wrong.slice(0, 10)).toEqual([]);
      expect(counted.acceptedConnections - before).toBeGreaterThanOrEqual(1);
      expect(counted.acceptedConnections - before).toBeLessThanOrEqual(10);
    });

    for (const via of ['count', 'count-unix']) {
      it(`without fastcgi_keep_conn (/${via}/), each request has its own connection, closed after it`, async () => {
        const before = counted.acceptedConnections;
        const open = counted.connections;
        const wrong = await fetchMany(nginx.url(`/${via}/ok`), 30, 1);
        expect(wrong).toEqual([]);
        expect(counted.acceptedConnections - before).toBe(30);
        // None of them stays open (FCGI_KEEP_CONN was 0: tsgi closes after the response).
        await waitFor(() => counted.connections <= open, 3_000, 'the per-request connections to close');
      });
    }
  });
});
