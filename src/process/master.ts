/**
 * The master: spawns the workers on the sockets the CLI bound, and keeps them serving.
 * It respawns a worker that dies (at once, or with backoff when one dies again and again
 * soon after starting), reloads them gracefully (new workers accepting before old ones
 * stop), recycles them (--max-requests, --max-worker-lifetime, --reload-on-rss: a
 * replacement first), kills one whose event loop stays blocked past --harakiri, stops
 * them on SIGTERM, serves stats and routes their logs.
 *
 * It never loads the app nor the native reactor (it imports nothing from native/ or
 * server/), so a crash in either costs a worker, never the master.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { environmentOf, type Config } from '../config/index.js';
import { describeError, type ErrorCode, ErrorCodes, TsgiError } from '../errors.js';
import { log } from '../log.js';
import { LineSplitter, type LogWriter } from '../observe/log-writer.js';
import { Cheaper, cheaperSettings, initialWorkers, outOfBounds, workerBounds, type WorkerBounds } from './cheaper.js';
import { Slowlog } from '../observe/slowlog.js';
import { recycleReason, Retired, workerRuntime, type ContainerMetrics, type RestartReason } from '../observe/metrics.js';
import { workerExecArgv } from './node-args.js';
import { nameProcess } from './procname.js';
import { listenOverflows, listenQueues, memoryOf } from './proc.js';
import { Scoreboard, monotonicMs } from './scoreboard.js';
import { StackChannel, stackLines, wantsStacks } from './stack-capture.js';
import type { Duplex } from 'node:stream';
import { monotonicUsec } from './systemd.js';
import type { BoundSocket } from '../net/sockets.js';
import type { Generation, Reconfiguration } from './reconfigure.js';
import type { StatsSnapshot, WorkerStats } from '../observe/stats.js';
import { EXIT_APP_LOAD, WorkerFd, type FromWorker, type WorkerStart } from './worker-protocol.js';

const WORKER_MAIN = fileURLToPath(new URL('./worker-main.js', import.meta.url));
/** How often the master looks at its workers (harakiri precision), ms. */
const TICK_MS = 200;
/** Memory, lifetimes, touch files: every this many ticks. */
const SLOW_EVERY = 5;
/** A worker that lived this long after becoming ready did not die "soon after start". */
const STABLE_MS = 10_000;
/** Respawn backoff after deaths in a row soon after start, from the second: 0.1 s,
 * doubling, at most 30 s. */
const BACKOFF_FIRST_MS = 100;
const BACKOFF_MAX_MS = 30_000;
/** A worker asked to stop within a grace is killed this long after the grace, if alive. */
const KILL_MARGIN_MS = 1000;
/** Deaths in a row soon after start that make a crash loop (logged, in the stats). */
const CRASH_LOOP = 3;
/** How long a log reopen waits for the workers to say they reopened theirs. */
const REOPEN_WAIT_MS = 2000;

type WorkerState = 'starting' | 'ready' | 'stopping';

/** A worker process as forked, before its start message: what it was given then. */
interface Forked {
  readonly child: ChildProcess;
  /** The sockets on its descriptors, in order. */
  readonly sockets: readonly BoundSocket[];
  /** The descriptor of its stack probe's channel, when stacks may be asked for. */
  readonly probeFd: number | undefined;
  /** The configuration whose environment and Node flags it was forked with. */
  readonly config: Config;
}

/** One worker process. */
class WorkerProcess {
  state: WorkerState = 'starting';
  /** performance.now() when it became ready. */
  readyAt = 0;
  readonly spawnedAt = Date.now();
  /** Why the app could not be loaded, as the worker said. */
  failure: { code: ErrorCode; message: string } | null = null;
  /** Set when a limit asks for a replacement; `recycling` while one starts. */
  recycleWanted: string | null = null;
  recycling = false;
  /** Killed by the master for --harakiri. */
  harakiried = false;
  killTimer: NodeJS.Timeout | undefined;
  /** Its probe thread's channel (`stack-capture.ts`), when stacks may be asked for. */
  stacks: StackChannel | null = null;
  /** When the request last reported to the slowlog started (monotonic ms): once each. */
  slowSince = 0;
  memory = { rss: 0, vsz: 0 };
  exit: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  /** Resolves true once the worker is ready, false if it exits first. */
  readonly ready: Promise<boolean>;
  private settle!: (ready: boolean) => void;
  /** Resolves once the process has exited. */
  readonly exited: Promise<void>;
  private settleExit!: () => void;

  constructor(
    readonly wid: number,
    readonly slot: number,
    readonly child: ChildProcess,
  ) {
    this.ready = new Promise((resolve) => (this.settle = resolve));
    this.exited = new Promise((resolve) => (this.settleExit = resolve));
  }

  get pid(): number {
    return this.child.pid ?? 0;
  }

  get name(): string {
    return `worker ${this.wid} (pid ${this.pid})`;
  }

  markReady(): void {
    this.state = 'ready';
    this.readyAt = performance.now();
    this.settle(true);
  }

  markExited(code: number | null, signal: NodeJS.Signals | null): void {
    this.exit = { code, signal };
    this.settle(false);
    this.settleExit();
    this.logsReopened?.();
  }

  /** Called when the worker says it reopened `--logto`, or when it exits. */
  logsReopened: (() => void) | null = null;

  /** "exited with code 1" / "killed by SIGKILL". */
  describeExit(): string {
    if (!this.exit) return 'is running';
    return this.exit.signal ? `killed by ${this.exit.signal}` : `exited with code ${this.exit.code}`;
  }

  send(message: unknown): void {
    try {
      this.child.send(message as object);
    } catch {
      // The channel is already closed: the exit handler takes over.
    }
  }
}

/** A worker place (1..processes) and what outlives its processes. */
class Place {
  respawns = 0;
  harakiri = 0;
  /** Workers of this place that had an exception nothing caught. */
  uncaught = 0;
  /** Deaths in a row soon after start. */
  failures = 0;
  /** performance.now() before which no respawn happens (backoff). */
  retryAt = 0;
  pending: NodeJS.Timeout | undefined;
  /** Requests counted at the previous stats snapshot, for delta_requests. */
  lastRequests = 0;
  /** Not running now (--cheaper, `tsgi ctl workers`, SIGTTOU): no worker is respawned. */
  cheap = false;

