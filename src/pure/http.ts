/**
 * The HTTP/1.1 side of a connection (crates/tsgi-reactor/src/http.rs): one request at a
 * time; its body streamed (Content-Length or chunked); pipelined bytes wait in the
 * buffer until the response has ended, so responses go out in order. A refusal gets a
 * static response and a close, and nothing after it is parsed.
 */
import { ChunkedDecoder } from '../codec/http-chunked.js';
import { HeadVars, parseHead, type Head } from '../codec/http-head.js';
import { VAR_WORDS, WireError } from '../codec/vars.js';
import { AbortReason, Layout } from '../native/batch.js';
import { EMPTY, Level, ReadState, httpRefusal, type Conn } from './conn.js';
import type { PureReactor } from './reactor.js';

const vars = new HeadVars();

/** Handles what is buffered: a head, body bytes, or nothing while a response is pending. */
export function httpProcess(r: PureReactor, conn: Conn): void {
  const paused = conn.paused && (conn.state === ReadState.Body || conn.state === ReadState.Chunked || conn.state === ReadState.Tunnel);
  while (!paused && !conn.closed && conn.pending.length > 0) {
    let progressed: boolean;
    if (conn.state === ReadState.Head) progressed = head(r, conn);
    else if (conn.state === ReadState.Body) progressed = body(r, conn);
    else if (conn.state === ReadState.Chunked) progressed = chunks(r, conn);
    else if (conn.state === ReadState.Tunnel) progressed = tunnel(r, conn);
    else break;
    if (!progressed) break;
  }
  if (conn.closed) return;
  r.refreshDeadline(conn);
  r.updateInterest(conn);
}

