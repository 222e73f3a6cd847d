/**
 * A real nginx in front of the HTTP/1.1 listener (`proxy_pass`): with nginx's defaults
 * (HTTP/1.0 upstream, `Connection: close`, a connection per request), over a Unix socket,
 * with kept-alive upstream connections (`upstream { keepalive }`, `proxy_http_version 1.1`,
 * an empty `Connection`), and with request and response buffering off (the client's
 * chunked upload goes through chunked). Driven with node:http, one fresh client connection
 * per request. Skips, saying why, when nginx is not installed (fails under CI=true).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Server } from '../../src/server/server.js';
import { rawHeaderValues, request } from '../helpers/http.js';
import { announceNginx, hasNginx, nginxVersionText, startNginx, type Nginx } from '../helpers/nginx.js';
import { createProxyApp, sha256 } from '../helpers/proxy-apps.js';
import { describeProxyBehaviour, showLogsOnFailure } from '../helpers/proxy-behaviour.js';
import { captureLogs } from '../helpers/uwsgi.js';

announceNginx();

const proxied = createProxyApp({
  echoed: [
    'REQUEST_METHOD',
    'REQUEST_URI',
    'PATH_INFO',
    'QUERY_STRING',
    'SERVER_PROTOCOL',
    'SERVER_NAME',
    'HTTP_HOST',
    'HTTP_CONNECTION',
    'HTTP_X_FOO',
    'HTTP_COOKIE',
    'CONTENT_LENGTH',
    'HTTP_TRANSFER_ENCODING',
    'REMOTE_ADDR',
  ],
  sha256Keys: ['HTTP_TRANSFER_ENCODING'],
});

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
    server = new Server(proxied.app);
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

  showLogsOnFailure(
    [
      { label: 'nginx error.log', text: () => nginx.errorLog() },
      { label: 'tsgi log', text: () => logs.lines.map((l) => `${l.level}: ${l.line}\n`).join('') },
    ],
    () => `--- config: ${nginx.conf} ---\n${nginx.configText}`,
  );

  it('the generated config: proxy_pass, and for keep-alive an upstream block, HTTP/1.1 and an empty Connection', () => {
    expect(nginx.configText).toContain(`proxy_pass http://unix:${path.join(dir, 'tsgi.sock')}:;`);
    expect(nginx.configText).toMatch(/upstream http_keepalive_2 \{\n\s+server 127\.0\.0\.1:\d+;\n\s+keepalive 16;\n\s+\}/);
    expect(nginx.configText).toMatch(
      /location \/keep\/ \{\n\s+proxy_http_version 1\.1;\n\s+proxy_set_header Connection "";\n\s+proxy_pass http:\/\/http_keepalive_2;\n\s+\}/,
    );
  });

  describeProxyBehaviour(
    { url: (p) => nginx.url(p), server: () => server, proxied },
    {
      echo: {
        vias: Object.keys(VIA),
        name: (via) => `GET with a query string via ${via}: the environ (${VIA[via as Via].protocol} upstream)`,
        expected: (via) => ({
          REQUEST_METHOD: 'GET',
          REQUEST_URI: `/${via}/echo?x=1&y=a%20b`,
          PATH_INFO: `/${via}/echo`,
          QUERY_STRING: 'x=1&y=a%20b',
          SERVER_PROTOCOL: VIA[via as Via].protocol,
          HTTP_X_FOO: 'bar',
        }),
        check: (environ, via) => {
          // nginx sends its proxy_host as Host (the upstream's name or address), and
          // `Connection: close` unless told otherwise.
          if (VIA[via as Via].keepalive) {
            expect(environ.HTTP_HOST).toMatch(/^http_keepalive_\d$/);
            expect(environ.HTTP_CONNECTION).toBeUndefined();
          } else {
            expect(environ.HTTP_CONNECTION).toBe('close');
          }
          if (via !== 'unix') expect(environ.REMOTE_ADDR).toBe('127.0.0.1');
        },
      },
      post: { vias: Object.keys(VIA), size: 10 * 1024 * 1024, contentLength: true, extra: { HTTP_TRANSFER_ENCODING: null } },
      stream: { vias: ['keep', 'plain'] },
      big: {
        cases: [
          ['big', 'keep'],
          ['big-stream', 'keep'],
          ['big', 'plain'],
          ['big-stream', 'plain'],
          ['big', 'unix'],
          ['big-stream', 'unbuffered'],
        ],
        contentLength: true,
      },
      fails: {
        routes: ['throw', 'throw-in-body'],
        vias: ['keep', 'plain'],
        check: (route, via) => expect(logs.find(new RegExp(`^GET /${via}/${route}: app error: Error: boom`))).toBeDefined(),
        after: (via) => `/${via}/echo?after=1`,
      },
      failsMidBody: { vias: ['keep', 'plain'] },
      disconnect: { vias: ['unbuffered', 'plain'] },
      concurrent: {
        vias: ['keep', 'plain', 'unix', 'unbuffered'],
        name: '500 concurrent requests through nginx (kept-alive and per-request upstreams), none lost',
      },
    },
  );

  it('a chunked 10 MiB upload: buffered, nginx sends Content-Length; unbuffered, it goes through chunked', async () => {
    const body = randomBytes(10 * 1024 * 1024);
    const pieces = Array.from({ length: 10 }, (_, i) => body.subarray(i * 1024 * 1024, (i + 1) * 1024 * 1024));
    const buffered = await request(nginx.url('/keep/sha256'), { method: 'POST', body: pieces });
    expect(JSON.parse(buffered.body.toString())).toEqual({
      sha256: sha256(body),
      bytes: body.length,
      CONTENT_LENGTH: String(body.length),
      HTTP_TRANSFER_ENCODING: null,
    });
    const unbuffered = await request(nginx.url('/unbuffered/sha256'), { method: 'POST', body: pieces });
    expect(JSON.parse(unbuffered.body.toString())).toEqual({
      sha256: sha256(body),
      bytes: body.length,
      CONTENT_LENGTH: null,
      HTTP_TRANSFER_ENCODING: 'chunked',
    });
  });

  it("repeated response headers stay separate (two Set-Cookie); tsgi's Server header is replaced by nginx's", async () => {
    const reply = await request(nginx.url('/keep/cookies'));
    expect(rawHeaderValues(reply, 'Set-Cookie')).toEqual(['a=1; Path=/', 'b=2; Path=/; HttpOnly']);
    expect(rawHeaderValues(reply, 'Server')).toHaveLength(1);
    expect(rawHeaderValues(reply, 'Server')[0]).toMatch(/^nginx/);
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
