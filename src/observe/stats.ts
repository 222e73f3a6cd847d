/**
 * The stats server (`--stats`): uWSGI-compatible JSON, the fields uwsgitop reads, written
 * to whoever connects; with `--stats-http`, an HTTP server with the JSON at `/`, a
 * Prometheus text exposition at `/metrics`, and `/livez` and `/readyz` for probes. Nothing of any request is ever in it: no
 * header, cookie, query string or body.
 */
import { chmod } from 'node:fs/promises';
import net from 'node:net';
import { parseAddress, removeStaleSocket } from '../net/sockets.js';
import { describeErrno } from '../net/server-handle.js';
import { ErrorCodes, TsgiError } from '../errors.js';
import { log } from '../log.js';

/** One worker place as the stats show it. */
export interface WorkerStats {
  id: number;
  /** 0 while no process holds the place (waiting to respawn). */
  pid: number;
  accepting: boolean;
  /** `cheap`: not running now (--cheaper, `tsgi ctl workers`, SIGTTOU), as uWSGI's. */
  status: 'idle' | 'busy' | 'starting' | 'stopping' | 'respawning' | 'cheap';
  requests: number;
  delta_requests: number;
  exceptions: number;
  harakiri_count: number;
  /** Workers of this place that had an exception nothing caught (each then replaced). */
  uncaught_exceptions: number;
  in_flight: number;
  /** Of the requests in flight, open tunnels (WebSockets and other upgraded connections). */
  tunnels: number;
  rss: number;
  vsz: number;
  /** Sum of response times, µs (uWSGI's running_time). */
  running_time: number;
  /** Mean response time, µs. */
  avg_rt: number;
  tx: number;
  /** When the process started, seconds since the epoch. */
  last_spawn: number;
  respawn_count: number;
  /** Deaths in a row soon after start; with it, a respawn waits (backoff). */
  failures: number;
}

export interface SocketStats {
  name: string;
  proto: string;
  /** Connections waiting to be accepted (TCP; 0 for Unix sockets, which Linux does not report). */
  queue: number;
  max_queue: number;
  /** A worker's own socket (`--worker-sockets`): its place; absent on a shared socket. */
  worker?: number;
}

export interface StatsSnapshot {
  version: string;
  pid: number;
  uid: number;
  gid: number;
  cwd: string;
  /** Requests in flight over every worker. */
  load: number;
  listen_queue: number;
  /** Some worker place keeps dying soon after it starts. */
  crash_loop: boolean;
  /** A stop began (or `--shutdown-delay`'s wait before it): not ready for new traffic. */
  draining: boolean;
  sockets: SocketStats[];
  workers: WorkerStats[];
}

/** The uWSGI-shaped document (its fixed fields added, so uwsgitop finds them). */
export function statsJson(s: StatsSnapshot): string {
  return JSON.stringify({
    version: s.version,
    listen_queue: s.listen_queue,
    listen_queue_errors: 0,
    signal_queue: 0,
    load: s.load,
    pid: s.pid,
    uid: s.uid,
    gid: s.gid,
    cwd: s.cwd,
    crash_loop: s.crash_loop,
    draining: s.draining,
    locks: [],
    sockets: s.sockets.map((socket) => ({ ...socket, shared: 0, can_offload: 0 })),
    workers: s.workers.map((w) => ({ ...w, accepting: w.accepting ? 1 : 0, signals: 0, signal_queue: 0, apps: [], cores: [] })),
  });
}

/** A label value, escaped as the exposition format asks. */
function label(value: string | number): string {
  return `"${String(value).replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`;
}