  constructor(readonly wid: number) {}
}

export interface MasterOptions {
  config: Config;
  sockets: readonly BoundSocket[];
  /** The listen queue length workers listen with. */
  backlog: number;
  /** Where log lines go (stderr, or --logto), and the apps' stdout. */
  logs: LogWriter;
  stdout: LogWriter;
  /** The descriptor of the log now: each worker writes its own lines to it. */
  logFd: () => number;
  version: string;
  /** Called once the master is done (every worker gone), with the exit code it asks for. */
  onExit: (code: number) => void;
  /** Called when the workers cannot start (--need-app): the error to report. */
  onFatal: (error: TsgiError) => void;
  /** Tells systemd (`sd_notify` lines) how the service is: here, around a reload. */
  notify: (state: string) => void;
  /** Each reload's configuration, read again (src/process/reconfigure.ts): undefined to
   * keep the running one, null when it was refused (the reload is then not done). */
  reconfigure?: (why: string) => Promise<Reconfiguration | null | undefined>;
}

/** The options that say how many workers run: a reload changing one counts them afresh. */
const COUNT_OPTIONS = ['processes', 'cheaper', 'cheaper-initial', 'cheaper-step', 'cheaper-overload', 'cheaper-idle'] as const;

export class Master {
  private config: Config;
  /** The sockets new workers get; a reload may change them. */
  private sockets: readonly BoundSocket[];
  private readonly workers = new Set<WorkerProcess>();
  /** Every place there has been, 1..: a reload may make fewer of them current. */
  private readonly placeStore: Place[];
  private readonly scoreboard: Scoreboard;
  private readonly freeSlots: number[];
  private readonly touched = new Map<string, number>();
  private readonly ticker: NodeJS.Timeout;
  private ticks = 0;
  /** Every place has had a ready worker at once: start-up is over. */
  private booted = false;
  private reloading = false;
  private reloadAgain = false;
  private stopping: { graceful: boolean } | null = null;
  /** `--shutdown-delay` began: the workers answer 503 on the health path, and serve on. */
  private draining = false;
  /** Some worker had to be killed or abort requests while stopping: exit 1. */
  private stoppedUnclean = false;
  private readonly bootListeners: Array<() => void> = [];
  /** --cheaper's adaptive count; null when off. */
  private cheaper: Cheaper | null;
  private looking = false;
  /** `--slowlog-timeout`'s lines, when on. */
  private slowlog: Slowlog | null;
  /** /metrics: the counters of workers gone, and why workers were replaced. */
  private readonly retired = new Retired();
  private readonly restarts = new Map<RestartReason, number>();
  /** --standby-worker: a worker process forked ahead, waiting for a start message, and
   * how it leaves that role (its listeners as a standby). */
  private standby: { forked: Forked; release: () => void } | null = null;

  constructor(private readonly options: MasterOptions) {
    this.config = options.config;
    this.sockets = options.sockets;
    this.placeStore = Array.from({ length: this.config.processes }, (_, i) => new Place(i + 1));
    this.cheaper = this.countAfresh();
    // Room for a whole reload (old and new side by side), a replacement per worker, and
    // workers still finishing their requests after being replaced. Past that, a spawn
    // waits for one to exit (spawn() returns null).
    const slots = 4 * this.config.processes + 4;
    this.scoreboard = new Scoreboard(slots);
    this.freeSlots = Array.from({ length: slots }, (_, i) => slots - 1 - i);
    this.slowlog = this.config['slowlog-timeout'] > 0 ? new Slowlog(this.config) : null;
    this.ticker = setInterval(() => this.tick(), TICK_MS);
  }

  /** Spawns the workers; resolves once every place has a ready worker. */
  async start(): Promise<void> {
    // What `ps` and `top` show (uWSGI's "uWSGI master"), instead of node and a script path.
    nameProcess(this.config);
    for (const file of this.config['touch-reload']) this.touched.set(file, await mtime(file));
    for (const place of this.serving) this.spawn(place.wid);
    await new Promise<void>((resolve) => this.bootListeners.push(resolve));
  }

  /** Workers alive now. */
  get pids(): number[] {
    return [...this.workers].map((w) => w.pid);
  }

  /** The configuration and sockets new workers get now. */
  get generation(): Generation {
    return { config: this.config, sockets: this.sockets };
  }

  /** The worker places now, 1..processes. */
  private get places(): Place[] {
    return this.placeStore.slice(0, this.config.processes);
  }

  /** Runs --cheaper-initial workers (every place without --cheaper); --cheaper's state for
   * this configuration, null when off. */
  private countAfresh(): Cheaper | null {
    const initial = initialWorkers(this.config);
    for (const place of this.placeStore) place.cheap = place.wid > initial;
    const settings = cheaperSettings(this.config);
    return settings && new Cheaper(settings);
  }

  /** Serves `next` from now on (a reload's configuration); returns what it replaces. */
  private use(next: Generation): Generation {
    const previous = this.generation;
    this.config = next.config;
    this.sockets = next.sockets;
    while (this.placeStore.length < this.config.processes) this.placeStore.push(new Place(this.placeStore.length + 1));
    // A reload that changes how many workers run starts their count afresh; one that does
    // not keeps the count `tsgi ctl workers`, the signals or --cheaper have set.
    if (COUNT_OPTIONS.some((name) => previous.config[name] !== this.config[name])) this.cheaper = this.countAfresh();
    if (previous.config['slowlog-timeout'] !== this.config['slowlog-timeout'] || previous.config.slowlog !== this.config.slowlog) {
      void this.slowlog?.close();
      this.slowlog = this.config['slowlog-timeout'] > 0 ? new Slowlog(this.config) : null;
    }
    const files = this.config['touch-reload'];
    for (const file of this.touched.keys()) if (!files.includes(file)) this.touched.delete(file);
    for (const file of files) if (!this.touched.has(file)) this.touched.set(file, mtimeNow(file));
    return previous;
  }

