/**
 * WebSockets through a real nginx to unchanged apps: a `ws` server attached to an
 * http.Server, socket.io 4, a Fastify app with @fastify/websocket and a Hono app with
 * @hono/node-ws. Each app is served over the HTTP listener behind `proxy_pass` (the Upgrade
 * headers passed on, the way every nginx WebSocket guide configures it) and over the uwsgi
 * listener behind `uwsgi_pass` (nothing to set), each over TCP and over a Unix socket: one
 * nginx per app and path, with `location /`, so the apps' own routes stay as they are.
 * Skips, saying why, when nginx is not installed (fails under CI=true).
 */
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fastifyWebsocket from '@fastify/websocket';
import Fastify from 'fastify';
import { Server as SocketIoServer } from 'socket.io';
import { io as socketIoClient } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { adapt } from '../../src/adapters/detect.js';
import type { App } from '../../src/app/contract.js';
import { loadApp } from '../../src/process/load-app.js';
import { Server } from '../../src/server/server.js';
import { announceNginx, hasNginx, nginxVersionText, startNginx, type Nginx } from '../helpers/nginx.js';

announceNginx();

/** nginx's WebSocket proxying: HTTP/1.1 upstream, the hop-by-hop Upgrade headers passed on. */
const WEBSOCKET_PROXYING = ['proxy_http_version 1.1;', 'proxy_set_header Upgrade $http_upgrade;', 'proxy_set_header Connection "upgrade";'];
const VIAS = ['proxy_pass over TCP', 'proxy_pass over a Unix socket', 'uwsgi_pass over TCP', 'uwsgi_pass over a Unix socket'] as const;
type Via = (typeof VIAS)[number];

async function adapted(exported: unknown): Promise<App> {
  const result = await adapt(exported, 'auto');
  if (typeof result === 'string') throw new Error(result);
  return result.app;
}

/** The apps, each answering an echo on `/ws` (ws: any path) as its framework does. */
const APPS: Record<string, () => Promise<App>> = {
  ws: async () => {
    const server = http.createServer((_req, res) => res.end('plain'));
    new WebSocketServer({ server }).on('connection', (socket) => socket.on('message', (data, binary) => socket.send(data, { binary })));
    return adapted(server);
  },
  fastify: async () => {
    const app = Fastify();
    await app.register(fastifyWebsocket);
    app.get('/ws', { websocket: true }, (socket) => {
      socket.on('message', (data: Buffer, binary: boolean) => socket.send(data, { binary }));
    });
    return adapted(app);
  },
  hono: async () => (await loadApp(path.resolve('__test__/fixtures/hono-ws-app.mjs'), 'application')).app,
};

describe.skipIf(!hasNginx)(`nginx (${nginxVersionText ?? 'not installed'}) in front of WebSocket apps: proxy_pass and uwsgi_pass`, () => {
  const servers: Server[] = [];
  const nginxes: Nginx[] = [];
  let dir: string;

  beforeAll(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'tsgi-ws-'));
  });

  afterAll(async () => {
    for (const nginx of nginxes) await nginx.stop();
    for (const server of servers) server.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** `app` served behind a private nginx by `via`: the nginx's port. */
  async function front(app: App, via: Via, name: string): Promise<number> {
    const server = new Server(app);
    servers.push(server);
    const protocol = via.startsWith('proxy') ? 'http' : 'uwsgi';
    const address = via.endsWith('TCP') ? server.listen('127.0.0.1:0', { protocol }) : path.join(dir, `${name}-${protocol}.sock`);
    if (!via.endsWith('TCP')) server.listen(address, { protocol });
    const upstream = via.endsWith('TCP') ? address : `unix:${address}`;
    const location = protocol === 'http' ? { path: '/', proxyPass: upstream, extra: WEBSOCKET_PROXYING } : { path: '/', uwsgiPass: upstream };
    const nginx = await startNginx({ locations: [location] });
    nginxes.push(nginx);
    return nginx.port;
  }

  for (const [name, make] of Object.entries(APPS)) {
    for (const via of VIAS) {
      it(`${name}, ${via}: text and a 1 MiB binary message echoed in order, then a close code`, async () => {
        const port = await front(await make(), via, name);
        const client = new WebSocket(`ws://127.0.0.1:${port}/ws`);
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
        // Hono's helper gives the app text as text; the binary one back is what matters.
        for (let i = 0; i < 10; i++) client.send(`message ${i}`);
        client.send(big);
        client.send('last');
        await all;
        expect(got.slice(0, 10).map(String)).toEqual(Array.from({ length: 10 }, (_, i) => (name === 'hono' ? `hono message ${i}` : `message ${i}`)));
        if (name !== 'hono') expect(got[10]!.equals(big)).toBe(true);
        expect(String(got[11])).toBe(name === 'hono' ? 'hono last' : 'last');
        const closed = new Promise<number>((resolve) => client.once('close', resolve));
        client.close(1000);
        expect(await closed).toBe(1000);
      });
    }
  }

  for (const via of VIAS) {
    it(`socket.io 4, ${via}: long-polling, then the upgrade to a WebSocket, acknowledged both ways`, async () => {
      const httpServer = http.createServer();
      const io = new SocketIoServer(httpServer);
      io.on('connection', (socket) => socket.on('echo', (message: string, ack: (reply: string) => void) => ack(`echo ${message}`)));
      const port = await front(await adapted(httpServer), via, 'socketio');
      const client = socketIoClient(`http://127.0.0.1:${port}`, { transports: ['polling', 'websocket'], reconnection: false });
      try {
        await new Promise<void>((resolve, reject) => {
          client.once('connect', resolve);
          client.once('connect_error', reject);
        });
        expect(await client.emitWithAck('echo', 'first')).toBe('echo first');
        await new Promise<void>((resolve) => {
          if (client.io.engine.transport.name === 'websocket') resolve();
          else client.io.engine.once('upgrade', () => resolve());
        });
        expect(await client.emitWithAck('echo', 'second')).toBe('echo second');
      } finally {
        client.close();
        io.close();
      }
    });
  }
});
