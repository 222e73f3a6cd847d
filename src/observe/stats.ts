/**
 * The stats server (`--stats`): uWSGI-compatible JSON, the fields uwsgitop reads, written
 * to whoever connects; with `--stats-http`, an HTTP server with the JSON at `/`, a
 * Prometheus text exposition at `/metrics`, and `/livez` and `/readyz` for probes. Nothing of any request is ever in it: no
 * header, cookie, query string or body.
 */
import { readdirSync } from 'node:fs';
import { chmod } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import net from 'node:net';
import { parseAddress, removeStaleSocket } from '../net/sockets.js';
import { describeErrno } from '../net/server-handle.js';
import { ErrorCodes, TsgiError } from '../errors.js';
import { log } from '../log.js';
import { Exposition, OPENMETRICS_TYPE, TEXT_TYPE, wantsOpenMetrics, type Labels, type Sample } from './exposition.js';
import { DURATION_BUCKETS, GC_BUCKETS, RESTART_REASONS, SIZE_BUCKETS, type ContainerMetrics, type HistogramSeries, type WorkerRuntime } from './metrics.js';

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
  /** For /metrics, when the stats are served (`src/observe/metrics.ts`). */
  metrics?: ContainerMetrics;
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

/**
 * The `/metrics` exposition: Prometheus text (0.0.4), or OpenMetrics 1.0 when asked. The
 * uWSGI fields per worker, the container's request histograms and status codes, each
 * worker's runtime under prom-client's names (`process_*`, `nodejs_*`) with a `worker`
 * label (the master's own: `worker="master"`), restarts by reason, and the build.
 */
export function prometheusText(s: StatsSnapshot, openMetrics = false): string {
  const out = new Exposition(openMetrics);
  const perWorker = (pick: (w: WorkerStats) => number, created?: (w: WorkerStats) => number): Sample[] =>
    s.workers.map((w) => [[['worker', w.id]], pick(w), created?.(w)]);
  // A process's own counters begin with it; a place's outlive its processes.
  const spawned = (w: WorkerStats): number => w.last_spawn;
  const sinceMaster = (): number => MASTER_START;
  // A worker's own socket also says whose it is; a shared one has no worker label.
  const perSocket = (pick: (k: SocketStats) => number): Sample[] =>
    s.sockets.map((k) => [[['socket', k.name], ['proto', k.proto], ...(k.worker === undefined ? [] : [['worker', k.worker] as const])], pick(k)]);
  out.info('tsgi_build', 'The tsgi version and the Node.js running it.', [
    ['version', s.version],
    ['node_version', process.versions.node],
  ]);
  out.gauge('tsgi_workers', 'Worker places (--processes).', [[[], s.workers.length]]);
  out.gauge('tsgi_workers_running', 'Worker places running a process now (--cheaper and tsgi ctl workers change it).', [
    [[], s.workers.filter((w) => w.status !== 'cheap').length],
  ]);
  out.gauge(
    'tsgi_worker_state',
    'The worker place by state (cheap: not running, idle, busy, starting, stopping, respawning): 1 for its state now.',
    s.workers.map((w) => [
      [
        ['worker', w.id],
        ['state', w.status],
      ],
      1,
    ]),
  );
  out.gauge(
    'tsgi_worker_up',
    'Whether a process serves the worker place.',
    perWorker((w) => (w.accepting ? 1 : 0)),
  );
  out.counter(
    'tsgi_worker_requests',
    'Requests served by the worker process.',
    perWorker((w) => w.requests, spawned),
  );
  out.counter(
    'tsgi_worker_exceptions',
    'Requests whose app failed.',
    perWorker((w) => w.exceptions, spawned),
  );
  out.counter(
    'tsgi_worker_harakiri',
    'Requests and workers ended by --harakiri.',
    perWorker((w) => w.harakiri_count, spawned),
  );
  out.counter(
    'tsgi_worker_uncaught_exceptions',
    'Exceptions nothing caught in the app; each costs the worker, after its requests in flight.',
    perWorker((w) => w.uncaught_exceptions, sinceMaster),
  );
  out.counter(
    'tsgi_worker_respawns',
    'Times the worker place was respawned.',
    perWorker((w) => w.respawn_count, sinceMaster),
  );
  out.gauge(
    'tsgi_worker_in_flight',
    'Requests being served.',
    perWorker((w) => w.in_flight),
  );
  out.gauge(
    'tsgi_worker_tunnels',
    'Open tunnels (WebSockets and other upgraded connections), counted in tsgi_worker_in_flight too.',
    perWorker((w) => w.tunnels),
  );
  out.counter(
    'tsgi_worker_response_time_seconds',
    'Sum of response times.',
    perWorker((w) => w.running_time / 1e6, spawned),
  );
  out.counter(
    'tsgi_worker_sent_bytes',
    'Response bytes sent.',
    perWorker((w) => w.tx, spawned),
  );
  out.gauge(
    'tsgi_worker_resident_memory_bytes',
    'Resident memory of the worker process.',
    perWorker((w) => w.rss),
  );
  out.gauge('tsgi_crash_loop', 'Whether a worker place keeps dying soon after it starts.', [[[], s.crash_loop ? 1 : 0]]);
  out.gauge('tsgi_draining', 'Whether a stop (or --shutdown-delay before it) began: /readyz answers 503.', [[[], s.draining ? 1 : 0]]);
  out.gauge('tsgi_requests_in_flight', 'Requests being served by every worker (tunnels included).', [[[], s.load]]);
  out.gauge(
    'tsgi_listen_queue',
    'Connections waiting to be accepted (TCP sockets).',
    perSocket((k) => k.queue),
  );
  out.gauge(
    'tsgi_listen_queue_max',
    'Size of the listen queue.',
    perSocket((k) => k.max_queue),
  );
  if (s.metrics) containerMetrics(out, s.metrics);
  const workers = (s.metrics?.runtimes ?? []).map((r): ProcessRow => [[['worker', r.worker]], r]);
  runtimeFamilies(out, [...workers, [[['worker', 'master']], masterRuntime()]]);
  out.gauge('process_open_fds', 'Open file descriptors of the master.', [[[['worker', 'master']], openDescriptors()]]);
  if (s.metrics) {
    const runtimes = s.metrics.runtimes;
    out.histogram(
      'nodejs_gc_duration_seconds',
      'Garbage collection pauses, by kind.',
      GC_BUCKETS,
      runtimes.flatMap((r) => r.gc.map((g) => ({ ...g, extra: [['worker', r.worker]] as Labels, created: r.startTime }))),
    );
  }
  return out.text();
}