/** The Prometheus text exposition (version 0.0.4). */
export function prometheusText(s: StatsSnapshot): string {
  const out: string[] = [];
  const family = (name: string, type: 'counter' | 'gauge', help: string, samples: Array<[string, number]>) => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, value] of samples) out.push(`${name}${labels} ${value}`);
  };
  const perWorker = (pick: (w: WorkerStats) => number): Array<[string, number]> => s.workers.map((w) => [`{worker=${label(w.id)}}`, pick(w)]);
  // A worker's own socket also says whose it is; a shared one has no worker label.
  const perSocket = (pick: (k: SocketStats) => number): Array<[string, number]> =>
    s.sockets.map((k) => [`{socket=${label(k.name)},proto=${label(k.proto)}${k.worker === undefined ? '' : `,worker=${label(k.worker)}`}}`, pick(k)]);
  family('tsgi_workers', 'gauge', 'Worker places (--processes).', [['', s.workers.length]]);
  family('tsgi_workers_running', 'gauge', 'Worker places running a process now (--cheaper and tsgi ctl workers change it).', [
    ['', s.workers.filter((w) => w.status !== 'cheap').length],
  ]);
  family(
    'tsgi_worker_state',
    'gauge',
    'The worker place by state (cheap: not running, idle, busy, starting, stopping, respawning): 1 for its state now.',
    s.workers.map((w) => [`{worker=${label(w.id)},state=${label(w.status)}}`, 1]),
  );
  family(
    'tsgi_worker_up',
    'gauge',
    'Whether a process serves the worker place.',
    perWorker((w) => (w.accepting ? 1 : 0)),
  );
  family(
    'tsgi_worker_requests_total',
    'counter',
    'Requests served by the worker process.',
    perWorker((w) => w.requests),
  );
  family(
    'tsgi_worker_exceptions_total',
    'counter',
    'Requests whose app failed.',
    perWorker((w) => w.exceptions),
  );
  family(
    'tsgi_worker_harakiri_total',
    'counter',
    'Requests and workers ended by --harakiri.',
    perWorker((w) => w.harakiri_count),
  );
  family(
    'tsgi_worker_uncaught_exceptions_total',
    'counter',
    'Exceptions nothing caught in the app; each costs the worker, after its requests in flight.',
    perWorker((w) => w.uncaught_exceptions),
  );
  family(
    'tsgi_worker_respawns_total',
    'counter',
    'Times the worker place was respawned.',
    perWorker((w) => w.respawn_count),
  );
  family(
    'tsgi_worker_in_flight',
    'gauge',
    'Requests being served.',
    perWorker((w) => w.in_flight),
  );
  family(
    'tsgi_worker_tunnels',
    'gauge',
    'Open tunnels (WebSockets and other upgraded connections), counted in tsgi_worker_in_flight too.',
    perWorker((w) => w.tunnels),
  );
  family(
    'tsgi_worker_response_time_seconds_total',
    'counter',
    'Sum of response times.',
    perWorker((w) => w.running_time / 1e6),
  );
  family(
    'tsgi_worker_sent_bytes_total',
    'counter',
    'Response bytes sent.',
    perWorker((w) => w.tx),
  );
  family(
    'tsgi_worker_resident_memory_bytes',
    'gauge',
    'Resident memory of the worker process.',
    perWorker((w) => w.rss),
  );
  family('tsgi_crash_loop', 'gauge', 'Whether a worker place keeps dying soon after it starts.', [['', s.crash_loop ? 1 : 0]]);
  family('tsgi_draining', 'gauge', 'Whether a stop (or --shutdown-delay before it) began: /readyz answers 503.', [['', s.draining ? 1 : 0]]);
  family(
    'tsgi_listen_queue',
    'gauge',
    'Connections waiting to be accepted (TCP sockets).',
    perSocket((k) => k.queue),
  );
  family(
    'tsgi_listen_queue_max',
    'gauge',
    'Size of the listen queue.',
    perSocket((k) => k.max_queue),
  );
  return out.join('\n') + '\n';
}

/** The largest request head the HTTP stats server reads. */
const MAX_HEAD = 8192;
/** How long a stats connection may last, whatever the client sends meanwhile: a client
 * trickling its request head a byte at a time must not hold a master descriptor. */
const CONNECTION_DEADLINE_MS = 5000;
/** Stats connections open at once; more are closed as they come, so that the master
 * keeps descriptors for its workers (uwsgitop and a Prometheus server need one each). */
const MAX_CONNECTIONS = 64;
/** At most one line per this long about connections the stats server could not accept. */
const ACCEPT_ERROR_EVERY_MS = 10_000;

function httpResponse(status: string, type: string, body: string): string {
  return `HTTP/1.1 ${status}\r\nContent-Type: ${type}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`;
}

