/**
 * The HTTP/1.1 side of a connection (crates/tsgi-reactor/src/http.rs): one request at a
 * time; its body streamed (Content-Length or chunked); pipelined bytes wait in the
 * buffer until the response has ended, so responses go out in order. A refusal gets a
 * static response and a close, and nothing after it is parsed. After `101` the connection
 * is a tunnel (tunnel.ts): the bytes both ways are the app's.
 */
import { ChunkedDecoder } from '../codec/http/chunked.js';
import { HeadVars, parseHead, type Head } from '../codec/http/head.js';
import { WireError } from '../codec/wire.js';
import { AbortReason, Layout } from '../native/batch.js';
import { BODY_AND_END_WORDS, Level } from './batch.js';
import type { ReactorConfig } from './config.js';
import { DRAIN_IDLE_MS, EMPTY, answer, close, reset, stalledOutput, type Conn, type Next, type ProtoConn } from './conn.js';
import type { PureReactor } from './reactor.js';
import { httpRefusal } from './refusal.js';
import { headTimeout, refreshDeadline, responseStalled } from './timers.js';
import { updateInterest } from './conns.js';
import type { Stream } from './stream.js';
import { Tunnel } from './tunnel.js';
import type { StreamEnd } from './write.js';

/** Pipelined bytes buffered while a response is pending; past it, reading stops. */
const MAX_PIPELINED = 64 * 1024;

/** `100 Continue`, sent before the body of a request that asked for it. */
export const CONTINUE = Buffer.from('HTTP/1.1 100 Continue\r\n\r\n', 'latin1');

const vars = new HeadVars();

/** Where the read side of an HTTP connection is. */
const enum State {
  /** Waiting for a request head. */
  Head,
  /** A Content-Length body; `remaining` bytes to come. */
  Body,
  /** A chunked body. */
  Chunked,
  /** The request is read; bytes that come now are the next (pipelined) requests. */
  Done,
  /** After 101: the bytes both ways are the app's. */
  Tunnel,
}

/** How far one step through the buffered bytes got: it took bytes (look again), or stop here. */
type Step = 'more' | Next;

/** What an HTTP request keeps. */

export class HttpStream {
  readonly protocol = 'http';
  /** `Expect: 100-continue`: the body is asked for when the app first wants it. */
  constructor(public awaitingContinue: boolean) {}
}

/** What an HTTP connection keeps. */
export class HttpConn implements ProtoConn {
  readonly protocol = 'http';
  private state = State.Head;
  /** Body bytes still to come. */
  private remaining = 0;
  /** After 101 (State.Tunnel): the tunnel's read side. */
  private tunnel: Tunnel | null = null;
  /** Kept alive, waiting for a next request: the keep-alive timeout applies. */
  private idle = false;
  /** When the request being read must be whole (ms); 0 when no body is being read. */
  private requestDeadline = 0;
  /** The chunked body decoder, kept for the connection's next requests. */
  private chunked: ChunkedDecoder | null = null;
  /** When a graceful stop began (ms; 0: none). A response already promised keep-alive,
   * so the client may be sending its next request: a kept-alive connection waits
   * DRAIN_IDLE_MS for it and answers it with `Connection: close`, rather than closing
   * under it. */
  private drainStarted = 0;

  /** Nothing after a request is dropped unread: it is the next request. */
  readonly dropsInput = false;

  drop(): void {}

  /** Handles what is buffered: a head, body bytes, or nothing while a response is pending. */
  process(r: PureReactor, conn: Conn): Next {
    if (this.idle && conn.pending.length > 0) {
      // The next request began: its head has socket-timeout from now.
      this.idle = false;
      conn.headStarted = Date.now();
    }
    if (this.tunnel) return this.tunnel.process(r, conn);
    if (conn.paused && (this.state === State.Body || this.state === State.Chunked)) return 'go';
    for (;;) {
      let step: Step;
      if (conn.pending.length === 0) step = 'go';
      else if (this.state === State.Head) step = this.head(r, conn);
      else if (this.state === State.Body) step = this.body(r, conn);
      else if (this.state === State.Chunked) step = this.chunks(r, conn);
      else step = 'go';
      if (step !== 'more') return step;
    }
  }

