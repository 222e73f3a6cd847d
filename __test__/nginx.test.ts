/**
 * A real nginx in front of an in-process tsgi Server, over TCP and a Unix socket
 * (`uwsgi_pass`), driven with node:http as a browser would drive it. Skips, saying why,
 * when nginx is not installed (CI installs it; with CI=true a missing nginx fails).
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { App, Environ } from '../src/app.js';
import { Server } from '../src/server.js';
import { announceNginx, hasNginx, nginxVersionText, startNginx, type Nginx } from './helpers/nginx.js';

announceNginx();

// ---- the app --------------------------------------------------------------------------

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

const BIG = randomBytes(8 * 1024 * 1024);
const BIG_SHA256 = sha256(BIG);
const BIG_PIECE = 64 * 1024;

/** What the streaming routes did, by the `id` query parameter, for the tests to inspect. */
const produced = new Map<string, number[]>();
/** Slow streams: when their tsgi.signal fired, and when their body was closed. */
interface SlowRecord {
  chunks: number;
  abortedAt?: number;
  closedAt?: number;
  aborted: Promise<number>;
}
const slow = new Map<string, SlowRecord>();
/** Requests inside the delayed echo at once: now, and the most seen. */
const concurrency = { now: 0, peak: 0 };

function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

function query(environ: Environ): URLSearchParams {
  return new URLSearchParams(environ.QUERY_STRING);
}

function json(start: Parameters<App>[1], value: unknown, headers: Array<[string, string]> = []) {
  start('200 OK', [['Content-Type', 'application/json'], ...headers]);
  return [JSON.stringify(value)];
}

async function* timedChunks(id: string, count: number, delayMs: number): AsyncGenerator<string> {
  const times: number[] = [];
  produced.set(id, times);
  for (let i = 0; i < count; i++) {
    if (i > 0) await sleep(delayMs);
    times.push(Date.now());
    yield `chunk ${i}\n`;
  }
}

function slowStream(environ: Environ, id: string): AsyncGenerator<string> & { close(): void } {
  const signal = environ['tsgi.signal'];
  let fired!: (at: number) => void;
  const record: SlowRecord = { chunks: 0, aborted: new Promise<number>((resolve) => (fired = resolve)) };
  slow.set(id, record);
  signal.addEventListener('abort', () => {
    record.abortedAt = Date.now();
    fired(record.abortedAt);
  });
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
  // PATH_INFO is /tcp/..., /unix/... or /unbuffered/...: route on the rest.
  const route = environ.PATH_INFO.replace(/^\/[^/]+/, '');
  const q = query(environ);
  switch (route) {
    case '/echo': {
      const delay = Number(q.get('delay') ?? 0);
      if (delay > 0) {
        concurrency.now++;
        concurrency.peak = Math.max(concurrency.peak, concurrency.now);
        await sleep(delay);
        concurrency.now--;
      }
      return json(start, {
        PATH_INFO: environ.PATH_INFO,
        QUERY_STRING: environ.QUERY_STRING,
        REQUEST_METHOD: environ.REQUEST_METHOD,
        HTTP_HOST: environ.HTTP_HOST,
        HTTP_X_FOO: environ.HTTP_X_FOO,
        HTTP_COOKIE: environ.HTTP_COOKIE,
        i: q.get('i'),
      });
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
      const headers: Array<[string, string]> = [['Content-Type', 'text/plain']];
      if (q.get('buffering') === 'no') headers.push(['X-Accel-Buffering', 'no']);
      start('200 OK', headers);
      return timedChunks(q.get('id') ?? 'stream', Number(q.get('n') ?? 5), Number(q.get('delay') ?? 300));
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
        ['X-Multi', 'one'],
        ['X-Multi', 'two'],
      ]);
      return ['cookies set\n'];
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

// ---- an HTTP client that hides nothing -----------------------------------------------

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  rawHeaders: string[];
  body: Buffer;
  /** When each piece of the body arrived (ms since epoch), and its size. */
  pieces: Array<{ at: number; size: number }>;
}

interface RequestOptions {
  method?: string;
  /** Object, or a flat [name, value, name, value...] list to send repeated names. */
  headers?: http.OutgoingHttpHeaders | string[];
  body?: Buffer | Buffer[];
  timeoutMs?: number;
}

/** One request on a fresh connection (agent: false: no pooling that could hide a failure). */
function request(url: string, options: RequestOptions = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: options.method ?? 'GET', headers: options.headers as http.OutgoingHttpHeaders, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      const pieces: Reply['pieces'] = [];
      res.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        pieces.push({ at: Date.now(), size: chunk.length });
      });
      res.on('error', reject);
      res.on('aborted', () => reject(new Error(`${url}: response aborted after ${Buffer.concat(chunks).length} bytes`)));
      res.on('end', () => {
        clearTimeout(timer);
        if (!res.complete) reject(new Error(`${url}: response incomplete`));
        else resolve({ status: res.statusCode!, headers: res.headers, rawHeaders: res.rawHeaders, body: Buffer.concat(chunks), pieces });
      });
    });
    const timer = setTimeout(() => req.destroy(new Error(`${url}: no complete response within ${options.timeoutMs ?? 20_000} ms`)), options.timeoutMs ?? 20_000);
    req.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    const body = options.body;
    if (Array.isArray(body)) {
      // No Content-Length: node sends Transfer-Encoding: chunked.
      for (const piece of body) req.write(piece);
      req.end();
    } else {
      req.end(body);
    }
  });
}

