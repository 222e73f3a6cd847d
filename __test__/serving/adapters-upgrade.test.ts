/**
 * WebSockets for Node apps, unchanged: an http.Server with `ws` attached (as apps set it
 * up: `new WebSocketServer({ server })`, or `noServer` and `handleUpgrade`), socket.io 4
 * and `@fastify/websocket` get Node's `'upgrade'` event with a real Duplex over the
 * connection. Real `ws` and socket.io clients.
 */
import http from 'node:http';
import fastifyWebsocket from '@fastify/websocket';
import Fastify from 'fastify';
import { Server as SocketIoServer } from 'socket.io';
import { io as socketIoClient, type Socket as SocketIoClient } from 'socket.io-client';
import { describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import path from 'node:path';
import { adapt } from '../../src/adapters/detect.js';
import { loadApp } from '../../src/process/load-app.js';
import type { App } from '../../src/app/contract.js';
import { fcgiExchange, nginxParams, parseRecords, request, stdoutOf } from '../helpers/fastcgi.js';
import { useTestServers } from '../helpers/servers.js';
import { waitFor } from '../helpers/uwsgi.js';

const servers = useTestServers();
const { serve } = servers;
/** Requests in flight in this test's servers. */
const inFlight = () => servers.started.reduce((n, server) => n + server.activeRequests, 0);
const HTTP = { protocol: 'http' as const };

/** `exported` as the command line would serve it. */
async function appOf(exported: unknown): Promise<App> {
  const adapted = await adapt(exported, 'auto');
  if (typeof adapted === 'string') throw new Error(adapted);
  return adapted.app;
}

/** An http.Server whose `ws` server echoes every message, and answers plain requests. */
function echoServer(events: string[] = []): http.Server {
  const server = http.createServer((req, res) => {
    res.setHeader('Content-Type', 'text/plain');
    res.end(`plain ${req.url}`);
  });
  const wss = new WebSocketServer({ server });
  wss.on('connection', (socket, req) => {
    events.push(`open ${req.url} from ${req.socket.remoteAddress}`);
    socket.on('message', (data, binary) => socket.send(data, { binary }));
    socket.on('close', (code) => events.push(`close ${code}`));
  });
  return server;
}

/** Opens a client and resolves once it is open. */
function connect(url: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const client = new WebSocket(url);
    client.once('open', () => resolve(client));
    client.once('error', reject);
  });
}

/** The next `count` messages of `client`. */
function messages(client: WebSocket, count: number): Promise<Array<{ data: Buffer; binary: boolean }>> {
  return new Promise((resolve) => {
    const got: Array<{ data: Buffer; binary: boolean }> = [];
    const listener = (data: Buffer, binary: boolean) => {
      got.push({ data, binary });
      if (got.length === count) {
        client.off('message', listener);
        resolve(got);
      }
    };
    client.on('message', listener);
  });
}

