/**
 * Real apps from npm, unchanged, served by tsgi: Express, Fastify, Koa, Hono and a plain
 * node:http handler (__test__/fixtures/), each recognised by its shape (as --adapter auto
 * does) and driven through a real nginx (uwsgi_pass) and through tsgi's HTTP listener.
 * Every test asserts what a client sees: status, headers, body. nginx tests skip, saying
 * why, when nginx is missing (and fail under CI=true).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adapt } from '../../src/adapters/detect.js';
import { Server } from '../../src/server/server.js';
import { disconnectAfterFirstPiece, request, type Reply } from '../helpers/http.js';
import { announceNginx, hasNginx, nginxVersionText, startNginx, type Nginx } from '../helpers/nginx.js';
import { sha256, waitFor } from '../helpers/proxy-apps.js';
import expressApp, { STATIC_FILE, slow as expressSlow } from '../fixtures/express-app.mjs';
import fastifyApp from '../fixtures/fastify-app.mjs';
import koaApp from '../fixtures/koa-app.mjs';
import honoApp, { slow as honoSlow } from '../fixtures/hono-app.mjs';
import nodeHandler, { piped } from '../fixtures/node-handler.mjs';

announceNginx();

/** Each app, the adapter --adapter would pick, and what auto-detection must call it. */
const APPS = {
  express: { exported: expressApp, adapter: 'auto', kind: 'Express/Connect app' },
  fastify: { exported: fastifyApp, adapter: 'auto', kind: 'Fastify app' },
  koa: { exported: koaApp, adapter: 'auto', kind: 'Koa app' },
  hono: { exported: honoApp, adapter: 'auto', kind: 'fetch handler ({ fetch })' },
  node: { exported: nodeHandler, adapter: 'node', kind: 'Node handler' },
} as const;
type Framework = keyof typeof APPS;

const servers = new Map<Framework, { server: Server; uwsgi: string; http: string }>();
let nginx: Nginx | undefined;
let dir: string;
let bigFile: Buffer;

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'tsgi-frameworks-'));
  bigFile = randomBytes(8 * 1024 * 1024);
  piped.file = path.join(dir, 'big.bin');
  writeFileSync(piped.file, bigFile);
  for (const [name, { exported, adapter, kind }] of Object.entries(APPS) as Array<[Framework, (typeof APPS)[Framework]]>) {
    const adapted = await adapt(exported, adapter);
    if (typeof adapted === 'string') throw new Error(`${name}: ${adapted}`);
    expect(adapted.kind).toBe(kind);
    const server = new Server(adapted.app);
    servers.set(name, { server, uwsgi: server.listen('127.0.0.1:0'), http: server.listen('127.0.0.1:0', { protocol: 'http' }) });
  }
  if (hasNginx) {
    nginx = await startNginx({ locations: [...servers].map(([name, { uwsgi }]) => ({ path: `/${name}/`, uwsgiPass: uwsgi })) });
  }
});

