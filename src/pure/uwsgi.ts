/**
 * The read side of a uwsgi connection (crates/tsgi-reactor/src/uwsgi.rs): head, body, and
 * what comes after, which is never parsed: thrown away (U20), unless the request is an
 * upgrade (a WebSocket handshake nginx passes on) and the app answers `101`: then the
 * connection is a tunnel (tunnel.ts) and those bytes are the app's, as over HTTP. A uwsgi
 * connection carries one request; its state ({@link UwsgiConn}) is that request's read side.
 */
import { HEADER_LEN, MODIFIER_MANAGE_PATH_INFO, MODIFIER_PING, UwsgiErrors, parseRequest, type UwsgiHead } from '../codec/uwsgi.js';
import { VarList, WireError } from '../codec/wire.js';
import { AbortReason, Layout } from '../native/batch.js';
import { BODY_AND_END_WORDS, Level } from './batch.js';
import type { ReactorConfig } from './config.js';
import { EMPTY, answer, close, stalledOutput, type Conn, type Next, type ProtoConn } from './conn.js';
import type { PureReactor } from './reactor.js';
import { httpRefusal } from './refusal.js';
import { UWSGI_STREAM } from './stream.js';
import { bodyStalled, headTimeout, responseStalled } from './timers.js';
import { Tunnel } from './tunnel.js';

/** The answer to a ping: a pong header (modifier1 100, datasize 0, modifier2 1). */
const PONG = Buffer.from([MODIFIER_PING, 0, 0, 1]);

/** Bytes after a complete request read and dropped (U20), or kept after an upgrade request
 * until the app answers, before reading stops. */
const MAX_AFTER = 64 * 1024;

const vars = new VarList();

/** Where the read side of a uwsgi connection is. */
const enum State {
  /** Waiting for the packet header and vars block. */
  Head,
  /** A vars block over buffer-size is read and thrown away, then refused (U4). */
  DiscardVars,
  /** Streaming the body to JavaScript. */
  Body,
  /** The request is read; what follows is thrown away. */
  Done,
  /** An upgrade request without a body is read, and the app has not switched (yet): what the
   * peer sends now is kept, since after a 101 it is the tunnel's first bytes. Otherwise as Done. */
  Upgradable,
  /** After 101: the bytes both ways are the app's. */
  Tunnel,
}

export class UwsgiConn implements ProtoConn {
  readonly protocol = 'uwsgi';
  private state = State.Head;
  /** Vars bytes still to throw away (DiscardVars), body bytes still to come (Body). */
  private remaining = 0;
  /** The refusal due once discarded vars are gone. */
  private discardError: WireError | null = null;
  /** Bytes thrown away after the request (U20); past MAX_AFTER, reading stops. */
  private discarded = 0;
  /** After 101 (State.Tunnel): the tunnel's read side. */
  private tunnel: Tunnel | null = null;

  /** Bytes that come now are read and dropped, never parsed. */
  get dropsInput(): boolean {
    return this.state === State.Done;
  }

  /** Drops `bytes` the peer sent after the request. */
  drop(bytes: number): void {
    this.discarded += bytes;
  }

  /** Handles what is buffered. */
  process(r: PureReactor, conn: Conn): Next {
    switch (this.state) {
      case State.Head:
        return this.head(r, conn);
      case State.DiscardVars: {
        const take = Math.min(conn.pending.length, this.remaining);
        this.remaining -= take;
        conn.pending = EMPTY;
        return this.remaining === 0 ? refuse(r, this.discardError!) : 'wait';
      }
      case State.Body:
        return this.body(r, conn);
      case State.Done:
      case State.Upgradable:
        return 'wait';
      case State.Tunnel:
        return this.tunnel!.process(r, conn);
    }
  }

  private head(r: PureReactor, conn: Conn): Next {
    const buf = conn.pending;
    const parsed = parseRequest(buf, buf.length, r.config.uwsgi, vars);
    if (parsed === null) return 'wait';
    if (parsed instanceof WireError) {
      if (parsed.code === 'uwsgi_vars_too_large') {
        // The block is read and thrown away, then refused: the proxy gets an answer, not a reset.
        const size = buf[1]! | (buf[2]! << 8);
        const already = buf.length - HEADER_LEN;
        if (already >= size) return refuse(r, parsed);
        this.state = State.DiscardVars;
        this.remaining = size - already;
        this.discardError = parsed;
        conn.pending = EMPTY;
        return 'wait';
      }
      if (parsed.status !== null) return refuse(r, parsed);
      r.notices.log(Level.WARN, `uwsgi: ${parsed.message}; closed`);
      return close(AbortReason.PEER_GONE);
    }
    if (parsed.modifier1 === MODIFIER_PING) return answer(PONG);
    return this.deliver(r, conn, buf, parsed);
  }

