/**
 * What `/metrics` graphs beyond the uWSGI fields: request duration and body size
 * histograms, responses by status code, and each worker's runtime (event loop, heap, GC,
 * CPU). Each worker counts into its own block of the scoreboard file (`METRICS_BYTES`
 * after the slots), so a request costs a few float64 increments in shared memory and no
 * allocation; the runtime gauges are sampled once a second. The master sums the blocks
 * of the live workers with what the dead ones had counted (`Retired`), so the container's
 * counters only go up.
 *
 * Every label set is bounded: protocol (3) × status class (6), status codes 100-599 (and
 * "other"), GC kind (4). No path, host or header is ever a label.
 */
import { constants, monitorEventLoopDelay, performance, PerformanceObserver, type IntervalHistogram } from 'node:perf_hooks';

/** Request duration buckets, seconds (the `le` labels of tsgi_request_duration_seconds). */
export const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60] as const;
/** Body size buckets, bytes (tsgi_request_size_bytes, tsgi_response_size_bytes). */
export const SIZE_BUCKETS = [0, 100, 1000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000] as const;
/** GC pause buckets, seconds: prom-client's for nodejs_gc_duration_seconds. */
export const GC_BUCKETS = [0.001, 0.01, 0.1, 1, 2, 5] as const;

/** Label values, by the index the counters use. */
export const PROTOCOLS = ['uwsgi', 'fastcgi', 'http'] as const;
/** `none`: the request ended before any status was sent (a reset, an abort). */
export const STATUS_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx', 'none'] as const;
export const GC_KINDS = ['minor', 'major', 'incremental', 'weakcb'] as const;
/** Status codes counted one by one; anything else (none sent) is "other". */
const FIRST_CODE = 100;
const CODES = 500;

/** A histogram's series: a count per bucket and one past the last (+Inf), then the sum. */
const seriesLength = (buckets: readonly number[]): number => buckets.length + 2;

/** The runtime gauges, in block order. */
export const RUNTIME_FIELDS = [
  'eventLoopUtilization',
  'lagMean',
  'lagMin',
  'lagMax',
  'lagP50',
  'lagP90',
  'lagP99',
  'heapUsed',
  'heapTotal',
  'external',
  'rss',
  'cpuUser',
  'cpuSystem',
  'startTime',
  'connections',
] as const;
export type RuntimeField = (typeof RUNTIME_FIELDS)[number];

const DURATION_AT = 0;
const REQUEST_SIZE_AT = DURATION_AT + seriesLength(DURATION_BUCKETS) * PROTOCOLS.length * STATUS_CLASSES.length;
const RESPONSE_SIZE_AT = REQUEST_SIZE_AT + seriesLength(SIZE_BUCKETS) * PROTOCOLS.length;
const STATUS_AT = RESPONSE_SIZE_AT + seriesLength(SIZE_BUCKETS) * PROTOCOLS.length;
/** The float64 fields of a worker's metrics block: first the counters (summed over the
 * workers, kept when a worker dies: [0, COUNTERS_END)), then the runtime gauges of the
 * worker's last sample and its GC histogram (its own, gone with it). */
const COUNTERS_END = STATUS_AT + CODES + 1;
const RUNTIME_AT = COUNTERS_END;
const GC_AT = RUNTIME_AT + RUNTIME_FIELDS.length;
const BLOCK_END = GC_AT + seriesLength(GC_BUCKETS) * GC_KINDS.length;

/** Bytes of a worker's block in the scoreboard file. */
export const METRICS_BYTES = 8192;
if (BLOCK_END * 8 > METRICS_BYTES) throw new Error(`a metrics block needs ${BLOCK_END * 8} bytes, has ${METRICS_BYTES}`);
/** The index of the first bucket whose bound is at least `value` (the last: +Inf). */
function bucketOf(buckets: readonly number[], value: number): number {
  let i = 0;
  while (i < buckets.length && value > buckets[i]!) i++;
  return i;
}

/** Counts `value` into the histogram series at `at`. */
function observe(fields: Float64Array, at: number, buckets: readonly number[], value: number): void {
  fields[at + bucketOf(buckets, value)]!++;
  fields[at + buckets.length + 1]! += value;
}

/** The worker's side: counts each finished request into its block. */
export class RequestMetrics {
  constructor(private readonly fields: Float64Array) {}