  private head(r: PureReactor, conn: Conn): Step {
    const parsed = parseHead(conn.pending, conn.pending.length, r.config.http, vars);
    if (parsed === null) return 'go';
    if (parsed instanceof WireError) {
      const status = parsed.status ?? 400;
      r.notices.log(Level.WARN, `http: ${parsed.message}; answered ${status}`);
      return answer(httpRefusal(status));
    }
    return this.deliver(r, conn, parsed);
  }

  private deliver(r: PureReactor, conn: Conn, parsed: Head): Step {
    addSocketVars(conn, parsed);
    // After an upgrade request the client may already speak the new protocol: no next
    // request is parsed, whatever the answer. A draining worker keeps no connection.
    const keepAlive = parsed.keepAlive && !parsed.upgrade && !r.draining;
    const next = parsed.body === 'chunked' ? State.Chunked : parsed.body === 'none' || parsed.body === 0 ? State.Done : State.Body;
    const length = typeof parsed.body === 'number' ? parsed.body : 0;
    // The body is not read (nor asked for) until the app wants it.
    const awaitingContinue = parsed.expectContinue && next !== State.Done;
    let flags = 0;
    if (parsed.upgrade) flags |= Layout.FLAG_UPGRADE;
    if (awaitingContinue) flags |= Layout.FLAG_AWAITING_CONTINUE;
    // An upgrade request's input stays open: it may go on as the tunnel.
    if (next === State.Done && !parsed.upgrade) flags |= Layout.FLAG_BODY_COMPLETE;
    // Whether the connection stays open is JavaScript's decision, on its last write.
    if (keepAlive) flags |= Layout.FLAG_KEEP_ALIVE;
    const stream = r.streams.open(conn, new HttpStream(awaitingContinue), (token) =>
      r.batch.request(token, Layout.PROTOCOL_HTTP, length, flags, vars.block, 0, vars.length, vars.vars, BODY_AND_END_WORDS, 0),
    );
    if (!stream) return r.noRoom('http: batch buffers smaller than one request head; closed');
    stream.inApp = true;
    stream.paused = awaitingContinue;
    if (next === State.Chunked) {
      if (this.chunked) this.chunked.reset();
      else this.chunked = new ChunkedDecoder(r.config.http);
    }
    conn.take(parsed.length);
    this.state = next;
    this.remaining = length;
    this.requestDeadline = next === State.Done ? 0 : conn.headStarted + r.config.requestTimeoutMs;
    conn.paused ||= awaitingContinue;
    return 'more';
  }

  /** Streams Content-Length body bytes from the buffer. */
  private body(r: PureReactor, conn: Conn): Step {
    const token = conn.current;
    const take = Math.min(conn.pending.length, this.remaining);
    if (token === undefined) {
      // The response ended before the body was read: the rest is dropped as it comes.
      conn.take(take);
      this.remaining -= take;
      if (this.remaining === 0) {
        this.state = State.Done;
        this.nextRequest(r, conn);
      }
      return take > 0 ? 'more' : 'go';
    }
    if (!r.batch.fits(4 + 2, take)) return 'retry';
    r.batch.body(token, conn.pending, 0, take);
    conn.take(take);
    this.remaining -= take;
    if (this.remaining === 0) {
      r.batch.bodyEnd(token);
      this.state = State.Done;
      this.requestDeadline = 0;
    }
    return 'more';
  }

