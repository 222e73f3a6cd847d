/**
 * The framework matrix: a real app of each framework, run by the real CLI (master and
 * workers, as users run it) with no --adapter, and driven over tsgi's own HTTP listener
 * (--http-socket) and through a real nginx (uwsgi_pass to --socket): Express, Fastify with
 * @fastify/static, Koa, Hono, NestJS (compiled by tsc), a built Next.js app (its custom
 * server handler, `app.getRequestHandler()`), server-sent events from Express, and the two
 * typed examples (examples/typed-*) run as TypeScript through tsx. Each test asserts what a
 * client sees: status, headers, bodies, a static file's hash, a JSON body round trip, the
 * framework's own 404; and what streams (SSE from Express, Nest's @Sse and Hono's
 * streamSSE, a Next.js page under Suspense) by when each piece arrived against when the
 * app wrote it. The Next.js and NestJS apps are built once, first
 * (helpers/framework-builds.ts); docs/frameworks.md's table is held to APPS. nginx tests
 * skip, saying why, when nginx is missing (and fail under CI=true).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTsgi, type Tsgi } from '../helpers/chaos.js';
import { buildFrameworkApps, NEST_APP, NEXT_APP } from '../helpers/framework-builds.js';
import { request, type Reply } from '../helpers/http.js';
import { announceNginx, hasNginx, nginxVersionText, startNginx, type Nginx } from '../helpers/nginx.js';
import { sha256 } from '../helpers/proxy-apps.js';
import { freePort } from '../../scripts/lib/processes.mjs';
import { EVENTS, INTERVAL_MS } from '../fixtures/frameworks/sse-app.mjs';

announceNginx();

const STATIC_FILE = path.resolve('__test__/fixtures/static/hello.txt');
const TSX = '--import tsx';

/** Each app: its row in docs/frameworks.md, its module, its workers, Node flags, and what
 * the start-up log must call it. */