/** `/readyz`: 200 while some worker accepts and no stop (nor its delay) began, else 503. */
function readiness(s: StatsSnapshot): string {
  if (s.draining) return httpResponse('503 Service Unavailable', 'text/plain', 'draining\n');
  if (!s.workers.some((w) => w.accepting)) return httpResponse('503 Service Unavailable', 'text/plain', 'no worker accepting\n');
  return httpResponse('200 OK', 'text/plain', 'ready\n');
}

/** Answers one HTTP stats request: `/` the JSON, `/metrics` the exposition. */
async function answerHttp(socket: net.Socket, snapshot: () => Promise<StatsSnapshot>): Promise<void> {
  let head = '';
  const line = await new Promise<string | null>((resolve) => {
    socket.on('close', () => resolve(null));
    socket.on('data', (chunk: Buffer) => {
      head += chunk.toString('latin1');
      if (head.includes('\r\n\r\n') || head.includes('\n\n')) resolve(head.split(/\r?\n/)[0]!);
      else if (head.length > MAX_HEAD) resolve(null);
    });
    socket.on('end', () => resolve(null));
  });
  if (line === null) return void socket.destroy();
  const match = /^(GET|HEAD) (\S+) HTTP\/1\.[01]$/.exec(line);
  const path = match?.[2]?.split('?')[0];
  let response: string;
  if (!match) response = httpResponse('400 Bad Request', 'text/plain', 'bad request\n');
  else if (path === '/') response = httpResponse('200 OK', 'application/json', statsJson(await snapshot()));
  else if (path === '/metrics') response = httpResponse('200 OK', 'text/plain; version=0.0.4; charset=utf-8', prometheusText(await snapshot()));
  // The master answers, so it is alive; ready: some worker accepts and no stop began.
  else if (path === '/livez') response = httpResponse('200 OK', 'text/plain', 'ok\n');
  else if (path === '/readyz') response = readiness(await snapshot());
  else response = httpResponse('404 Not Found', 'text/plain', 'not found: the stats are at / (JSON) and /metrics (Prometheus); health at /livez and /readyz\n');
  if (match?.[1] === 'HEAD') response = response.slice(0, response.indexOf('\r\n\r\n') + 4);
  socket.end(response);
}

/**
 * Serves stats on `address` (`:PORT` means loopback, not every interface: stats are for
 * the machine's own tools unless a host is named). A Unix socket is made 0600.
 */
export async function serveStats(address: string, http: boolean, snapshot: () => Promise<StatsSnapshot>): Promise<{ local: string; close(): void }> {
  const where = await parseAddress(address, '127.0.0.1');
  if ('path' in where) await removeStaleSocket(where.path);
  const server = net.createServer((socket) => {
    socket.on('error', () => {});
    const deadline = setTimeout(() => socket.destroy(), CONNECTION_DEADLINE_MS);
    socket.on('close', () => clearTimeout(deadline));
    const answer = http ? answerHttp(socket, snapshot) : snapshot().then((s) => void socket.end(statsJson(s)));
    answer.catch((error: unknown) => {
      log.error(`stats: ${(error as Error).message}`);
      socket.destroy();
    });
  });
  server.maxConnections = MAX_CONNECTIONS;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      // Said as every other bind mistake is: the option, the address, the cause.
      const cause = typeof error.errno === 'number' ? describeErrno(error.errno) : error.message;
      reject(new TsgiError(ErrorCodes.LISTEN, `--stats ${address}: ${cause}`, { cause: error }));
    });
    if ('path' in where) server.listen(where.path, resolve);
    else server.listen(where.port, where.host, resolve);
  });
  // Accepting can fail once listening (out of descriptors: EMFILE); the master must
  // not die of it. Said once per ACCEPT_ERROR_EVERY_MS, with how often it happened.
  let lastSaid = -Infinity;
  let unsaid = 0;
  server.on('error', (error) => {
    const now = performance.now();
    if (now - lastSaid < ACCEPT_ERROR_EVERY_MS) return void unsaid++;
    log.warn(`stats: cannot accept a connection: ${error.message}${unsaid > 0 ? ` (and ${unsaid} more since the last line)` : ''}`);
    lastSaid = now;
    unsaid = 0;
  });
  if ('path' in where) await chmod(where.path, 0o600);
  const bound = server.address();
  const local = typeof bound === 'string' ? bound : `${bound!.family === 'IPv6' ? `[${bound!.address}]` : bound!.address}:${bound!.port}`;
  return { local, close: () => server.close() };
}
