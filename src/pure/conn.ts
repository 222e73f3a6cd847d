/**
 * One connection of the pure-TypeScript reactor: what every connection has, and the state
 * of its protocol (crates/tsgi-reactor/src/conn.rs). The Rust `Conn` is a `Link` (what every
 * connection has) beside a `ProtoConn` (one protocol's state), split so that a handler can
 * borrow both at once; here the link's fields are the `Conn`'s own, and `proto` is the
 * protocol's state, a class in that protocol's file (`UwsgiConn`, `FastcgiConn`, `HttpConn`).
 * No field that means something for one protocol only is here. The states every protocol
 * shares, a refusal being sent and the lingering close, are a {@link Stage}; once a
 * connection is in one, its protocol's state is no longer consulted.
 *
 * A protocol handler answers {@link Next}, what should happen to the connection, applied in
 * one place (`PureReactor.apply`). New kinds of connection (a WebSocket tunnel, a file being
 * sent) are states of their protocol, not fields here.
 */
import type net from 'node:net';
import type { WireProtocol } from '../native/binding.js';
import type { ReactorConfig } from './config.js';
import type { PureReactor } from './reactor.js';
import type { Stream } from './stream.js';
import type { StreamEnd } from './write.js';

export const EMPTY = Buffer.alloc(0);

/** How long a kept-alive connection (HTTP, FastCGI keep-conn) waits for its next request
 * once a graceful stop has begun (at most its idle timeout). A peer sending back to back
 * sends within it, and its request is answered rather than cut by a close; an idle one is
 * closed at its end, as at any idle timeout. */
export const DRAIN_IDLE_MS = 1000;

/** Where a connection stands, whatever its protocol. */
export const enum Stage {
  /** Its protocol's state says what the bytes mean. */
  Serving,
  /** A refusal (or a pong) is being sent; what the peer sends is dropped, never parsed. */
  Refused,
  /** Our side is shut after the last response; unread bytes are drained until `lingerUntil`. */
  Linger,
}

/**
 * What the reactor asks of the state of a connection's protocol (`UwsgiConn`, `FastcgiConn`,
 * `HttpConn`): the twin of the Rust `ProtoConn` enum, whose match arms these methods are.
 * Only consulted while the connection is {@link Stage.Serving}, but for `stop` and
 * `requestEnded`, which concern the connection whatever its stage.
 */
export interface ProtoConn {
  readonly protocol: WireProtocol;
  /** Bytes that come now are read and dropped, never parsed (uwsgi after its request, U20). */
  readonly dropsInput: boolean;
  /** `bytes` were dropped that way. */
  drop(bytes: number): void;
  /** Handles what is buffered. */
  process(r: PureReactor, conn: Conn): Next;
  /** The peer closed its side. */
  eof(r: PureReactor, conn: Conn): Next;
  /** Whether the connection is read now (the native epoll interest). */
  wantsRead(conn: Conn): boolean;
  /** The deadline the state calls for at `now` (0: none). */
  deadline(conn: Conn, config: ReactorConfig, now: number): number;
  /** The deadline passed at `now`. */
  expired(r: PureReactor, conn: Conn, now: number): Next;
  /** The request was read to its end: the connection may close without lingering. */
  readonly readWhole: boolean;
  /** A body of known length is being read (its stall timeout stops while paused). */
  readonly inLengthBody: boolean;
  /** A graceful stop began at `now`. No connection closes here: a kept-alive one waits
   * DRAIN_IDLE_MS for its peer's next request, answers it, then closes. */
  stop(conn: Conn, now: number): void;
  /** A request on the connection ended (`keepConn`: it may carry the peer's next one). */
  requestEnded(r: PureReactor, conn: Conn, stream: Stream, end: StreamEnd, keepConn: boolean): void;
}

/**
 * What should happen to a connection after its protocol handled an event: `wait` (nothing
 * the deadline depends on changed; only whether it is read follows the state), `go` (its
 * deadline and reading follow its new state), `retry` (as `go`, and it is handled again first
 * thing in the next batch: this one had no room), an answer from the reactor itself then a
 * lingering close, or a close (`reset`: RST, not FIN; requests JavaScript has get ABORT with
 * `reason`).
 */
export type Next = 'wait' | 'go' | 'retry' | { readonly answer: Buffer } | { readonly reset: boolean; readonly reason: number };

/** Answer `bytes` (a refusal, a pong), then close after them. */
export function answer(bytes: Buffer): Next {
  return { answer: bytes };
}

/** Close with FIN. */
export function close(reason: number): Next {
  return { reset: false, reason };
}

/** Close with RST. */
export function reset(reason: number): Next {
  return { reset: true, reason };
}

export class Conn {
  stage = Stage.Serving;
  /** With {@link Stage.Linger}: when the drain gives up (ms). */
  lingerUntil = 0;
  /** Received and not yet handled. */
  pending: Buffer = EMPTY;
  readonly streams: Stream[] = [];
  /** A request asked to stop reading. */
  paused = false;
  /** Close (or linger) once the last response is out. */
  closing = false;
  /** Corked by writes during the current batch. */
  dirty = false;
  closed = false;
  /** Reading from the socket (not paused): the native epoll interest. */
  reading = true;
  /** When the connection was accepted, or (HTTP keep-alive) when the first byte of its next
   * head arrived: the head must arrive within socket-timeout of it. */
  headStarted: number;
  deadline = 0;
  /** Bytes queued for the socket at the last tick, to notice a peer that reads nothing. */
  lastQueued = 0;

  constructor(
    readonly socket: net.Socket,
    readonly proto: ProtoConn,
    now: number,
  ) {
    this.headStarted = now;
  }

  get protocol(): WireProtocol {
    return this.proto.protocol;
  }

  /** Response bytes not yet handed to the kernel. */
  get queued(): number {
    return this.socket.writableLength;
  }

  take(n: number): void {
    this.pending = n >= this.pending.length ? EMPTY : this.pending.subarray(n);
  }

  /** The token of the request in progress on a connection that carries one at a time
   * (uwsgi, HTTP); undefined once its response has ended. */
  get current(): number | undefined {
    return this.streams[0]?.token;
  }
}

/** The deadline of a connection with nothing left to read: a queued response must keep moving. */
export function stalledOutput(conn: Conn, config: ReactorConfig, now: number): number {
  return conn.queued > 0 ? now + config.socketTimeoutMs : 0;
}