  // ---- spawning and deaths ---------------------------------------------------------

  /** A new worker for place `wid`, or null when every scoreboard slot is taken by a
   * worker still alive (replaced ones finishing their requests). */
  private spawn(wid: number): WorkerProcess | null {
    const slot = this.freeSlots.pop();
    if (slot === undefined) {
      log.warn(`no room for another worker: ${this.workers.size} are still alive (replaced ones finishing their requests); trying again when one exits`);
      return null;
    }
    this.scoreboard.reset(slot);
    let forked = this.takeStandby(wid);
    if (forked) {
      log.info(`worker ${wid} (pid ${forked.child.pid}): the standby worker takes place ${wid}`);
    } else {
      // The shared sockets, and the place's own (--worker-sockets): a replacement for place
      // N gets place N's, still bound here, so nothing is refused on them meanwhile.
      try {
        forked = this.fork(this.sockets.filter((s) => s.worker === undefined || s.worker === wid));
      } catch (error) {
        this.freeSlots.push(slot);
        this.spawnFailed(wid, error as NodeJS.ErrnoException);
        return null;
      }
      if (forked.child.pid === undefined) {
        // The process was not created (out of descriptors or processes, no memory): Node
        // says why with an 'error' event, and the child has no pipes.
        this.freeSlots.push(slot);
        forked.child.once('error', (error) => this.spawnFailed(wid, error));
        return null;
      }
    }
    const { child, sockets, probeFd } = forked;
    const worker = new WorkerProcess(wid, slot, child);
    if (probeFd) worker.stacks = new StackChannel(child.stdio[probeFd] as Duplex);
    this.workers.add(worker);
    child.on('message', (message: FromWorker) => this.onMessage(worker, message));
    child.on('exit', (code, signal) => this.onExit(worker, code, signal));
    child.on('error', (error) => log.error(`${worker.name}: ${error.message}`));
    const start: WorkerStart = {
      kind: 'start',
      config: this.config,
      wid,
      slot,
      scoreboardBytes: this.scoreboard.bytes,
      masterPid: process.pid,
      backlog: this.options.backlog,
      sockets: sockets.map((s) => ({ name: s.name, protocol: s.protocol })),
      ...(probeFd && { probeFd }),
    };
    worker.send(start);
    // The worker fails itself at --start-timeout (saying why); this is for one that cannot.
    const startTimeout = this.config['start-timeout'];
    worker.killTimer = setTimeout(
      () => {
        if (worker.state !== 'starting') return;
        log.error(`${worker.name} not ready ${startTimeout} s after it started (--start-timeout); killed`);
        child.kill('SIGKILL');
      },
      startTimeout * 1000 + KILL_MARGIN_MS,
    );
    return worker;
  }

  /** Forks a worker process with `sockets` on its descriptors, its output routed to the
   * log; it waits for its start message. Throws what fork() throws; a child without a pid
   * was not created (its 'error' event says why). */
  private fork(sockets: readonly BoundSocket[]): Forked {
    // The stack probe's channel comes after the sockets: a socket pair, one end each.
    const probeFd = wantsStacks(this.config) ? WorkerFd.FIRST_SOCKET + sockets.length : undefined;
    const child = fork(WORKER_MAIN, [], {
      stdio: ['ignore', 'pipe', 'pipe', 'ipc', this.options.logFd(), this.scoreboard.fd, ...sockets.map((s) => s.fd), ...(probeFd ? ['pipe' as const] : [])],
      execArgv: workerExecArgv(process.execArgv, this.config['node-args']),
      serialization: 'json',
      env: { ...process.env, ...environmentOf(this.config.env) },
    });
    if (child.pid !== undefined) {
      // A child with a pid has the pipes asked for.
      this.route(child.stdout!, this.options.stdout);
      this.route(child.stderr!, this.options.logs);
    }
    return { child, sockets, probeFd, config: this.config };
  }

  /** The standby worker for place `wid`, if one waits that was forked with the running
   * configuration (its environment, Node flags and sockets). */
  private takeStandby(wid: number): Forked | null {
    const standby = this.standby;
    if (!standby) return null;
    const { forked } = standby;
    if (forked.config !== this.config || this.sockets.some((s) => s.worker === wid) || forked.child.exitCode !== null || forked.child.signalCode !== null) {
      return null;
    }
    this.standby = null;
    standby.release();
    return forked;
  }

  /**
   * --standby-worker: forks the next standby, if it is on, none waits and no worker is
   * starting (a fork then would take the CPU from it: this runs again once each is ready).
   * A standby of an older configuration is replaced. One that dies is not replaced until
   * the next worker is ready, so that a standby that cannot live does not loop.
   */
  private prepareStandby(): void {
    if (!this.config['standby-worker'] || this.stopping || !this.booted) return this.dropStandby();
    if (this.standby?.forked.config === this.config) return;
    this.dropStandby();
    if ([...this.workers].some((w) => w.state === 'starting')) return;
    const failed = (error: Error): void =>
      log.warn(`--standby-worker: cannot start one: ${describeSpawnError(error as NodeJS.ErrnoException)}; workers start without it`);
    let forked: Forked;
    try {
      forked = this.fork(this.sockets.filter((s) => s.worker === undefined));
    } catch (error) {
      failed(error as Error);
      return;
    }
    const { child } = forked;
    if (child.pid === undefined) {
      child.once('error', failed);
      return;
    }
    const exited = (code: number | null, signal: NodeJS.Signals | null): void => {
      if (this.standby?.forked !== forked) return;
      this.standby = null;
      if (!this.stopping)
        log.warn(`the standby worker (pid ${child.pid}) ${signal ? `was killed by ${signal}` : `exited with code ${code}`}; the next worker is forked`);
    };
    child.on('exit', exited);
    child.on('error', failed);
    this.standby = {
      forked,
      release: () => {
        child.off('exit', exited);
        child.off('error', failed);
      },
    };
  }

  /** Ends the standby worker, if one waits (it holds no request). */
  private dropStandby(): void {
    const standby = this.standby;
    if (!standby) return;
    this.standby = null;
    standby.release();
    standby.forked.child.kill('SIGKILL');
  }

