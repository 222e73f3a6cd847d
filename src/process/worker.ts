/**
 * A worker: the app, a Server on the sockets, and what the master watches through the
 * scoreboard (requests, response times, the request whose app call is running, the
 * event loop's heartbeat). It logs each request, ends requests that outrun --harakiri,
 * asks to be recycled at --max-requests, and stops gracefully when told.
 *
 * Run under a master (`worker-main.ts`, the usual case), or alone with `--master false`,
 * where it binds its sockets itself and nobody restarts it.
 */
import { performance } from 'node:perf_hooks';
import type { App } from '../app/contract.js';
import type { Config } from '../config/index.js';
import { headerPairs } from '../config/derived.js';
import type { Exchange } from '../server/exchange.js';
import { log } from '../log.js';
import { LogWriter } from '../observe/log-writer.js';
import { requestLogger, type LoggedRequest } from '../observe/request-log.js';
import { Field, monotonicMs, WorkerSlot } from './scoreboard.js';
import { RequestMetrics, RuntimeSampler } from '../observe/metrics.js';
import { serverLimits } from '../server/reactor-options.js';
import { staticFilesOptions } from '../server/static-files.js';
import { Server, type RequestObserver, type ServerOptions } from '../server/server.js';
import type { FromWorker } from './worker-protocol.js';
import { describeError, ErrorCodes, TsgiError } from '../errors.js';
import { waitUntilSettled } from '../adapters/wait-until.js';
import type { AppHooks } from './load-app.js';

/** How often the worker's loop reports in and sweeps for --harakiri, ms. */
const WORKER_TICK_MS = 200;

/** The server options the config asks for. */
function serverOptions(config: Config): ServerOptions {
  return {
    ...serverLimits(config),
    multiprocess: config.master && config.processes > 1,
    healthPath: config['health-path'],
    addHeaders: headerPairs(config['add-header']),
    postBuffering: config['post-buffering'],
    staticFiles: staticFilesOptions(config),
    sendfile: !config['disable-sendfile'],
  };
}

/** A promise the app forgot to handle is the app's bug, not a reason to drop every
 * request in flight: it is logged and the worker goes on. */
export function logUnhandledRejections(): void {
  process.on('unhandledRejection', (reason) => {
    log.error(`unhandled promise rejection in the app: ${describeError(reason)}`);
  });
}

