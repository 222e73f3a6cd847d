/**
 * A real nginx in front of an in-process tsgi Server, over TCP and a Unix socket
 * (`uwsgi_pass`), driven with node:http as a browser would drive it. Skips, saying why,
 * when nginx is not installed (CI installs it; with CI=true a missing nginx fails).
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

announceNginx();

const proxied = createProxyApp({ echoed: ['PATH_INFO', 'QUERY_STRING', 'REQUEST_METHOD', 'HTTP_HOST', 'HTTP_X_FOO', 'HTTP_COOKIE'] });

// ---- the tests ---------------------------------------------------------------------------

describe.skipIf(!hasNginx)(`nginx (${nginxVersionText ?? 'not installed'}) in front of tsgi, uwsgi_pass`, () => {
  let server: Server;
  let nginx: Nginx;
  let dir: string;
  let tcpAddress: string;
  let unixAddress: string;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'tsgi-nginx-test-'));
    server = new Server(proxied.app);
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

  showLogsOnFailure([{ label: 'nginx error.log', text: () => nginx.errorLog() }], () => `--- config: ${nginx.conf} ---`);

  describeProxyBehaviour(
    { url: (p) => nginx.url(p), server: () => server, proxied },
    {
      echo: {
        vias: ['tcp', 'unix'],
        headers: { Host: 'example.test' },
        expected: (via) => ({ PATH_INFO: `/${via}/echo`, QUERY_STRING: 'x=1&y=a%20b', REQUEST_METHOD: 'GET', HTTP_HOST: 'example.test' }),
      },
      post: { vias: ['tcp', 'unix', 'unbuffered'], size: 10 * 1024 * 1024, contentLength: true },
      stream: { vias: ['tcp'] },
      big: {
        cases: [
          ['big', 'tcp'],
          ['big-stream', 'tcp'],
          ['big', 'unix'],
          ['big-stream', 'unbuffered'],
        ],
        contentLength: true,
      },
      fails: { routes: ['throw', 'reject', 'throw-in-body'], vias: ['tcp'] },
      failsMidBody: { vias: ['tcp'] },
      disconnect: { vias: ['tcp'] },
      concurrent: { vias: ['tcp', 'unix'], name: 'serves 500 concurrent requests through nginx, none lost' },
    },
  );

  it('POST of 10 MiB with a chunked request body (nginx buffers it and sends CONTENT_LENGTH)', async () => {
    const body = randomBytes(10 * 1024 * 1024);
    const pieces = Array.from({ length: 10 }, (_, i) => body.subarray(i * 1024 * 1024, (i + 1) * 1024 * 1024));
    const reply = await request(nginx.url('/tcp/sha256'), { method: 'POST', headers: { 'Content-Type': 'application/octet-stream' }, body: pieces });
    expect(reply.status).toBe(200);
    expect(JSON.parse(reply.body.toString())).toEqual({ sha256: sha256(body), bytes: body.length, CONTENT_LENGTH: String(body.length) });
  });

  it('streams an async generator through a buffering nginx: every chunk arrives', async () => {
    const reply = await request(nginx.url('/unix/stream?id=buffered-stream&n=5&delay=100&buffering=yes'));
    expect(reply.status).toBe(200);
    expect(reply.body.toString()).toBe('chunk 0\nchunk 1\nchunk 2\nchunk 3\nchunk 4\n');
  });

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
});