  /**
   * A worker process could not be created. Before the workers ever served, the start
   * fails with it; after, the live workers go on serving and the place is tried again
   * after its backoff, as after a crash: the master itself never goes down for it.
   */
  private spawnFailed(wid: number, error: NodeJS.ErrnoException): void {
    const cause = `cannot start worker ${wid}: ${describeSpawnError(error)}`;
    if (!this.booted) {
      this.fatal(new TsgiError(ErrorCodes.WORKER_START, cause));
      return;
    }
    const place = this.placeStore[wid - 1]!;
    place.failures++;
    place.retryAt = performance.now() + Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** (place.failures - 1));
    const serving = this.workers.size > 0 ? 'the other workers go on serving' : 'no worker is serving';
    log.error(`${cause}; ${serving}; next try in ${((place.retryAt - performance.now()) / 1000).toFixed(1)} s`);
    this.reconcile();
  }

  /** Copies a worker's output to `to`, whole lines at a time. */
  private route(from: NodeJS.ReadableStream, to: LogWriter): void {
    const lines = new LineSplitter();
    from.setEncoding('utf8');
    from.on('data', (chunk: string) => {
      const text = lines.push(chunk);
      if (text) to.write(text);
    });
    from.on('end', () => {
      const rest = lines.end();
      if (rest) to.write(rest);
    });
  }

  private onMessage(worker: WorkerProcess, message: FromWorker): void {
    switch (message.kind) {
      case 'ready':
        clearTimeout(worker.killTimer);
        worker.markReady();
        if (this.stopping) this.retire(worker, this.config['reload-mercy'] * 1000, 'shutting down');
        else if (this.draining) worker.send({ kind: 'drain' });
        this.checkBooted();
        this.prepareStandby();
        break;
      case 'failed':
        worker.failure = { code: message.code, message: message.message };
        break;
      case 'recycle':
        worker.recycleWanted ??= message.reason;
        break;
      case 'logs-reopened':
        worker.logsReopened?.();
        break;
      case 'slow':
        this.slowlog?.report(worker.name, message.request, message.seconds, { kind: 'idle', waiting: message.waiting });
        break;
      case 'uncaught':
        // The worker accepts nothing more and exits once its requests are done (or the
        // grace is over): its place gets a new worker now.
        this.placeStore[worker.wid - 1]!.uncaught++;
        this.restarted('uncaught');
        if (this.stopping || worker.state === 'stopping') break;
        this.retire(worker, this.config['uncaught-exception-grace'] * 1000, 'an uncaught exception');
        this.reconcile();
        break;
    }
  }

  private onExit(worker: WorkerProcess, code: number | null, signal: NodeJS.Signals | null): void {
    // Its counters stay in the container's totals (read before the slot is reused).
    if (this.config.stats !== undefined) this.retired.add(this.scoreboard.metrics(worker.slot));
    this.workers.delete(worker);
    this.freeSlots.push(worker.slot);
    clearTimeout(worker.killTimer);
    const wasStarting = worker.state === 'starting';
    worker.markExited(code, signal);
    if (this.stopping) {
      if (code !== 0) this.stoppedUnclean = true;
      this.finishIfDone();
      return;
    }
    const place = this.placeStore[worker.wid - 1]!;
    if (worker.state === 'stopping') {
      if (code !== 0) log.warn(`${worker.name} ${worker.describeExit()} while stopping`);
      this.reconcile();
      return;
    }
    if (wasStarting && code === EXIT_APP_LOAD && this.config['need-app'] && !this.booted) {
      // Nothing was ever served: a module that cannot load is a mistake to report, not
      // a crash to retry (gunicorn's APP_LOAD_ERROR, uWSGI's need-app).
      this.fatal(new TsgiError(worker.failure?.code ?? ErrorCodes.MODULE_LOAD, worker.failure?.message ?? `${worker.name} could not load the app`));
      return;
    }
    if (!worker.harakiried) this.restarted('crash');
    const soon = wasStarting || performance.now() - worker.readyAt < STABLE_MS;
    if (worker.harakiried || !soon) {
      place.failures = 0;
      place.retryAt = 0;
    } else {
      // One death is respawned at once, as any other; a second in a row starts the backoff.
      place.failures++;
      place.retryAt = place.failures === 1 ? 0 : performance.now() + Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** (place.failures - 2));
    }
    let text = `${worker.name} ${worker.describeExit()}${wasStarting ? ' before it was ready' : ''}`;
    if (worker.failure) text += `: ${worker.failure.message}`;
    if (signal === 'SIGKILL' && !worker.harakiried) text += ' (killed from outside: out of memory?)';
    if (place.failures >= 2) {
      const wait = ((place.retryAt - performance.now()) / 1000).toFixed(1);
      text += `; ${place.failures} times in a row soon after start${place.failures >= CRASH_LOOP ? ' (a crash loop)' : ''}, next try in ${wait} s`;
    } else {
      text += '; respawning';
    }
    log.error(text);
    this.reconcile();
  }

  /** Gives every place without a live worker a new one, after its backoff. */
  private reconcile(): void {
    if (this.stopping) return;
    for (const place of this.serving) {
      if (place.pending || this.liveIn(place.wid).length > 0) continue;
      place.pending = setTimeout(
        () => {
          place.pending = undefined;
          if (this.stopping || place.cheap || this.liveIn(place.wid).length > 0) return;
          if (this.spawn(place.wid)) place.respawns++;
          else this.reconcileSoon();
        },
        Math.max(0, place.retryAt - performance.now()),
      );
    }
  }

  /** Reconciles again in a second (a spawn found no free slot). */
  private reconcileSoon(): void {
    setTimeout(() => this.reconcile(), 1000).unref();
  }

  /** The places that run a worker (every place, unless --cheaper or a scale-down). */
  private get serving(): Place[] {
    return this.places.filter((p) => !p.cheap);
  }

  /** The place's workers that are not stopping. */
  private liveIn(wid: number): WorkerProcess[] {
    return [...this.workers].filter((w) => w.wid === wid && w.state !== 'stopping');
  }

  private checkBooted(): void {
    if (this.booted || !this.serving.every((p) => this.liveIn(p.wid).some((w) => w.state === 'ready'))) return;
    this.booted = true;
    for (const listener of this.bootListeners.splice(0)) listener();
  }

  /** Asks a worker to stop within `graceMs`, and kills it if it has not soon after. */
  private retire(worker: WorkerProcess, graceMs: number, reason: string): void {
    if (worker.state === 'stopping') return;
    if (worker.state === 'starting') {
      worker.state = 'stopping';
      worker.child.kill('SIGKILL');
      return;
    }
    worker.state = 'stopping';
    worker.send({ kind: 'stop', graceMs });
    clearTimeout(worker.killTimer);
    worker.killTimer = setTimeout(() => {
      log.warn(`${worker.name} still running ${(graceMs + KILL_MARGIN_MS) / 1000} s after it was asked to stop (${reason}); killed`);
      worker.child.kill('SIGKILL');
    }, graceMs + KILL_MARGIN_MS);
  }

  // ---- reloads and recycling -----------------------------------------------------------

  /** A graceful reload (SIGHUP, --touch-reload): new workers, then the old ones stop.
   * The configuration is read again first (`reconfigure`): the new workers get it, or
   * nothing is done when it is refused. Requests arriving during one are coalesced into
   * one more after it. `chain`: one worker at a time, whatever --chain-reload says. */
  async reload(why: string, chain?: boolean): Promise<boolean> {
    if (this.stopping) return false;
    if (this.config['exit-on-reload']) {
      // uWSGI's --exit-on-reload: a supervisor (systemd, Kubernetes) starts the new version.
      log.info(`reload (${why}): --exit-on-reload: a graceful shutdown instead; the workers finish their requests`);
      this.shutdown(true);
      return false;
    }
    if (this.reloading) {
      this.reloadAgain = true;
      return false;
    }
    this.reloading = true;
    const booted = this.booted;
    if (booted) this.options.notify(`RELOADING=1\nMONOTONIC_USEC=${monotonicUsec()}\nSTATUS=reloading (${why})`);
    const change = await this.options.reconfigure?.(why);
    // A reload starts every worker from the files as they are now (the app's, and tsgi's
    // own after an update): not from a standby that loaded tsgi's before.
    this.dropStandby();
    let ok = false;
    if (change !== null && !this.stopping) ok = booted ? await this.replaceWorkers(why, change, chain) : this.restartWorkers(why, change);
    // Either way workers serve: the new ones, or the old ones when the new could not start.
    if (booted && !this.stopping) this.options.notify(`READY=1\nSTATUS=${ok ? `reloaded (${why})` : `reload failed (${why}); the old workers serve`}`);
    this.reloading = false;
    if (this.reloadAgain) {
      this.reloadAgain = false;
      this.background(this.reload('asked again during the last one'));
    }
    return ok;
  }

  /** Nothing serves yet (a crash loop, say): no overlap to arrange, start afresh now. */
  private restartWorkers(why: string, change: Reconfiguration | undefined): boolean {
    log.info(`reload (${why}): workers are not up yet; starting them again without waiting`);
    if (change) {
      const old = [...this.workers];
      this.use(change.next);
      for (const w of old) this.retire(w, this.config['worker-reload-mercy'] * 1000, 'reload');
      change.settled(true, Promise.all(old.map((w) => w.exited)));
    }
    for (const place of this.places) {
      place.failures = 0;
      place.retryAt = 0;
      clearTimeout(place.pending);
      place.pending = undefined;
    }
    this.reconcile();
    return true;
  }

  private async replaceWorkers(why: string, change: Reconfiguration | undefined, chain = this.config['chain-reload']): Promise<boolean> {
    const started = performance.now();
    const previous = change && this.use(change.next);
    const old = [...this.workers].filter((w) => w.state !== 'stopping');
    log.info(`reload (${why}): starting ${this.serving.length} new worker(s)${chain ? ', one at a time' : ''}`);
    const ok = chain ? await this.chainReload() : await this.wholeReload();
    if (ok) {
      // Places the new configuration no longer runs (fewer --processes, or --cheaper).
      for (const w of old)
        if (w.wid > this.config.processes || this.placeStore[w.wid - 1]!.cheap) this.retire(w, this.config['worker-reload-mercy'] * 1000, 'reload');
      log.info(`reload (${why}): done in ${Math.round(performance.now() - started)} ms; the old workers finish their requests`);
    } else if (previous) {
      this.use(previous);
    }
    change?.settled(ok, Promise.all(old.map((w) => w.exited)));
    return ok;
  }

  private async wholeReload(): Promise<boolean> {
    const old = [...this.workers].filter((w) => w.state !== 'stopping');
    const mercy = this.config['worker-reload-mercy'] * 1000;
    const spawned = this.serving.map((p) => this.spawn(p.wid));
    const fresh = spawned.filter((w): w is WorkerProcess => w !== null);
    const ready = await Promise.all(fresh.map((w) => w.ready));
    const failed = fresh.find((_, i) => !ready[i]);
    if (failed || fresh.length < spawned.length) {
      // New workers that did start may already hold requests: they finish them.
      for (const w of fresh) this.retire(w, mercy, 'reload failed');
      const why = failed
        ? `the new ${failed.name} ${failed.describeExit()}${failed.failure ? `: ${failed.failure.message}` : ''}`
        : 'the new workers could not all be started';
      log.error(`reload failed: ${why}; the old workers go on serving`);
      return false;
    }
    for (const w of old) this.retire(w, mercy, 'reload');
    this.restarted('reload', old.length);
    return true;
  }

  private async chainReload(): Promise<boolean> {
    const mercy = this.config['worker-reload-mercy'] * 1000;
    for (const place of this.serving) {
      const old = this.liveIn(place.wid);
      const fresh = this.spawn(place.wid);
      if (!fresh || !(await fresh.ready)) {
        const why = fresh
          ? `the new ${fresh.name} ${fresh.describeExit()}${fresh.failure ? `: ${fresh.failure.message}` : ''}`
          : 'a new worker could not be started';
        log.error(`chain reload stopped at worker ${place.wid}: ${why}; workers ${place.wid} to ${this.places.length} keep the old version`);
        return false;
      }
      for (const w of old) this.retire(w, mercy, 'chain reload');
      this.restarted('reload', old.length);
    }
    return true;
  }

  /** Replaces a worker a limit caught: the replacement first, then it stops. */
  private async recycle(worker: WorkerProcess): Promise<void> {
    worker.recycling = true;
    log.info(`${worker.name}: ${worker.recycleWanted}; replacing it`);
    const fresh = this.spawn(worker.wid);
    if (fresh && (await fresh.ready)) {
      this.retire(worker, this.config['worker-reload-mercy'] * 1000, worker.recycleWanted ?? 'recycled');
      this.restarted(recycleReason(worker.recycleWanted ?? ''));
    } else {
      worker.recycling = false; // tried again after the place's backoff
    }
  }

  /**
   * SIGUSR1, once the master's own `--logto` is reopened: every worker reopens its own
   * (each writes its lines there itself). Resolves once each has said so or exited, or
   * after REOPEN_WAIT_MS for a worker whose loop is blocked (it reopens when it wakes).
   */
  async reopenLogs(): Promise<void> {
    const waits = [...this.workers].map(
      (worker) =>
        new Promise<void>((resolve) => {
          worker.logsReopened = resolve;
          worker.send({ kind: 'reopen-logs' });
        }),
    );
    this.slowlog?.reopen();
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<void>((resolve) => (timer = setTimeout(resolve, REOPEN_WAIT_MS)));
    await Promise.race([Promise.all(waits), late]);
    clearTimeout(timer);
  }

  /** Runs work the master does not wait for; a failure in it is a bug, logged, and the
   * master goes on supervising. */
  background(work: Promise<unknown>): void {
    work.catch((error: unknown) => log.error(`master: unexpected error (a bug; the master goes on): ${describeError(error)}`));
  }

  // ---- the periodic look --------------------------------------------------------------------

  private tick(): void {
    this.ticks++;
    if (this.config.harakiri > 0) this.checkHarakiri();
    if (this.slowlog) this.checkSlow(this.slowlog);
    if (this.ticks % SLOW_EVERY === 0) this.background(this.slowTick());
    if (this.cheaper && !this.looking) this.background(this.lookCheaper(this.cheaper));
  }

  /** A worker whose loop has not turned for --harakiri plus its grace is stuck (a busy
   * loop never lets the worker end the request itself): it is killed and replaced. */
  private checkHarakiri(): void {
    const limitMs = (this.config.harakiri + this.config['harakiri-graceful-timeout']) * 1000;
    this.scoreboard.refresh();
    const now = monotonicMs();
    for (const worker of this.workers) {
      if (worker.state === 'starting' || worker.harakiried) continue;
      const slot = this.scoreboard.slot(worker.slot);
      if (slot.loopTick === 0 || now - slot.loopTick <= limitMs) continue;
      worker.harakiried = true;
      this.placeStore[worker.wid - 1]!.harakiri++;
      this.restarted('harakiri');
      const blocked = ((now - slot.loopTick) / 1000).toFixed(1);
      const where =
        slot.current.since > 0
          ? `in ${slot.current.request} for ${((now - slot.current.since) / 1000).toFixed(1)} s`
          : slot.oldest.since > 0
            ? `outside an app call; oldest request in flight: ${slot.oldest.request}`
            : 'with no request in flight';
      log.error(
        `harakiri: ${worker.name}: event loop blocked for ${blocked} s ${where} (--harakiri ${this.config.harakiri} + --harakiri-graceful-timeout ${this.config['harakiri-graceful-timeout']}); killed, replacing it`,
      );
      if (this.config['harakiri-verbose']) this.background(this.stackThenKill(worker, slot.current.since > 0 ? slot.current.request : slot.oldest.request));
      else worker.child.kill('SIGKILL');
    }
  }

  /** --harakiri-verbose: the stuck worker's JavaScript stack (within STACK_GRACE_MS), its
   * system call and wait channel, then the kill. */
  private async stackThenKill(worker: WorkerProcess, request: string): Promise<void> {
    const frames = await worker.stacks?.ask();
    log.error(`harakiri: ${worker.name}: JavaScript stack${request ? ` (${request})` : ''}:`);
    for (const line of stackLines(frames)) log.error(`harakiri: ${worker.name}: ${line}`);
    logWhatItDoes(worker.name, worker.child.pid);
    worker.child.kill('SIGKILL');
  }

  /** --slowlog-timeout, for a worker whose loop is blocked (it cannot report itself): the
   * request it is stuck in, once, with the stack of what spins. A worker whose loop
   * turns reports its slow requests itself ('slow'). */
  private checkSlow(slowlog: Slowlog): void {
    const timeoutMs = this.config['slowlog-timeout'] * 1000;
    this.scoreboard.refresh();
    const now = monotonicMs();
    for (const worker of this.workers) {
      if (worker.state !== 'ready' || worker.harakiried) continue;
      const slot = this.scoreboard.slot(worker.slot);
      // Two of the worker's ticks missed: its loop is blocked.
      if (slot.loopTick === 0 || now - slot.loopTick <= 2 * TICK_MS) continue;
      const stuck = slot.current.since > 0 ? slot.current : slot.oldest;
      if (stuck.since === 0 || now - stuck.since <= timeoutMs || worker.slowSince === stuck.since) continue;
      worker.slowSince = stuck.since;
      const blockedSeconds = (now - slot.loopTick) / 1000;
      this.background(
        (async () => {
          const stack = stackLines(await worker.stacks?.ask());
          slowlog.report(worker.name, stuck.request, (now - stuck.since) / 1000, { kind: 'blocked', blockedSeconds, stack });
        })(),
      );
    }
  }

  private async slowTick(): Promise<void> {
    const now = performance.now();
    for (const place of this.places) {
      // A worker up long enough ends its place's run of early deaths.
      if (place.failures > 0 && this.liveIn(place.wid).some((w) => w.state === 'ready' && now - w.readyAt >= STABLE_MS)) {
        place.failures = 0;
        place.retryAt = 0;
      }
    }
    await Promise.all([...this.workers].map(async (w) => (w.memory = await memoryOf(w.pid))));
    const rssLimit = this.config['reload-on-rss'] * 1024 * 1024;
    const lifetime = this.config['max-worker-lifetime'] * 1000;
    for (const worker of this.workers) {
      if (worker.state !== 'ready') continue;
      if (rssLimit > 0 && worker.memory.rss > rssLimit)
        worker.recycleWanted ??= `resident memory ${Math.round(worker.memory.rss / 1048576)} MB over --reload-on-rss ${this.config['reload-on-rss']}`;
      if (lifetime > 0 && now - worker.readyAt > lifetime) worker.recycleWanted ??= `--max-worker-lifetime ${this.config['max-worker-lifetime']} s reached`;
      const place = this.placeStore[worker.wid - 1]!;
      if (worker.recycleWanted && !worker.recycling && !this.reloading && !this.stopping && now >= place.retryAt) this.background(this.recycle(worker));
    }
    for (const [file, seen] of this.touched) {
      const current = await mtime(file);
      if (current !== seen) {
        this.touched.set(file, current);
        this.background(this.reload(`${file} touched`));
      }
    }
  }

  // ---- how many workers ----------------------------------------------------------------------

  /** Why the workers cannot be changed now (a stop or a reload is running), or null. */
  get changing(): string | null {
    return this.stopping ? 'tsgi is stopping' : this.reloading ? 'a reload is running; try again once it is done' : null;
  }

  /** The pid of the --standby-worker process waiting now, or null. */
  get standbyPid(): number | null {
    return this.standby?.forked.child.pid ?? null;
  }

  /** The least and most workers, and how many places run one now. */
  get workerCount(): WorkerBounds & { running: number } {
    return { ...workerBounds(this.config), running: this.serving.length };
  }

  /**
   * Runs `target` workers (`tsgi ctl workers`, SIGTTIN/SIGTTOU, the master FIFO): new ones
   * in the free places of lowest id, or the workers of highest id retired after their
   * requests, as a recycle. Answers why not (out of bounds, stopping, a reload running).
   */
  scaleTo(target: number, why: string): string | null {
    const running = this.serving.length;
    const refusal = this.changing ?? outOfBounds(target, workerBounds(this.config));
    if (refusal) {
      log.warn(`${why}: cannot run ${target} worker(s): ${refusal}; still ${running}`);
      return refusal;
    }
    this.cheaper?.changed(monotonicMs());
    if (target !== running) log.info(`${why}: ${running} → ${target} worker(s)`);
    this.addPlaces(target - running);
    for (const place of this.serving.slice(target)) this.retirePlace(place, why);
    return null;
  }

  /** Runs `count` more places (those of lowest id not running), each a worker. */
  private addPlaces(count: number): void {
    for (const place of this.places.filter((p) => p.cheap).slice(0, Math.max(0, count))) {
      place.cheap = false;
      if (!this.spawn(place.wid)) this.reconcileSoon();
    }
  }

  /** Stops running place `place`: its worker finishes its requests (as a recycle) and
   * is not replaced. */
  private retirePlace(place: Place, why: string): void {
    place.cheap = true;
    clearTimeout(place.pending);
    place.pending = undefined;
    for (const w of this.liveIn(place.wid)) this.retire(w, this.config['worker-reload-mercy'] * 1000, why);
  }

  /** --cheaper: one look at the serving workers, and what it decides, done. */
  private async lookCheaper(cheaper: Cheaper): Promise<void> {
    if (this.stopping || this.reloading || !this.booted) return;
    this.looking = true;
    try {
      // The shared sockets' queues, and the own sockets' of the places running (a cheap
      // place's own socket has nobody to accept: its queue is no load on the workers).
      const watched = this.sockets.filter((s) => s.port !== undefined && (s.worker === undefined || !this.places[s.worker - 1]!.cheap));
      const queue = [...(await listenQueues(watched.map((s) => s.port!))).values()].reduce((sum, n) => sum + n, 0);
      this.scoreboard.refresh();
      const live = [...this.workers].filter((w) => w.state !== 'stopping');
      const samples = live
        .filter((w) => w.state === 'ready')
        .map((w) => {
          const slot = this.scoreboard.slot(w.slot);
          return { wid: w.wid, pid: w.pid, inFlight: slot.inFlight, tunnels: slot.tunnels, loopActiveMs: slot.loopActiveMs, loopTick: slot.loopTick };
        });
      const running = this.serving.length;
      const decision = cheaper.look(
        monotonicMs(),
        samples,
        running,
        queue,
        live.some((w) => w.state === 'starting'),
      );
      if (!decision || this.stopping || this.reloading) return;
      if ('add' in decision) {
        log.info(`cheaper: ${decision.why}: ${running} → ${running + decision.add} worker(s)`);
        this.addPlaces(decision.add);
      } else {
        log.info(`cheaper: worker ${decision.retire} ${decision.why}: ${running} → ${running - 1} worker(s)`);
        this.retirePlace(this.places[decision.retire - 1]!, 'cheaper: idle');
      }
    } finally {
      this.looking = false;
    }
  }

  // ---- stopping -----------------------------------------------------------------------------

  /** `--shutdown-delay`: every worker says it is going away (health 503) and serves on
   * until `shutdown`. */
  drain(): void {
    this.draining = true;
    for (const worker of this.workers) if (worker.state === 'ready') worker.send({ kind: 'drain' });
  }

  /**
   * Stops every worker: gracefully (they stop accepting and finish their requests within
   * --reload-mercy) or at once. `onExit` follows once they are all gone.
   */
  shutdown(graceful: boolean): void {
    if (this.stopping && (!graceful || !this.stopping.graceful)) {
      if (!graceful) for (const w of this.workers) w.child.kill('SIGKILL');
      return;
    }
    this.stopping = { graceful };
    this.dropStandby();
    for (const place of this.places) clearTimeout(place.pending);
    const mercy = this.config['reload-mercy'] * 1000;
    for (const worker of this.workers) {
      if (graceful) this.retire(worker, mercy, 'shutting down');
      else worker.child.kill('SIGKILL');
    }
    this.finishIfDone();
  }

  private finishIfDone(): void {
    if (!this.stopping || this.workers.size > 0) return;
    clearInterval(this.ticker);
    this.scoreboard.close();
    void this.slowlog?.close();
    this.options.onExit(this.stopping.graceful && this.stoppedUnclean ? 1 : 0);
  }

  private fatal(error: TsgiError): void {
    this.stopping = { graceful: false };
    this.dropStandby();
    clearInterval(this.ticker);
    for (const worker of this.workers) worker.child.kill('SIGKILL');
    this.options.onFatal(error);
  }

  // ---- stats ----------------------------------------------------------------------------------

  /** The ports of the TCP sockets, whose listen queues /proc shows. */
  private get tcpPorts(): number[] {
    return this.sockets.flatMap((s) => (s.port === undefined ? [] : [s.port]));
  }

  private restarted(reason: RestartReason, workers = 1): void {
    this.restarts.set(reason, (this.restarts.get(reason) ?? 0) + workers);
  }

  async snapshot(): Promise<StatsSnapshot> {
    this.scoreboard.refresh();
    const queues = await listenQueues(this.tcpPorts);
    const workers = this.places.map((place): WorkerStats => {
      const live = this.liveIn(place.wid);
      const worker = live.find((w) => w.state === 'ready') ?? live[0];
      const slot = worker ? this.scoreboard.slot(worker.slot) : null;
      const requests = slot?.requests ?? 0;
      const delta = Math.max(0, requests - place.lastRequests);
      place.lastRequests = requests;
      const status = !worker ? (place.cheap ? 'cheap' : 'respawning') : worker.state === 'starting' ? 'starting' : slot!.inFlight > 0 ? 'busy' : 'idle';
      return {
        id: place.wid,
        pid: worker?.pid ?? 0,
        accepting: worker?.state === 'ready',
        status,
        requests,
        delta_requests: delta,
        exceptions: slot?.exceptions ?? 0,
        harakiri_count: place.harakiri + (slot?.harakiri ?? 0),
        uncaught_exceptions: place.uncaught,
        in_flight: slot?.inFlight ?? 0,
        tunnels: slot?.tunnels ?? 0,
        rss: worker?.memory.rss ?? 0,
        vsz: worker?.memory.vsz ?? 0,
        running_time: Math.round(slot?.responseTimeUs ?? 0),
        avg_rt: requests > 0 ? Math.round(slot!.responseTimeUs / requests) : 0,
        tx: slot?.tx ?? 0,
        last_spawn: worker ? Math.floor(worker.spawnedAt / 1000) : 0,
        respawn_count: place.respawns,
        failures: place.failures,
      };
    });
    const sockets = this.sockets.map((s) => {
      const queue = s.port === undefined ? 0 : (queues.get(s.port) ?? 0);
      return { name: s.local, proto: s.protocol, queue, max_queue: this.options.backlog, ...(s.worker !== undefined && { worker: s.worker }) };
    });
    return {
      version: this.options.version,
      pid: process.pid,
      uid: process.getuid?.() ?? 0,
      gid: process.getgid?.() ?? 0,
      cwd: process.cwd(),
      load: workers.reduce((sum, w) => sum + w.in_flight, 0),
      listen_queue: sockets.reduce((sum, s) => sum + s.queue, 0),
      crash_loop: this.places.some((p) => p.failures >= CRASH_LOOP),
      draining: this.draining || this.stopping !== null,
      sockets,
      workers,
      ...(this.config.stats !== undefined && { metrics: { ...this.metrics(), listenOverflows: await listenOverflows() } }),
    };
  }

  /** The workers' metrics blocks: the container's counters and each place's runtime. */
  private metrics(): Omit<ContainerMetrics, 'listenOverflows'> {
    const live = [...this.workers].map((worker) => ({ worker, block: Float64Array.from(this.scoreboard.metrics(worker.slot)) }));
    const runtimes = this.places.flatMap((place) => {
      const serving = live.find((l) => l.worker.wid === place.wid && l.worker.state === 'ready');
      return serving ? [{ worker: place.wid, ...workerRuntime(serving.block) }] : [];
    });
    return { totals: this.retired.totals(live.map((l) => l.block)), runtimes, restarts: [...this.restarts] };
  }
}

