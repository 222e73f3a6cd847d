/**
 * fromFetch: the Request a fetch handler gets is Node's own where it matters, and the
 * Response it returns is sent as it is: status, headers, body (streamed under
 * backpressure, cancelled when the client leaves). Served on tsgi's HTTP listener.
 */
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { fromFetch, type FetchHandler } from '../../src/adapters/from-fetch.js';
import { request } from '../helpers/http.js';
import { sleep, waitFor } from '../helpers/proxy-apps.js';
import { useTestServers } from '../helpers/servers.js';

const servers = useTestServers();
const serve = (handler: FetchHandler) => `http://${servers.serve(fromFetch(handler), {}, { protocol: 'http' })}`;

describe('fromFetch: the Request', () => {
  it('is a Request with the method, the absolute URL, Headers and a live signal; the environ is env', async () => {
    let seen: Record<string, unknown> = {};
    const base = serve((req, env) => {
      seen = {
        isRequest: req instanceof Request,
        tag: Object.prototype.toString.call(req),
        method: req.method,
        url: req.url,
        isHeaders: req.headers instanceof Headers,
        foo: req.headers.get('x-foo'),
        cookie: req.headers.get('cookie'),
        signal: req.signal instanceof AbortSignal && !req.signal.aborted,
        body: req.body,
        env: env.PATH_INFO,
        ownKeys: Object.keys(req),
      };
      return new Response('ok');
    });
    const reply = await request(`${base}/p%20q?x=1`, { headers: { 'X-Foo': 'bar', Cookie: 'a=1' } });
    expect(reply.status).toBe(200);
    expect(seen).toEqual({
      isRequest: true,
      tag: '[object Request]',
      method: 'GET',
      url: `${base}/p%20q?x=1`,
      isHeaders: true,
      foo: 'bar',
      cookie: 'a=1',
      signal: true,
      body: null,
      env: '/p q',
      ownKeys: [],
    });
  });

  it("reads the body with text() and json(), and works where Node's own code takes a Request (new Request(request), clone())", async () => {
    const base = serve(async (req) => {
      const clone = req.clone();
      const copy = new Request(req);
      const [text, fromClone] = await Promise.all([copy.text(), clone.json()]);
      return Response.json({ text, fromClone, url: copy.url, method: copy.method, type: copy.headers.get('content-type'), used: copy.bodyUsed });
    });
    const reply = await request(`${base}/echo`, { method: 'PUT', headers: { 'Content-Type': 'application/json' }, body: Buffer.from('{"a":[1,2]}') });
    expect(JSON.parse(reply.body.toString())).toEqual({
      text: '{"a":[1,2]}',
      fromClone: { a: [1, 2] },
      url: `${base}/echo`,
      method: 'PUT',
      type: 'application/json',
      used: true,
    });
  });

  it('streams a large body: request.body is read as it arrives', async () => {
    const base = serve(async (req) => {
      let bytes = 0;
      let reads = 0;
      for await (const chunk of req.body!) {
        bytes += chunk.length;
        reads++;
      }
      return Response.json({ bytes, reads });
    });
    const body = Buffer.alloc(4 * 1024 * 1024, 7);
    const reply = await request(`${base}/up`, { method: 'POST', body });
    const result = JSON.parse(reply.body.toString());
    expect(result.bytes).toBe(body.length);
    expect(result.reads).toBeGreaterThan(4);
  });
});

describe('fromFetch: the Response', () => {
  it('status, statusText, every header (repeated Set-Cookie apart) and the body', async () => {
    const base = serve(() => {
      const headers = new Headers({ 'Content-Type': 'text/plain', 'X-One': '1' });
      headers.append('Set-Cookie', 'a=1');
      headers.append('Set-Cookie', 'b=2');
      return new Response('créé', { status: 201, statusText: 'Made It', headers });
    });
    const reply = await request(`${base}/`);
    expect(reply.status).toBe(201);
    expect(reply.headers['x-one']).toBe('1');
    expect(reply.headers['set-cookie']).toEqual(['a=1', 'b=2']);
    expect(reply.headers['content-length']).toBe(String(Buffer.byteLength('créé')));
    expect(reply.body.toString()).toBe('créé');
  });

  it('a null body (204), an async handler, bytes and JSON bodies', async () => {
    const base = serve(async (req) => {
      await sleep(5);
      const path = new URL(req.url).pathname;
      if (path === '/empty') return new Response(null, { status: 204 });
      if (path === '/bytes') return new Response(new Uint8Array([104, 105]));
      return Response.json({ path });
    });
    expect((await request(`${base}/empty`)).status).toBe(204);
    expect((await request(`${base}/bytes`)).body.toString()).toBe('hi');
    const reply = await request(`${base}/other`);
    expect(reply.headers['content-type']).toBe('application/json');
    expect(JSON.parse(reply.body.toString())).toEqual({ path: '/other' });
  });

  it('a handler that throws, rejects, or returns no Response: 500', async () => {
    const base = serve((req) => {
      const path = new URL(req.url).pathname;
      if (path === '/throw') throw new Error('thrown');
      if (path === '/reject') return Promise.reject(new Error('rejected'));
      return 'not a response' as unknown as Response;
    });
    for (const path of ['/throw', '/reject', '/string']) {
      const reply = await request(`${base}${path}`);
      expect(reply.status).toBe(500);
      expect(reply.body.toString()).toBe('Internal Server Error\n');
    }
    expect(servers.logs.text()).toMatch(/must return a Response/);
  });

  it('a streamed body is pulled only as fast as the client reads, and cancelled when it leaves', async () => {
    let pulls = 0;
    let cancelled = false;
    const piece = new Uint8Array(64 * 1024);
    const base = serve(
      () =>
        new Response(
          new ReadableStream({
            pull(controller) {
              pulls++;
              controller.enqueue(piece);
            },
            cancel() {
              cancelled = true;
            },
          }),
        ),
    );
    const socket = net.connect(Number(new URL(base).port), '127.0.0.1');
    socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await new Promise((resolve) => socket.once('data', resolve));
    socket.pause();
    // An endless stream, a client that stopped reading: the pulls stop at the buffers.
    await sleep(300);
    const pausedAt = pulls;
    await sleep(200);
    expect(pulls).toBe(pausedAt);
    expect(pulls * piece.length).toBeLessThan(16 * 1024 * 1024);
    socket.destroy();
    await waitFor(() => cancelled, 3_000, 'the stream cancelled');
    await waitFor(() => servers.started[0]!.activeRequests === 0, 3_000, 'no active requests');
  });
});
