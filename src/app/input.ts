/**
 * `tsgi.input`: the request body as a stream the app reads on demand.
 *
 * Memory is bounded: when more than `highWater` bytes wait unread and no reader is
 * waiting for more, the server is asked to stop reading the socket (`onPressure(true)`),
 * and to resume once the app has read half of them, or asks for more than is buffered (a
 * `read()` of the whole body, a long line). Ends at CONTENT_LENGTH; fails with CLIENT_GONE / BODY_TRUNCATED if the request
 * is aborted first.
 */
import type { Input } from './contract.js';
import { ErrorCodes, TsgiError } from '../errors.js';

const EMPTY = new Uint8Array(0);
const NEWLINE = 0x0a;

export class BodyInput implements Input {
  private chunks: Buffer[] = [];
  private queued = 0;
  private ended = false;
  private failure: TsgiError | null = null;
  private paused = false;
  private wake: (() => void) | null = null;

  /**
   * `startPaused`: the server holds the body back until the app first wants it (HTTP
   * `Expect: 100-continue`); the first read unpauses, which sends `100 Continue`.
   */
  constructor(
    private readonly highWater: number,
    private readonly onPressure: (paused: boolean) => void,
    startPaused = false,
  ) {
    this.paused = startPaused;
  }

  /** Server side: a chunk arrived. */
  push(chunk: Buffer): void {
    if (this.ended || this.failure) return;
    this.chunks.push(chunk);
    this.queued += chunk.length;
    const readerWaiting = this.wake !== null;
    this.notify();
    if (!readerWaiting && this.queued > this.highWater) this.setPaused(true);
  }

  /** Server side: the body is complete. */
  end(): void {
    this.ended = true;
    this.notify();
  }

  /** Server side: resolves once `bytes` are queued, or the body ended or failed, reading on
   * past the high-water mark meanwhile (`--post-buffering`: the app is called after). */
  async prefetch(bytes: number): Promise<void> {
    while (this.queued < bytes && !this.ended && !this.failure) await this.more();
  }

  /** Server side: the request was aborted. */
  fail(error: TsgiError): void {
    if (this.ended) return;
    this.failure = error;
    this.chunks = [];
    this.queued = 0;
    this.notify();
  }

  async read(size?: number): Promise<Uint8Array> {
    const limit = size === undefined || size < 0 ? Infinity : size;
    if (limit === 0) return EMPTY;
    if (limit === Infinity) {
      while (!this.ended) await this.more();
      return this.take(this.queued);
    }
    await this.available();
    return this.take(Math.min(limit, this.queued));
  }

  async readline(size?: number): Promise<Uint8Array> {
    const limit = size === undefined || size < 0 ? Infinity : size;
    for (;;) {
      let seen = 0;
      for (const chunk of this.chunks) {
        const nl = chunk.indexOf(NEWLINE);
        if (nl !== -1) return this.take(Math.min(seen + nl + 1, limit));
        seen += chunk.length;
        if (seen >= limit) return this.take(limit);
      }
      if (this.ended) return this.take(this.queued);
      await this.more();
    }
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    for (;;) {
      await this.available();
      if (this.queued === 0) return;
      yield this.take(this.chunks[0]!.length);
    }
  }

  /** Waits until at least one byte is queued, or the body ended. */
  private async available(): Promise<void> {
    while (this.queued === 0 && !this.ended) await this.more();
  }

  private more(): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    // The reader needs more than is buffered: reading must go on, whatever is queued.
    this.setPaused(false);
    return new Promise((resolve) => (this.wake = resolve));
  }

  private setPaused(paused: boolean): void {
    if (this.paused === paused) return;
    this.paused = paused;
    this.onPressure(paused);
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }

  /** Removes and returns the first `n` queued bytes (n <= queued). */
  private take(n: number): Uint8Array {
    if (this.failure) throw this.failure;
    if (n === 0) return EMPTY;
    let out: Buffer;
    const first = this.chunks[0]!;
    if (n === first.length) {
      out = first;
      this.chunks.shift();
    } else if (n < first.length) {
      out = first.subarray(0, n);
      this.chunks[0] = first.subarray(n);
    } else {
      out = Buffer.allocUnsafe(n);
      let filled = 0;
      while (filled < n) {
        const chunk = this.chunks[0]!;
        const part = Math.min(chunk.length, n - filled);
        chunk.copy(out, filled, 0, part);
        filled += part;
        if (part === chunk.length) this.chunks.shift();
        else this.chunks[0] = chunk.subarray(part);
      }
    }
    this.queued -= n;
    if (this.queued <= this.highWater / 2) this.setPaused(false);
    return out;
  }
}

/** The error an aborted request's body stream fails with. */
export function abortError(truncated: boolean): TsgiError {
  return truncated
    ? new TsgiError(ErrorCodes.BODY_TRUNCATED, 'the request body ended before CONTENT_LENGTH bytes arrived')
    : new TsgiError(ErrorCodes.CLIENT_GONE, 'the client went away');
}