function closed(client: WebSocket): Promise<{ code: number; reason: string }> {
  return new Promise((resolve) => client.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
}

describe("Node apps get 'upgrade': ws over the HTTP listener", () => {
  it('an http.Server with a WebSocketServer: text, a 1 MiB binary message, ping/pong, a close code', async () => {
    const events: string[] = [];
    const address = serve(await appOf(echoServer(events)), undefined, HTTP);
    const client = await connect(`ws://${address}/chat`);
    await waitFor(() => events.length > 0, { what: 'the connection event' });
    expect(events[0]).toBe('open /chat from 127.0.0.1');

    const replies = messages(client, 2);
    client.send('hello');
    const big = Buffer.alloc(1024 * 1024, 7);
    big.writeUInt32BE(0xdeadbeef, big.length - 4);
    client.send(big);
    const [text, binary] = await replies;
    expect(text).toEqual({ data: Buffer.from('hello'), binary: false });
    expect(binary!.binary).toBe(true);
    expect(binary!.data.equals(big)).toBe(true);

    const pong = new Promise<Buffer>((resolve) => client.once('pong', resolve));
    client.ping('are you there');
    expect((await pong).toString()).toBe('are you there');

    const end = closed(client);
    client.close(4001, 'bye');
    expect(await end).toEqual({ code: 4001, reason: 'bye' });
    await waitFor(() => events.includes('close 4001'), { what: "the server's close event" });
  });

  it('1,000 messages arrive in order, and the server can close with its own code', async () => {
    const server = http.createServer();
    const wss = new WebSocketServer({ server });
    wss.on('connection', (socket) => {
      let seen = 0;
      socket.on('message', (data) => {
        socket.send(data);
        if (++seen === 1000) socket.close(4002, 'enough');
      });
    });
    const address = serve(await appOf(server), undefined, HTTP);
    const client = await connect(`ws://${address}/`);
    const replies = messages(client, 1000);
    const end = closed(client);
    for (let i = 0; i < 1000; i++) client.send(`message ${i}`);
    expect((await replies).map((m) => m.data.toString())).toEqual(Array.from({ length: 1000 }, (_, i) => `message ${i}`));
    expect(await end).toEqual({ code: 4002, reason: 'enough' });
  });

  it('noServer and handleUpgrade in an upgrade listener; a refused handshake gets the app its status', async () => {
    const server = http.createServer((_req, res) => res.end('plain'));
    const wss = new WebSocketServer({ noServer: true });
    server.on('upgrade', (req, socket, head) => {
      if (req.url !== '/allowed') {
        socket.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
        return;
      }
      wss.handleUpgrade(req, socket, head, (ws) => ws.on('message', (data) => ws.send(`got ${String(data)}`)));
    });
    const address = serve(await appOf(server), undefined, HTTP);

    const client = await connect(`ws://${address}/allowed`);
    const reply = messages(client, 1);
    client.send('x');
    expect((await reply)[0]!.data.toString()).toBe('got x');
    client.close();

    const refused = new Promise<number>((resolve, reject) => {
      const other = new WebSocket(`ws://${address}/other`);
      other.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      other.on('open', () => reject(new Error('opened')));
    });
    expect(await refused).toBe(403);
  });

  it("a plain request to the same server goes to 'request'; without an 'upgrade' listener, an upgrade request does too", async () => {
    const address = serve(await appOf(echoServer()), undefined, HTTP);
    const plain = await fetch(`http://${address}/page`);
    expect(await plain.text()).toBe('plain /page');

    const bare = http.createServer((req, res) => res.end(`no upgrade here: ${req.headers.upgrade}`));
    const bareAddress = serve(await appOf(bare), undefined, HTTP);
    const refused = new Promise<{ status: number; body: string }>((resolve, reject) => {
      const client = new WebSocket(`ws://${bareAddress}/`);
      client.on('unexpected-response', (_req, res) => {
        let body = '';
        res.on('data', (chunk: Buffer) => (body += chunk.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      client.on('open', () => reject(new Error('opened')));
    });
    expect(await refused).toEqual({ status: 200, body: 'no upgrade here: websocket' });
  });

  it('a client that vanishes mid-message: the app sees the socket close, and the request ends', async () => {
    const events: string[] = [];
    const server = http.createServer();
    const wss = new WebSocketServer({ server });
    wss.on('connection', (socket) => {
      events.push('open');
      socket.on('close', () => events.push('close'));
    });
    const address = serve(await appOf(server), undefined, HTTP);
    const client = await connect(`ws://${address}/`);
    await waitFor(() => events.includes('open'), { what: 'open' });
    // The header of a 1 MiB frame, and a little of its payload: then the client is gone.
    const raw = (client as unknown as { _socket: import('node:net').Socket })._socket;
    raw.write(Buffer.from([0x82, 0xff, 0, 0, 0, 0, 0, 0x10, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8]));
    raw.destroy();
    await waitFor(() => events.includes('close'), { what: "the app's close event" });
    await waitFor(() => inFlight() === 0, { what: 'the request to end' });
  });
});

describe('socket.io and @fastify/websocket, unchanged', () => {
  it('socket.io 4: connects by long-polling, upgrades to a WebSocket, acknowledges both ways', async () => {
    const httpServer = http.createServer();
    const io = new SocketIoServer(httpServer);
    const firstTransports: string[] = [];
    io.on('connection', (socket) => {
      firstTransports.push(socket.conn.transport.name);
      socket.on('echo', (message: string, ack: (reply: string) => void) => ack(`echo ${message} over ${socket.conn.transport.name}`));
    });
    const address = serve(await appOf(httpServer), undefined, HTTP);
    const client: SocketIoClient = socketIoClient(`http://${address}`, { transports: ['polling', 'websocket'], reconnection: false });
    try {
      await new Promise<void>((resolve, reject) => {
        client.once('connect', resolve);
        client.once('connect_error', reject);
      });
      // The session began by long-polling (plain requests, to 'request'), then upgraded.
      expect(firstTransports).toEqual(['polling']);
      expect(await client.emitWithAck('echo', 'first')).toMatch(/^echo first over (polling|websocket)$/);
      await waitFor(() => client.io.engine.transport.name === 'websocket', { what: 'the upgrade to websocket' });
      expect(await client.emitWithAck('echo', 'second')).toBe('echo second over websocket');
    } finally {
      client.close();
      io.close();
    }
  });

  it('@fastify/websocket: a websocket route and a plain route of the same Fastify app', async () => {
    const app = Fastify();
    await app.register(fastifyWebsocket);
    app.get('/ws', { websocket: true }, (socket) => {
      socket.on('message', (data: Buffer) => socket.send(`fastify ${data.toString()}`));
    });
    app.get('/', async () => 'plain fastify');
    const address = serve(await appOf(app), undefined, HTTP);
    expect(await (await fetch(`http://${address}/`)).text()).toBe('plain fastify');
    const client = await connect(`ws://${address}/ws`);
    const reply = messages(client, 1);
    client.send('hi');
    expect((await reply)[0]!.data.toString()).toBe('fastify hi');
    const end = closed(client);
    client.close(1000);
    expect((await end).code).toBe(1000);
    await app.close();
  });
});

describe('FastCGI cannot carry an upgrade', () => {
  it("a WebSocket handshake over FastCGI goes to 'request', never to 'upgrade'", async () => {
    let upgrades = 0;
    const server = http.createServer((req, res) => res.end(`request listener: ${req.headers.upgrade}`));
    server.on('upgrade', (_req, socket) => {
      upgrades++;
      socket.destroy();
    });
    const address = serve(await appOf(server), undefined, { protocol: 'fastcgi' });
    const vars = nginxParams('GET', '/chat', { HTTP_UPGRADE: 'websocket', HTTP_CONNECTION: 'Upgrade', HTTP_SEC_WEBSOCKET_KEY: 'dGhlIHNhbXBsZSBub25jZQ==' });
    const result = await fcgiExchange(address, request(1, vars));
    const stdout = stdoutOf(parseRecords(result.data).records, 1).toString();
    expect(stdout).toMatch(/^Status: 200 OK\r\n/);
    expect(stdout.endsWith('request listener: websocket')).toBe(true);
    expect(upgrades).toBe(0);
  });
});

describe('fetch-style apps: the module exports the server that takes the upgrades', () => {
  it("Hono's @hono/node-ws, unchanged: injectWebSocket(server) on the exported server", async () => {
    const address = serve((await loadApp(path.resolve('__test__/fixtures/hono-ws-app.mjs'), 'application')).app, undefined, HTTP);
    expect(await (await fetch(`http://${address}/`)).text()).toBe('hono plain');
    const client = await connect(`ws://${address}/ws`);
    const reply = messages(client, 1);
    client.send('hi');
    expect((await reply)[0]!.data.toString()).toBe('hono hi');
    const end = closed(client);
    client.close(1000);
    expect((await end).code).toBe(1000);
  });

  it('a plain fetch handler with a ws server attached to its exported server', async () => {
    const address = serve((await loadApp(path.resolve('__test__/fixtures/fetch-ws-app.mjs'), 'application')).app, undefined, HTTP);
    expect(await (await fetch(`http://${address}/`)).text()).toBe('fetch plain');
    const client = await connect(`ws://${address}/anything`);
    const reply = messages(client, 1);
    client.send('there');
    expect((await reply)[0]!.data.toString()).toBe('fetch app there');
    client.close();
  });
});