  /** `protocol`: the record's (1 uwsgi, 2 FastCGI, 3 HTTP); `status` 0 if none was sent. */
  request(protocol: number, status: number, seconds: number, requestBytes: number, responseBytes: number): void {
    const f = this.fields;
    const p = protocol - 1;
    const known = status >= FIRST_CODE && status < FIRST_CODE + CODES;
    const statusClass = known ? Math.floor(status / 100) - 1 : STATUS_CLASSES.length - 1;
    observe(f, DURATION_AT + (p * STATUS_CLASSES.length + statusClass) * seriesLength(DURATION_BUCKETS), DURATION_BUCKETS, seconds);
    observe(f, REQUEST_SIZE_AT + p * seriesLength(SIZE_BUCKETS), SIZE_BUCKETS, requestBytes);
    observe(f, RESPONSE_SIZE_AT + p * seriesLength(SIZE_BUCKETS), SIZE_BUCKETS, responseBytes);
    f[STATUS_AT + (known ? status - FIRST_CODE : CODES)]!++;
  }
}

/** How often a worker samples its runtime gauges, ms. */
export const RUNTIME_EVERY_MS = 1000;
/** monitorEventLoopDelay's timer, ms: prom-client's default. */
const LAG_RESOLUTION_MS = 10;
const GC_KIND_OF: Record<number, number> = {
  [constants.NODE_PERFORMANCE_GC_MINOR]: 0,
  [constants.NODE_PERFORMANCE_GC_MAJOR]: 1,
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 2,
  [constants.NODE_PERFORMANCE_GC_WEAKCB]: 3,
};

/** The worker's side: samples its runtime into its block, every RUNTIME_EVERY_MS. */
export class RuntimeSampler {
  private readonly lag: IntervalHistogram = monitorEventLoopDelay({ resolution: LAG_RESOLUTION_MS });
  private readonly gc: PerformanceObserver;
  private lastLoop = performance.eventLoopUtilization();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly fields: Float64Array,
    private readonly connections: () => number,
  ) {
    this.lag.enable();
    this.gc = new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) {
        const kind = GC_KIND_OF[(entry as { detail?: { kind: number } }).detail?.kind ?? -1];
        if (kind !== undefined) observe(fields, GC_AT + kind * seriesLength(GC_BUCKETS), GC_BUCKETS, entry.duration / 1000);
      }
    });
    this.gc.observe({ entryTypes: ['gc'] });
    this.set('startTime', (performance.timeOrigin / 1000) | 0);
    this.sample();
    this.timer = setInterval(() => this.sample(), RUNTIME_EVERY_MS);
    this.timer.unref();
  }

  private set(field: RuntimeField, value: number): void {
    this.fields[RUNTIME_AT + RUNTIME_FIELDS.indexOf(field)] = value;
  }

  private sample(): void {
    const loop = performance.eventLoopUtilization();
    this.set('eventLoopUtilization', performance.eventLoopUtilization(loop, this.lastLoop).utilization);
    this.lastLoop = loop;
    // The histogram is in ns; empty (no sample yet) it answers NaN or huge values.
    const seconds = (ns: number): number => (Number.isFinite(ns) && this.lag.count > 0 ? ns / 1e9 : 0);
    this.set('lagMean', seconds(this.lag.mean));
    this.set('lagMin', seconds(this.lag.min));
    this.set('lagMax', seconds(this.lag.max));
    this.set('lagP50', seconds(this.lag.percentile(50)));
    this.set('lagP90', seconds(this.lag.percentile(90)));
    this.set('lagP99', seconds(this.lag.percentile(99)));
    this.lag.reset();
    const memory = process.memoryUsage();
    this.set('heapUsed', memory.heapUsed);
    this.set('heapTotal', memory.heapTotal);
    this.set('external', memory.external);
    this.set('rss', memory.rss);
    const cpu = process.cpuUsage();
    this.set('cpuUser', cpu.user / 1e6);
    this.set('cpuSystem', cpu.system / 1e6);
    this.set('connections', this.connections());
  }

  close(): void {
    clearInterval(this.timer);
    this.gc.disconnect();
    this.lag.disable();
  }
}

/** One histogram series as the exposition shows it. */
export interface HistogramSeries {
  labels: ReadonlyArray<readonly [string, string]>;
  /** Per bucket, not cumulative, and one more for +Inf. */
  counts: number[];
  sum: number;
}

