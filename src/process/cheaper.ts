/**
 * How many workers run: the bounds (`--cheaper` to `--processes`), the count at start
 * (`--cheaper-initial`), and uWSGI's cheaper mode, the adaptive count, decided from what
 * each worker's scoreboard slot says: its event loop's busyness (utilization between two
 * looks), its requests in flight, and the sockets' listen queue. Not a request count: a
 * Node worker serves many requests at once, so one in flight does not make it full.
 *
 * The decisions are here, the acts (spawning, retiring a worker after its requests) in
 * the master: the master feeds `Cheaper.look()` a sample per tick and does what it answers.
 */
import type { Config } from '../config/index.js';
import { ErrorCodes, TsgiError } from '../errors.js';

/** A worker whose event loop worked this share of the time between two looks is busy. */
const BUSY_UTILIZATION = 0.5;
/** Under this share (and with no request in flight) it is idle. */
const IDLE_UTILIZATION = 0.1;

/** How many workers may run. */
export interface WorkerBounds {
  readonly min: number;
  readonly max: number;
}

/** The adaptive settings, in milliseconds; null when `--cheaper` is off. */
export interface CheaperSettings extends WorkerBounds {
  readonly step: number;
  readonly overloadMs: number;
  readonly idleMs: number;
}

/** The cross-option checks of `--cheaper*`: one line per mistake, naming the options. */
export function checkCheaper(config: Config): void {
  const { cheaper, processes } = config;
  const initial = config['cheaper-initial'];
  const problems: string[] = [];
  if (cheaper === 0) {
    if (initial !== undefined) problems.push(`--cheaper-initial ${initial}: needs --cheaper (the least number of workers), which is off`);
  } else {
    if (cheaper >= processes)
      problems.push(`--cheaper ${cheaper}: must be lower than --processes ${processes} (the most workers); raise --processes or lower --cheaper`);
    else if (initial !== undefined && (initial < cheaper || initial > processes))
      problems.push(`--cheaper-initial ${initial}: must be from --cheaper ${cheaper} to --processes ${processes}`);
  }
  if (problems.length > 0) throw new TsgiError(ErrorCodes.INVALID_OPTION, problems.join('\n'));
}

/** The least and most workers: `--cheaper` (1 when off) and `--processes`. */
export function workerBounds(config: Config): WorkerBounds {
  return { min: Math.max(1, config.cheaper), max: config.processes };
}

/** Workers started at first: `--cheaper-initial`, else `--cheaper`, else `--processes`. */
export function initialWorkers(config: Config): number {
  return config.cheaper === 0 ? config.processes : (config['cheaper-initial'] ?? config.cheaper);
}

export function cheaperSettings(config: Config): CheaperSettings | null {
  if (config.cheaper === 0) return null;
  return {
    ...workerBounds(config),
    step: config['cheaper-step'],
    overloadMs: config['cheaper-overload'] * 1000,
    idleMs: config['cheaper-idle'] * 1000,
  };
}

/** Whether `target` workers is within `bounds`, else the refusal naming the bound. */
export function outOfBounds(target: number, bounds: WorkerBounds): string | null {
  if (target < bounds.min) return `at least ${bounds.min} worker(s) run (${bounds.min === 1 ? 'one is the least' : `--cheaper ${bounds.min}`})`;
  if (target > bounds.max) return `at most ${bounds.max} worker(s) run (--processes ${bounds.max})`;
  return null;
}

/** One serving worker as a look sees it. */
export interface WorkerSample {
  readonly wid: number;
  readonly pid: number;
  readonly inFlight: number;
  /** Of those, open tunnels (WebSockets): they keep a worker from idling, not busy. */
  readonly tunnels: number;
  /** The event loop's active time since the worker started (ms, from its slot), as of
   * its last tick, and when that tick was (monotonic ms). */
  readonly loopActiveMs: number;
  readonly loopTick: number;
}

export type Decision = { add: number; why: string } | { retire: number; why: string } | null;

interface Seen {
  /** The worker's tick and active time at the last look, and its utilization between
   * the two ticks before. */
  tick: number;
  activeMs: number;
  utilization: number;
  idleSince: number | null;
}

/** A loop that has not ticked for this long is blocked: busy. */
const BLOCKED_MS = 1000;

/** The adaptive count: feed it a look per master tick, do what it answers. */
export class Cheaper {
  private readonly seen = new Map<number, Seen>();
  private overloadedSince: number | null = null;
  /** When workers were last added or one retired: the next change waits a window. */
  private lastChange = -Infinity;

  constructor(readonly settings: CheaperSettings) {}

  /**
   * One look at the serving workers (`running` counts those starting too) and the listen
   * queue, at monotonic `now` (ms). Answers workers to add, a worker to retire, or null.
   */
  look(now: number, workers: readonly WorkerSample[], running: number, queue: number, starting: boolean): Decision {
    const { min, max, step, overloadMs, idleMs } = this.settings;
    let busy = 0;
    const idle: number[] = [];
    const present = new Set<number>();
    for (const w of workers) {
      present.add(w.pid);
      const before = this.seen.get(w.pid);
      let utilization = before?.utilization ?? 0;
      if (before && w.loopTick > before.tick) utilization = (w.loopActiveMs - before.activeMs) / (w.loopTick - before.tick);
      if (w.loopTick > 0 && now - w.loopTick > BLOCKED_MS) utilization = 1;
      const isBusy = w.inFlight - w.tunnels > 0 || utilization >= BUSY_UTILIZATION;
      const isIdle = w.inFlight === 0 && utilization < IDLE_UTILIZATION;
      const idleSince = isIdle ? (before?.idleSince ?? now) : null;
      this.seen.set(w.pid, { tick: w.loopTick, activeMs: w.loopActiveMs, utilization, idleSince });
      if (isBusy) busy++;
      if (idleSince !== null && now - idleSince >= idleMs) idle.push(w.wid);
    }
    for (const pid of this.seen.keys()) if (!present.has(pid)) this.seen.delete(pid);

    const overloaded = (workers.length > 0 && busy === workers.length) || queue > 0;
    this.overloadedSince = overloaded ? (this.overloadedSince ?? now) : null;
    if (starting) return null;
    if (this.overloadedSince !== null && now - this.overloadedSince >= overloadMs && running < max) {
      this.lastChange = now;
      this.overloadedSince = now;
      const allBusy = workers.length > 0 && busy === workers.length;
      const why = allBusy ? `all ${workers.length} worker(s) busy` : `${queue} connection(s) waiting in the listen queue`;
      return { add: Math.min(step, max - running), why: `${why} for --cheaper-overload ${overloadMs / 1000} s` };
    }
    if (!overloaded && idle.length > 0 && running > min && now - this.lastChange >= idleMs) {
      this.lastChange = now;
      return { retire: Math.max(...idle), why: `idle for --cheaper-idle ${idleMs / 1000} s` };
    }
    return null;
  }

  /** A change made from outside (ctl, a signal): the next decision waits a window. */
  changed(now: number): void {
    this.lastChange = now;
    this.overloadedSince = null;
  }
}
