/**
 * The write side JavaScript drives, for the pure-TypeScript reactor
 * (crates/tsgi-reactor/src/write.rs): response bytes in (framed for FastCGI), the last
 * write saying whether the response ends and the connection stays open; pausing a body,
 * aborting a request, turning it into a tunnel, writing to the web server's error log; and
 * the end of a request, whether JavaScript or the reactor ends it. During a batch the socket
 * is corked until the batch's writes are flushed together; outside one, they go out at once.
 * The native reactor appends to its own queue (`output`, then `commit_write`); here the
 * socket is the queue and `write` takes the head and body in one call.
 */
import { RecordType, streamRecords } from '../codec/fastcgi.js';
import { AbortReason, WriteEnd, type WriteEndWord } from '../native/batch.js';
import { EMPTY, Stage, type Conn } from './conn.js';
import { closeConn, updateInterest } from './conns.js';
import { CONTINUE, HttpConn } from './http.js';
import type { PureReactor } from './reactor.js';
import { keepsConn, type Stream } from './stream.js';
import { refreshDeadline } from './timers.js';
import { UwsgiConn } from './uwsgi.js';

/** How a request ends: complete (the connection kept for the peer's next request, or not),
 * or cut short with a FastCGI appStatus. */
export type StreamEnd = { complete: true; keepConn: boolean } | { complete: false; appStatus: number };

export function write(r: PureReactor, token: number, head: string | null, body: Uint8Array | string | null, end: WriteEndWord): number {
  // As the binding refuses it (crates/tsgi-napi/src/lib.rs): a wrong word is a bug of ours.
  if (end !== WriteEnd.MORE && end !== WriteEnd.KEEP_ALIVE && end !== WriteEnd.CLOSE) throw new TypeError(`write: end must be 0, 1 or 2, got ${String(end)}`);
  const stream = r.streams.get(token);
  if (!stream) return -1;
  const conn = stream.conn;
  const socket = conn.socket;
  if (socket.destroyed) {
    closeConn(r, conn, true, AbortReason.PEER_GONE);
    return -1;
  }
  beginWrite(r, conn);
  let wrote = false;
  if (stream.proto.protocol === 'fastcgi') {
    const parts = [
      head ? Buffer.from(head, 'latin1') : EMPTY,
      body === null ? EMPTY : typeof body === 'string' ? Buffer.from(body) : Buffer.from(body.buffer, body.byteOffset, body.byteLength),
    ];
    const data = parts[0]!.length === 0 ? parts[1]! : parts[1]!.length === 0 ? parts[0]! : Buffer.concat(parts);
    const records: Buffer[] = [];
    streamRecords(RecordType.STDOUT, stream.proto.id, data, records);
    for (const record of records) socket.write(record);
    wrote = data.length > 0;
  } else {
    if (head) socket.write(head, 'latin1');
    if (body !== null && body.length > 0) socket.write(body);
    wrote = (head?.length ?? 0) > 0 || (body?.length ?? 0) > 0;
  }
  stream.wrote ||= wrote;
  if (end !== WriteEnd.MORE) endStream(r, stream, { complete: true, keepConn: end === WriteEnd.KEEP_ALIVE });
  endWrite(r, conn);
  if (conn.closed) return 0;
  const queued = conn.queued;
  if (queued > r.config.writeHighWater && r.streams.has(token)) stream.wantDrain = true;
  return queued;
}

export function writeError(r: PureReactor, token: number, text: Uint8Array | string): boolean {
  const stream = r.streams.get(token);
  if (!stream || stream.proto.protocol !== 'fastcgi') return false;
  const records: Buffer[] = [];
  streamRecords(RecordType.STDERR, stream.proto.id, typeof text === 'string' ? Buffer.from(text) : Buffer.from(text), records);
  reply(r, stream.conn, ...records);
  return true;
}

/** The app answered 101 to the upgrade request `token` (HTTP, or uwsgi): the connection
 * becomes a tunnel (tunnel.ts). False if it cannot. */