function head(r: PureReactor, conn: Conn): boolean {
  const parsed = parseHead(conn.pending, conn.pending.length, r.config.http, vars);
  if (parsed === null) return false;
  if (parsed instanceof WireError) {
    const status = parsed.status ?? 400;
    r.log(Level.WARN, `http: ${parsed.message}; answered ${status}`);
    r.answer(conn, httpRefusal(status));
    return false;
  }
  return deliver(r, conn, parsed);
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

function deliver(r: PureReactor, conn: Conn, parsed: Head): boolean {
  addSocketVars(conn, parsed);
  const batch = r.batch;
  if (!batch.fits(Layout.REQUEST_HEADER_WORDS + VAR_WORDS * vars.vars.count + 4 + 2, vars.length)) {
    if (batch.isEmpty) {
      r.log(Level.ERROR, 'http: batch buffers smaller than one request head; closed');
      r.closeConn(conn, true, AbortReason.INTERNAL);
    } else {
      r.retryLater(conn);
    }
    return false;
  }
  // After an upgrade request the client may already speak the new protocol: no next
  // request is parsed, whatever the answer. A draining worker keeps no connection.
  const keepAlive = parsed.keepAlive && !parsed.upgrade && !r.draining;
  // Whether the connection stays open is JavaScript's decision, on its last write.
  const stream = r.openStream(conn, 0, false, 'complete');
  stream.inApp = true;
  const next = parsed.body === 'chunked' ? ReadState.Chunked : parsed.body === 'none' || parsed.body === 0 ? ReadState.Done : ReadState.Body;
  const length = typeof parsed.body === 'number' ? parsed.body : 0;
  const awaitingContinue = parsed.expectContinue && next !== ReadState.Done;
  if (awaitingContinue) {
    // The body is not read (nor asked for) until the app wants it.
    stream.awaitingContinue = true;
    stream.paused = true;
  }
  let flags = 0;
  if (parsed.upgrade) flags |= Layout.FLAG_UPGRADE;
  if (awaitingContinue) flags |= Layout.FLAG_AWAITING_CONTINUE;
  // An upgrade request's input stays open: it may go on as the tunnel.
  if (next === ReadState.Done && !parsed.upgrade) flags |= Layout.FLAG_BODY_COMPLETE;
  if (keepAlive) flags |= Layout.FLAG_KEEP_ALIVE;
  batch.request(stream.token, Layout.PROTOCOL_HTTP, length, flags, vars.block, 0, vars.length, vars.vars);
  if (next === ReadState.Chunked) {
    if (conn.chunked) conn.chunked.reset();
    else conn.chunked = new ChunkedDecoder(r.config.http);
  }
  conn.take(parsed.length);
  conn.state = next;
  conn.remaining = length;
  conn.requestDeadline = next === ReadState.Done ? 0 : conn.acceptedAt + r.config.requestTimeoutMs;
  conn.paused ||= awaitingContinue;
  return true;
}

/** The token of the request JavaScript has, while its response has not ended. */
function tokenOf(r: PureReactor, conn: Conn): number | undefined {
  return r.findStream(conn, 0)?.token;
}

/** Streams Content-Length body bytes from the buffer. */
function body(r: PureReactor, conn: Conn): boolean {
  const token = tokenOf(r, conn);
  const take = Math.min(conn.pending.length, conn.remaining);
  if (token === undefined) {
    // The response ended before the body was read: the rest is dropped as it comes.
    conn.take(take);
    conn.remaining -= take;
    if (conn.remaining === 0) {
      conn.state = ReadState.Done;
      next(r, conn);
    }
    return take > 0;
  }
  if (!r.batch.fits(4 + 2, take)) {
    r.retryLater(conn);
    return false;
  }
  r.batch.body(token, conn.pending, 0, take);
  conn.take(take);
  conn.remaining -= take;
  if (conn.remaining === 0) {
    r.batch.bodyEnd(token);
    conn.state = ReadState.Done;
    conn.requestDeadline = 0;
  }
  return true;
}

/** Decodes chunked body bytes from the buffer. */
function chunks(r: PureReactor, conn: Conn): boolean {
  const token = tokenOf(r, conn);
  const decoder = conn.chunked!;
  const pending = conn.pending;
  let used = 0;
  let done = false;
  let error: WireError | null = null;
  while (used < pending.length) {
    if (token !== undefined && !r.batch.fits(4 + 2, pending.length - used)) {
      // Whatever this decode finds must fit: decoding cannot be undone.
      r.retryLater(conn);
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
    r.log(Level.WARN, `http: ${error.message}; request aborted`);
    httpFail(r, conn, error.status ?? 400);
    return false;
  }
  if (!done) return false;
  conn.state = ReadState.Done;
  conn.requestDeadline = 0;
  if (token === undefined) next(r, conn);
  return true;
}

/** Hands tunnelled bytes to the app as they are. */
function tunnel(r: PureReactor, conn: Conn): boolean {
  const token = tokenOf(r, conn);
  if (token !== undefined) {
    if (!r.batch.fits(4, conn.pending.length)) {
      r.retryLater(conn);
      return false;
    }
    r.batch.body(token, conn.pending, 0, conn.pending.length);
  }
  conn.pending = EMPTY;
  return false;
}

/** The body cannot be read on: the request is aborted; the client gets `status` if nothing
 * of the response went out yet, else a reset. */
export function httpFail(r: PureReactor, conn: Conn, status: number): void {
  const stream = r.findStream(conn, 0);
  if (!stream) {
    r.answer(conn, EMPTY); // the response already ended: close after it, never a second one
    return;
  }
  stream.inApp = false;
  r.pushNotice({ kind: 'abort', token: stream.token, reason: AbortReason.BODY_TRUNCATED });
  if (stream.wrote) {
    r.closeConn(conn, true, AbortReason.BODY_TRUNCATED);
    return;
  }
  r.forgetStreams(conn);
  r.answer(conn, httpRefusal(status));
}

/** The response ended: a kept-alive connection goes back to reading heads once the request
 * is read whole; otherwise it closes after the response. */
export function httpResponseEnded(r: PureReactor, conn: Conn, keepAlive: boolean): void {
  if (!keepAlive) conn.closing = true;
  else if (conn.state === ReadState.Done) next(r, conn);
}

/** Starts waiting for the next request on a kept-alive connection. */
function next(r: PureReactor, conn: Conn): void {
  if (conn.streams.length > 0 || conn.closing) return;
  conn.state = ReadState.Head;
  conn.requestDeadline = 0;
  conn.acceptedAt = Date.now();
  conn.idle = conn.pending.length === 0;
  // Pipelined requests waiting in the buffer are parsed in the next batch.
  if (conn.pending.length > 0) r.retryLater(conn);
  r.refreshDeadline(conn);
  r.updateInterest(conn);
}

/** The peer closed. Inside a head or a body it is worth a log line; a tunnel's client
 * closing its side only ends the app's input. */
export function httpEof(r: PureReactor, conn: Conn): void {
  let reason: number = AbortReason.PEER_GONE;
  if (conn.state === ReadState.Head && conn.pending.length > 0) {
    r.log(Level.WARN, `http: peer closed inside a request head (${conn.pending.length} bytes received); closed`);
  } else if (conn.state === ReadState.Body) {
    r.log(Level.WARN, `http: peer closed with ${conn.remaining} body bytes missing; request aborted`);
    reason = AbortReason.BODY_TRUNCATED;
  } else if (conn.state === ReadState.Chunked) {
    r.log(Level.WARN, 'http: peer closed inside a chunked body; request aborted');
    reason = AbortReason.BODY_TRUNCATED;
  } else if (conn.state === ReadState.Tunnel) {
    const token = tokenOf(r, conn);
    if (token !== undefined) {
      r.pushNotice({ kind: 'body-end', token });
      conn.tunnelEof = true;
      r.updateInterest(conn);
      return;
    }
  }
  r.closeConn(conn, false, reason);
}
