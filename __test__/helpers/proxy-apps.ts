/**
 * The test app the proxy integration tests (nginx uwsgi_pass, fastcgi_pass, proxy_pass;
 * HAProxy fcgi-app) put behind their proxy, and what it records for the tests to inspect.
 *
 *   const proxied = createProxyApp({ echoed: [...], routes: { '/errors': ... } });
 *   server = new Server(proxied.app);
 *
 * The request path is /<location>/<route>: the app routes on the rest. Routes: /echo (and
 * /echo/...: the environ keys in `echoed`, `i`, and with `echoBody` the request body;
 * `delay` waits inside, counted in `concurrency`), /sha256 (hashes tsgi.input), /stream
 * (`n` chunks `delay` ms apart, times in `produced`; X-Accel-Buffering: no unless
 * buffering=yes), /big and /big-stream (8 MiB, as a list and as a generator), /cookies,
 * /missing (404), /redirect (302), /ok, /throw, /reject, /throw-in-body, /throw-mid-body,
 * /slow (a stream that stops when tsgi.signal fires, recorded in `slow`), and `routes`.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { App, Environ } from '../../src/app/contract.js';

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

export async function waitFor(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms)));
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export async function readAll(environ: Environ): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of environ['tsgi.input']) chunks.push(chunk);
  return Buffer.concat(chunks);
}

export function json(start: Parameters<App>[1], value: unknown, status = '200 OK') {
  start(status, [['Content-Type', 'application/json']]);
  return [JSON.stringify(value)];
}

export const BIG = randomBytes(8 * 1024 * 1024);
export const BIG_SHA256 = sha256(BIG);
const BIG_PIECE = 64 * 1024;

/** A slow stream, by id: chunks produced, when tsgi.signal fired, when close() ran. */
export interface SlowRecord {
  chunks: number;
  closedAt?: number;
  aborted: Promise<number>;
}

/** A route: gets the environ, start_response and the query; returns what an App returns. */
export type Route = (environ: Environ, start: Parameters<App>[1], q: URLSearchParams) => ReturnType<App>;

export interface ProxyAppOptions {
  /** The environ keys /echo reports, when present. */
  echoed: readonly string[];
  /** /echo also reads the request body and reports it as `body`. */
  echoBody?: boolean;
  /** Environ keys /sha256 reports besides CONTENT_LENGTH (null when absent). */
  sha256Keys?: readonly string[];
  /** Routes of one test file, looked up first. */
  routes?: Record<string, Route>;
}

export interface ProxyApp {
  app: App;
  /** When each chunk of a streamed response was produced, by the `id` query parameter. */
  produced: Map<string, number[]>;
  slow: Map<string, SlowRecord>;
  /** Requests inside the delayed echo at once: now, and the most seen. */
  concurrency: { now: number; peak: number };
}

export function createProxyApp(options: ProxyAppOptions): ProxyApp {
  const produced = new Map<string, number[]>();
  const slow = new Map<string, SlowRecord>();
  const concurrency = { now: 0, peak: 0 };

  function slowStream(environ: Environ, id: string, count: number): AsyncGenerator<string> & { close(): void } {
    const signal = environ['tsgi.signal'];
    let fired!: (at: number) => void;
    const record: SlowRecord = { chunks: 0, aborted: new Promise<number>((resolve) => (fired = resolve)) };
    slow.set(id, record);
    signal.addEventListener('abort', () => fired(Date.now()));
    async function* gen(): AsyncGenerator<string> {
      for (let i = 0; i < count && !signal.aborted; i++) {
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
    // Route on REQUEST_URI, not PATH_INFO: what PATH_INFO holds is one of the things under test.
    const uri = environ.REQUEST_URI ?? `${environ.PATH_INFO}${environ.QUERY_STRING ? `?${environ.QUERY_STRING}` : ''}`;
    const url = new URL(String(uri), 'http://x');
    const route = url.pathname.replace(/^\/[^/]+/, '');
    const q = url.searchParams;
    const own = options.routes?.[route];
    if (own) return own(environ, start, q);
    switch (route.startsWith('/echo/') ? '/echo' : route) {
      case '/echo': {
        const delay = Number(q.get('delay') ?? 0);
        if (delay > 0) {
          concurrency.now++;
          concurrency.peak = Math.max(concurrency.peak, concurrency.now);
          await sleep(delay);
          concurrency.now--;
        }
        const seen: Record<string, unknown> = Object.fromEntries(options.echoed.filter((k) => environ[k] !== undefined).map((k) => [k, environ[k]]));
        if (options.echoBody) seen.body = (await readAll(environ)).toString();
        seen.i = q.get('i');
        return json(start, seen);
      }
      case '/sha256': {
        const hash = createHash('sha256');
        let bytes = 0;
        for await (const chunk of environ['tsgi.input']) {
          hash.update(chunk);
          bytes += chunk.byteLength;
        }
        const extra = Object.fromEntries((options.sha256Keys ?? []).map((k) => [k, environ[k] ?? null]));
        return json(start, { sha256: hash.digest('hex'), bytes, CONTENT_LENGTH: environ.CONTENT_LENGTH ?? null, ...extra });
      }
      case '/stream': {
        const id = q.get('id') ?? 'stream';
        const count = Number(q.get('n') ?? 5);
        const delay = Number(q.get('delay') ?? 200);
        const headers: Array<[string, string]> = [['Content-Type', 'text/plain']];
        if (q.get('buffering') !== 'yes') headers.push(['X-Accel-Buffering', 'no']);
        start('200 OK', headers);
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
      case '/cookies':
        start('200 OK', [
          ['Content-Type', 'text/plain'],
          ['Set-Cookie', 'a=1; Path=/'],
          ['Set-Cookie', 'b=2; Path=/; HttpOnly'],
          ['X-Multi', 'one'],
          ['X-Multi', 'two'],
        ]);
        return ['cookies set\n'];
      case '/missing':
        start('404 Not Found', [
          ['Content-Type', 'text/plain'],
          ['X-Custom', 'custom value'],
          ['Set-Cookie', 'a=1; Path=/'],
          ['Set-Cookie', 'b=2; Path=/; HttpOnly'],
        ]);
        return ['not here\n'];
      case '/redirect':
        start('302 Found', [
          ['Location', 'http://example.test/next?from=tsgi'],
          ['Content-Type', 'text/plain'],
        ]);
        return ['see elsewhere\n'];
      case '/ok':
        start('200 OK', [['Content-Type', 'text/plain']]);
        return [`ok ${q.get('i')}`];
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
        start('200 OK', [
          ['Content-Type', 'text/plain'],
          ['X-Accel-Buffering', 'no'],
        ]);
        return slowStream(environ, q.get('id') ?? 'slow', Number(q.get('n') ?? 200));
      default:
        start('404 Not Found', [['Content-Type', 'text/plain']]);
        return [`no route ${route}\n`];
    }
  };

  return { app, produced, slow, concurrency };
}