  /** Hands a complete head (and the body bytes that came with it) to JavaScript. */
  private deliver(r: PureReactor, conn: Conn, buf: Buffer, head: UwsgiHead): Next {
    const batch = r.batch;
    const contentLength = head.contentLength;
    const bodyNow = Math.min(buf.length - head.consumed, contentLength);
    // An upgrade request with a body is served as a plain one: its input ends with the body
    // and can go on as no tunnel.
    const upgrade = head.upgrade && contentLength === 0;
    let flags = 0;
    // Its input stays open: it may go on as the tunnel.
    if (upgrade) flags |= Layout.FLAG_UPGRADE;
    else if (contentLength === 0) flags |= Layout.FLAG_BODY_COMPLETE;
    if (head.modifier1 === MODIFIER_MANAGE_PATH_INFO) flags |= Layout.FLAG_MANAGE_PATH_INFO;
    // Room for the body that came with the head, and its end.
    const stream = r.streams.open(conn, UWSGI_STREAM, (token) =>
      batch.request(token, Layout.PROTOCOL_UWSGI, contentLength, flags, buf, HEADER_LEN, head.consumed - HEADER_LEN, vars, BODY_AND_END_WORDS, bodyNow),
    );
    if (!stream) return r.noRoom('uwsgi: batch buffers smaller than one request head; closed');
    stream.inApp = true;
    if (bodyNow > 0) batch.body(stream.token, buf, head.consumed, head.consumed + bodyNow);
    const remaining = contentLength - bodyNow;
    if (contentLength > 0 && remaining === 0) batch.bodyEnd(stream.token);
    this.remaining = remaining;
    this.state = remaining > 0 ? State.Body : upgrade ? State.Upgradable : State.Done;
    // What follows is kept for the tunnel, or thrown away (U20).
    if (upgrade) {
      this.discarded = 0;
      conn.take(head.consumed);
    } else {
      this.discarded = buf.length - head.consumed - bodyNow;
      conn.pending = EMPTY;
    }
    return 'go';
  }

  private body(r: PureReactor, conn: Conn): Next {
    if (conn.paused) return 'wait';
    // None once the response ended early: the rest of the body is read and dropped.
    const token = conn.current;
    const room = r.batch.bodyRoom();
    if (room === 0) return 'retry';
    const take = Math.min(conn.pending.length, this.remaining, room);
    if (token !== undefined) r.batch.body(token, conn.pending, 0, take);
    this.remaining -= take;
    conn.take(take);
    if (this.remaining === 0) {
      this.state = State.Done;
      if (token !== undefined) r.batch.bodyEnd(token);
      this.discarded += conn.pending.length;
      conn.pending = EMPTY;
      return 'go';
    }
    return conn.pending.length > 0 ? 'retry' : 'go';
  }

  /** The peer closed: mid-head is worth a log line (U1, U2); mid-body aborts (U19); a
   * tunnel's client closing its side only ends the app's input. */
  eof(r: PureReactor, conn: Conn): Next {
    if (this.tunnel) return this.tunnel.onEof(r, conn);
    if (this.state === State.Body) {
      r.notices.log(Level.WARN, `uwsgi: peer closed with ${this.remaining} body bytes missing; request aborted`);
      return close(AbortReason.BODY_TRUNCATED);
    }
    if (this.state === State.Head || this.state === State.DiscardVars) {
      const got = conn.pending.length;
      const error =
        this.state === State.DiscardVars
          ? UwsgiErrors.truncatedVars()
          : got === 0
            ? null
            : got < HEADER_LEN
              ? UwsgiErrors.truncatedHeader()
              : UwsgiErrors.truncatedVars();
      if (error) r.notices.log(Level.WARN, `uwsgi: ${error.message} (peer closed after ${got} bytes); closed`);
    }
    return close(AbortReason.PEER_GONE);
  }

  /** The app answered 101 to the upgrade request: the connection becomes a tunnel; bytes kept
   * after the request are the first tunnelled ones. False if the request cannot switch. */
  upgrade(r: PureReactor, conn: Conn): boolean {
    if (this.state !== State.Upgradable) return false;
    this.tunnel = Tunnel.open(r, conn);
    if (!this.tunnel) return false;
    this.state = State.Tunnel;
    return true;
  }

  /** Whether the connection is read now. */
  wantsRead(conn: Conn): boolean {
    switch (this.state) {
      case State.Body:
        return !conn.paused;
      case State.Done:
        return this.discarded < MAX_AFTER;
      case State.Upgradable:
        return conn.pending.length < MAX_AFTER;
      case State.Tunnel:
        return this.tunnel!.wantsRead(conn);
      default:
        return true;
    }
  }

  /** The head within socket-timeout of the accept; a body that keeps coming; a queued response that keeps moving. */
  deadline(conn: Conn, config: ReactorConfig, now: number): number {
    if (this.state === State.Head || this.state === State.DiscardVars) return conn.headStarted + config.socketTimeoutMs;
    if (this.state === State.Body && !conn.paused) return now + config.socketTimeoutMs;
    if (this.state === State.Tunnel) return Tunnel.deadline(conn, config, now);
    return stalledOutput(conn, config, now);
  }

  /** The deadline passed. */
  expired(r: PureReactor, conn: Conn): Next {
    switch (this.state) {
      case State.Head:
      case State.DiscardVars:
        return headTimeout(r, conn);
      case State.Body:
        return bodyStalled(r, conn, this.remaining);
      case State.Done:
      case State.Upgradable:
        return responseStalled(r);
      case State.Tunnel:
        return Tunnel.expired(r, conn);
    }
  }

  /** The request is read to its end (a tunnel's input has none). */
  get readWhole(): boolean {
    return this.state === State.Done || this.state === State.Upgradable;
  }

  /** The body is being read. */
  get inLengthBody(): boolean {
    return this.state === State.Body;
  }

  /** A graceful stop: the request in progress finishes; the connection closes after it. */
  stop(): void {}

  /** The response ended: one request per connection. */
  requestEnded(_r: PureReactor, conn: Conn): void {
    conn.closing = true;
  }
}

/** Refuses with the static response for `error`, logged once, then a lingering close. */
function refuse(r: PureReactor, error: WireError): Next {
  const status = error.status ?? 400;
  r.notices.log(Level.WARN, `uwsgi: ${error.message}; answered ${status}`);
  return answer(httpRefusal(status));
}