async function mtime(file: string): Promise<number> {
  return (await stat(file).catch(() => null))?.mtimeMs ?? 0;
}

/** `mtime`, at once: 0 for a file that cannot be read. */
function mtimeNow(file: string): number {
  try {
    return statSync(file).mtimeMs;
  } catch {
    return 0;
  }
}

/** Why fork() failed, in words an operator can act on. */
function describeSpawnError(error: NodeJS.ErrnoException): string {
  switch (error.code) {
    case 'EMFILE':
      return 'the master is out of file descriptors (EMFILE, too many open files): raise its limit (ulimit -n, systemd LimitNOFILE=)';
    case 'ENFILE':
      return 'the system is out of file descriptors (ENFILE, file table overflow)';
    case 'EAGAIN':
      return 'no more processes may be created (EAGAIN): see ulimit -u, systemd TasksMax=';
    case 'ENOMEM':
      return 'out of memory (ENOMEM)';
    case 'ENOENT':
    case 'EACCES':
      return `cannot run ${process.execPath} (${error.code}): was Node removed or replaced?`;
    default:
      return error.message;
  }
}

/** --harakiri-verbose: what a stuck worker is doing, as uWSGI logs it (core/master_utils.c,
 * trigger_harakiri): its system call and wait channel, from /proc (Linux). */
function logWhatItDoes(name: string, pid: number | undefined): void {
  for (const [file, label] of [
    ['syscall', 'syscall'],
    ['wchan', 'wchan'],
  ] as const) {
    try {
      const text = readFileSync(`/proc/${pid}/${file}`, 'latin1').trim();
      if (text) log.error(`harakiri: ${name}: -- ${label}> ${text}`);
    } catch {
      // Not Linux, or the worker is gone already: nothing to tell.
    }
  }
}