  /** Decodes chunked body bytes from the buffer. */
  private chunks(r: PureReactor, conn: Conn): Step {
    const token = conn.current;
    const decoder = (this.chunked ??= new ChunkedDecoder(r.config.http));
    const pending = conn.pending;
    let used = 0;
    let done = false;
    let full = false;
    let error: WireError | null = null;
    while (used < pending.length) {
      if (token !== undefined && !r.batch.fits(4 + 2, pending.length - used)) {
        // Whatever this decode finds must fit: decoding cannot be undone.
        full = true;
        break;
      }
      const decoded = decoder.decode(pending, used, pending.length);
      if (decoded instanceof WireError) {
        error = decoded;
        break;
      }
      if (token !== undefined && decoded.dataEnd > decoded.dataStart) r.batch.body(token, pending, decoded.dataStart, decoded.dataEnd);
      used += decoded.consumed;
      if (decoded.done) {
        if (token !== undefined) r.batch.bodyEnd(token);
        done = true;
        break;
      }
      if (decoded.consumed === 0) break;
    }
    conn.take(used);
    if (error) {
      r.notices.log(Level.WARN, `http: ${error.message}; request aborted`);
      return fail(r, conn, error.status ?? 400);
    }
    if (!done) return full ? 'retry' : 'go';
    this.state = State.Done;
    this.requestDeadline = 0;
    if (token === undefined) this.nextRequest(r, conn);
    return 'more';
  }

  /** The app answered 101: the connection becomes a tunnel; bytes already buffered after
   * the request are the first tunnelled ones. False if it cannot (any longer). */
  upgrade(r: PureReactor, conn: Conn): boolean {
    if (this.state !== State.Done) return false;
    this.tunnel = Tunnel.open(r, conn);
    if (!this.tunnel) return false;
    this.state = State.Tunnel;
    return true;
  }

  /** The response ended: a kept-alive connection goes back to reading heads once the request
   * is read whole; otherwise it closes after the response. */
  requestEnded(r: PureReactor, conn: Conn, _stream: Stream, _end: StreamEnd, keepAlive: boolean): void {
    if (!keepAlive) conn.closing = true;
    else if (this.state === State.Done) this.nextRequest(r, conn);
  }

  /** Starts waiting for the next request on a kept-alive connection. */
  private nextRequest(r: PureReactor, conn: Conn): void {
    if (conn.streams.length > 0 || conn.closing) return;
    this.state = State.Head;
    this.requestDeadline = 0;
    conn.headStarted = Date.now();
    this.idle = conn.pending.length === 0;
    // Pipelined requests waiting in the buffer are parsed in the next batch.
    if (conn.pending.length > 0) r.notices.retryLater(conn);
    refreshDeadline(r, conn);
    updateInterest(conn);
  }

  /** The peer closed. Inside a head or a body it is worth a log line; a tunnel's client
   * closing its side only ends the app's input. */
  eof(r: PureReactor, conn: Conn): Next {
    if (this.tunnel) return this.tunnel.onEof(r, conn);
    let reason: number = AbortReason.PEER_GONE;
    if (this.state === State.Head && conn.pending.length > 0) {
      r.notices.log(Level.WARN, `http: peer closed inside a request head (${conn.pending.length} bytes received); closed`);
    } else if (this.state === State.Body) {
      r.notices.log(Level.WARN, `http: peer closed with ${this.remaining} body bytes missing; request aborted`);
      reason = AbortReason.BODY_TRUNCATED;
    } else if (this.state === State.Chunked) {
      r.notices.log(Level.WARN, 'http: peer closed inside a chunked body; request aborted');
      reason = AbortReason.BODY_TRUNCATED;
    }
    return close(reason);
  }

  /** Whether the connection is read now. */
  wantsRead(conn: Conn): boolean {
    switch (this.state) {
      case State.Body:
      case State.Chunked:
        return !conn.paused;
      case State.Tunnel:
        return this.tunnel!.wantsRead(conn);
      case State.Done:
        return conn.pending.length < MAX_PIPELINED;
      case State.Head:
        return true;
    }
  }

  /** The head within socket-timeout of its first byte (keep-alive timeout while idle); a body
   * that keeps coming and is whole by the request's deadline; a queued response that moves. */
  deadline(conn: Conn, config: ReactorConfig, now: number): number {
    const timeout = config.socketTimeoutMs;
    if (this.state === State.Head && this.idle && this.drainStarted !== 0) {
      return Math.max(conn.headStarted, this.drainStarted) + Math.min(DRAIN_IDLE_MS, config.keepaliveTimeoutMs);
    }
    if (this.state === State.Head) return conn.headStarted + (this.idle ? config.keepaliveTimeoutMs : timeout);
    if ((this.state === State.Body || this.state === State.Chunked) && !conn.paused) {
      return this.requestDeadline !== 0 ? Math.min(now + timeout, this.requestDeadline) : now + timeout;
    }
    if (this.state === State.Tunnel) return Tunnel.deadline(conn, config, now);
    return stalledOutput(conn, config, now);
  }

