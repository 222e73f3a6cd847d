/**
 * WebSockets through a real nginx, `uwsgi_pass` to tsgi over TCP and a Unix socket, with
 * the `ws` package as the client. nginx passes the client's `Connection` and `Upgrade` on
 * as HTTP_CONNECTION and HTTP_UPGRADE (every request header becomes a var), and switches to
 * a tunnel when the backend answers 101 to a client that sent Upgrade: the location needs
 * nothing but `include uwsgi_params; uwsgi_pass ...;` (nginx 1.22, observed; unlike
 * `proxy_pass`, no header has to be set). Idle tunnels are subject to nginx's
 * `uwsgi_read_timeout` and `uwsgi_send_timeout` (60 s by default), which a long-lived
 * WebSocket may want raised; these tests are far shorter. Skips, saying why, when nginx is
 * not installed (fails under CI=true).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { Server } from '../../src/server/server.js';
import { announceNginx, hasNginx, nginxVersionText, startNginx, type Nginx } from '../helpers/nginx.js';
import { showLogsOnFailure } from '../helpers/proxy-behaviour.js';
import { captureLogs } from '../helpers/uwsgi.js';
import { websocketEchoApp, type EchoSeen } from '../helpers/websocket.js';

announceNginx();

/** What one client conversation got: the messages in order, and the close code. */
interface Conversation {
  messages: Array<string | Buffer>;
  code: number;
}

/** Opens a WebSocket to `url`, sends `messages` one after another once open, and closes with
 * 1000 once as many came back. */
function converse(url: string, messages: Array<string | Buffer>): Promise<Conversation> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    const got: Array<string | Buffer> = [];
    ws.on('open', () => {
      for (const message of messages) ws.send(message);
    });
    ws.on('message', (data, isBinary) => {
      got.push(isBinary ? Buffer.from(data as Buffer) : String(data));
      if (got.length === messages.length) ws.close(1000);
    });
    ws.on('close', (code) => resolve({ messages: got, code }));
    ws.on('unexpected-response', (_request, response) => reject(new Error(`no upgrade: ${response.statusCode}`)));
    ws.on('error', reject);
  });
}

describe.skipIf(!hasNginx)(`nginx (${nginxVersionText ?? 'not installed'}) in front of tsgi, WebSockets over uwsgi_pass`, () => {
  const seen: EchoSeen = {};
  const logs = captureLogs();
  let server: Server;
  let nginx: Nginx;
  let dir: string;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'tsgi-nginx-ws-test-'));
    server = new Server(websocketEchoApp(seen));
    const tcp = server.listen('127.0.0.1:0');
    const unix = server.listen(path.join(dir, 'tsgi.sock'), { mode: 0o666 });
    // Nothing but uwsgi_params and uwsgi_pass: that is all nginx needs to tunnel.
    nginx = await startNginx({
      locations: [
        { path: '/tcp/', uwsgiPass: tcp },
        { path: '/unix/', uwsgiPass: `unix:${unix}` },
      ],
    });
  });

  afterAll(async () => {
    await nginx?.stop();
    server?.close();
    logs.restore();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  showLogsOnFailure(
    [
      { label: 'nginx error.log', text: () => nginx.errorLog() },
      { label: 'tsgi log', text: () => logs.text() },
    ],
    () => `--- config: ${nginx.conf} ---`,
  );

  const ws = (p: string): string => nginx.url(p).replace(/^http:/, 'ws:');

  it.each(['tcp', 'unix'])('over %s: text messages echoed in order, a 1 MiB binary one, a close with 1000', async (via) => {
    const big = randomBytes(1 << 20);
    const texts = Array.from({ length: 10 }, (_, i) => `message ${i}: ${'é'.repeat(i * 50)}`);
    const { messages, code } = await converse(ws(`/${via}/chat?room=${via}`), [...texts, big, 'after the big one']);
    expect(code).toBe(1000);
    expect(messages.slice(0, 10)).toEqual(texts);
    expect(Buffer.isBuffer(messages[10]) && messages[10].equals(big)).toBe(true);
    expect(messages[11]).toBe('after the big one');
    // The handshake as nginx passed it on.
    expect(seen.environ).toMatchObject({
      REQUEST_METHOD: 'GET',
      PATH_INFO: `/${via}/chat`,
      QUERY_STRING: `room=${via}`,
      SERVER_PROTOCOL: 'HTTP/1.1',
      HTTP_CONNECTION: 'Upgrade',
      HTTP_UPGRADE: 'websocket',
      HTTP_SEC_WEBSOCKET_VERSION: '13',
    });
    expect(nginx.accessLog()).toMatch(new RegExp(`"GET /${via}/chat\\?room=${via} HTTP/1\\.1" 101 `));
  });

  it('several WebSockets at once, each its own tunnel', async () => {
    const conversations = await Promise.all(
      Array.from({ length: 8 }, (_, i) => converse(ws(i % 2 ? '/unix/many' : '/tcp/many'), [`a${i}`, `b${i}`, randomBytes(1000 * i), `c${i}`])),
    );
    conversations.forEach(({ messages, code }, i) => {
      expect(code).toBe(1000);
      expect([messages[0], messages[1], messages[3]]).toEqual([`a${i}`, `b${i}`, `c${i}`]);
      expect((messages[2] as Buffer).length).toBe(1000 * i);
    });
  });
});