function rawHeaderValues(reply: Reply, name: string): string[] {
  const values: string[] = [];
  for (let i = 0; i < reply.rawHeaders.length; i += 2) {
    if (reply.rawHeaders[i]!.toLowerCase() === name.toLowerCase()) values.push(reply.rawHeaders[i + 1]!);
  }
  return values;
}

async function waitFor(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

// ---- the tests ---------------------------------------------------------------------------

describe.skipIf(!hasNginx)(`nginx (${nginxVersionText ?? 'not installed'}) in front of tsgi, uwsgi_pass`, () => {
  let server: Server;
  let nginx: Nginx;
  let dir: string;
  let tcpAddress: string;
  let unixAddress: string;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'tsgi-nginx-test-'));
    server = new Server(app);
    tcpAddress = server.listen('127.0.0.1:0');
    unixAddress = server.listen(path.join(dir, 'tsgi.sock'), { mode: 0o666 });
    nginx = await startNginx({
      locations: [
        { path: '/tcp/', uwsgiPass: tcpAddress },
        { path: '/unix/', uwsgiPass: `unix:${unixAddress}` },
        { path: '/unbuffered/', uwsgiPass: tcpAddress, extra: ['uwsgi_request_buffering off;', 'uwsgi_buffering off;'] },
      ],
    });
  });

  afterAll(async () => {
    // TSGI_NGINX_LOG=1 shows the whole nginx error log (info level) of the run.
    if (process.env.TSGI_NGINX_LOG === '1' && nginx) console.log(`--- nginx error.log ---\n${nginx.errorLog()}`);
    await nginx?.stop();
    server?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  beforeEach((context) => {
    const mark = nginx.errorLog().length;
    context.onTestFailed(() => {
      const lines = nginx.errorLog().slice(mark).trim();
      console.error(`--- nginx error.log during "${context.task.name}" ---\n${lines || '(nothing)'}\n--- config: ${nginx.conf} ---`);
    });
  });

  for (const via of ['tcp', 'unix'] as const) {
    it(`GET with a query string over ${via}`, async () => {
      const reply = await request(nginx.url(`/${via}/echo?x=1&y=a%20b`), { headers: { Host: 'example.test' } });
      expect(reply.status).toBe(200);
      expect(JSON.parse(reply.body.toString())).toMatchObject({
        PATH_INFO: `/${via}/echo`,
        QUERY_STRING: 'x=1&y=a%20b',
        REQUEST_METHOD: 'GET',
        HTTP_HOST: 'example.test',
      });
    });
  }

  for (const via of ['tcp', 'unix', 'unbuffered'] as const) {
    it(`POST of 10 MiB over ${via}: the app hashes tsgi.input`, async () => {
      const body = randomBytes(10 * 1024 * 1024);
      const reply = await request(nginx.url(`/${via}/sha256`), { method: 'POST', headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': body.length }, body });
      expect(reply.status).toBe(200);
      expect(JSON.parse(reply.body.toString())).toEqual({ sha256: sha256(body), bytes: body.length, CONTENT_LENGTH: String(body.length) });
    });
  }

  it('POST of 10 MiB with a chunked request body (nginx buffers it and sends CONTENT_LENGTH)', async () => {
    const body = randomBytes(10 * 1024 * 1024);
    const pieces = Array.from({ length: 10 }, (_, i) => body.subarray(i * 1024 * 1024, (i + 1) * 1024 * 1024));
    const reply = await request(nginx.url('/tcp/sha256'), { method: 'POST', headers: { 'Content-Type': 'application/octet-stream' }, body: pieces });
    expect(reply.status).toBe(200);
    expect(JSON.parse(reply.body.toString())).toEqual({ sha256: sha256(body), bytes: body.length, CONTENT_LENGTH: String(body.length) });
  });

  it('streams an async generator: every chunk arrives, the first before the last is produced (X-Accel-Buffering: no)', async () => {
    const id = 'unbuffered-stream';
    const reply = await request(nginx.url(`/tcp/stream?id=${id}&buffering=no&n=5&delay=300`));
    expect(reply.status).toBe(200);
    expect(reply.body.toString()).toBe('chunk 0\nchunk 1\nchunk 2\nchunk 3\nchunk 4\n');
    const times = produced.get(id)!;
    expect(times).toHaveLength(5);
    expect(reply.pieces[0]!.at).toBeLessThan(times[4]!);
    // Delivered as produced, not in one piece at the end.
    expect(reply.pieces.length).toBeGreaterThanOrEqual(3);
  });

  it('streams an async generator through a buffering nginx: every chunk arrives', async () => {
    const reply = await request(nginx.url('/unix/stream?id=buffered-stream&n=5&delay=100'));
    expect(reply.status).toBe(200);
    expect(reply.body.toString()).toBe('chunk 0\nchunk 1\nchunk 2\nchunk 3\nchunk 4\n');
  });

  for (const [route, via] of [
    ['big', 'tcp'],
    ['big-stream', 'tcp'],
    ['big', 'unix'],
    ['big-stream', 'unbuffered'],
  ] as const) {
    it(`sends an 8 MiB response (/${route} over ${via}) intact`, async () => {
      const reply = await request(nginx.url(`/${via}/${route}`));
      expect(reply.status).toBe(200);
      expect(reply.body.length).toBe(BIG.length);
      expect(sha256(reply.body)).toBe(BIG_SHA256);
      if (route === 'big') expect(reply.headers['content-length']).toBe(String(BIG.length));
    });
  }

  it('joins repeated request headers: X-Foo with ", ", Cookie with "; "', async () => {
    // A flat list: node sends each pair as its own header line.
    const reply = await request(nginx.url('/tcp/echo'), { headers: ['Host', 'example.test', 'X-Foo', 'a', 'X-Foo', 'b', 'Cookie', 'c1=1', 'Cookie', 'c2=2'] });
    expect(reply.status).toBe(200);
    expect(JSON.parse(reply.body.toString())).toMatchObject({ HTTP_X_FOO: 'a, b', HTTP_COOKIE: 'c1=1; c2=2', HTTP_HOST: 'example.test' });
  });

  it('sends repeated response headers as separate headers (two Set-Cookie)', async () => {
    const reply = await request(nginx.url('/unix/cookies'));
    expect(reply.status).toBe(200);
    expect(rawHeaderValues(reply, 'Set-Cookie')).toEqual(['a=1; Path=/', 'b=2; Path=/; HttpOnly']);
    expect(reply.headers['set-cookie']).toEqual(['a=1; Path=/', 'b=2; Path=/; HttpOnly']);
    expect(rawHeaderValues(reply, 'X-Multi')).toEqual(['one', 'two']);
  });

  for (const route of ['throw', 'reject', 'throw-in-body']) {
    it(`an app that fails (/${route}) gives a 500 through nginx`, async () => {
      const reply = await request(nginx.url(`/tcp/${route}`));
      expect(reply.status).toBe(500);
      expect(reply.body.toString()).toBe('Internal Server Error\n');
    });
  }

  it('an app that fails after its first chunk: the client gets a truncated response, never a complete one', async () => {
    const outcome = await request(nginx.url('/tcp/throw-mid-body')).then(
      (reply) => `complete ${reply.status} ${JSON.stringify(reply.body.toString())}`,
      (error: Error) => `failed: ${error.message}`,
    );
    expect(outcome).toMatch(/^failed: .*(aborted|incomplete|socket hang up|ECONNRESET)/);
    const after = await request(nginx.url('/tcp/echo'));
    expect(after.status).toBe(200);
  });

  it('a client that disconnects mid-response fires tsgi.signal, and the server keeps serving', async () => {
    const id = 'disconnect';
    let destroyedAt = 0;
    await new Promise<void>((resolve, reject) => {
      const req = http.get(nginx.url(`/tcp/slow?id=${id}`), { agent: false }, (res) => {
        expect(res.statusCode).toBe(200);
        res.once('data', () => {
          destroyedAt = Date.now();
          req.destroy();
          resolve();
        });
      });
      req.on('error', (error) => {
        if (!destroyedAt) reject(error);
      });
    });
    const record = slow.get(id)!;
    expect(record).toBeDefined();
    const abortedAt = await Promise.race([record.aborted, sleep(5_000).then(() => 0)]);
    expect(abortedAt, 'tsgi.signal did not fire within 5 s of the client going away').toBeGreaterThan(0);
    expect(abortedAt - destroyedAt).toBeLessThan(5_000);
    // The body was closed and the exchange is over.
    await waitFor(() => record.closedAt !== undefined, 3_000, "the slow body's close()");
    await waitFor(() => server.activeRequests === 0, 3_000, 'no active requests');
    expect(record.chunks).toBeLessThan(60);

    const after = await request(nginx.url('/tcp/echo?after=1'));
    expect(after.status).toBe(200);
    expect(JSON.parse(after.body.toString())).toMatchObject({ QUERY_STRING: 'after=1' });
  });

  it('serves 500 concurrent requests through nginx, none lost', async () => {
    const count = 500;
    concurrency.peak = 0;
    const replies = await Promise.allSettled(
      Array.from({ length: count }, (_, i) => request(nginx.url(`/${i % 2 ? 'unix' : 'tcp'}/echo?i=${i}&delay=50`), { timeoutMs: 25_000 })),
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
});
