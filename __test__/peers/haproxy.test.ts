/**
 * A real HAProxy (`fcgi-app`, `use-fcgi-app`, `proto fcgi`) in front of in-process tsgi
 * Servers speaking FastCGI: the one common proxy that multiplexes several requests on one
 * FastCGI connection, and asks the application with FCGI_GET_VALUES whether it may.
 * Skips, saying why, when HAProxy is not installed (CI installs it; with CI=true a missing
 * HAProxy fails).
 *
 * Some backends reach tsgi through a tap (helpers/fastcgi-tap.ts) that relays bytes
 * unchanged and records the FastCGI records, to see the GET_VALUES exchange and which
 * request ids were in flight at once on one connection.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Server } from '../../src/server/server.js';
import { validate } from '../../src/app/validate.js';
import { ProtocolStatus } from '../helpers/fastcgi.js';
import { describeTap, endStatuses, protocolViolations, getValuesExchange, startTap, type Tap } from '../helpers/fastcgi-tap.js';
import { haproxyVersion, startHaproxy, type Haproxy } from '../helpers/haproxy.js';
import { disconnectAfterFirstPiece, request, type Reply } from '../helpers/http.js';
import { requirePeer } from '../helpers/peers.js';
import { createProxyApp, json, readAll, sha256, sleep, waitFor, within } from '../helpers/proxy-apps.js';
import { describeProxyBehaviour, showLogsOnFailure } from '../helpers/proxy-behaviour.js';

const haproxyPeer = requirePeer('HAProxy', process.env.HAPROXY ?? 'haproxy', 'apt-get install haproxy, or set HAPROXY=/path/to/haproxy');

// ---- the app --------------------------------------------------------------------------

/**
 * Held requests: each waits in its group until `size` of them are in the app at once, then
 * all go on together. So a group of 20 is answered only if 20 requests really were in
 * flight at the same time; over fewer than 20 connections, some connection carried several.
 */
interface Group {
  size: number;
  waiting: Array<() => void>;
  /** Requests that have arrived so far, and who waits for the count to grow. */
  arrivals: number;
  onArrival: Set<(count: number) => void>;
  /** The servers' open connections when the group filled up (all `size` in flight). */
  connectionsAtFull?: Record<string, number>;
}
/** Open connections per server, set once the servers exist. */
let openConnections: () => Record<string, number> = () => ({});
const groups = new Map<string, Group>();

function group(name: string, size = 0): Group {
  let g = groups.get(name);
  if (!g) groups.set(name, (g = { size, waiting: [], arrivals: 0, onArrival: new Set() }));
  if (size) g.size = size;
  return g;
}

/** Resolves once `count` requests of group `name` have arrived in the app. */
function arrived(name: string, count: number, timeoutMs = 10_000): Promise<void> {
  const g = group(name);
  if (g.arrivals >= count) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      g.onArrival.delete(listener);
      reject(new Error(`group ${name}: ${g.arrivals} of ${count} requests arrived in the app within ${timeoutMs} ms`));
    }, timeoutMs);
    const listener = (n: number) => {
      if (n < count) return;
      clearTimeout(timer);
      g.onArrival.delete(listener);
      resolve();
    };
    g.onArrival.add(listener);
  });
}

/** Waits until the group is full (or 10 s: then fails the request, saying how many came). */
function hold(name: string, size: number): Promise<void> {
  const g = group(name, size);
  g.arrivals++;
  for (const listener of [...g.onArrival]) listener(g.arrivals);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`group ${name}: only ${g.waiting.length} of ${size} requests in flight at once after 10 s`)), 10_000);
    g.waiting.push(() => {
      clearTimeout(timer);
      resolve();
    });
    if (g.waiting.length >= g.size) {
      g.connectionsAtFull = openConnections();
      for (const release of g.waiting.splice(0)) release();
    }
  });
}

const proxied = createProxyApp({
  echoed: [
    'REQUEST_METHOD',
    'REQUEST_URI',
    'SCRIPT_NAME',
    'PATH_INFO',
    'QUERY_STRING',
    'SERVER_PROTOCOL',
    'REMOTE_ADDR',
    'GATEWAY_INTERFACE',
    'CONTENT_TYPE',
    'CONTENT_LENGTH',
    'HTTP_HOST',
    'HTTP_X_FOO',
    'tsgi.url_scheme',
  ],
  echoBody: true,
  routes: {
    '/held': async (environ, start, q) => {
      // The request body is read whole before holding, the response is sent after.
      const body = await readAll(environ);
      await hold(q.get('group')!, Number(q.get('n')));
      const size = Number(q.get('size') ?? 0);
      const payload = size > 0 ? randomBytes(size) : Buffer.from(`held ${q.get('id')}\n`);
      start('200 OK', [
        ['Content-Type', 'application/octet-stream'],
        ['X-Id', q.get('id')!],
        ['X-Request-Sha256', sha256(body)],
        ['X-Body-Sha256', sha256(payload)],
      ]);
      // In pieces, so that responses on one connection interleave.
      return (async function* () {
        for (let at = 0; at < payload.length; at += 16 * 1024) {
          yield payload.subarray(at, at + 16 * 1024);
          await sleep(0);
        }
      })();
    },
    '/errors': async (environ, start, q) => {
      environ['tsgi.errors'].write(`stderr marker ${q.get('id')}\n`);
      return json(start, { ok: true });
    },
  },
});
const { app, slow } = proxied;

