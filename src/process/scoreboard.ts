/**
 * The scoreboard: one slot of memory per worker process, written by the worker and read
 * by the master, as uWSGI keeps its workers' state. The master creates the file, unlinks
 * it at once (nothing is left behind, whatever happens) and passes its descriptor to
 * every worker; a worker with the native binding maps it shared, so reporting a request
 * is a few plain memory writes. Without the binding, the worker keeps its slot in memory
 * and writes it to the file on each tick (and, under --harakiri, as each request starts).
 *
 * After the slots, one block per slot for `/metrics` (`src/observe/metrics.ts`): the
 * worker's histograms and runtime gauges, read only when the stats are scraped.
 *
 * Times are milliseconds of CLOCK_MONOTONIC (`process.hrtime`), which every process of
 * the machine shares and a wall-clock jump does not move.
 */
import { closeSync, existsSync, ftruncateSync, openSync, readSync, unlinkSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { METRICS_BYTES } from '../observe/metrics.js';

/** Bytes per slot: a header of float64 fields, then two request descriptions. */
export const SLOT_BYTES = 512;
/** Bytes of the file per worker: its slot and its metrics block. */
export const BYTES_PER_WORKER = SLOT_BYTES + METRICS_BYTES;

/** The float64 fields of a slot, by index. */
export const Field = {
  PID: 0,
  /** The worker's event loop last turned (its tick), monotonic ms: a stale value means
   * the loop is blocked. 0 before the worker is up. */
  LOOP_TICK: 1,
  REQUESTS: 2,
  /** Requests whose app failed (a 500 or a reset). */
  EXCEPTIONS: 3,
  /** Requests ended by --harakiri in the worker. */
  HARAKIRI: 4,
  IN_FLIGHT: 5,
  /** Sum of response times, µs (with REQUESTS: the mean). */
  RESPONSE_TIME_US: 6,
  /** Response bytes sent. */
  TX: 7,
  /** When the app was called for the request described at CURRENT_AT, monotonic ms; 0
   * once that call returned. Non-zero while the loop is stuck: that request is the culprit. */
  CURRENT_SINCE: 8,
  CURRENT_LENGTH: 9,
  /** When the oldest request in flight (described at OLDEST_AT) started, as of the last tick. */
  OLDEST_SINCE: 10,
  OLDEST_LENGTH: 11,
  /** Open tunnels (WebSockets and other upgraded connections), counted in IN_FLIGHT too. */
  TUNNELS: 12,
  /** The event loop's active time since the worker started, ms, as of its last tick
   * (`performance.eventLoopUtilization().active`): between two readings, its busyness. */
  LOOP_ACTIVE_MS: 13,
} as const;

const TEXT_BYTES = 192;
const CURRENT_AT = 128;
const OLDEST_AT = CURRENT_AT + TEXT_BYTES;

/** CLOCK_MONOTONIC in milliseconds: comparable between processes. */
export function monotonicMs(): number {
  const [seconds, nanoseconds] = process.hrtime();
  return seconds * 1e3 + nanoseconds / 1e6;
}

/** One slot as the master reads it. */
export interface SlotReading {
  readonly pid: number;
  readonly loopTick: number;
  readonly requests: number;
  readonly exceptions: number;
  readonly harakiri: number;
  readonly inFlight: number;
  /** Of those, tunnels (WebSockets). */
  readonly tunnels: number;
  readonly responseTimeUs: number;
  readonly tx: number;
  /** The event loop's active time, ms (Field.LOOP_ACTIVE_MS). */
  readonly loopActiveMs: number;
  /** The request whose app call has not returned, and since when (0: none). */
  readonly current: { since: number; request: string };
  /** The oldest request in flight at the last tick (since 0: none). */
  readonly oldest: { since: number; request: string };
}

/** The master's side: the file, and reading it. */
export class Scoreboard {
  readonly fd: number;
  readonly bytes: number;
  private readonly buffer: Buffer;
  private readonly fields: Float64Array;

  constructor(readonly slots: number) {
    this.bytes = slots * BYTES_PER_WORKER;
    // tmpfs when there is one: the slots never need to reach a disk.
    const dir = existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir();
    const file = path.join(dir, `tsgi-scoreboard-${process.pid}-${Date.now()}`);
    this.fd = openSync(file, 'wx+', 0o600);
    unlinkSync(file);
    ftruncateSync(this.fd, this.bytes);
    this.buffer = Buffer.alloc(this.bytes);
    this.fields = new Float64Array(this.buffer.buffer, this.buffer.byteOffset, this.bytes / 8);
  }

  /** Reads every slot from the file (one system call); `slot()` then answers from it. */
  refresh(): void {
    readSync(this.fd, this.buffer, 0, this.slots * SLOT_BYTES, 0);
  }

  /** A slot's metrics block, read from the file now (valid until the next call). */
  metrics(slot: number): Float64Array {
    const at = this.slots * SLOT_BYTES + slot * METRICS_BYTES;
    readSync(this.fd, this.buffer, at, METRICS_BYTES, at);
    return new Float64Array(this.buffer.buffer, this.buffer.byteOffset + at, METRICS_BYTES / 8);
  }

  /** Zeroes a slot before a new worker takes it. */
  reset(slot: number): void {
    writeSync(this.fd, Buffer.alloc(SLOT_BYTES), 0, SLOT_BYTES, slot * SLOT_BYTES);
    this.buffer.fill(0, slot * SLOT_BYTES, (slot + 1) * SLOT_BYTES);
    const at = this.slots * SLOT_BYTES + slot * METRICS_BYTES;
    writeSync(this.fd, Buffer.alloc(METRICS_BYTES), 0, METRICS_BYTES, at);
  }

  slot(slot: number): SlotReading {
    const f = this.fields;
    const at = (slot * SLOT_BYTES) / 8;
    const text = (offset: number, length: number): string =>
      this.buffer.toString('latin1', slot * SLOT_BYTES + offset, slot * SLOT_BYTES + offset + Math.min(length, TEXT_BYTES));
    return {
      pid: f[at + Field.PID]!,
      loopTick: f[at + Field.LOOP_TICK]!,
      requests: f[at + Field.REQUESTS]!,
      exceptions: f[at + Field.EXCEPTIONS]!,
      harakiri: f[at + Field.HARAKIRI]!,
      inFlight: f[at + Field.IN_FLIGHT]!,
      tunnels: f[at + Field.TUNNELS]!,
      responseTimeUs: f[at + Field.RESPONSE_TIME_US]!,
      tx: f[at + Field.TX]!,
      loopActiveMs: f[at + Field.LOOP_ACTIVE_MS]!,
      current: { since: f[at + Field.CURRENT_SINCE]!, request: text(CURRENT_AT, f[at + Field.CURRENT_LENGTH]!) },
      oldest: { since: f[at + Field.OLDEST_SINCE]!, request: text(OLDEST_AT, f[at + Field.OLDEST_LENGTH]!) },
    };
  }

  close(): void {
    closeSync(this.fd);
  }
}

/** The worker's side: its slot, as fields to update in place. */
export class WorkerSlot {
  /** The slot's float64 fields (index with `Field`). */
  readonly fields: Float64Array;
  /** The slot's metrics block (`src/observe/metrics.ts`). */
  readonly metrics: Float64Array;
  private readonly metricsBytes: Buffer;
  /** Where the metrics block is in the file. */
  private readonly metricsAt: number;
  private readonly bytes: Buffer;
  /** Whether writes reach the master by themselves (a shared mapping). */
  private readonly shared: boolean;
  /** Every slot's fields (only this one's, unless shared). */
  private readonly all: Float64Array;

  /** `fd`: the scoreboard file (null: nobody reads the slot, as without a master);
   * `map`: the native binding's `mapShared`, when there is one. */
  constructor(
    private readonly fd: number | null,
    private readonly slot: number,
    fileBytes: number,
    map?: (fd: number, length: number) => Buffer,
  ) {
    this.shared = map !== undefined && fd !== null;
    const whole = map && fd !== null ? map(fd, fileBytes) : Buffer.alloc(fileBytes);
    this.all = new Float64Array(whole.buffer, whole.byteOffset, fileBytes / 8);
    this.bytes = whole.subarray(slot * SLOT_BYTES, (slot + 1) * SLOT_BYTES);
    this.fields = new Float64Array(this.bytes.buffer, this.bytes.byteOffset, SLOT_BYTES / 8);
    this.metricsAt = (fileBytes / BYTES_PER_WORKER) * SLOT_BYTES + slot * METRICS_BYTES;
    this.metricsBytes = whole.subarray(this.metricsAt, this.metricsAt + METRICS_BYTES);
    this.metrics = new Float64Array(this.metricsBytes.buffer, this.metricsBytes.byteOffset, METRICS_BYTES / 8);
    this.fields[Field.PID] = process.pid;
  }

  /** Requests served by every worker: the sum over the slots when the scoreboard is
   * shared, this worker's own count otherwise. */
  totalRequests(): number {
    if (!this.shared) return this.fields[Field.REQUESTS]!;
    let total = 0;
    // The slots come first in the file, the metrics blocks after them.
    const slotsEnd = ((this.all.length * 8) / BYTES_PER_WORKER) * (SLOT_BYTES / 8);
    for (let at = Field.REQUESTS; at < slotsEnd; at += SLOT_BYTES / 8) total += this.all[at]!;
    return total;
  }

  /** Names the request whose app call starts now (read by the master if the loop sticks). */
  enter(request: string): void {
    this.fields[Field.CURRENT_LENGTH] = this.bytes.write(request, CURRENT_AT, TEXT_BYTES, 'latin1');
    this.fields[Field.CURRENT_SINCE] = monotonicMs();
    this.publish();
  }

  /** The app call named by `enter` returned. */
  leave(): void {
    this.fields[Field.CURRENT_SINCE] = 0;
  }

  /** The loop turned: records it, with the oldest request in flight (if any). */
  tick(oldest?: { request: string; since: number }): void {
    const f = this.fields;
    f[Field.LOOP_TICK] = monotonicMs();
    f[Field.LOOP_ACTIVE_MS] = performance.eventLoopUtilization().active;
    if (oldest) {
      f[Field.OLDEST_LENGTH] = this.bytes.write(oldest.request, OLDEST_AT, TEXT_BYTES, 'latin1');
      f[Field.OLDEST_SINCE] = oldest.since;
    } else {
      f[Field.OLDEST_SINCE] = 0;
    }
    this.publish();
    // The metrics block, without a shared mapping: as of each tick.
    if (!this.shared && this.fd !== null) writeSync(this.fd, this.metricsBytes, 0, METRICS_BYTES, this.metricsAt);
  }

  /** Without a shared mapping, writes the slot to the file. */
  private publish(): void {
    if (!this.shared && this.fd !== null) writeSync(this.fd, this.bytes, 0, SLOT_BYTES, this.slot * SLOT_BYTES);
  }
}
