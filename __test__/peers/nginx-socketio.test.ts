/**
 * socket.io 4 with two workers behind a real nginx, the case --worker-sockets is for: a
 * socket.io session begins with long-polling (plain requests carrying its id, each on a
 * connection of its own through a proxy) and lives in one worker's memory. nginx keeps a
 * client on one worker by address (`hash $remote_addr consistent`) over the workers' own
 * HTTP sockets, with the WebSocket proxying directives, as the README configures it; the
 * same workers' shared socket hands a session's next request to whichever worker accepts
 * first, which does not know it. Skips, saying why, when nginx is not installed (fails
 * under CI=true).
 */
import http from 'node:http';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { io, type ManagerOptions, type Socket, type SocketOptions } from 'socket.io-client';
import { startTsgi, until, type Tsgi } from '../helpers/chaos.js';
import { announceNginx, hasNginx, nginxVersionText, startNginx, type Nginx } from '../helpers/nginx.js';
import { pause, placePids, portWithRoom, resume, statsOf } from '../helpers/worker-sockets.js';
import { freePort } from '../../scripts/lib/processes.mjs';

announceNginx();

const APP = path.resolve('__test__/fixtures/socketio-app.mjs');
/** nginx's WebSocket proxying: HTTP/1.1 upstream, the hop-by-hop Upgrade headers passed on. */
const WEBSOCKET_PROXYING = ['proxy_http_version 1.1;', 'proxy_set_header Upgrade $http_upgrade;', 'proxy_set_header Connection "upgrade";'];

/** What the fixture acknowledges `pid` with. */
interface Ack {
  pid: number;
  /** The transport the session began with, and the one this message came over. */
  first: string;
  transport: string;
}

/** A socket.io client of its own (no shared Manager), from `from` (a loopback address) if
 * given: its polling requests and its WebSocket both leave from there. */
function client(url: string, transports: string[], from?: string): Socket {
  const options: Record<string, unknown> = { transports, reconnection: false, forceNew: true };
  if (from) Object.assign(options, { localAddress: from, agent: new http.Agent({ localAddress: from }) });
  return io(url, options as Partial<ManagerOptions & SocketOptions>);
}

function connected(socket: Socket): Promise<void> {
  return new Promise((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('connect_error', reject);
  });
}

describe.skipIf(!hasNginx)(`socket.io 4, 2 workers, nginx (${nginxVersionText ?? 'not installed'}) hash $remote_addr over --worker-sockets`, () => {
  let tsgi: Tsgi;
  let nginx: Nginx;
  let port: number;
  let statsPort: number;
  const clients: Socket[] = [];

  beforeAll(async () => {
    port = await portWithRoom(2);
    statsPort = await freePort();
    tsgi = await startTsgi([
      ...['--http-socket', `127.0.0.1:${port}`, '--processes', '2', '--worker-sockets', '--module', APP],
      ...['--stats', `127.0.0.1:${statsPort}`, '--stats-http', '--disable-logging'],
    ]);
    nginx = await startNginx({
      httpExtra: `upstream socketio {\n    hash $remote_addr consistent;\n    server 127.0.0.1:${port + 1};\n    server 127.0.0.1:${port + 2};\n  }`,
      locations: [{ path: '/', proxyPass: 'socketio', extra: WEBSOCKET_PROXYING }],
    });
  });

  afterAll(async () => {
    for (const socket of clients) socket.close();
    await nginx?.stop();
    tsgi?.kill();
  });

  it('connects by long-polling, upgrades to a WebSocket, acknowledges messages; clients in a row from other addresses each stay on one worker, and both workers hold some', async () => {
    const workers = await placePids(statsPort);
    const holders = new Set<number>();
    // A client per loopback address, until both workers have held sessions (the hash of
    // 30 addresses all on one worker is out of reach) and at least 6 clients have run.
    for (let i = 2; i < 32 && (holders.size < 2 || i < 8); i++) {
      const socket = client(nginx.baseUrl, ['polling', 'websocket'], `127.0.0.${i}`);
      clients.push(socket);
      await connected(socket);
      const first = (await socket.emitWithAck('pid')) as Ack;
      expect(first.first).toBe('polling');
      expect(workers).toContain(first.pid);
      await until(() => socket.io.engine.transport.name === 'websocket', 'the upgrade to a WebSocket');
      for (let n = 0; n < 3; n++) expect(await socket.emitWithAck('pid')).toEqual({ pid: first.pid, first: 'polling', transport: 'websocket' });
      holders.add(first.pid);
      socket.close();
    }
    expect([...holders].sort()).toEqual([...workers].sort());
    expect(nginx.errorLog()).not.toMatch(/\[(error|crit|alert|emerg)\]/);
  });

  it("the same pause breaks a polling session on the shared socket (400 Session ID unknown) and only delays one on a worker's own socket", async () => {
    const [one, two] = await placePids(statsPort);

    // The shared socket. The kernel gives a new connection to whichever worker accepts it
    // first; pausing a worker (as a busy one is, to the kernel) makes that choice certain.
    // The session begins on worker 2, worker 1 paused...
    await pause(one!);
    const shared = client(`http://127.0.0.1:${port}`, ['polling']);
    clients.push(shared);
    await connected(shared);
    expect(((await shared.emitWithAck('pid')) as Ack).pid).toBe(two);
    // ...then worker 2 is the one busy, and the next poll reaches worker 1.
    await pause(two!);
    await resume(one!);
    // What socket.io reports: a transport error, the HTTP status and the server's answer
    // (read at once: the client then aborts the request, which clears it).
    const disconnected = new Promise<{ reason: string; status: number; answer: string }>((resolve) =>
      shared.once('disconnect', (reason, details) => {
        const { description, context } = details as unknown as { description: number; context: { responseText: string } };
        resolve({ reason, status: description, answer: context.responseText });
      }),
    );
    await expect(shared.timeout(10_000).emitWithAck('pid')).rejects.toThrow('socket has been disconnected');
    expect(await disconnected).toEqual({ reason: 'transport error', status: 400, answer: '{"code":1,"message":"Session ID unknown"}' });
    await resume(two!);

    // The same through nginx, over the workers' own sockets: a session begins on its
    // worker; paused, its worker leaves the next request waiting in its own socket's queue,
    // and answers it once it runs again.
    const sticky = client(nginx.baseUrl, ['polling']);
    clients.push(sticky);
    await connected(sticky);
    const holder = ((await sticky.emitWithAck('pid')) as Ack).pid;
    const place = holder === one ? 1 : 2;
    expect([one, two]).toContain(holder);
    await pause(holder);
    const answer = sticky.timeout(10_000).emitWithAck('pid');
    const queueOfPlace = async () => (await statsOf(statsPort)).sockets.find((s) => s.worker === place)!.queue;
    await until(async () => (await queueOfPlace()) > 0, `the request waiting in worker ${place}'s own socket`);
    await resume(holder);
    expect(await answer).toEqual({ pid: holder, first: 'polling', transport: 'polling' });
    expect(await sticky.emitWithAck('pid')).toEqual({ pid: holder, first: 'polling', transport: 'polling' });
    expect(sticky.connected).toBe(true);
  });
});