/** Every held reply is a 200 carrying its own id and an intact body. */
function expectOwnReplies(replies: Reply[], ids: number[]): void {
  const seen = replies.map((reply) => ({
    status: reply.status,
    id: reply.headers['x-id'],
    intact: sha256(reply.body) === reply.headers['x-body-sha256'],
  }));
  expect(seen).toEqual(ids.map((id) => ({ status: 200, id: String(id), intact: true })));
}

// ---- the tests ---------------------------------------------------------------------------

const N = 20;

describe.skipIf(!haproxyPeer.bin)(`HAProxy (${haproxyVersion(haproxyPeer.bin) ?? 'not installed'}) in front of tsgi, fcgi-app`, () => {
  /** Multiplexing allowed, FCGI_MAX_REQS 64. */
  let server: Server;
  /** The same, for the backend that learns about multiplexing only from GET_VALUES. */
  let learner: Server;
  /** --fastcgi-multiplex false. */
  let single: Server;
  let learnerTap: Tap;
  /** In front of `server`, for the abort test. */
  let serverTap: Tap;
  let singleTap: Tap;
  let haproxy: Haproxy;
  let dir: string;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'tsgi-haproxy-test-'));
    server = new Server(validate(app), { fastcgiMaxReqs: 64 });
    const tcp = server.listen('127.0.0.1:0', { protocol: 'fastcgi' });
    const unix = server.listen(path.join(dir, 'tsgi.sock'), { protocol: 'fastcgi', mode: 0o666 });
    serverTap = await startTap(tcp);
    learner = new Server(app, { fastcgiMaxReqs: 64 });
    learnerTap = await startTap(learner.listen('127.0.0.1:0', { protocol: 'fastcgi' }));
    single = new Server(app, { fastcgiMultiplex: false });
    singleTap = await startTap(single.listen('127.0.0.1:0', { protocol: 'fastcgi' }));
    openConnections = () => ({ server: server.connections, learner: learner.connections, single: single.connections });

    // path-info ^()(/.*)$: the app is mounted at the root, so SCRIPT_NAME is empty and
    // PATH_INFO the whole (decoded) path, as WSGI wants it.
    const fcgiApp = (name: string, mpxs: boolean) => `
fcgi-app ${name}
  docroot ${dir}
  path-info ^()(/.*)$
  log-stderr global
  option keep-conn
  option get-values
  ${mpxs ? 'option mpxs-conns\n  option max-reqs 100' : '# no option mpxs-conns: HAProxy multiplexes only if the app says it may'}
`;
    const backend = (name: string, fcgi: string, address: string) => `
backend ${name}
  use-fcgi-app ${fcgi}
  # Any request may use any idle or not-full server connection (default "safe": a
  # client's first request gets a connection of its own).
  http-reuse always
  server tsgi ${address} proto fcgi
`;
    haproxy = await startHaproxy(
      haproxyPeer.bin!,
      (port) => `# generated by __test__/peers/haproxy.test.ts
global
  log stdout format raw local0 info
  # One thread: server connections with room for more streams are per thread, so with
  # several, requests accepted by different threads could not share one.
  nbthread 1

defaults
  mode http
  log global
  option httplog
  timeout connect 5s
  timeout client 30s
  timeout server 30s

frontend web
  bind 127.0.0.1:${port}
  use_backend unix if { path_beg /unix/ }
  use_backend learner if { path_beg /learner/ }
  use_backend single if { path_beg /single/ }
  use_backend tapped if { path_beg /tapped/ }
  default_backend direct
${backend('direct', 'tsgi', tcp)}${backend('unix', 'tsgi', unix)}${backend('learner', 'tsgi-learner', learnerTap.address)}${backend('single', 'tsgi', singleTap.address)}${backend('tapped', 'tsgi', serverTap.address)}${fcgiApp('tsgi', true)}${fcgiApp('tsgi-learner', false)}`,
    );
  });

  afterAll(async () => {
    if (process.env.TSGI_HAPROXY_LOG === '1' && haproxy) console.log(`--- HAProxy output ---\n${haproxy.output()}`);
    await haproxy?.stop();
    await learnerTap?.close();
    await serverTap?.close();
    await singleTap?.close();
    server?.close();
    learner?.close();
    single?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  showLogsOnFailure([{ label: 'HAProxy output', text: () => haproxy.output(), tail: 60 }], () => `--- config: ${haproxy.cfg} ---`);

  describeProxyBehaviour(
    { url: (p) => haproxy.url(p), server: () => server, proxied },
    {
      echo: {
        vias: ['direct', 'unix'],
        name: (via) => `GET over ${via === 'direct' ? 'TCP' : 'a Unix socket'}: the environ the app sees`,
        path: (via) => `/${via}/echo/a%20b?x=1&y=a%20b`,
        expected: (via) => ({
          REQUEST_METHOD: 'GET',
          REQUEST_URI: `/${via}/echo/a%20b?x=1&y=a%20b`,
          SCRIPT_NAME: '',
          PATH_INFO: `/${via}/echo/a b`,
          QUERY_STRING: 'x=1&y=a%20b',
          SERVER_PROTOCOL: 'HTTP/1.1',
          REMOTE_ADDR: '127.0.0.1',
          GATEWAY_INTERFACE: 'CGI/1.1',
          HTTP_HOST: 'example.test',
          HTTP_X_FOO: 'bar',
          'tsgi.url_scheme': 'http',
          body: '',
        }),
      },
      post: { vias: ['direct'], size: 4 * 1024 * 1024 },
      fails: { routes: ['throw'], vias: ['direct'] },
    },
  );

  it("tsgi.errors reaches HAProxy's log (FastCGI STDERR, log-stderr)", async () => {
    const id = randomBytes(4).toString('hex');
    const mark = haproxy.output().length;
    const reply = await request(haproxy.url(`/direct/errors?id=${id}`));
    expect(reply.status).toBe(200);
    await haproxy.waitForOutput(new RegExp(`stderr marker ${id}`), { from: mark });
  });

  it(`${N} requests in flight at once share FastCGI connections (option mpxs-conns): each gets its own answer`, async () => {
    const before = server.acceptedConnections;
    const ids = Array.from({ length: N }, (_, i) => i);
    const replies = await Promise.all(ids.map((i) => request(haproxy.url(`/direct/held?group=burst&n=${N}&id=${i}`), { timeoutMs: 15_000 })));
    expectOwnReplies(replies, ids);
    // All N were in the app at once (none was answered before the N-th arrived), with
    // fewer than N connections open: some connection carried several requests at once.
    expect(group('burst').connectionsAtFull!.server).toBeLessThan(N);
    expect(server.acceptedConnections - before).toBeLessThan(N);
  });

  it(`${N} POSTs of 64 KiB in flight at once on shared connections: the bodies interleave without mixing`, async () => {
    // Modest sizes, for HAProxy 2.6.12's sake (Debian 12): with 256 KiB answers interleaved
    // on one connection it can die on a FATAL "c_empty(ic)" assertion (haproxy/haproxy#2150,
    // fixed in 2.6.14; tsgi's records were well-formed, seen through a tap), and with 256 KiB
    // bodies under CPU load it sometimes answers a few requests 500 itself (log flags IH--)
    // without sending them to tsgi.
    const ANSWER = 4 * 1024;
    const before = server.acceptedConnections;
    const ids = Array.from({ length: N }, (_, i) => i);
    const bodies = ids.map(() => randomBytes(64 * 1024));
    const replies = await Promise.all(
      ids.map((i) =>
        request(haproxy.url(`/direct/held?group=posts&n=${N}&id=${i}&size=${ANSWER}`), {
          method: 'POST',
          headers: { 'Content-Type': 'application/octet-stream' },
          body: bodies[i],
          timeoutMs: 15_000,
        }),
      ),
    );
    expectOwnReplies(replies, ids);
    expect(replies.map((reply) => reply.headers['x-request-sha256'])).toEqual(bodies.map(sha256));
    expect(replies.map((reply) => reply.body.length)).toEqual(ids.map(() => ANSWER));
    expect(group('posts').connectionsAtFull!.server).toBeLessThan(N);
    expect(server.acceptedConnections - before).toBeLessThan(N);
  });

  it('a client that goes away mid-response: tsgi.signal fires, the request beside it on the same connection completes', async () => {
    const tapped = serverTap.connections.length;
    // Two slow responses at once on one connection: one client stays, one goes away.
    // (HAProxy 2.6 sends no ABORT_REQUEST for it: it closes the connection once the other
    // request is done, and that is when tsgi learns that the client has gone.)
    const staying = request(haproxy.url('/tapped/slow?id=stay&n=10'), { timeoutMs: 10_000 });
    const { status, destroyedAt } = await disconnectAfterFirstPiece(haproxy.url('/tapped/slow?id=gone'));
    expect(status).toBe(200);
    const gone = slow.get('gone')!;
    const abortedAt = await within(gone.aborted, 5_000, 'tsgi.signal after the client went away');
    expect(abortedAt - destroyedAt).toBeLessThan(5_000);
    await waitFor(() => gone.closedAt !== undefined, 3_000, "the abandoned body's close()");
    expect(gone.chunks).toBeLessThan(60);

    const stayed = await staying;
    expect(stayed.status).toBe(200);
    expect(stayed.body.toString()).toBe(Array.from({ length: 10 }, (_, i) => `slow ${i}\n`).join(''));
    // Both were on one connection.
    expect(Math.max(...serverTap.maxInFlight().slice(tapped)), describeTap(serverTap)).toBe(2);
    expect(serverTap.connections.flatMap(protocolViolations)).toEqual([]);
    await waitFor(() => server.activeRequests === 0, 3_000, 'no active requests');
    const after = await Promise.all(Array.from({ length: 5 }, (_, i) => request(haproxy.url(`/tapped/echo?after=${i}`))));
    expect(after.map((reply) => [reply.status, JSON.parse(reply.body.toString()).QUERY_STRING])).toEqual(
      Array.from({ length: 5 }, (_, i) => [200, `after=${i}`]),
    );
  });

  /**
   * Sends `count` requests of a new group, each once the previous one is in the app, so that
   * HAProxy always has an established connection (whose GET_VALUES it has heard back) to
   * choose; all are held until the last arrives.
   */
  async function staggered(backend: string, name: string, count: number): Promise<Reply[]> {
    const pending: Array<Promise<Reply>> = [];
    for (let i = 0; i < count; i++) {
      pending.push(request(haproxy.url(`/${backend}/held?group=${name}&n=${count}&id=${i}`), { timeoutMs: 15_000 }));
      await arrived(name, i + 1);
    }
    return Promise.all(pending);
  }

  it(`learns from GET_VALUES that tsgi multiplexes: without "option mpxs-conns", ${N} requests still share connections`, async () => {
    const before = learner.acceptedConnections;
    // One request first: its connection learns FCGI_MPXS_CONNS=1 and, once the request is
    // done, goes back to HAProxy's pool with room for more streams.
    expect((await request(haproxy.url('/learner/echo'))).status).toBe(200);
    const replies = await staggered('learner', 'learner', N);
    expectOwnReplies(
      replies,
      Array.from({ length: N }, (_, i) => i),
    );

    const connections = learnerTap.connections;
    // HAProxy asked, and tsgi answered, on every connection.
    for (const connection of connections) {
      expect(getValuesExchange(connection)).toEqual({ asked: ['FCGI_MAX_REQS', 'FCGI_MPXS_CONNS'], answered: { FCGI_MAX_REQS: '64', FCGI_MPXS_CONNS: '1' } });
    }
    // HAProxy's own default is one request per connection; it multiplexed because tsgi said so.
    expect(Math.max(...learnerTap.maxInFlight()), describeTap(learnerTap)).toBeGreaterThan(1);
    expect(learner.acceptedConnections - before).toBeLessThan(N);
    expect(connections.flatMap(protocolViolations)).toEqual([]);
    expect(connections.flatMap(endStatuses).filter((end) => end.protocolStatus !== ProtocolStatus.REQUEST_COMPLETE)).toEqual([]);
  });

  it(`stops multiplexing when tsgi answers FCGI_MPXS_CONNS=0 (fastcgiMultiplex: false), "option mpxs-conns" notwithstanding: ${N} requests, ${N} connections`, async () => {
    const before = single.acceptedConnections;
    const replies = await staggered('single', 'single', N);
    expectOwnReplies(
      replies,
      Array.from({ length: N }, (_, i) => i),
    );

    expect(single.acceptedConnections - before).toBe(N);
    const connections = singleTap.connections;
    for (const connection of connections) {
      expect(getValuesExchange(connection)).toEqual({ asked: ['FCGI_MAX_REQS', 'FCGI_MPXS_CONNS'], answered: { FCGI_MAX_REQS: '1', FCGI_MPXS_CONNS: '0' } });
    }
    expect(Math.max(...singleTap.maxInFlight()), describeTap(singleTap)).toBe(1);
    expect(connections.flatMap(protocolViolations)).toEqual([]);
    // No request had to be refused (FCGI_CANT_MPX_CONN): HAProxy never tried.
    expect(connections.flatMap(endStatuses).filter((end) => end.protocolStatus !== ProtocolStatus.REQUEST_COMPLETE)).toEqual([]);
  });
});
