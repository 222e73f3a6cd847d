/**
 * A real nginx in front of the HTTP/1.1 listener (`proxy_pass`): with nginx's defaults
 * (HTTP/1.0 upstream, `Connection: close`, a connection per request), over a Unix socket,
 * with kept-alive upstream connections (`upstream { keepalive }`, `proxy_http_version 1.1`,
 * an empty `Connection`), and with request and response buffering off (the client's
 * chunked upload goes through chunked). Driven with node:http, one fresh client connection
 * per request. Skips, saying why, when nginx is not installed (fails under CI=true).
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { App, Environ } from '../src/app.js';
import { Server } from '../src/server.js';
import { disconnectAfterFirstPiece, rawHeaderValues, request, type Reply } from './helpers/http.js';
import { announceNginx, hasNginx, nginxVersionText, startNginx, type Nginx } from './helpers/nginx.js';
import { captureLogs, waitFor } from './helpers/uwsgi.js';

announceNginx();

// ---- the app --------------------------------------------------------------------------

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

const BIG = randomBytes(8 * 1024 * 1024);
const BIG_SHA256 = sha256(BIG);
const BIG_PIECE = 64 * 1024;

function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

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

const ECHOED = ['REQUEST_METHOD', 'REQUEST_URI', 'PATH_INFO', 'QUERY_STRING', 'SERVER_PROTOCOL', 'SERVER_NAME', 'HTTP_HOST', 'HTTP_CONNECTION', 'HTTP_X_FOO', 'HTTP_COOKIE', 'CONTENT_LENGTH', 'HTTP_TRANSFER_ENCODING', 'REMOTE_ADDR'];

function json(start: Parameters<App>[1], value: unknown) {
  start('200 OK', [['Content-Type', 'application/json']]);
  return [JSON.stringify(value)];
}

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
  // PATH_INFO is /plain/..., /unix/..., /keep/... or /unbuffered/...: route on the rest.
  const route = environ.PATH_INFO.replace(/^\/[^/]+/, '');
  const q = new URLSearchParams(environ.QUERY_STRING);
  switch (route) {
    case '/echo': {
      const delay = Number(q.get('delay') ?? 0);
      if (delay > 0) {
        concurrency.now++;
        concurrency.peak = Math.max(concurrency.peak, concurrency.now);
        await sleep(delay);
        concurrency.now--;
      }
      const seen: Record<string, string | null> = { i: q.get('i') };
      for (const key of ECHOED) if (environ[key] !== undefined) seen[key] = environ[key] as string;
      return json(start, seen);
    }
    case '/sha256': {
      const hash = createHash('sha256');
      let bytes = 0;
      for await (const chunk of environ['tsgi.input']) {
        hash.update(chunk);
        bytes += chunk.byteLength;
      }
      return json(start, { sha256: hash.digest('hex'), bytes, CONTENT_LENGTH: environ.CONTENT_LENGTH ?? null, HTTP_TRANSFER_ENCODING: environ.HTTP_TRANSFER_ENCODING ?? null });
    }
    case '/stream': {
      const id = q.get('id') ?? 'stream';
      const times: number[] = [];
      produced.set(id, times);
      start('200 OK', [['Content-Type', 'text/plain'], ['X-Accel-Buffering', 'no']]);
      const count = Number(q.get('n') ?? 5);
      const delay = Number(q.get('delay') ?? 200);
      return (async function* () {
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
    case '/cookies':
      start('200 OK', [
        ['Content-Type', 'text/plain'],
        ['Set-Cookie', 'a=1; Path=/'],
        ['Set-Cookie', 'b=2; Path=/; HttpOnly'],
      ]);
      return ['cookies set\n'];
    case '/throw':
      throw new Error('boom (thrown on purpose by the test app)');
    case '/throw-in-body':
      start('200 OK', [['Content-Type', 'text/plain']]);
      return (async function* () {
        await sleep(10);
        throw new Error('boom before the first chunk (on purpose)');
      })();
    case '/throw-mid-body':
      start('200 OK', [['Content-Type', 'text/plain']]);
      return (async function* () {
        yield 'first\n';
        await sleep(20);
        throw new Error('boom after the first chunk (on purpose)');
      })();
    case '/slow':
      start('200 OK', [['Content-Type', 'text/plain'], ['X-Accel-Buffering', 'no']]);
      return slowStream(environ, q.get('id') ?? 'slow');
    default:
      start('404 Not Found', [['Content-Type', 'text/plain']]);
      return [`no route ${route}\n`];
  }
};

// ---- the tests ---------------------------------------------------------------------------

/** The locations, by what nginx does on the upstream side. */
const VIA = {
  /** nginx's defaults: HTTP/1.0, Connection: close, a connection per request. */
  plain: { keepalive: false, protocol: 'HTTP/1.0' },
  /** The same over a Unix socket. */
  unix: { keepalive: false, protocol: 'HTTP/1.0' },
  /** upstream { keepalive 16 }, proxy_http_version 1.1, Connection "". */
  keep: { keepalive: true, protocol: 'HTTP/1.1' },
  /** As keep, with proxy_request_buffering and proxy_buffering off. */
  unbuffered: { keepalive: true, protocol: 'HTTP/1.1' },
} as const;
type Via = keyof typeof VIA;