export function upgrade(r: PureReactor, token: number): boolean {
  const conn = r.streams.get(token)?.conn;
  if (conn === undefined) return false;
  const proto = conn.proto;
  const switched = (proto instanceof HttpConn || proto instanceof UwsgiConn) && proto.upgrade(r, conn);
  if (!switched) return false;
  refreshDeadline(r, conn);
  updateInterest(conn);
  return true;
}

export function pause(r: PureReactor, token: number, paused: boolean): void {
  const stream = r.streams.get(token);
  if (!stream) return;
  const conn = stream.conn;
  stream.paused = paused;
  if (!paused && stream.proto.protocol === 'http' && stream.proto.awaitingContinue) {
    // The app wants the body of an `Expect: 100-continue` request: now ask for it.
    stream.proto.awaitingContinue = false;
    reply(r, conn, CONTINUE);
  }
  refreshPaused(r, conn);
}

export function abort(r: PureReactor, token: number): void {
  const stream = r.streams.get(token);
  if (!stream) return;
  const conn = stream.conn;
  stream.inApp = false;
  if (conn.proto.protocol === 'fastcgi' && conn.streams.length > 1) {
    // Other requests share the connection: this one alone ends, with appStatus 1.
    endStream(r, stream, { complete: false, appStatus: 1 });
  } else {
    closeConn(r, conn, true, AbortReason.INTERNAL);
  }
}

/** The request is over. The connection closes once its output is sent, unless kept alive:
 * JavaScript's word for a response it ended; for a request cut short or refused by the
 * reactor, the peer's (FCGI_KEEP_CONN; never for HTTP, whose cut response cannot be
 * followed). A graceful stop keeps none but HTTP's, whose response promised keep-alive: it
 * waits a moment for a next request, answered with `Connection: close`. */
export function endStream(r: PureReactor, stream: Stream, end: StreamEnd): void {
  if (!r.streams.remove(stream)) return;
  const conn = stream.conn;
  conn.streams.splice(conn.streams.indexOf(stream), 1);
  if (conn.closed) return;
  const keepConn = (end.complete ? end.keepConn : keepsConn(stream.proto)) && (!r.draining || conn.proto.protocol === 'http');
  conn.proto.requestEnded(r, conn, stream, end, keepConn);
  // It may have been the request that paused reading.
  if (stream.paused) refreshPaused(r, conn);
  if (r.notices.batching) beginWrite(r, conn);
  else r.flushConn(conn);
}

/** A connection reads unless one of its requests asked to pause. */
export function refreshPaused(r: PureReactor, conn: Conn): void {
  const paused = conn.streams.some((s) => s.paused);
  if (conn.paused === paused) return;
  conn.paused = paused;
  if (conn.stage === Stage.Serving && conn.proto.inLengthBody) conn.deadline = paused ? 0 : Date.now() + r.config.socketTimeoutMs;
  // Bytes read before the pause wait in the buffer: handle them now.
  if (!paused && conn.pending.length > 0) r.notices.retryLater(conn);
  updateInterest(conn);
}

/** Before writing: during a batch the socket is corked until the batch ends, so what
 * JavaScript writes goes out together; outside one, until `endWrite`. */
export function beginWrite(r: PureReactor, conn: Conn): void {
  if (!r.notices.batching) {
    conn.socket.cork();
  } else if (!conn.dirty) {
    conn.dirty = true;
    conn.socket.cork();
    r.corked.push(conn);
  }
}

/** After writing: outside a batch, the bytes go out now. */
function endWrite(r: PureReactor, conn: Conn): void {
  if (r.notices.batching) return;
  conn.socket.uncork();
  if (!conn.closed) r.flushConn(conn);
}

/** Queues bytes the reactor sends itself. */
export function reply(r: PureReactor, conn: Conn, ...pieces: Buffer[]): void {
  if (conn.closed || conn.socket.destroyed) return;
  beginWrite(r, conn);
  for (const piece of pieces) if (piece.length > 0) conn.socket.write(piece);
  endWrite(r, conn);
}
