/**
 * The server's side of the TSGI response contract, kept once for every host that runs an
 * app: the worker's exchange (src/server/exchange.ts) and the adapters' driver, which runs
 * an app under node:http or as a fetch handler (src/adapters/tsgi-driver.ts).
 *
 * It owns the rules, not the wire: startResponse's (a second call needs excInfo, excInfo
 * after the head went out is rethrown), what a chunk may be, which responses carry no body
 * (HEAD, 1xx, 204, 304), the byte accounting against the app's Content-Length (extra bytes
 * dropped and logged, fewer bytes an aborted response), and the body's close(), called once
 * whatever happens. Each host sends the head and the bytes its own way.
 */
import { checkHead, isBodiless, type Body, type CheckedHead, type Chunk, type Headers } from './contract.js';
import { describeError, ErrorCodes, TsgiError } from '../errors.js';
import { log } from '../log.js';

const EMPTY = Buffer.alloc(0);

/** Byte length of a chunk (strings go out as UTF-8). */
export function byteLength(chunk: Chunk): number {
  return typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.byteLength;
}

/** The total length of a body known whole before sending (a list of chunks), else -1. */
export function knownLength(body: Body): number {
  if (!Array.isArray(body)) return -1;
  let total = 0;
  for (const chunk of body as Chunk[]) total += byteLength(chunk);
  return total;
}

/** What a host tells the response state about the request. */
export interface ResponseRequest {
  /** The method was HEAD: the headers describe a body that is not sent. */
  readonly headRequest: boolean;
  /** A 101's body is the tunnel's output, sent as it comes (the worker's HTTP listener);
   * where the host cannot switch protocols, a 101 is bodiless like any 1xx. */
  readonly tunnels: boolean;
  /** `METHOD URI`, for log lines. */
  describeRequest(): string;
}

/** One response as the app builds it. */
export class ResponseState {
  /** The head the app gave (its latest, with excInfo), or null before startResponse. */
  head: CheckedHead | null = null;
  /** The head went out: startResponse can no longer replace it. */
  headSent = false;
  /** Body bytes handed on, counted against the app's Content-Length. */
  sent = 0;
  /** The app sent more than its Content-Length (the extra bytes were dropped). */
  overflowed = false;
  private body: Body | null = null;
  private bodyClosed = false;

  constructor(private readonly request: ResponseRequest) {}

  /** startResponse's rules: returns the checked head, or throws. */
  start(status: string, headers: Headers, excInfo?: unknown): CheckedHead {
    if (excInfo !== undefined && excInfo !== null) {
      if (this.headSent) throw excInfo;
    } else if (this.head) {
      throw new TsgiError(ErrorCodes.START_RESPONSE_TWICE, 'startResponse() called a second time without excInfo');
    }
    this.head = checkHead(status, headers);
    return this.head;
  }

  /** Checks a chunk the app produced; false when it is empty (nothing to send). Throws
   * for a chunk of the wrong type, or data before startResponse. */
  accepts(chunk: Chunk): boolean {
    if (!isChunk(chunk)) {
      throw new TsgiError(ErrorCodes.INVALID_CHUNK, `a body chunk must be a string or a Uint8Array, got ${typeof chunk}`);
    }
    if (chunk.length === 0) return false;
    this.started();
    return true;
  }

  /** Throws for body data (a chunk, a file) before startResponse. */
  started(): void {
    if (!this.head) throw new TsgiError(ErrorCodes.NO_START_RESPONSE, 'the body produced data before startResponse() was called');
  }

  /** Whether the response carries the body the app produces. */
  get bodyAllowed(): boolean {
    const code = this.head!.code;
    if (code === 101) return this.request.tunnels;
    return !this.request.headRequest && !isBodiless(code);
  }

  /** The part of `chunk` within the app's Content-Length, counted as sent. What is past it
   * is dropped, with a log line the first time, and `overflowed` is set: the response is
   * then complete. (No result object: this runs for every chunk.) */
  take(chunk: Chunk): Chunk {
    const declared = this.head!.contentLength;
    const length = byteLength(chunk);
    if (declared < 0 || length <= declared - this.sent) {
      this.sent += length;
      return chunk;
    }
    const room = declared - this.sent;
    if (!this.overflowed) log.error(`${this.request.describeRequest()}: the app sent more than its Content-Length ${declared}; extra bytes dropped`);
    this.overflowed = true;
    this.sent = declared;
    return room === 0 ? EMPTY : Buffer.from(chunk as Uint8Array | string).subarray(0, room);
  }

  /** As `take`, for `length` bytes of a file: how many of them go, within the app's
   * Content-Length. */
  takeLength(length: number): number {
    const declared = this.head!.contentLength;
    if (declared < 0 || length <= declared - this.sent) {
      this.sent += length;
      return length;
    }
    if (!this.overflowed) log.error(`${this.request.describeRequest()}: the app sent more than its Content-Length ${declared}; extra bytes dropped`);
    this.overflowed = true;
    const room = declared - this.sent;
    this.sent = declared;
    return room;
  }

  /** The app's Content-Length is reached (or it gave none). */
  get lengthReached(): boolean {
    const declared = this.head!.contentLength;
    return declared < 0 || this.sent === declared;
  }

  /** The body ended: throws if startResponse never came; returns why the response cannot
   * be completed (fewer bytes than its Content-Length), or null when it can. */
  shortfall(): string | null {
    const head = this.head;
    if (!head) throw new TsgiError(ErrorCodes.NO_START_RESPONSE, 'the body ended without startResponse() being called');
    if (!this.bodyAllowed || head.contentLength < 0 || this.sent >= head.contentLength) return null;
    return `the app sent ${this.sent} of its Content-Length ${head.contentLength} bytes`;
  }

  /** The body the app returned, for `closeBody`. */
  holdBody(body: Body): void {
    this.body = body;
  }

  /** Calls the body's close() once, whatever happened; its errors are logged. */
  closeBody(): void {
    if (this.bodyClosed || !this.body) return;
    this.bodyClosed = true;
    const body = this.body;
    const close = body.close;
    if (typeof close !== 'function') return;
    try {
      const result = close.call(body);
      if (isThenable(result)) result.then(undefined, (error: unknown) => log.error(`error in the body's close(): ${describeError(error)}`));
    } catch (error) {
      log.error(`error in the body's close(): ${describeError(error)}`);
    }
  }
}

/** What a body may yield: a string or a Uint8Array. */
export function isChunk(value: unknown): value is Chunk {
  return typeof value === 'string' || value instanceof Uint8Array;
}

export function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as PromiseLike<unknown> | null)?.then === 'function';
}