afterAll(async () => {
  await nginx?.stop();
  for (const { server } of servers.values()) server.close();
  await (fastifyApp as { close(): Promise<void> }).close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const framework = (urlPath: string) => urlPath.split('/')[1] as Framework;

const transports = [
  { name: `nginx (${nginxVersionText ?? 'not installed'}) uwsgi_pass`, skip: !hasNginx, url: (p: string) => nginx!.url(p) },
  { name: 'the HTTP listener (--http-socket)', skip: false, url: (p: string) => `http://${servers.get(framework(p))!.http}${p}` },
];

const json = (reply: Reply) => JSON.parse(reply.body.toString()) as Record<string, unknown>;

for (const transport of transports) {
  describe.skipIf(transport.skip)(`frameworks through ${transport.name}`, () => {
    const url = transport.url;
    const get = (p: string, headers?: Record<string, string>) => request(url(p), { headers });
    const post = (p: string, body: Buffer | string, type: string) =>
      request(url(p), { method: 'POST', headers: { 'Content-Type': type }, body: Buffer.from(body) });

    describe('Express', () => {
      it('routes with a query string; Express sets its headers (ETag, X-Powered-By) and sees the client address', async () => {
        const reply = await get('/express/hello?name=tsgi');
        expect(reply.status).toBe(200);
        expect(reply.body.toString()).toBe('Hello tsgi from 127.0.0.1 over http');
        expect(reply.headers['content-type']).toBe('text/html; charset=utf-8');
        expect(reply.headers['x-powered-by']).toBe('Express');
        expect(reply.headers['etag']).toMatch(/^W\/"/);
        expect(reply.headers['content-length']).toBe(String(reply.body.length));
      });

      it('parses a JSON body with express.json()', async () => {
        const reply = await post('/express/json', JSON.stringify({ a: [1, 2], b: 'é' }), 'application/json');
        expect(reply.status).toBe(201);
        expect(reply.headers['content-type']).toBe('application/json; charset=utf-8');
        expect(json(reply)).toEqual({ received: { a: [1, 2], b: 'é' }, type: 'application/json' });
      });

      it('sends a file with res.sendFile, whole and as a range', async () => {
        const file = readFileSync(STATIC_FILE);
        const reply = await get('/express/file');
        expect(reply.status).toBe(200);
        expect(reply.body.equals(file)).toBe(true);
        expect(reply.headers['content-type']).toBe('text/plain; charset=utf-8');
        expect(reply.headers['content-length']).toBe(String(file.length));
        expect(reply.headers['accept-ranges']).toBe('bytes');
        expect(reply.headers['last-modified']).toBeDefined();
        const range = await get('/express/file', { Range: 'bytes=2-7' });
        expect(range.status).toBe(206);
        expect(range.body.toString()).toBe(file.subarray(2, 8).toString());
        expect(range.headers['content-range']).toBe(`bytes 2-7/${file.length}`);
      });

      it("answers an error through the app's error middleware", async () => {
        const reply = await get('/express/fail');
        expect(reply.status).toBe(500);
        expect(reply.headers['content-type']).toBe('application/json; charset=utf-8');
        expect(json(reply)).toEqual({ error: 'the thing is missing' });
      });

      it('streams res.write() chunks as they are written', async () => {
        const started = Date.now();
        const reply = await get('/express/stream');
        expect(reply.status).toBe(200);
        expect(reply.body.toString()).toBe('chunk 0\nchunk 1\nchunk 2\nchunk 3\nchunk 4\n');
        // Five chunks 100 ms apart: the first arrives long before the last is written.
        expect(reply.pieces.length).toBeGreaterThanOrEqual(3);
        expect(reply.pieces[0]!.at - started).toBeLessThan(300);
      });

      it("gives Express's own 404 for an unknown path", async () => {
        const reply = await get('/express/nope');
        expect(reply.status).toBe(404);
        expect(reply.body.toString()).toContain('Cannot GET /express/nope');
      });

      it('takes a 10 MiB POST through express.raw()', async () => {
        const body = randomBytes(10 * 1024 * 1024);
        const reply = await post('/express/upload', body, 'application/octet-stream');
        expect(reply.status).toBe(200);
        expect(json(reply)).toEqual({ bytes: body.length, sha256: sha256(body) });
      });

      it("a client that disconnects mid-stream: res emits 'close' unfinished, req is aborted, the server goes on", async () => {
        const id = `express-${transport.name.length}-${Date.now()}`;
        const { status, destroyedAt } = await disconnectAfterFirstPiece(url(`/express/slow?id=${id}`));
        expect(status).toBe(200);
        await waitFor(() => expressSlow.get(id)?.closed !== null && expressSlow.get(id) !== undefined, 5_000, "res 'close' in the app");
        const record = expressSlow.get(id)!;
        expect(record.closed).toMatchObject({ finished: false, aborted: true });
        expect(record.closed!.at - destroyedAt).toBeLessThan(5_000);
        await waitFor(() => servers.get('express')!.server.activeRequests === 0, 3_000, 'no active requests');
        expect((await get('/express/hello')).status).toBe(200);
      });
    });

    describe('Fastify', () => {
      it('serves a route with its hooks (onRequest, onSend) and sees the client', async () => {
        const reply = await get('/fastify/hello?name=tsgi');
        expect(reply.status).toBe(200);
        expect(reply.headers['content-type']).toBe('application/json; charset=utf-8');
        expect(reply.headers['x-on-request']).toBe('GET');
        expect(reply.headers['x-on-send']).toBe('string');
        expect(json(reply)).toEqual({ hello: 'tsgi', ip: '127.0.0.1', protocol: 'http' });
      });

      it('validates a JSON body against its schema, and shapes the answer with the response schema', async () => {
        const good = await post('/fastify/sum', JSON.stringify({ a: 2, b: 3 }), 'application/json');
        expect(good.status).toBe(200);
        expect(json(good)).toEqual({ sum: 5 });
        const bad = await post('/fastify/sum', JSON.stringify({ a: 2 }), 'application/json');
        expect(bad.status).toBe(400);
        expect(json(bad)).toMatchObject({ code: 'FST_ERR_VALIDATION', message: "body must have required property 'b'" });
      });

      it("gives Fastify's own 404", async () => {
        const reply = await get('/fastify/nope');
        expect(reply.status).toBe(404);
        expect(json(reply)).toEqual({ message: 'Route GET:/fastify/nope not found', error: 'Not Found', statusCode: 404 });
      });

      it('takes a 10 MiB POST as a Buffer body', async () => {
        const body = randomBytes(10 * 1024 * 1024);
        const reply = await post('/fastify/upload', body, 'application/octet-stream');
        expect(reply.status).toBe(200);
        expect(json(reply)).toEqual({ bytes: body.length, sha256: sha256(body) });
      });
    });

    describe('Koa', () => {
      it('runs middleware around the handler; ctx.body as a string', async () => {
        const reply = await get('/koa/hello?name=tsgi');
        expect(reply.status).toBe(200);
        expect(reply.headers['content-type']).toBe('text/plain; charset=utf-8');
        expect(reply.headers['x-handled-by']).toBe('koa middleware');
        expect(reply.body.toString()).toBe('Hello tsgi from 127.0.0.1');
      });

      it('ctx.body as an object, with content negotiation and the Host header', async () => {
        const reply = await get('/koa/json', { Host: 'example.test', Accept: 'application/json' });
        expect(reply.status).toBe(200);
        expect(reply.headers['content-type']).toBe('application/json; charset=utf-8');
        expect(json(reply)).toEqual({ method: 'GET', host: 'example.test', protocol: 'http', accepts: 'json' });
      });

      it('ctx.body as a stream', async () => {
        const reply = await get('/koa/stream');
        expect(reply.status).toBe(200);
        expect(reply.body.toString()).toBe('one\ntwo\nthree\n');
      });

      it('reads the request body off ctx.req', async () => {
        const body = randomBytes(1024 * 1024 + 17);
        const reply = await post('/koa/upload', body, 'application/octet-stream');
        expect(json(reply)).toEqual({ bytes: body.length, sha256: sha256(body) });
      });

      it("gives Koa's own 404", async () => {
        const reply = await get('/koa/nope');
        expect(reply.status).toBe(404);
        expect(reply.body.toString()).toBe('Not Found');
      });
    });

    describe('Hono', () => {
      it('routes c.text()', async () => {
        const reply = await get('/hono/hello?name=tsgi');
        expect(reply.status).toBe(200);
        // Node's Response default (Hono leaves a plain text body's type to it).
        expect(reply.headers['content-type']).toMatch(/^text\/plain; ?charset=UTF-8$/);
        expect(reply.body.toString()).toBe('Hello tsgi');
      });

      it('c.json() with its own header; the request URL is built from HTTP_HOST and the target', async () => {
        const reply = await get('/hono/json?q=1', { 'User-Agent': 'tsgi-test' });
        expect(reply.status).toBe(200);
        expect(reply.headers['x-custom']).toBe('yes');
        expect(reply.headers['content-type']).toBe('application/json');
        const body = json(reply);
        // Debian's uwsgi_params sends HTTP_HOST as nginx's $host, without the port.
        expect(body.host).toMatch(/^127\.0\.0\.1(:\d+)?$/);
        expect(body).toEqual({ host: body.host, url: `http://${body.host as string}/hono/json?q=1`, method: 'GET', agent: 'tsgi-test' });
        if (transport.name.startsWith('the HTTP')) expect(body.url).toBe(url('/hono/json?q=1'));
      });

      it('reads a JSON body with c.req.json()', async () => {
        const reply = await post('/hono/echo', JSON.stringify({ list: [1, 'two'] }), 'application/json');
        expect(reply.status).toBe(201);
        expect(json(reply)).toEqual({ received: { list: [1, 'two'] } });
      });

      it('streams with streamText()', async () => {
        const started = Date.now();
        const reply = await get('/hono/stream');
        expect(reply.status).toBe(200);
        expect(reply.body.toString()).toBe('chunk 0\nchunk 1\nchunk 2\nchunk 3\nchunk 4\n');
        expect(reply.pieces.length).toBeGreaterThanOrEqual(3);
        expect(reply.pieces[0]!.at - started).toBeLessThan(300);
      });

      it('a client that disconnects mid-stream: the stream is aborted and request.signal fires', async () => {
        const id = `hono-${transport.name.length}-${Date.now()}`;
        const { status } = await disconnectAfterFirstPiece(url(`/hono/slow?id=${id}`));
        expect(status).toBe(200);
        await waitFor(() => Boolean(honoSlow.get(id)?.streamAborted && honoSlow.get(id)?.signalAborted), 5_000, 'the stream abort and the request signal');
        await waitFor(() => servers.get('hono')!.server.activeRequests === 0, 3_000, 'no active requests');
        expect(honoSlow.get(id)!.chunks).toBeLessThan(60);
      });

      it("gives Hono's own 404", async () => {
        const reply = await get('/hono/nope');
        expect(reply.status).toBe(404);
        expect(reply.body.toString()).toBe('404 Not Found');
      });
    });

    describe('a node:http handler', () => {
      it("pipes an 8 MiB file into res, held back by res.write()'s backpressure", async () => {
        const before = piped.sends.length;
        const reply = await get('/node/file');
        expect(reply.status).toBe(200);
        expect(reply.headers['content-type']).toBe('application/octet-stream');
        expect(reply.headers['content-length']).toBe(String(bigFile.length));
        expect(reply.body.length).toBe(bigFile.length);
        expect(sha256(reply.body)).toBe(sha256(bigFile));
        const record = piped.sends[before]!;
        // pipe() waited for 'drain': never more than a few reads (64 KiB each) queued.
        expect(record.mostQueued).toBeLessThan(512 * 1024);
        // res closes; whether before 'finish' or after is the peer's: once it has the
        // declared Content-Length it may hang up before pipe() has called res.end().
        await waitFor(() => record.closed !== null, 3_000, "res 'close'");
      });

      it('answers what the handler answers for anything else', async () => {
        const reply = await get('/node/other');
        expect(reply.status).toBe(404);
        expect(reply.body.toString()).toBe('no /node/other\n');
      });
    });
  });
}