const APPS = {
  express: { doc: 'Express 5', module: '__test__/fixtures/express-app.mjs', processes: 2, kind: /served as an Express\/Connect app$/ },
  fastify: {
    doc: 'Fastify 5 + @fastify/static',
    module: '__test__/fixtures/frameworks/fastify-static-app.mjs',
    processes: 1,
    kind: /served as a Fastify app$/,
  },
  koa: { doc: 'Koa 3', module: '__test__/fixtures/koa-app.mjs', processes: 2, kind: /served as a Koa app$/ },
  hono: { doc: 'Hono 4', module: '__test__/fixtures/hono-app.mjs', processes: 1, kind: /served as a fetch handler \(\{ fetch \}\)$/ },
  nest: { doc: 'NestJS 12 (tsc)', module: path.join(NEST_APP, 'dist/main.js'), processes: 2, kind: /served as an Express\/Connect app$/ },
  next: {
    doc: 'Next.js 16 (`next build`)',
    module: path.join(NEXT_APP, 'server.mjs'),
    processes: 2,
    kind: /served as a Node handler \(its parameters are \(req, res\)/,
  },
  sse: { doc: 'Express, server-sent events', module: '__test__/fixtures/frameworks/sse-app.mjs', processes: 1, kind: /served as an Express\/Connect app$/ },
  'typed-tsgi': { doc: 'TypeScript TSGI app (tsx)', module: 'examples/typed-tsgi/app.ts', processes: 2, nodeArgs: TSX, kind: /served as a TSGI app$/ },
  'typed-hono': {
    doc: 'TypeScript Hono app (tsx)',
    module: 'examples/typed-hono/app.ts',
    processes: 1,
    nodeArgs: TSX,
    kind: /served as a fetch handler \(\{ fetch \}\)$/,
  },
} as const satisfies Record<string, { doc: string; module: string; processes: number; nodeArgs?: string; kind: RegExp }>;
type Name = keyof typeof APPS;

interface Running {
  tsgi: Tsgi;
  http: string;
  nginx?: Nginx;
}
const running = new Map<Name, Running>();

/** Starts `name`'s tsgi (and nginx in front); afterAll stops what started. */
async function start(name: Name): Promise<void> {
  const app: { module: string; processes: number; nodeArgs?: string } = APPS[name];
  const [http, uwsgi] = [`127.0.0.1:${await freePort()}`, `127.0.0.1:${await freePort()}`];
  const args = [app.module, '--http-socket', http, '--socket', uwsgi, '--processes', String(app.processes)];
  const tsgi = await startTsgi(app.nodeArgs ? [...args, '--node-args', app.nodeArgs] : args);
  const started: Running = { tsgi, http };
  running.set(name, started);
  if (hasNginx) started.nginx = await startNginx({ locations: [{ path: '/', uwsgiPass: uwsgi }] });
}

beforeAll(async () => {
  const started = Date.now();
  const built = await buildFrameworkApps();
  console.log(`framework apps: ${built.length ? `built ${built.join(', ')}` : 'builds up to date'} (${Date.now() - started} ms)`);
  // Started two at a time: the machine has few cores, and Next.js's workers load a lot.
  const names = Object.keys(APPS) as Name[];
  for (let i = 0; i < names.length; i += 2) await Promise.all(names.slice(i, i + 2).map(start));
}, 240_000);

afterAll(async () => {
  for (const { tsgi, nginx } of running.values()) {
    await nginx?.stop();
    tsgi.child.kill('SIGTERM');
  }
  await Promise.all([...running.values()].map(({ tsgi }) => tsgi.exited));
});

const transports = [
  { name: 'the HTTP listener (--http-socket)', skip: false, proxied: false, url: (app: Name, p: string) => `http://${running.get(app)!.http}${p}` },
  {
    name: `nginx (${nginxVersionText ?? 'not installed'}) uwsgi_pass`,
    skip: !hasNginx,
    proxied: true,
    url: (app: Name, p: string) => running.get(app)!.nginx!.url(p),
  },
];

const json = (reply: Reply) => JSON.parse(reply.body.toString()) as unknown;

/** When the piece of `reply`'s body that holds byte `offset` arrived. */
function arrivedAt(reply: Reply, offset: number): number {
  let received = 0;
  const piece = reply.pieces.find((p) => (received += p.size) > offset);
  if (!piece) throw new Error(`the body has no byte ${offset} (${received} bytes)`);
  return piece.at;
}

/** Server-sent events as they arrived: each event's fields, and when its blank line came.
 * Blank lines between events (Nest starts its stream with one) are no events. */
function sseEvents(reply: Reply): Array<{ fields: Record<string, string>; at: number }> {
  const events: Array<{ fields: Record<string, string>; at: number }> = [];
  let end = 0;
  for (const block of reply.body.toString().split('\n\n').slice(0, -1)) {
    end += Buffer.byteLength(block) + 2;
    const lines = block.split('\n').filter((line) => line.includes(':'));
    if (lines.length === 0) continue;
    const fields = Object.fromEntries(lines.map((line) => [line.slice(0, line.indexOf(':')), line.slice(line.indexOf(':') + 1).trim()]));
    events.push({ fields, at: arrivedAt(reply, end - 1) });
  }
  return events;
}

/**
 * The events of `reply` came as the app sent them: `count` of them, in order, each within
 * a short time of when the app wrote it (its `sentAt`), spread over the time the app took.
 */
function expectLiveEvents(reply: Reply, count: number, intervalMs: number): void {
  expect(reply.status).toBe(200);
  expect(reply.headers['content-type']).toMatch(/^text\/event-stream/);
  const events = sseEvents(reply);
  expect(events.map((e) => e.fields.id)).toEqual(Array.from({ length: count }, (_, i) => String(i)));
  for (const { fields, at } of events) {
    expect(fields.event).toBe('tick');
    const { sentAt } = JSON.parse(fields.data!) as { sentAt: number };
    // Passed on when written: a buffered stream would hold the early events to the end.
    expect(at - sentAt).toBeLessThan(intervalMs);
  }
  expect(events.at(-1)!.at - events[0]!.at).toBeGreaterThanOrEqual((count - 1) * intervalMs * 0.8);
}

describe('the framework matrix starts', () => {
  it.each(Object.keys(APPS) as Name[])('%s: recognised as its kind, with its workers', async (name) => {
    const { tsgi } = running.get(name)!;
    await tsgi.line(APPS[name].kind);
    expect(tsgi.workers()).toHaveLength(APPS[name].processes);
  });

  it("docs/frameworks.md's table has a row for each app, with the workers it runs here", () => {
    const rows = readFileSync('docs/frameworks.md', 'utf8')
      .split('\n')
      .filter((line) => line.startsWith('| '))
      .map((line) => line.split(' | ').map((cell) => cell.replace(/^\| /, '')));
    const documented = Object.values(APPS).map(({ doc }) => rows.find((cells) => cells[0] === doc)?.[3]);
    expect(documented).toEqual(Object.values(APPS).map(({ processes }) => String(processes)));
  });
});

/** What a reply must be: its status, the headers named (a value or a pattern), and its
 * body as text (or a pattern), as JSON, or as bytes (compared by sha256). */
interface Expected {
  status: number;
  headers?: Record<string, string | RegExp>;
  text?: string | RegExp;
  json?: unknown;
  bytes?: Buffer;
}

function expectReply(reply: Reply, expected: Expected): Reply {
  expect(reply.status).toBe(expected.status);
  for (const [name, value] of Object.entries(expected.headers ?? {})) {
    if (typeof value === 'string') expect(reply.headers[name]).toBe(value);
    else expect(reply.headers[name]).toMatch(value);
  }
  if (typeof expected.text === 'string') expect(reply.body.toString()).toBe(expected.text);
  else if (expected.text) expect(reply.body.toString()).toMatch(expected.text);
  if (expected.json !== undefined) expect(json(reply)).toEqual(expected.json);
  if (expected.bytes) expect(sha256(reply.body)).toBe(sha256(expected.bytes));
  return reply;
}

const JSON_UTF8 = 'application/json; charset=utf-8';

for (const transport of transports) {
  describe.skipIf(transport.skip)(`frameworks through ${transport.name}`, () => {
    const get = (app: Name, p: string, headers?: Record<string, string>) => request(transport.url(app, p), { headers });
    const postJson = (app: Name, p: string, value: unknown) =>
      request(transport.url(app, p), { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: Buffer.from(JSON.stringify(value)) });
    const file = readFileSync(STATIC_FILE);
    const built = (asset: string) => readFileSync(path.join(NEXT_APP, '.next', asset.slice('/_next/'.length)));

    it('Express: a route, express.static, a JSON round trip, its 404', async () => {
      expectReply(await get('express', '/express/hello?name=matrix'), {
        status: 200,
        headers: { 'x-powered-by': 'Express' },
        text: 'Hello matrix from 127.0.0.1 over http',
      });
      expectReply(await get('express', '/express/static/hello.txt'), {
        status: 200,
        headers: { 'content-type': 'text/plain; charset=utf-8', 'content-length': String(file.length), etag: /^W\/"/ },
        bytes: file,
      });
      expectReply(await postJson('express', '/express/json', { list: [1, 'two'], nested: { é: true } }), {
        status: 201,
        json: { received: { list: [1, 'two'], nested: { é: true } }, type: 'application/json' },
      });
      expectReply(await get('express', '/express/nope'), { status: 404, text: /Cannot GET \/express\/nope/ });
    });

    it('Fastify: @fastify/static, a JSON round trip, its 404', async () => {
      expectReply(await get('fastify', '/fastify/static/hello.txt'), {
        status: 200,
        headers: { 'content-type': 'text/plain; charset=utf-8', 'accept-ranges': 'bytes', etag: /^(W\/)?"[^"]+"$/ },
        bytes: file,
      });
      expectReply(await get('fastify', '/fastify/static/hello.txt', { Range: 'bytes=0-4' }), { status: 206, bytes: file.subarray(0, 5) });
      expectReply(await postJson('fastify', '/fastify/echo', { a: [1, 2], b: null }), {
        status: 201,
        headers: { 'content-type': JSON_UTF8 },
        json: { received: { a: [1, 2], b: null }, pid: expect.any(Number) },
      });
      expectReply(await get('fastify', '/fastify/nope'), {
        status: 404,
        json: { message: 'Route GET:/fastify/nope not found', error: 'Not Found', statusCode: 404 },
      });
    });

    it('Koa: middleware around a route, a JSON round trip, its 404', async () => {
      expectReply(await get('koa', '/koa/hello?name=matrix'), {
        status: 200,
        headers: { 'x-handled-by': 'koa middleware' },
        text: 'Hello matrix from 127.0.0.1',
      });
      expectReply(await postJson('koa', '/koa/echo', { n: 42, s: 'ünïcode' }), {
        status: 201,
        headers: { 'content-type': JSON_UTF8 },
        json: { received: { n: 42, s: 'ünïcode' }, type: 'application/json' },
      });
      expectReply(await get('koa', '/koa/nope'), { status: 404, text: 'Not Found' });
    });

    it('Hono: a route, a JSON round trip, its 404', async () => {
      expectReply(await get('hono', '/hono/hello?name=matrix'), { status: 200, text: 'Hello matrix' });
      expectReply(await postJson('hono', '/hono/echo', { list: [1, 'two'] }), {
        status: 201,
        headers: { 'content-type': 'application/json' },
        json: { received: { list: [1, 'two'] } },
      });
      expectReply(await get('hono', '/hono/nope'), { status: 404, text: '404 Not Found' });
    });

    it('NestJS: a controller with an injected service, a StreamableFile, @Sse events as sent, a JSON round trip, its 400 and 404', async () => {
      expectReply(await get('nest', '/nest/hello?name=matrix'), {
        status: 200,
        headers: { 'x-framework': 'NestJS', 'x-powered-by': 'Express', 'content-type': JSON_UTF8 },
        json: { greeting: 'Hello matrix from NestJS' },
      });
      expectReply(await get('nest', '/nest/file'), { status: 200, headers: { 'content-type': 'text/plain; charset=utf-8' }, bytes: file });
      expectLiveEvents(await get('nest', '/nest/events'), 4, 250);
      expectReply(await postJson('nest', '/nest/items', { name: 'cup', tags: ['a', 'b'] }), {
        status: 201,
        json: { created: { name: 'cup', tags: ['a', 'b'] } },
      });
      expectReply(await postJson('nest', '/nest/items', { tags: [] }), {
        status: 400,
        json: { message: 'name must be a string', error: 'Bad Request', statusCode: 400 },
      });
      expectReply(await get('nest', '/nest/nope'), { status: 404, json: { message: 'Cannot GET /nest/nope', error: 'Not Found', statusCode: 404 } });
    });

    it('Next.js: the prerendered page, its script chunks and public/ file by hash, gzip, route handlers, its 404', async () => {
      const page = expectReply(await get('next', '/'), {
        status: 200,
        headers: { 'x-powered-by': 'Next.js', 'content-type': 'text/html; charset=utf-8' },
        text: /<h1>Hello from Next.js under tsgi<\/h1>/,
      });
      const chunks = [...new Set([...page.body.toString().matchAll(/src="(\/_next\/static\/chunks\/[\w.-]+\.js)"/g)].map((m) => m[1]!))];
      expect(chunks.length).toBeGreaterThan(0);
      for (const chunk of chunks) {
        expectReply(await get('next', chunk), {
          status: 200,
          headers: { 'content-type': /^application\/javascript/, 'cache-control': 'public, max-age=31536000, immutable' },
          bytes: built(chunk),
        });
      }
      // Next.js compresses what the client accepts compressed, writing through res.
      const gzipped = expectReply(await get('next', chunks[0]!, { 'Accept-Encoding': 'gzip' }), { status: 200, headers: { 'content-encoding': 'gzip' } });
      expect(sha256(gunzipSync(gzipped.body))).toBe(sha256(built(chunks[0]!)));
      expectReply(await get('next', '/hello.txt'), { status: 200, bytes: readFileSync(path.join(NEXT_APP, 'public/hello.txt')) });
      expectReply(await get('next', '/api/hello?name=matrix'), {
        status: 200,
        headers: { 'x-route': 'app/api/hello' },
        json: { hello: 'matrix', path: '/api/hello' },
      });
      expectReply(await postJson('next', '/api/echo', { deep: { list: [1, 2, 3] } }), {
        status: 201,
        json: { received: { deep: { list: [1, 2, 3] } }, type: 'application/json' },
      });
      expectReply(await get('next', '/nope'), { status: 404, text: /This page could not be found\./ });
    });

    it('Next.js: a page streamed as it renders, its Suspense fallback at the client before the slow part is made', async () => {
      const reply = expectReply(await get('next', '/streamed'), {
        status: 200,
        headers: { 'content-type': 'text/html; charset=utf-8' },
        text: /<p id="slow">rendered at \d+<\/p>/,
      });
      // Said by next.config.mjs's headers(); nginx takes it for itself.
      expect(reply.headers['x-accel-buffering']).toBe(transport.proxied ? undefined : 'no');
      const renderedAt = Number(/rendered at (\d+)/.exec(reply.body.toString())![1]);
      const arrival = (marker: string) => arrivedAt(reply, reply.body.indexOf(marker));
      // The shell was here before the slow part existed (app/streamed/page.js makes it 500 ms
      // into the render): held back, it would have come with it.
      expect(arrival('id="fallback"')).toBeLessThan(renderedAt);
      expect(arrival('rendered at')).toBeGreaterThanOrEqual(renderedAt);
    });

    it('server-sent events from Express arrive as the app sends them', async () => {
      expectLiveEvents(await get('sse', '/sse/events', { Accept: 'text/event-stream' }), EVENTS, INTERVAL_MS);
    });

    it('the typed TSGI example (TypeScript through tsx): a header read without a cast, a JSON round trip, its 404', async () => {
      expectReply(await get('typed-tsgi', '/', { 'User-Agent': 'matrix-client' }), {
        status: 200,
        headers: { 'content-type': 'application/json' },
        json: { hello: 'typed TSGI', agent: 'matrix-client', path: '/' },
      });
      expectReply(await postJson('typed-tsgi', '/echo', { a: 1, b: ['x'] }), { status: 201, json: { received: { a: 1, b: ['x'] } } });
      expectReply(await get('typed-tsgi', '/nope'), { status: 404, json: { error: 'no GET /nope' } });
    });

    it('the typed Hono example (TypeScript through tsx): a route, a JSON round trip, live events, its 404', async () => {
      expectReply(await get('typed-hono', '/hello?name=matrix', { 'User-Agent': 'matrix-client' }), {
        status: 200,
        json: { hello: 'matrix', agent: 'matrix-client' },
      });
      expectReply(await postJson('typed-hono', '/todos', { title: 'ship', done: 'not a boolean' }), {
        status: 201,
        json: { created: { title: 'ship', done: false } },
      });
      expectLiveEvents(await get('typed-hono', '/events'), 3, 250);
      expectReply(await get('typed-hono', '/nope'), { status: 404, text: '404 Not Found' });
    });
  });
}
