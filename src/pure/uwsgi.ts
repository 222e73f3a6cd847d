/**
 * The read side of a uwsgi connection (crates/tsgi-reactor/src/uwsgi.rs): head, body,
 * and what comes after, which is never parsed (U20).
 */
import { HEADER_LEN, MODIFIER_MANAGE_PATH_INFO, MODIFIER_PING, UwsgiErrors, parseRequest, type UwsgiHead } from '../codec/uwsgi.js';
import { VAR_WORDS, VarList, WireError } from '../codec/vars.js';
import { AbortReason, Layout } from '../native/batch.js';
import { EMPTY, Level, ReadState, httpRefusal, type Conn } from './conn.js';
import type { PureReactor } from './reactor.js';

/** The answer to a ping: a pong header (modifier1 100, datasize 0, modifier2 1). */
const PONG = Buffer.from([MODIFIER_PING, 0, 0, 1]);

const vars = new VarList();

/** Handles what is buffered; the states that only drain never get here (PureReactor.process). */
export function uwsgiProcess(r: PureReactor, conn: Conn): void {
  switch (conn.state) {
    case ReadState.Head:
      return head(r, conn);
    case ReadState.DiscardVars: {
      const take = Math.min(conn.pending.length, conn.remaining);
      conn.remaining -= take;
      conn.pending = EMPTY;
      if (conn.remaining === 0) refuse(r, conn, conn.discardError!);
      return;
    }
    case ReadState.Body:
      return body(r, conn);
  }
}

function head(r: PureReactor, conn: Conn): void {
  const buf = conn.pending;
  const parsed = parseRequest(buf, buf.length, r.config.uwsgi, vars);
  if (parsed === null) return;
  if (parsed instanceof WireError) {
    if (parsed.code === 'uwsgi_vars_too_large') {
      // The block is read and thrown away, then refused: the proxy gets an answer, not a reset.
      const size = buf[1]! | (buf[2]! << 8);
      const already = buf.length - HEADER_LEN;
      if (already >= size) return refuse(r, conn, parsed);
      conn.state = ReadState.DiscardVars;
      conn.remaining = size - already;
      conn.discardError = parsed;
      conn.pending = EMPTY;
      return;
    }
    if (parsed.status !== null) return refuse(r, conn, parsed);
    r.log(Level.WARN, `uwsgi: ${parsed.message}; closed`);
    r.closeConn(conn, false, AbortReason.PEER_GONE);
    return;
  }
  if (parsed.modifier1 === MODIFIER_PING) return r.answer(conn, PONG);
  deliver(r, conn, buf, parsed);
}

/** Hands a complete head (and the body bytes that came with it) to JavaScript. */
function deliver(r: PureReactor, conn: Conn, buf: Buffer, head: UwsgiHead): void {
  const batch = r.batch;
  const contentLength = head.contentLength;
  const bodyNow = Math.min(buf.length - head.consumed, contentLength);
  const words = Layout.REQUEST_HEADER_WORDS + VAR_WORDS * vars.count + 4 + 2;
  if (!batch.fits(words, head.consumed - HEADER_LEN + bodyNow)) {
    if (batch.isEmpty) {
      r.log(Level.ERROR, 'uwsgi: batch buffers smaller than one request head; closed');
      r.closeConn(conn, true, AbortReason.INTERNAL);
    } else {
      r.retryLater(conn);
    }
    return;
  }
  const stream = r.openStream(conn, 0, false, 'complete');
  stream.inApp = true;
  let flags = 0;
  if (contentLength === 0) flags |= Layout.FLAG_BODY_COMPLETE;
  if (head.modifier1 === MODIFIER_MANAGE_PATH_INFO) flags |= Layout.FLAG_MANAGE_PATH_INFO;
  batch.request(stream.token, Layout.PROTOCOL_UWSGI, contentLength, flags, buf, HEADER_LEN, head.consumed - HEADER_LEN, vars);
  if (bodyNow > 0) batch.body(stream.token, buf, head.consumed, head.consumed + bodyNow);
  const remaining = contentLength - bodyNow;
  if (contentLength > 0 && remaining === 0) batch.bodyEnd(stream.token);
  conn.discarded = buf.length - head.consumed - bodyNow;
  conn.pending = EMPTY;
  conn.remaining = remaining;
  conn.state = remaining > 0 ? ReadState.Body : ReadState.Done;
  r.refreshDeadline(conn);
  r.updateInterest(conn);
}

function body(r: PureReactor, conn: Conn): void {
  if (conn.paused) return;
  // None once the response ended early: the rest of the body is read and dropped.
  const token = r.findStream(conn, 0)?.token;
  const room = r.batch.bodyRoom();
  if (room === 0) {
    r.retryLater(conn);
    return;
  }
  const take = Math.min(conn.pending.length, conn.remaining, room);
  if (token !== undefined) r.batch.body(token, conn.pending, 0, take);
  conn.remaining -= take;
  conn.take(take);
  if (conn.remaining === 0) {
    conn.state = ReadState.Done;
    if (token !== undefined) r.batch.bodyEnd(token);
    conn.discarded += conn.pending.length;
    conn.pending = EMPTY;
  } else if (conn.pending.length > 0) {
    r.retryLater(conn);
  }
  r.refreshDeadline(conn);
  r.updateInterest(conn);
}

/** The peer closed: mid-head is worth a log line (U1, U2); mid-body aborts (U19). */
export function uwsgiEof(r: PureReactor, conn: Conn): void {
  if (conn.state === ReadState.Body) {
    r.log(Level.WARN, `uwsgi: peer closed with ${conn.remaining} body bytes missing; request aborted`);
    r.closeConn(conn, false, AbortReason.BODY_TRUNCATED);
    return;
  }
  if (conn.state === ReadState.Head || conn.state === ReadState.DiscardVars) {
    const got = conn.pending.length;
    const error =
      conn.state === ReadState.DiscardVars
        ? UwsgiErrors.truncatedVars()
        : got === 0
          ? null
          : got < HEADER_LEN
            ? UwsgiErrors.truncatedHeader()
            : UwsgiErrors.truncatedVars();
    if (error) r.log(Level.WARN, `uwsgi: ${error.message} (peer closed after ${got} bytes); closed`);
  }
  r.closeConn(conn, false, AbortReason.PEER_GONE);
}

/** Refuses with the static response for `error`, logged once, then a lingering close. */
function refuse(r: PureReactor, conn: Conn, error: WireError): void {
  const status = error.status ?? 400;
  r.log(Level.WARN, `uwsgi: ${error.message}; answered ${status}`);
  r.answer(conn, httpRefusal(status));
}
