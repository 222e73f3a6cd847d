/**
 * The framework matrix: a real app of each framework, run by the real CLI (master and
 * workers, as users run it) with no --adapter, and driven over tsgi's own HTTP listener
 * (--http-socket) and through a real nginx (uwsgi_pass to --socket): Express, Fastify with
 * @fastify/static, Koa, Hono, NestJS (compiled by tsc), a built Next.js app (its custom
 * server handler, `app.getRequestHandler()`), server-sent events from Express, and the two
 * typed examples (examples/typed-*) run as TypeScript through tsx. Each test asserts what a
 * client sees: status, headers, bodies, a static file's hash, a JSON body round trip, the
 * framework's own 404. The Next.js and NestJS apps are built once, first
 * (helpers/framework-builds.ts). nginx tests skip, saying why, when nginx is missing (and
 * fail under CI=true).
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

/** Each app: its module, its workers, Node flags, and what the start-up log must call it. */
const APPS = {
  express: { module: '__test__/fixtures/express-app.mjs', processes: 2, kind: /served as a Express\/Connect app$/ },
  fastify: { module: '__test__/fixtures/frameworks/fastify-static-app.mjs', processes: 1, kind: /served as a Fastify app$/ },
  koa: { module: '__test__/fixtures/koa-app.mjs', processes: 2, kind: /served as a Koa app$/ },
  hono: { module: '__test__/fixtures/hono-app.mjs', processes: 1, kind: /served as a fetch handler \(\{ fetch \}\)$/ },
  nest: { module: path.join(NEST_APP, 'dist/main.js'), processes: 2, kind: /served as a Express\/Connect app$/ },
  next: { module: path.join(NEXT_APP, 'server.mjs'), processes: 2, kind: /served as a Node handler \(its parameters are \(req, res\)/ },
  sse: { module: '__test__/fixtures/frameworks/sse-app.mjs', processes: 1, kind: /served as a Express\/Connect app$/ },
  'typed-tsgi': { module: 'examples/typed-tsgi/app.ts', processes: 2, nodeArgs: TSX, kind: /served as a TSGI app$/ },
  'typed-hono': { module: 'examples/typed-hono/app.ts', processes: 1, nodeArgs: TSX, kind: /served as a fetch handler \(\{ fetch \}\)$/ },
} as const satisfies Record<string, { module: string; processes: number; nodeArgs?: string; kind: RegExp }>;
type Name = keyof typeof APPS;

interface Running {
  tsgi: Tsgi;
  http: string;
  nginx?: Nginx;
}
const running = new Map<Name, Running>();

async function start(name: Name): Promise<Running> {
  const app: { module: string; processes: number; nodeArgs?: string; kind: RegExp } = APPS[name];
  const [http, uwsgi] = [`127.0.0.1:${await freePort()}`, `127.0.0.1:${await freePort()}`];
  const args = [app.module, '--http-socket', http, '--socket', uwsgi, '--processes', String(app.processes)];
  const tsgi = await startTsgi(app.nodeArgs ? [...args, '--node-args', app.nodeArgs] : args);
  const nginx = hasNginx ? await startNginx({ locations: [{ path: '/', uwsgiPass: uwsgi }] }) : undefined;
  return { tsgi, http, nginx };
}

beforeAll(async () => {
  const started = Date.now();
  const built = await buildFrameworkApps();
  console.log(`framework apps: ${built.length ? `built ${built.join(', ')}` : 'builds up to date'} (${Date.now() - started} ms)`);
  // Started two at a time: the machine has few cores, and Next.js's workers load a lot.
  const names = Object.keys(APPS) as Name[];
  for (let i = 0; i < names.length; i += 2) {
    const pair = names.slice(i, i + 2);
    const apps = await Promise.all(pair.map(start));
    pair.forEach((name, j) => running.set(name, apps[j]!));
  }
}, 240_000);

afterAll(async () => {
  for (const { tsgi, nginx } of running.values()) {
    await nginx?.stop();
    tsgi.child.kill('SIGTERM');
  }
  await Promise.all([...running.values()].map(({ tsgi }) => tsgi.exited));
});

const transports = [
  { name: 'the HTTP listener (--http-socket)', skip: false, url: (app: Name, p: string) => `http://${running.get(app)!.http}${p}` },
  { name: `nginx (${nginxVersionText ?? 'not installed'}) uwsgi_pass`, skip: !hasNginx, url: (app: Name, p: string) => running.get(app)!.nginx!.url(p) },
];

const json = (reply: Reply) => JSON.parse(reply.body.toString()) as unknown;

/** Server-sent events as they arrived: each event's fields, and when its blank line came. */
function sseEvents(reply: Reply): Array<{ fields: Record<string, string>; at: number }> {
  const events: Array<{ fields: Record<string, string>; at: number }> = [];
  const text = reply.body.toString();
  let end = 0;
  for (const block of text.split('\n\n').slice(0, -1)) {
    end += Buffer.byteLength(block) + 2;
    let received = 0;
    const piece = reply.pieces.find((p) => (received += p.size) >= end)!;
    const fields = Object.fromEntries(block.split('\n').map((line) => [line.slice(0, line.indexOf(':')), line.slice(line.indexOf(':') + 1).trim()]));
    events.push({ fields, at: piece.at });
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
});

for (const transport of transports) {
  describe.skipIf(transport.skip)(`frameworks through ${transport.name}`, () => {
    const get = (app: Name, p: string, headers?: Record<string, string>) => request(transport.url(app, p), { headers });
    const postJson = (app: Name, p: string, value: unknown) =>
      request(transport.url(app, p), { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: Buffer.from(JSON.stringify(value)) });
    const file = readFileSync(STATIC_FILE);

    it('Express: a route, express.static, a JSON round trip, its 404', async () => {
      const hello = await get('express', '/express/hello?name=matrix');
      expect(hello.status).toBe(200);
      expect(hello.headers['x-powered-by']).toBe('Express');
      expect(hello.body.toString()).toBe('Hello matrix from 127.0.0.1 over http');
      const served = await get('express', '/express/static/hello.txt');
      expect(served.status).toBe(200);
      expect(served.headers['content-type']).toBe('text/plain; charset=utf-8');
      expect(served.headers['content-length']).toBe(String(file.length));
      expect(served.headers['etag']).toMatch(/^W\/"/);
      expect(sha256(served.body)).toBe(sha256(file));
      const echoed = await postJson('express', '/express/json', { list: [1, 'two'], nested: { é: true } });
      expect(echoed.status).toBe(201);
      expect(json(echoed)).toEqual({ received: { list: [1, 'two'], nested: { é: true } }, type: 'application/json' });
      const missing = await get('express', '/express/nope');
      expect(missing.status).toBe(404);
      expect(missing.body.toString()).toContain('Cannot GET /express/nope');
    });

    it('Fastify: @fastify/static, a JSON round trip, its 404', async () => {
      const served = await get('fastify', '/fastify/static/hello.txt');
      expect(served.status).toBe(200);
      expect(served.headers['content-type']).toBe('text/plain; charset=utf-8');
      expect(served.headers['accept-ranges']).toBe('bytes');
      expect(served.headers['etag']).toBeDefined();
      expect(sha256(served.body)).toBe(sha256(file));
      const ranged = await get('fastify', '/fastify/static/hello.txt', { Range: 'bytes=0-4' });
      expect(ranged.status).toBe(206);
      expect(ranged.body.equals(file.subarray(0, 5))).toBe(true);
      const echoed = await postJson('fastify', '/fastify/echo', { a: [1, 2], b: null });
      expect(echoed.status).toBe(201);
      expect(echoed.headers['content-type']).toBe('application/json; charset=utf-8');
      expect(json(echoed)).toMatchObject({ received: { a: [1, 2], b: null } });
      const missing = await get('fastify', '/fastify/nope');
      expect(missing.status).toBe(404);
      expect(json(missing)).toEqual({ message: 'Route GET:/fastify/nope not found', error: 'Not Found', statusCode: 404 });
    });

    it('Koa: middleware around a route, a JSON round trip, its 404', async () => {
      const hello = await get('koa', '/koa/hello?name=matrix');
      expect(hello.status).toBe(200);
      expect(hello.headers['x-handled-by']).toBe('koa middleware');
      expect(hello.body.toString()).toBe('Hello matrix from 127.0.0.1');
      const echoed = await postJson('koa', '/koa/echo', { n: 42, s: 'ünïcode' });
      expect(echoed.status).toBe(201);
      expect(echoed.headers['content-type']).toBe('application/json; charset=utf-8');
      expect(json(echoed)).toEqual({ received: { n: 42, s: 'ünïcode' }, type: 'application/json' });
      const missing = await get('koa', '/koa/nope');
      expect(missing.status).toBe(404);
      expect(missing.body.toString()).toBe('Not Found');
    });

    it('Hono: a route, a JSON round trip, its 404', async () => {
      const hello = await get('hono', '/hono/hello?name=matrix');
      expect(hello.status).toBe(200);
      expect(hello.body.toString()).toBe('Hello matrix');
      const echoed = await postJson('hono', '/hono/echo', { list: [1, 'two'] });
      expect(echoed.status).toBe(201);
      expect(echoed.headers['content-type']).toBe('application/json');
      expect(json(echoed)).toEqual({ received: { list: [1, 'two'] } });
      const missing = await get('hono', '/hono/nope');
      expect(missing.status).toBe(404);
      expect(missing.body.toString()).toBe('404 Not Found');
    });

    it('NestJS: a controller with an injected service, a JSON round trip, its 400 and 404', async () => {
      const hello = await get('nest', '/nest/hello?name=matrix');
      expect(hello.status).toBe(200);
      expect(hello.headers['x-framework']).toBe('NestJS');
      expect(hello.headers['x-powered-by']).toBe('Express');
      expect(hello.headers['content-type']).toBe('application/json; charset=utf-8');
      expect(json(hello)).toEqual({ greeting: 'Hello matrix from NestJS' });
      const streamed = await get('nest', '/nest/file');
      expect(streamed.status).toBe(200);
      expect(streamed.headers['content-type']).toBe('text/plain; charset=utf-8');
      expect(sha256(streamed.body)).toBe(sha256(file));
      const created = await postJson('nest', '/nest/items', { name: 'cup', tags: ['a', 'b'] });
      expect(created.status).toBe(201);
      expect(json(created)).toEqual({ created: { name: 'cup', tags: ['a', 'b'] } });
      const refused = await postJson('nest', '/nest/items', { tags: [] });
      expect(refused.status).toBe(400);
      expect(json(refused)).toEqual({ message: 'name must be a string', error: 'Bad Request', statusCode: 400 });
      const missing = await get('nest', '/nest/nope');
      expect(missing.status).toBe(404);
      expect(json(missing)).toEqual({ message: 'Cannot GET /nest/nope', error: 'Not Found', statusCode: 404 });
    });

    it('Next.js: the prerendered page, its script chunks and public/ file by hash, route handlers, its 404', async () => {
      const page = await get('next', '/');
      expect(page.status).toBe(200);
      expect(page.headers['x-powered-by']).toBe('Next.js');
      expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
      const html = page.body.toString();
      expect(html).toContain('<h1>Hello from Next.js under tsgi</h1>');
      const chunks = [...new Set([...html.matchAll(/src="(\/_next\/static\/chunks\/[\w.-]+\.js)"/g)].map((m) => m[1]!))];
      expect(chunks.length).toBeGreaterThan(0);
      for (const chunk of chunks) {
        const asset = await get('next', chunk);
        expect(asset.status).toBe(200);
        expect(asset.headers['content-type']).toMatch(/^application\/javascript/);
        expect(asset.headers['cache-control']).toBe('public, max-age=31536000, immutable');
        expect(sha256(asset.body)).toBe(sha256(readFileSync(path.join(NEXT_APP, '.next', chunk.slice('/_next/'.length)))));
      }
      // Next.js compresses what the client accepts compressed, writing through res.
      const gzipped = await get('next', chunks[0]!, { 'Accept-Encoding': 'gzip' });
      expect(gzipped.headers['content-encoding']).toBe('gzip');
      expect(sha256(gunzipSync(gzipped.body))).toBe(sha256(readFileSync(path.join(NEXT_APP, '.next', chunks[0]!.slice('/_next/'.length)))));
      const publicFile = await get('next', '/hello.txt');
      expect(publicFile.status).toBe(200);
      expect(sha256(publicFile.body)).toBe(sha256(readFileSync(path.join(NEXT_APP, 'public/hello.txt'))));
      const hello = await get('next', '/api/hello?name=matrix');
      expect(hello.status).toBe(200);
      expect(hello.headers['x-route']).toBe('app/api/hello');
      expect(json(hello)).toEqual({ hello: 'matrix', path: '/api/hello' });
      const echoed = await postJson('next', '/api/echo', { deep: { list: [1, 2, 3] } });
      expect(echoed.status).toBe(201);
      expect(json(echoed)).toEqual({ received: { deep: { list: [1, 2, 3] } }, type: 'application/json' });
      const missing = await get('next', '/nope');
      expect(missing.status).toBe(404);
      expect(missing.body.toString()).toContain('This page could not be found.');
    });

    it('server-sent events from Express arrive as the app sends them', async () => {
      expectLiveEvents(await get('sse', '/sse/events', { Accept: 'text/event-stream' }), EVENTS, INTERVAL_MS);
    });

    it('the typed TSGI example (TypeScript through tsx): a header read without a cast, a JSON round trip, its 404', async () => {
      const hello = await get('typed-tsgi', '/', { 'User-Agent': 'matrix-client' });
      expect(hello.status).toBe(200);
      expect(hello.headers['content-type']).toBe('application/json');
      expect(json(hello)).toEqual({ hello: 'typed TSGI', agent: 'matrix-client', path: '/' });
      const echoed = await postJson('typed-tsgi', '/echo', { a: 1, b: ['x'] });
      expect(echoed.status).toBe(201);
      expect(json(echoed)).toEqual({ received: { a: 1, b: ['x'] } });
      const missing = await get('typed-tsgi', '/nope');
      expect(missing.status).toBe(404);
      expect(json(missing)).toEqual({ error: 'no GET /nope' });
    });

    it('the typed Hono example (TypeScript through tsx): a route, a JSON round trip, live events, its 404', async () => {
      const hello = await get('typed-hono', '/hello?name=matrix', { 'User-Agent': 'matrix-client' });
      expect(hello.status).toBe(200);
      expect(json(hello)).toEqual({ hello: 'matrix', agent: 'matrix-client' });
      const created = await postJson('typed-hono', '/todos', { title: 'ship', done: 'not a boolean' });
      expect(created.status).toBe(201);
      expect(json(created)).toEqual({ created: { title: 'ship', done: false } });
      expectLiveEvents(await get('typed-hono', '/events'), 3, 100);
      const missing = await get('typed-hono', '/nope');
      expect(missing.status).toBe(404);
      expect(missing.body.toString()).toBe('404 Not Found');
    });
  });
}