describe.skipIf(!hasNginx)(`nginx (${nginxVersionText ?? 'not installed'}) in front of tsgi, proxy_pass to --http-socket`, () => {
  let server: Server;
  let nginx: Nginx;
  let dir: string;
  let logs: ReturnType<typeof captureLogs>;

  beforeAll(async () => {
    // The app errors the tests cause are expected: kept, and shown only when a test fails.
    logs = captureLogs();
    dir = mkdtempSync(path.join(os.tmpdir(), 'tsgi-nginx-http-test-'));
    server = new Server(app);
    const tcp = server.listen('127.0.0.1:0', { protocol: 'http' });
    const unix = server.listen(path.join(dir, 'tsgi.sock'), { protocol: 'http', mode: 0o666 });
    nginx = await startNginx({
      locations: [
        { path: '/plain/', proxyPass: tcp },
        { path: '/unix/', proxyPass: `unix:${unix}` },
        { path: '/keep/', proxyPass: tcp, keepalive: 16 },
        { path: '/unbuffered/', proxyPass: tcp, keepalive: 16, extra: ['proxy_request_buffering off;', 'proxy_buffering off;'] },
      ],
    });
  });

  afterAll(async () => {
    if (process.env.TSGI_NGINX_LOG === '1' && nginx) console.log(`--- nginx error.log ---\n${nginx.errorLog()}`);
    await nginx?.stop();
    server?.close();
    logs?.restore();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  beforeEach((context) => {
    const mark = nginx.errorLog().length;
    const logMark = logs.lines.length;
    context.onTestFailed(() => {
      const lines = nginx.errorLog().slice(mark).trim();
      const tsgi = logs.lines.slice(logMark).map((l) => `${l.level}: ${l.line}`).join('\n');
      console.error(`--- nginx error.log during "${context.task.name}" ---\n${lines || '(nothing)'}\n--- tsgi log ---\n${tsgi || '(nothing)'}\n--- config: ${nginx.conf} ---\n${nginx.configText}`);
    });
  });

  it('the generated config: proxy_pass, and for keep-alive an upstream block, HTTP/1.1 and an empty Connection', () => {
    expect(nginx.configText).toContain(`proxy_pass http://unix:${path.join(dir, 'tsgi.sock')}:;`);
    expect(nginx.configText).toMatch(/upstream http_keepalive_2 \{\n\s+server 127\.0\.0\.1:\d+;\n\s+keepalive 16;\n\s+\}/);
    expect(nginx.configText).toMatch(/location \/keep\/ \{\n\s+proxy_http_version 1\.1;\n\s+proxy_set_header Connection "";\n\s+proxy_pass http:\/\/http_keepalive_2;\n\s+\}/);
  });

  for (const via of Object.keys(VIA) as Via[]) {
    it(`GET with a query string via ${via}: the environ (${VIA[via].protocol} upstream)`, async () => {
      const reply = await request(nginx.url(`/${via}/echo?x=1&y=a%20b`), { headers: { Host: 'example.test', 'X-Foo': 'bar' } });
      expect(reply.status).toBe(200);
      const environ = JSON.parse(reply.body.toString());
      expect(environ).toMatchObject({
        REQUEST_METHOD: 'GET',
        REQUEST_URI: `/${via}/echo?x=1&y=a%20b`,
        PATH_INFO: `/${via}/echo`,
        QUERY_STRING: 'x=1&y=a%20b',
        SERVER_PROTOCOL: VIA[via].protocol,
        HTTP_X_FOO: 'bar',
      });
      // nginx sends its proxy_host as Host (the upstream's name or address), and
      // `Connection: close` unless told otherwise.
      if (VIA[via].keepalive) {
        expect(environ.HTTP_HOST).toMatch(/^http_keepalive_\d$/);
        expect(environ.HTTP_CONNECTION).toBeUndefined();
      } else {
        expect(environ.HTTP_CONNECTION).toBe('close');
      }
      if (via !== 'unix') expect(environ.REMOTE_ADDR).toBe('127.0.0.1');
    });
  }

  for (const via of Object.keys(VIA) as Via[]) {
    it(`POST of 10 MiB via ${via}: the app hashes tsgi.input`, async () => {
      const body = randomBytes(10 * 1024 * 1024);
      const reply = await request(nginx.url(`/${via}/sha256`), { method: 'POST', headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': body.length }, body });
      expect(reply.status).toBe(200);
      expect(JSON.parse(reply.body.toString())).toEqual({ sha256: sha256(body), bytes: body.length, CONTENT_LENGTH: String(body.length), HTTP_TRANSFER_ENCODING: null });
    });
  }

  it('a chunked 10 MiB upload: buffered, nginx sends Content-Length; unbuffered, it goes through chunked', async () => {
    const body = randomBytes(10 * 1024 * 1024);
    const pieces = Array.from({ length: 10 }, (_, i) => body.subarray(i * 1024 * 1024, (i + 1) * 1024 * 1024));
    const buffered = await request(nginx.url('/keep/sha256'), { method: 'POST', body: pieces });
    expect(JSON.parse(buffered.body.toString())).toEqual({ sha256: sha256(body), bytes: body.length, CONTENT_LENGTH: String(body.length), HTTP_TRANSFER_ENCODING: null });
    const unbuffered = await request(nginx.url('/unbuffered/sha256'), { method: 'POST', body: pieces });
    expect(JSON.parse(unbuffered.body.toString())).toEqual({ sha256: sha256(body), bytes: body.length, CONTENT_LENGTH: null, HTTP_TRANSFER_ENCODING: 'chunked' });
  });

  for (const via of ['keep', 'plain'] as const) {
    it(`streams an async generator via ${via}: chunks arrive as produced (X-Accel-Buffering: no)`, async () => {
      const id = `stream-${via}`;
      const reply = await request(nginx.url(`/${via}/stream?id=${id}&n=5&delay=200`));
      expect(reply.status).toBe(200);
      expect(reply.body.toString()).toBe('chunk 0\nchunk 1\nchunk 2\nchunk 3\nchunk 4\n');
      const times = produced.get(id)!;
      expect(times).toHaveLength(5);
      expect(reply.pieces[0]!.at).toBeLessThan(times[4]!);
      expect(reply.pieces.length).toBeGreaterThanOrEqual(3);
    });
  }

  for (const [route, via] of [
    ['big', 'keep'],
    ['big-stream', 'keep'],
    ['big', 'plain'],
    ['big-stream', 'plain'],
    ['big', 'unix'],
    ['big-stream', 'unbuffered'],
  ] as const) {
    it(`an 8 MiB response (/${route} via ${via}) arrives intact`, async () => {
      const reply = await request(nginx.url(`/${via}/${route}`));
      expect(reply.status).toBe(200);
      expect(reply.body.length).toBe(BIG.length);
      expect(sha256(reply.body)).toBe(BIG_SHA256);
      if (route === 'big') expect(reply.headers['content-length']).toBe(String(BIG.length));
    });
  }

  it('repeated response headers stay separate (two Set-Cookie); tsgi\'s Server header is replaced by nginx\'s', async () => {
    const reply = await request(nginx.url('/keep/cookies'));
    expect(rawHeaderValues(reply, 'Set-Cookie')).toEqual(['a=1; Path=/', 'b=2; Path=/; HttpOnly']);
    expect(rawHeaderValues(reply, 'Server')).toHaveLength(1);
    expect(rawHeaderValues(reply, 'Server')[0]).toMatch(/^nginx/);
  });

  for (const route of ['throw', 'throw-in-body']) {
    for (const via of ['keep', 'plain'] as const) {
      it(`an app that fails (/${route}) gives a 500 through nginx (via ${via}), and the next request is served`, async () => {
        const reply = await request(nginx.url(`/${via}/${route}`));
        expect(reply.status).toBe(500);
        expect(reply.body.toString()).toBe('Internal Server Error\n');
        expect(logs.find(new RegExp(`^GET /${via}/${route}: app error: Error: boom`))).toBeDefined();
        const after = await request(nginx.url(`/${via}/echo?after=1`));
        expect(after.status).toBe(200);
      });
    }
  }

  for (const via of ['keep', 'plain'] as const) {
    it(`an app that fails after its first chunk (via ${via}): the client never gets a complete response`, async () => {
      const outcome = await request(nginx.url(`/${via}/throw-mid-body`)).then(
        (reply) => `complete ${reply.status} ${JSON.stringify(reply.body.toString())}`,
        (error: Error) => `failed: ${error.message}`,
      );
      expect(outcome).toMatch(/^failed: .*(aborted|incomplete|socket hang up|ECONNRESET)/);
      const after = await request(nginx.url(`/${via}/echo`));
      expect(after.status).toBe(200);
    });
  }

  for (const via of ['unbuffered', 'plain'] as const) {
    it(`a client that disconnects mid-response (via ${via}) fires tsgi.signal; the server keeps serving`, async () => {
      const id = `disconnect-${via}`;
      const { status, destroyedAt } = await disconnectAfterFirstPiece(nginx.url(`/${via}/slow?id=${id}`));
      expect(status).toBe(200);
      const record = slow.get(id)!;
      expect(record).toBeDefined();
      const abortedAt = await Promise.race([record.aborted, sleep(5_000).then(() => 0)]);
      expect(abortedAt, 'tsgi.signal did not fire within 5 s of the client going away').toBeGreaterThan(0);
      expect(abortedAt - destroyedAt).toBeLessThan(5_000);
      await waitFor(() => record.closedAt !== undefined, { timeout: 3_000, what: "the slow body's close()" });
      expect(record.chunks).toBeLessThan(60);
      const after = await request(nginx.url(`/${via}/echo?after=1`));
      expect(after.status).toBe(200);
      expect(JSON.parse(after.body.toString())).toMatchObject({ QUERY_STRING: 'after=1' });
    });
  }

  it('500 concurrent requests through nginx (kept-alive and per-request upstreams), none lost', async () => {
    await waitFor(() => server.activeRequests === 0, { timeout: 3_000, what: 'no active requests' });
    const count = 500;
    concurrency.peak = 0;
    const replies = await Promise.allSettled(
      Array.from({ length: count }, (_, i) => request(nginx.url(`/${['keep', 'plain', 'unix', 'unbuffered'][i % 4]}/echo?i=${i}&delay=50`), { timeoutMs: 25_000 })),
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
    expect(concurrency.peak).toBeGreaterThanOrEqual(100);
    await waitFor(() => server.activeRequests === 0, { timeout: 3_000, what: 'no active requests' });
  });

  it('200 sequential requests: kept-alive, a handful of upstream connections; per-request, one each', async () => {
    const before = server.acceptedConnections;
    for (let i = 0; i < 200; i++) {
      const reply = await request(nginx.url(`/keep/echo?i=${i}`));
      expect(reply.status).toBe(200);
    }
    const kept = server.acceptedConnections - before;
    // One nginx worker with `keepalive 16` reuses its idle connections: at most a few new
    // ones (an idle one left from an earlier test may be reused, so possibly none).
    expect(kept).toBeLessThanOrEqual(4);

    const before2 = server.acceptedConnections;
    for (let i = 0; i < 50; i++) await request(nginx.url(`/plain/echo?i=${i}`));
    expect(server.acceptedConnections - before2).toBe(50);
  });
});