  /** The deadline passed at `now`. */
  expired(r: PureReactor, conn: Conn, now: number): Next {
    const readingBody = this.state === State.Body || this.state === State.Chunked;
    if (readingBody && this.requestDeadline !== 0 && this.requestDeadline <= now) {
      r.notices.log(
        Level.WARN,
        `http: request not received whole within http-request-timeout ${r.config.requestTimeoutMs / 1000} s; aborted (raise --http-request-timeout)`,
      );
      return fail(r, conn, 408);
    }
    const seconds = r.config.socketTimeoutMs / 1000;
    switch (this.state) {
      case State.Head:
        return headTimeout(r, conn);
      case State.Tunnel:
        return Tunnel.expired(r, conn);
      // A client that stopped sending its body is told so (408) unless the app has begun
      // its response, then the connection closes.
      case State.Chunked:
        r.notices.log(Level.WARN, `http: chunked request body stalled for socket-timeout ${seconds} s; aborted with 408 (raise --socket-timeout)`);
        return fail(r, conn, 408);
      case State.Body:
        r.notices.log(
          Level.WARN,
          `http: request body stalled for socket-timeout ${seconds} s with ${this.remaining} bytes missing; aborted with 408 (raise --socket-timeout)`,
        );
        return fail(r, conn, 408);
      case State.Done:
        return responseStalled(r);
    }
  }

  /** The request is read to its end. */
  get readWhole(): boolean {
    return this.state === State.Done;
  }

  /** A Content-Length body is being read. */
  get inLengthBody(): boolean {
    return this.state === State.Body;
  }

  /** A graceful stop: its last response promised keep-alive, so it closes when idle for
   * DRAIN_IDLE_MS, or after a request that arrives meanwhile (that one gets no keep-alive). */
  stop(_conn: Conn, now: number): void {
    this.drainStarted = now;
  }
}

/** `SERVER_NAME` and `SERVER_PORT` from a Host value (`name`, `name:port`, `[v6]:port`). */
function splitHost(host: string): [string, string | null] {
  let colon: number;
  if (host.startsWith('[')) {
    const end = host.indexOf(']');
    colon = end !== -1 && host[end + 1] === ':' ? end + 1 : -1;
  } else {
    colon = host.lastIndexOf(':');
  }
  return colon === -1 ? [host, null] : [host.slice(0, colon), host.slice(colon + 1)];
}

/** REMOTE_ADDR/PORT from the socket; SERVER_NAME/PORT from the host asked for, else our end. */
function addSocketVars(conn: Conn, parsed: Head): void {
  const socket = conn.socket;
  const host = parsed.host ? vars.block.toString('latin1', parsed.host[0], parsed.host[1]) : '';
  const [name, port] = splitHost(host);
  vars.pushText('SERVER_NAME', name !== '' ? name : (socket.localAddress ?? ''));
  vars.pushText('SERVER_PORT', port ? port : socket.localPort === undefined ? '' : String(socket.localPort));
  if (socket.remoteAddress !== undefined) {
    vars.pushText('REMOTE_ADDR', socket.remoteAddress);
    vars.pushText('REMOTE_PORT', String(socket.remotePort));
  }
}

/** The body cannot be read on: the request is aborted; the client gets `status` if nothing
 * of the response went out yet, else a reset. */
function fail(r: PureReactor, conn: Conn, status: number): Next {
  const stream = conn.streams[0];
  // The response already ended: close after it, never a second one.
  if (!stream) return answer(EMPTY);
  stream.inApp = false;
  r.notices.push({ kind: 'abort', token: stream.token, reason: AbortReason.BODY_TRUNCATED });
  if (stream.wrote) return reset(AbortReason.BODY_TRUNCATED);
  r.streams.forget(conn);
  return answer(httpRefusal(status));
}