/** The container's request counters (live workers and dead ones), ready to expose. */
export interface RequestTotals {
  duration: HistogramSeries[];
  requestSize: HistogramSeries[];
  responseSize: HistogramSeries[];
  /** Non-zero codes only: [code or "other", count]. */
  statuses: Array<[string, number]>;
}

/** The series of a histogram at `at` in `fields` (copied out). */
function series(fields: Float64Array, at: number, buckets: readonly number[], labels: HistogramSeries['labels']): HistogramSeries {
  const counts = Array.from(fields.subarray(at, at + buckets.length + 1));
  return { labels, counts, sum: fields[at + buckets.length + 1]! };
}

/** Reads the counters of a block (or of a sum of blocks). */
export function requestTotals(fields: Float64Array): RequestTotals {
  const duration: HistogramSeries[] = [];
  for (const [p, protocol] of PROTOCOLS.entries()) {
    for (const [c, statusClass] of STATUS_CLASSES.entries()) {
      const at = DURATION_AT + (p * STATUS_CLASSES.length + c) * seriesLength(DURATION_BUCKETS);
      const one = series(fields, at, DURATION_BUCKETS, [
        ['protocol', protocol],
        ['status_class', statusClass],
      ]);
      // A series nobody used stays out: fewer, still bounded, samples.
      if (one.counts.some((n) => n > 0)) duration.push(one);
    }
  }
  const sizes = (base: number) =>
    PROTOCOLS.map((protocol, p) => series(fields, base + p * seriesLength(SIZE_BUCKETS), SIZE_BUCKETS, [['protocol', protocol]])).filter((s) =>
      s.counts.some((n) => n > 0),
    );
  const statuses: Array<[string, number]> = [];
  for (let i = 0; i <= CODES; i++) {
    const count = fields[STATUS_AT + i]!;
    if (count > 0) statuses.push([i === CODES ? 'other' : String(FIRST_CODE + i), count]);
  }
  return { duration, requestSize: sizes(REQUEST_SIZE_AT), responseSize: sizes(RESPONSE_SIZE_AT), statuses };
}

/** One worker's runtime, as sampled last. */
export type WorkerRuntime = Record<RuntimeField, number> & { gc: HistogramSeries[] };

export function workerRuntime(fields: Float64Array): WorkerRuntime {
  const runtime = Object.fromEntries(RUNTIME_FIELDS.map((name, i) => [name, fields[RUNTIME_AT + i]!])) as Record<RuntimeField, number>;
  const gc = GC_KINDS.map((kind, k) => series(fields, GC_AT + k * seriesLength(GC_BUCKETS), GC_BUCKETS, [['kind', kind]]));
  return { ...runtime, gc };
}

/** The master's side: what dead workers had counted, so that totals never go down. */
export class Retired {
  readonly fields = new Float64Array(COUNTERS_END);

  /** Adds a worker's counters as it exits. */
  add(block: Float64Array): void {
    for (let i = 0; i < this.fields.length; i++) this.fields[i]! += block[i]!;
  }

  /** These and the live workers' counters, summed. */
  totals(live: readonly Float64Array[]): RequestTotals {
    const sum = Float64Array.from(this.fields);
    for (const block of live) for (let i = 0; i < sum.length; i++) sum[i]! += block[i]!;
    return requestTotals(sum);
  }
}

/** Why a worker was replaced, as tsgi_worker_restarts_total's `reason` label says it. */
export const RESTART_REASONS = ['harakiri', 'max-requests', 'rss', 'lifetime', 'crash', 'uncaught', 'reload'] as const;
export type RestartReason = (typeof RESTART_REASONS)[number];

/** The reason label of a recycling the master logged as `why` (`--max-requests 10 reached`). */
export function recycleReason(why: string): RestartReason {
  if (why.includes('--reload-on-rss')) return 'rss';
  if (why.includes('--max-worker-lifetime')) return 'lifetime';
  return 'max-requests';
}

/** What the master adds to a stats snapshot for `/metrics`. */
export interface ContainerMetrics {
  totals: RequestTotals;
  /** The runtime of the worker serving each place (ready ones). */
  runtimes: Array<WorkerRuntime & { worker: number }>;
  restarts: Array<[RestartReason, number]>;
  /** The kernel's count of connections dropped on full listen queues (TcpExt
   * ListenOverflows of /proc/net/netstat: every socket of the network namespace). */
  listenOverflows: number | null;
}
