/**
 * A real nginx in front of an in-process tsgi Server speaking FastCGI (`fastcgi_pass`,
 * nginx's own fastcgi_params), over TCP and a Unix socket, with a connection per request
 * and with kept-alive connections (`fastcgi_keep_conn on` + `upstream { keepalive }`),
 * driven with node:http as a browser would drive it. Skips, saying why, when nginx is not
 * installed (CI installs it; with CI=true a missing nginx fails).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Server } from '../../src/server/server.js';
import { validate } from '../../src/app/validate.js';
import { rawHeaderValues, request } from '../helpers/http.js';
import { announceNginx, hasNginx, nginxVersionText, startNginx, type Nginx } from '../helpers/nginx.js';
import { createProxyApp, json, waitFor } from '../helpers/proxy-apps.js';
import { describeProxyBehaviour, showLogsOnFailure } from '../helpers/proxy-behaviour.js';

announceNginx();

// ---- the app --------------------------------------------------------------------------

const proxied = createProxyApp({
  echoed: [
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
  ],
  echoBody: true,
  routes: {
    '/errors': async (environ, start, q) => {
      environ['tsgi.errors'].write(`stderr marker ${q.get('id')}`);
      return json(start, { ok: true });
    },
  },
});
const app = proxied.app;

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

  showLogsOnFailure([{ label: 'nginx error.log', text: () => nginx.errorLog() }], () => `--- config: ${nginx.conf} ---`);

  for (const { via, what } of VIAS) {
    describe(`over ${what} (/${via}/)`, () => {
      describeProxyBehaviour(
        { url: (p) => nginx.url(p), server: () => server, proxied },
        {
          echo: {
            vias: [via],
            expected: (via) => ({
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
            }),
          },
          post: { vias: [via], size: 10 * 1024 * 1024 },
          stream: { vias: [via] },
          big: {
            cases: [
              ['big', via],
              ['big-stream', via],
            ],
          },
          fails: { routes: ['throw', 'reject', 'throw-in-body'], vias: [via], after: (via) => `/${via}/ok?i=after`, afterBody: 'ok after' },
          disconnect: { vias: [via] },
        },
      );

      it('POST with a small body: CONTENT_TYPE and CONTENT_LENGTH, no HTTP_CONTENT_*', async () => {
        const reply = await request(nginx.url(`/${via}/echo`), {
          method: 'POST',
          headers: { 'Content-Type': 'text/plain; charset=utf-8' },
          body: Buffer.from('hello'),
        });
        expect(reply.status).toBe(200);
        const environ = JSON.parse(reply.body.toString());
        expect(environ).toMatchObject({ REQUEST_METHOD: 'POST', CONTENT_TYPE: 'text/plain; charset=utf-8', CONTENT_LENGTH: '5', body: 'hello' });
        expect(environ).not.toHaveProperty('HTTP_CONTENT_TYPE');
        expect(environ).not.toHaveProperty('HTTP_CONTENT_LENGTH');
      });

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

      it("tsgi.errors goes to nginx's error log (FastCGI STDERR)", async () => {
        const id = `${via}-${randomBytes(4).toString('hex')}`;
        const reply = await request(nginx.url(`/${via}/errors?id=${id}`));
        expect(reply.status).toBe(200);
        // nginx logs a STDERR record when it reads it, before it passes the response on.
        expect(nginx.errorLog()).toMatch(new RegExp(`FastCGI sent in stderr: "stderr marker ${id}"`));
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
    expect(JSON.parse(reply.body.toString())).toMatchObject({
      SCRIPT_NAME: '/mounted',
      PATH_INFO: '/echo',
      QUERY_STRING: 'm=1',
      REQUEST_URI: '/mounted/echo?m=1',
    });
  });

  describeProxyBehaviour(
    { url: (p) => nginx.url(p), server: () => server, proxied },
    { concurrent: { vias: VIAS.map(({ via }) => via), name: 'serves 500 concurrent requests, none lost' } },
  );

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