/** When the master started, seconds since the epoch: the container's counters (workers
 * gone included) begin then. */
const MASTER_START = performance.timeOrigin / 1000;

function sinceStart(series: readonly HistogramSeries[]): Array<HistogramSeries & { created: number }> {
  return series.map((one) => ({ ...one, created: MASTER_START }));
}

/** The request histograms, status codes, restarts and the workers' runtimes. */
function containerMetrics(out: Exposition, m: ContainerMetrics): void {
  out.histogram(
    'tsgi_request_duration_seconds',
    'Time from the request to the end of its response, by protocol and status class (none: no status was sent).',
    DURATION_BUCKETS,
    sinceStart(m.totals.duration),
  );
  out.histogram('tsgi_request_size_bytes', 'Request body bytes received, by protocol.', SIZE_BUCKETS, sinceStart(m.totals.requestSize));
  out.histogram('tsgi_response_size_bytes', 'Response bytes sent (head and body), by protocol.', SIZE_BUCKETS, sinceStart(m.totals.responseSize));
  out.counter(
    'tsgi_responses',
    'Responses by status code (100-599; other: none was sent).',
    m.totals.statuses.map(([code, count]) => [[['code', code]], count, MASTER_START]),
  );
  out.counter(
    'tsgi_worker_restarts',
    'Workers replaced, by reason: harakiri, max-requests, rss (--reload-on-rss), lifetime (--max-worker-lifetime), crash, uncaught, reload.',
    RESTART_REASONS.map((reason) => [[['reason', reason]], m.restarts.find(([r]) => r === reason)?.[1] ?? 0, MASTER_START]),
  );
  if (m.listenOverflows !== null) {
    out.counter('tsgi_listen_overflows', "Connections the kernel dropped on a full listen queue (every socket of the host's network namespace).", [
      [[], m.listenOverflows],
    ]);
  }
  const per = (pick: (r: ContainerMetrics['runtimes'][number]) => number): Sample[] => m.runtimes.map((r) => [[['worker', r.worker]], pick(r)]);
  out.gauge(
    'tsgi_worker_open_connections',
    'Connections open in the worker (tunnels included).',
    per((r) => r.connections),
  );
  out.gauge(
    'tsgi_worker_eventloop_utilization',
    'Share of the last second the event loop was busy (performance.eventLoopUtilization).',
    per((r) => r.eventLoopUtilization),
  );
}

