/**
 * WebSockets through a real nginx to an unchanged Node app (an http.Server with `ws`): over
 * the HTTP listener behind `proxy_pass` with the Upgrade headers passed on, the way every
 * nginx WebSocket guide configures it, and over the uwsgi listener behind `uwsgi_pass`
 * (nothing to set); over TCP and over a Unix socket. Skips, saying why, when nginx is not
 * installed (fails under CI=true).
 */
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { adapt } from '../../src/adapters/detect.js';
import { Server } from '../../src/server/server.js';
import { announceNginx, hasNginx, nginxVersionText, startNginx, type Nginx } from '../helpers/nginx.js';

announceNginx();

/** nginx's WebSocket proxying: HTTP/1.1 upstream, the hop-by-hop Upgrade headers passed on. */
const WEBSOCKET_PROXYING = ['proxy_http_version 1.1;', 'proxy_set_header Upgrade $http_upgrade;', 'proxy_set_header Connection "upgrade";'];

function echoServer(): http.Server {
  const server = http.createServer((_req, res) => res.end('plain'));
  new WebSocketServer({ server }).on('connection', (socket) => {
    socket.on('message', (data, binary) => socket.send(data, { binary }));
  });
  return server;
}

describe.skipIf(!hasNginx)(`nginx (${nginxVersionText ?? 'not installed'}) in front of a ws app: proxy_pass and uwsgi_pass`, () => {
  let server: Server;
  let nginx: Nginx;
  let dir: string;

  beforeAll(async () => {
    const adapted = await adapt(echoServer(), 'auto');
    if (typeof adapted === 'string') throw new Error(adapted);
    server = new Server(adapted.app);
    dir = mkdtempSync(path.join(os.tmpdir(), 'tsgi-ws-'));
    const tcp = server.listen('127.0.0.1:0', { protocol: 'http' });
    const unix = path.join(dir, 'http.sock');
    server.listen(unix, { protocol: 'http' });
    const uwsgiTcp = server.listen('127.0.0.1:0', { protocol: 'uwsgi' });
    const uwsgiUnix = path.join(dir, 'uwsgi.sock');
    server.listen(uwsgiUnix, { protocol: 'uwsgi' });
    nginx = await startNginx({
      locations: [
        { path: '/tcp/', proxyPass: tcp, extra: WEBSOCKET_PROXYING },
        { path: '/unix/', proxyPass: `unix:${unix}`, extra: WEBSOCKET_PROXYING },
        { path: '/uwsgi-tcp/', uwsgiPass: uwsgiTcp },
        { path: '/uwsgi-unix/', uwsgiPass: `unix:${uwsgiUnix}` },
      ],
    });
  });

  afterAll(async () => {
    await nginx?.stop();
    server?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  for (const via of ['tcp', 'unix', 'uwsgi-tcp', 'uwsgi-unix'] as const) {
    it(`${via}: text and a 1 MiB binary message echoed in order, then a close code`, async () => {
      const client = new WebSocket(`ws://127.0.0.1:${nginx.port}/${via}/echo`);
      await new Promise((resolve, reject) => {
        client.once('open', resolve);
        client.once('error', reject);
      });
      const big = Buffer.alloc(1024 * 1024, 0x5a);
      big.writeUInt32BE(0xcafef00d, 0);
      const got: Buffer[] = [];
      const all = new Promise<void>((resolve) =>
        client.on('message', (data: Buffer) => {
          got.push(data);
          if (got.length === 12) resolve();
        }),
      );
      for (let i = 0; i < 10; i++) client.send(`message ${i}`);
      client.send(big);
      client.send('last');
      await all;
      expect(got.slice(0, 10).map(String)).toEqual(Array.from({ length: 10 }, (_, i) => `message ${i}`));
      expect(got[10]!.equals(big)).toBe(true);
      expect(String(got[11])).toBe('last');
      const closed = new Promise<number>((resolve) => client.once('close', resolve));
      client.close(1000);
      expect(await closed).toBe(1000);
    });
  }
});