/** Whether `work` settles within `ms`; it runs on either way (nothing can stop it). */
async function settlesWithin(work: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((resolve) => (timer = setTimeout(resolve, ms, false)));
  try {
    return await Promise.race([work.then(() => true), late]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Runs the app's `onStart()` (opening pools, warming caches) before the worker reports
 * ready, within what is left of `--start-timeout` since the process started; a throw or
 * a timeout is a failed app load, which the caller reports as one.
 */
export async function runOnStart(hooks: AppHooks, config: Config): Promise<void> {
  if (!hooks.onStart) return;
  const leftMs = Math.max(0, config['start-timeout'] * 1000 - performance.now());
  let failure: unknown;
  const run = Promise.resolve()
    .then(hooks.onStart)
    .catch((error: unknown) => void (failure = error ?? new Error('rejected')));
  if (!(await settlesWithin(run, leftMs))) {
    throw new TsgiError(ErrorCodes.MODULE_LOAD, `--module ${config.module}: onStart() did not settle within --start-timeout ${config['start-timeout']} s`);
  }
  if (failure !== undefined) {
    throw new TsgiError(ErrorCodes.MODULE_LOAD, `--module ${config.module}: onStart() failed: ${describeError(failure)}`, { cause: failure });
  }
}

/** Who the worker is. */
export interface WorkerIdentity {
  /** 1..processes (0 without a master). */
  readonly wid: number;
  readonly pid: number;
}

export class Worker implements RequestObserver {
  readonly server: Server;
  private readonly line: ((r: LoggedRequest) => string | null) | null;
  /** The instance's requests, for the lines that print them. */
  private readonly totalRequests = (): number => this.slot.totalRequests();
  private readonly harakiriMs: number;
  /** --slowlog-timeout, ms (0: off); the requests reported already, or covered by the
   * master's line for a blocked loop. */
  private readonly slowlogMs: number;
  private readonly slowSeen = new WeakSet<Exchange>();
  /** performance.now() at the last tick: a long gap means the loop was blocked. */
  private lastTick = performance.now();
  /** Added to `performance.now()` to get the scoreboard's clock. */
  private readonly toMonotonic = monotonicMs() - performance.now();
  /** The request count at which to ask for recycling (0: never). */
  private readonly recycleAt: number;
  private readonly ticker: NodeJS.Timeout;
  /** /metrics' counters and gauges: kept when the stats can be scraped (--stats, a master). */
  private readonly metrics: RequestMetrics | null = null;
  private readonly runtime: RuntimeSampler | null = null;
  private stopping: Promise<number> | null = null;

  constructor(
    app: App,
    private readonly config: Config,
    private readonly identity: WorkerIdentity,
    private readonly slot: WorkerSlot,
    private readonly logs: LogWriter,
    private readonly report: (message: FromWorker) => void,
    private readonly hooks: AppHooks = {},
  ) {
    this.line = requestLogger(config);
    this.harakiriMs = config.harakiri * 1000;
    this.slowlogMs = config['slowlog-timeout'] * 1000;
    this.recycleAt = config['max-requests'] > 0 ? config['max-requests'] + identity.wid * config['max-requests-delta'] : 0;
    this.server = new Server(app, serverOptions(config));
    this.server.observer = this;
    this.ticker = setInterval(() => this.tick(), WORKER_TICK_MS);
    if (config.stats !== undefined && identity.wid > 0) {
      this.metrics = new RequestMetrics(slot.metrics);
      this.runtime = new RuntimeSampler(slot.metrics, () => this.server.connections);
    }
    this.slot.tick();
  }

  // ---- RequestObserver -----------------------------------------------------------------

  started(exchange: Exchange): void {
    this.slot.fields[Field.IN_FLIGHT]!++;
    // Named only when someone may ask: the master, if this call never returns.
    if (this.harakiriMs > 0 || this.slowlogMs > 0) this.slot.enter(exchange.describeRequest());
  }

  returned(): void {
    if (this.harakiriMs > 0 || this.slowlogMs > 0) this.slot.leave();
  }

  tunneled(): void {
    this.slot.fields[Field.TUNNELS]!++;
  }

  finished(exchange: Exchange): void {
    const f = this.slot.fields;
    const msecs = performance.now() - exchange.startedAt;
    f[Field.IN_FLIGHT]!--;
    if (exchange.tunnel) f[Field.TUNNELS]!--;
    const requests = ++f[Field.REQUESTS]!;
    f[Field.RESPONSE_TIME_US]! += msecs * 1000;
    f[Field.TX]! += exchange.headText.length + exchange.bodyBytes;
    if (exchange.failed) f[Field.EXCEPTIONS]!++;
    this.metrics?.request(exchange.record.protocol, exchange.status, msecs / 1000, exchange.inputBytes, exchange.headText.length + exchange.bodyBytes);
    if (this.line) {
      const text = this.line({
        exchange,
        msecs,
        startedAtEpoch: performance.timeOrigin + exchange.startedAt,
        pid: this.identity.pid,
        wid: this.identity.wid,
        workerRequests: requests,
        totalRequests: this.totalRequests,
      });
      if (text !== null) this.logs.line(text);
    }
    if (requests === this.recycleAt) this.report({ kind: 'recycle', reason: `--max-requests ${this.recycleAt} reached` });
  }

  // ---- the loop's heartbeat --------------------------------------------------------------

  /** Ends requests past --harakiri, then tells the master the loop is alive. */
  private tick(): void {
    const now = performance.now();
    // Blocked past two ticks: the master saw it, and logged the request it was stuck in.
    const blockedSince = now - this.lastTick > 2 * WORKER_TICK_MS ? this.lastTick : Infinity;
    this.lastTick = now;
    let oldest: Exchange | undefined;
    for (const exchange of this.server.inFlight()) {
      // A tunnel's request was answered when it switched: it lives as long as its
      // connection, and no app call of it is running.
      if (exchange.tunnel) continue;
      if (this.slowlogMs > 0 && now - exchange.startedAt > this.slowlogMs) this.slow(exchange, now, blockedSince);
      if (this.harakiriMs === 0 || now - exchange.startedAt <= this.harakiriMs) {
        if (oldest === undefined || exchange.startedAt < oldest.startedAt) oldest = exchange;
      } else {
        this.harakiri(exchange, now);
      }
    }
    this.slot.tick(oldest && { request: oldest.describeRequest(), since: oldest.startedAt + this.toMonotonic });
  }

  /** --slowlog-timeout: a request still running, reported once; the loop turns, so it
   * awaits I/O or a timer. One that passed the timeout while the loop was blocked is left
   * to the master's line, which has the stack. */
  private slow(exchange: Exchange, now: number, blockedSince: number): void {
    if (this.slowSeen.has(exchange)) return;
    this.slowSeen.add(exchange);
    if (exchange.startedAt + this.slowlogMs > blockedSince) return;
    this.report({ kind: 'slow', request: exchange.describeRequest(), seconds: (now - exchange.startedAt) / 1000, waiting: exchange.waitingOn() });
  }

  private harakiri(exchange: Exchange, now: number): void {
    const request = exchange.describeRequest();
    const answered = exchange.expire(this.config.harakiri);
    this.slot.fields[Field.HARAKIRI]!++;
    const seconds = ((now - exchange.startedAt) / 1000).toFixed(1);
    const outcome = answered ? 'answered 504' : 'connection reset (its response had begun)';
    log.warn(
      `harakiri: worker ${this.identity.wid} (pid ${this.identity.pid}): ${request} ran for ${seconds} s (--harakiri ${this.config.harakiri}); aborted, ${outcome}`,
    );
  }

  // ---- stopping ----------------------------------------------------------------------------

  /** Stops accepting, lets requests in flight finish within `graceMs` (then aborts them),
   * then, with `hooks` (a graceful stop, reload or recycle), lets the app's waitUntil()
   * promises settle and runs its onStop(), in what is left of `graceMs`; flushes the logs.
   * Resolves with the number of requests that had to be aborted. Open tunnels
   * (WebSockets) count as in flight: they get the same time, then are closed. */
  stop(graceMs: number, hooks = true): Promise<number> {
    this.stopping ??= (async () => {
      const deadline = performance.now() + graceMs;
      await this.server.windDown(graceMs);
      const tunnels = this.server.openTunnels;
      const requests = this.server.activeRequests - tunnels;
      this.server.close();
      clearInterval(this.ticker);
      this.runtime?.close();
      const who = `worker ${this.identity.wid} (pid ${this.identity.pid})`;
      if (requests > 0) log.warn(`${who}: aborted ${requests} request(s) still running after ${graceMs / 1000} s`);
      if (tunnels > 0) log.warn(`${who}: closed ${tunnels} tunnel(s) (WebSockets) still open after ${graceMs / 1000} s`);
      if (hooks) await this.runOnStop(who, deadline);
      await this.logs.flushed();
      return requests + tunnels;
    })();
    return this.stopping;
  }

  /** After the last request: the waitUntil() promises, then onStop(), until `deadline`. */
  private async runOnStop(who: string, deadline: number): Promise<void> {
    const left = (): number => Math.max(0, deadline - performance.now());
    if (!(await settlesWithin(waitUntilSettled(), left()))) log.warn(`${who}: waitUntil() promises still pending at the end of the grace; not waited for`);
    const onStop = this.hooks.onStop;
    if (!onStop) return;
    const run = Promise.resolve()
      .then(onStop)
      .catch((error: unknown) => log.error(`${who}: onStop() failed: ${describeError(error)}`));
    if (!(await settlesWithin(run, left()))) log.warn(`${who}: onStop() still running at the end of the grace; exiting without it`);
  }

  /**
   * An exception nothing caught (a throw in a timer, an 'error' event without a
   * listener): the process may be in any state, so it takes no new request; the requests
   * in flight, which had nothing to do with it as far as anyone knows, get `graceMs` to
   * finish. Resolves when the worker should exit. A second one only adds its line.
   */
  uncaught(error: unknown, graceMs: number): Promise<number> {
    const who = `worker ${this.identity.wid} (pid ${this.identity.pid})`;
    const text = error instanceof Error && error.stack ? error.stack : describeError(error);
    if (this.stopping) {
      log.error(`${who}: another uncaught exception while stopping: ${text}`);
      return this.stopping;
    }
    const requests = [...this.server.inFlight()].filter((e) => !e.tunnel).map((e) => e.describeRequest());
    const shown = requests.length > 5 ? `${requests.slice(0, 5).join(', ')}, …` : requests.join(', ');
    log.error(`${who}: uncaught exception: ${text}`);
    log.error(
      requests.length > 0
        ? `${who}: accepting nothing more; finishing ${requests.length} request(s) in flight (${shown}) within --uncaught-exception-grace ${graceMs / 1000} s, then exiting`
        : `${who}: no request in flight; exiting`,
    );
    this.report({ kind: 'uncaught' });
    // No onStop(): the process may be in any state.
    return this.stop(graceMs, false);
  }

  /** Closes at once: requests still running are aborted. */
  close(): void {
    clearInterval(this.ticker);
    this.runtime?.close();
    this.server.close();
  }
}