/** A process's labels and runtime. */
type ProcessRow = readonly [Labels, Omit<WorkerRuntime, 'gc'>];

/** prom-client's default families, for the given processes. */
function runtimeFamilies(out: Exposition, processes: readonly ProcessRow[]): void {
  const each = (pick: Pick): Sample[] => processes.map(([labels, r]) => [labels, pick(r), r.startTime]);
  type Pick = (r: Omit<WorkerRuntime, 'gc'>) => number;
  const counters: Array<[string, string, Pick]> = [
    ['process_cpu_user_seconds', 'User CPU time spent, seconds.', (r) => r.cpuUser],
    ['process_cpu_system_seconds', 'System CPU time spent, seconds.', (r) => r.cpuSystem],
    ['process_cpu_seconds', 'User and system CPU time spent, seconds.', (r) => r.cpuUser + r.cpuSystem],
  ];
  const gauges: Array<[string, string, Pick]> = [
    ['process_start_time_seconds', 'Start time of the process since the epoch, seconds.', (r) => r.startTime],
    ['process_resident_memory_bytes', 'Resident memory size, bytes.', (r) => r.rss],
    ['nodejs_heap_size_total_bytes', 'V8 heap size, bytes.', (r) => r.heapTotal],
    ['nodejs_heap_size_used_bytes', 'V8 heap used, bytes.', (r) => r.heapUsed],
    ['nodejs_external_memory_bytes', 'Memory of C++ objects bound to JavaScript (Buffers among them), bytes.', (r) => r.external],
    ['nodejs_eventloop_lag_seconds', 'Event loop delay, mean over the last second (monitorEventLoopDelay).', (r) => r.lagMean],
    ['nodejs_eventloop_lag_min_seconds', 'Minimum event loop delay over the last second.', (r) => r.lagMin],
    ['nodejs_eventloop_lag_max_seconds', 'Maximum event loop delay over the last second.', (r) => r.lagMax],
    ['nodejs_eventloop_lag_mean_seconds', 'Mean event loop delay over the last second.', (r) => r.lagMean],
    ['nodejs_eventloop_lag_p50_seconds', 'Median event loop delay over the last second.', (r) => r.lagP50],
    ['nodejs_eventloop_lag_p90_seconds', '90th percentile of the event loop delay over the last second.', (r) => r.lagP90],
    ['nodejs_eventloop_lag_p99_seconds', '99th percentile of the event loop delay over the last second.', (r) => r.lagP99],
  ];
  for (const [name, help, pick] of counters) out.counter(name, help, each(pick));
  for (const [name, help, pick] of gauges) out.gauge(name, help, each(pick));
}

/** The master's own process, sampled now; its event loop delay is not measured (0). */
function masterRuntime(): Omit<WorkerRuntime, 'gc'> {
  const memory = process.memoryUsage();
  const cpu = process.cpuUsage();
  return {
    eventLoopUtilization: performance.eventLoopUtilization().utilization,
    lagMean: 0,
    lagMin: 0,
    lagMax: 0,
    lagP50: 0,
    lagP90: 0,
    lagP99: 0,
    heapUsed: memory.heapUsed,
    heapTotal: memory.heapTotal,
    external: memory.external,
    rss: memory.rss,
    cpuUser: cpu.user / 1e6,
    cpuSystem: cpu.system / 1e6,
    startTime: Math.floor(performance.timeOrigin / 1000),
    connections: 0,
  };
}

function openDescriptors(): number {
  try {
    return readdirSync('/proc/self/fd').length;
  } catch {
    return 0;
  }
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
  else if (path === '/metrics') {
    const openMetrics = wantsOpenMetrics(/^accept:[ \t]*(.*)$/im.exec(head)?.[1]);
    response = httpResponse('200 OK', openMetrics ? OPENMETRICS_TYPE : TEXT_TYPE, prometheusText(await snapshot(), openMetrics));
  }
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
