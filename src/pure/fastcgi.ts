/**
 * The FastCGI side of a connection (crates/tsgi-reactor/src/fastcgi.rs, F1-F26): which
 * record may come when, management records answered at any time, requests as streams
 * (several at once when multiplexed), and three kinds of trouble: untrustworthy framing
 * closes the connection, a bad request is refused alone, a request that cannot be taken
 * gets END_REQUEST with the protocol status.
 */
import {
  KEEP_CONN,
  ParamsDecoder,
  ProtocolStatus,
  ROLE_RESPONDER,
  RecordType,
  endRequest,
  getValuesResult,
  isManagement,
  parseBeginRequest,
  parseNameValue,
  parseRecord,
  streamRecords,
  typeName,
  unknownType,
  type RecordHead,
} from '../codec/fastcgi.js';
import { KeyId } from '../codec/keys.js';
import { VAR_WORDS, WireError } from '../codec/vars.js';
import { AbortReason, Layout } from '../native/batch.js';
import { cgiRefusal, Level, type Conn, type Stream } from './conn.js';
import type { PureReactor } from './reactor.js';

/** What became of the connection: go on, the batch is full (retry), or it is closed. */
const enum Flow {
  Go,
  Full,
  Closed,
}

/** Spare params decoders, so a request does not allocate one. */
const decoders: ParamsDecoder[] = [];

export function fastcgiProcess(r: PureReactor, conn: Conn): void {
  const data = conn.pending;
  let pos = 0;
  let flow = Flow.Go;
  for (;;) {
    const record = parseRecord(data, pos, data.length);
    if (record === null) break;
    if (record instanceof WireError) {
      flow = protocolError(r, conn, record.message);
      break;
    }
    // Once the last request without FCGI_KEEP_CONN ended, nothing more is taken.
    if (!conn.closing) flow = onRecord(r, conn, record, data.subarray(pos + 8, pos + 8 + record.contentLength));
    if (flow !== Flow.Go) break;
    pos += record.total;
  }
  if (flow === Flow.Closed) return;
  conn.take(pos);
  if (flow === Flow.Full) r.retryLater(conn);
  r.refreshDeadline(conn);
  r.updateInterest(conn);
}

function onRecord(r: PureReactor, conn: Conn, record: RecordHead, content: Buffer): Flow {
  const { type, requestId: id } = record;
  if (id === 0) {
    if (type === RecordType.GET_VALUES) return getValues(r, conn, content);
    if (type === RecordType.GET_VALUES_RESULT || type === RecordType.UNKNOWN_TYPE || type === 0 || type > RecordType.UNKNOWN_TYPE) {
      // F4: a management type we do not take.
      r.send(conn, unknownType(type));
      return Flow.Go;
    }
    return protocolError(r, conn, `FastCGI ${typeName(type)} record with request id 0 (F6)`);
  }
  if (isManagement(type)) return protocolError(r, conn, `FastCGI ${typeName(type)} record with request id ${id}, not 0 (F6)`);
  const stream = r.findStream(conn, id);
  if (type === RecordType.BEGIN_REQUEST) {
    if (stream) return protocolError(r, conn, `FastCGI BEGIN_REQUEST for request id ${id}, which is active (F10)`);
    const begin = parseBeginRequest(content);
    return begin instanceof WireError ? protocolError(r, conn, begin.message) : beginRequest(r, conn, id, begin.role, begin.flags);
  }
  // F8: records for a request that is not active are ignored.
  if (!stream) return Flow.Go;
  switch (type) {
    case RecordType.ABORT_REQUEST:
      abortRequest(r, stream);
      return Flow.Go;
    case RecordType.PARAMS:
      return params(r, conn, stream, content);
    case RecordType.STDIN:
      return stdin(r, conn, stream, content);
    default:
      return protocolError(r, conn, `FastCGI ${typeName(type)} record for active request id ${id} (F7)`);
  }
}

/** F5: the names this application knows, each once, in the order asked. */
function getValues(r: PureReactor, conn: Conn, content: Buffer): Flow {
  const answers = new Map<string, string>();
  const known: Record<string, () => string> = {
    FCGI_MAX_CONNS: () => String(r.config.maxConns),
    FCGI_MAX_REQS: () => String(maxReqs(r)),
    FCGI_MPXS_CONNS: () => (r.config.fastcgiMultiplex ? '1' : '0'),
  };
  for (let pos = 0; pos < content.length;) {
    const pair = parseNameValue(content, pos, content.length);
    if (pair === null) return protocolError(r, conn, 'FastCGI GET_VALUES pair runs past its record');
    if (pair instanceof WireError) return protocolError(r, conn, pair.message);
    const name = content.toString('latin1', pair.nameStart, pair.nameEnd);
    const answer = Object.hasOwn(known, name) ? known[name] : undefined;
    if (answer && !answers.has(name)) answers.set(name, answer());
    pos = pair.next;
  }
  r.send(conn, getValuesResult([...answers]));
  return Flow.Go;
}

function maxReqs(r: PureReactor): number {
  return r.config.fastcgiMultiplex ? r.config.fastcgiMaxReqs : 1;
}

/** BEGIN_REQUEST for an inactive id: a new request, or a rejection (F11-F13). */
function beginRequest(r: PureReactor, conn: Conn, id: number, role: number, flags: number): Flow {
  const active = conn.streams.length;
  const keepConn = (flags & KEEP_CONN) !== 0;
  let rejection: [number, string] | null = null;
  if (role !== ROLE_RESPONDER) {
    rejection = [ProtocolStatus.UNKNOWN_ROLE, `FastCGI role ${role} is not supported (only RESPONDER, 1); answered FCGI_UNKNOWN_ROLE`];
  } else if (active > 0 && !r.config.fastcgiMultiplex) {
    rejection = [
      ProtocolStatus.CANT_MPX_CONN,
      `FastCGI request id ${id} while another is active on the connection and multiplexing is off; answered FCGI_CANT_MPX_CONN (enable --fastcgi-multiplex)`,
    ];
  } else if (active >= r.config.fastcgiMaxReqs) {
    const max = r.config.fastcgiMaxReqs;
    rejection = [
      ProtocolStatus.OVERLOADED,
      `FastCGI connection already carries fastcgi-max-reqs ${max} requests; answered FCGI_OVERLOADED (raise --fastcgi-max-reqs)`,
    ];
  }
  if (rejection) {
    r.log(Level.WARN, `fastcgi: ${rejection[1]}`);
    conn.closeWhenIdle ||= !keepConn;
    conn.closing = conn.streams.length === 0 && conn.closeWhenIdle;
    r.send(conn, endRequest(id, 0, rejection[0]));
    return Flow.Go;
  }
  const stream = r.openStream(conn, id, keepConn, 'params');
  const decoder = decoders.pop() ?? new ParamsDecoder(r.config.fastcgi);
  decoder.reset(r.config.fastcgi);
  stream.decoder = decoder;
  return Flow.Go;
}

/** F23: the web server gave up: the app learns it, and END_REQUEST goes out at once. */
function abortRequest(r: PureReactor, stream: Stream): void {
  if (stream.inApp) r.pushNotice({ kind: 'abort', token: stream.token, reason: AbortReason.PEER_GONE });
  stream.inApp = false;
  releaseDecoder(stream);
  r.endStream(stream, { complete: false, appStatus: 0 });
}

function releaseDecoder(stream: Stream): void {
  if (stream.decoder && decoders.length < 64) decoders.push(stream.decoder);
  stream.decoder = null;
}

function params(r: PureReactor, conn: Conn, stream: Stream, content: Buffer): Flow {
  const decoder = stream.decoder;
  if (stream.phase !== 'params' || !decoder) return protocolError(r, conn, 'FastCGI PARAMS record after the end of the params stream');
  // A request whose delivery waited for room in the batch is complete already.
  const parsed = decoder.done && content.length === 0 ? true : decoder.feed(content);
  if (parsed === null) return Flow.Go;
  if (parsed instanceof WireError) {
    if (parsed.status === null) return protocolError(r, conn, parsed.message);
    r.log(Level.WARN, `fastcgi: ${parsed.message}; answered ${parsed.status}`);
    refuseStream(r, stream, parsed.status);
    return Flow.Go;
  }
  let declared = false;
  for (let v = 0; v < decoder.vars.count; v++) {
    if (decoder.vars.keyId(v) === KeyId.CONTENT_LENGTH && decoder.vars.words[v * VAR_WORDS + 4]! > 0) declared = true;
  }
  return deliver(r, conn, stream, decoder, declared);
}

/** Hands a request whose params are complete to JavaScript. Without a declared
 * CONTENT_LENGTH the body is what STDIN carries, up to limit-post. */
function deliver(r: PureReactor, conn: Conn, stream: Stream, decoder: ParamsDecoder, declared: boolean): Flow {
  const contentLength = decoder.contentLength;
  let flags = declared && contentLength === 0 ? Layout.FLAG_BODY_COMPLETE : 0;
  if (stream.keepConn) flags |= Layout.FLAG_KEEP_ALIVE;
  if (!r.batch.request(stream.token, Layout.PROTOCOL_FASTCGI, contentLength, flags, decoder.block, 0, decoder.length, decoder.vars))
    return batchTooSmall(r, conn);
  const limit = r.config.fastcgi.maxBody;
  stream.phase = 'stdin';
  stream.untilEnd = !declared;
  stream.remaining = declared ? contentLength : limit === 0 ? Infinity : limit;
  stream.inApp = true;
  releaseDecoder(stream);
  return Flow.Go;
}

/** No room for an event: wait for the next batch, unless this one is empty. */
function batchTooSmall(r: PureReactor, conn: Conn): Flow {
  if (!r.batch.isEmpty) return Flow.Full;
  r.log(Level.ERROR, 'fastcgi: batch buffers smaller than one request; closed');
  r.closeConn(conn, true, AbortReason.INTERNAL);
  return Flow.Closed;
}

function stdin(r: PureReactor, conn: Conn, stream: Stream, content: Buffer): Flow {
  if (stream.phase === 'params') return protocolError(r, conn, 'FastCGI STDIN before the end of PARAMS (F19)');
  if (stream.phase === 'complete') return protocolError(r, conn, 'FastCGI STDIN after the end of STDIN (F22)');
  const { remaining, untilEnd } = stream;
  const batch = r.batch;
  if (content.length === 0) {
    if (untilEnd) {
      if (!batch.fits(2, 0)) return batchTooSmall(r, conn);
      batch.bodyEnd(stream.token);
    } else if (remaining > 0) {
      return failRequest(r, conn, stream, `FastCGI STDIN ended with ${remaining} bytes of CONTENT_LENGTH missing (F21)`, 400);
    }
    stream.phase = 'complete';
    return Flow.Go;
  }
  if (content.length > remaining) {
    if (untilEnd) return failRequest(r, conn, stream, `FastCGI request body is over limit-post ${r.config.fastcgi.maxBody} bytes (raise --limit-post)`, 413);
    return failRequest(r, conn, stream, `FastCGI STDIN carried more than CONTENT_LENGTH (${content.length - remaining} bytes over, F20)`, 400);
  }
  if (!batch.fits(4 + 2, content.length)) return batchTooSmall(r, conn);
  batch.body(stream.token, content, 0, content.length);
  stream.remaining = remaining - content.length;
  // The body is whole; the empty STDIN record that must follow is awaited without holding the app up.
  if (stream.remaining === 0 && !untilEnd) batch.bodyEnd(stream.token);
  return Flow.Go;
}

/** The body does not match its CONTENT_LENGTH (F20, F21) or is over limit-post: the request
 * is aborted; the web server gets `status` if nothing of the response went out, else the
 * connection closes, the only way left to say the response is not complete. */
function failRequest(r: PureReactor, conn: Conn, stream: Stream, why: string, status: number): Flow {
  if (stream.inApp) r.pushNotice({ kind: 'abort', token: stream.token, reason: AbortReason.BODY_TRUNCATED });
  stream.inApp = false;
  if (stream.wrote) {
    r.log(Level.WARN, `fastcgi: ${why}; request aborted, connection closed`);
    r.closeConn(conn, true, AbortReason.BODY_TRUNCATED);
    return Flow.Closed;
  }
  r.log(Level.WARN, `fastcgi: ${why}; request aborted, answered ${status}`);
  refuseStream(r, stream, status);
  return Flow.Go;
}

/** Ends a request with the static response for `status`. */
function refuseStream(r: PureReactor, stream: Stream, status: number): void {
  const records: Buffer[] = [];
  streamRecords(RecordType.STDOUT, stream.id, cgiRefusal(status), records);
  r.send(stream.conn, ...records);
  releaseDecoder(stream);
  r.endStream(stream, { complete: true, keepConn: stream.keepConn });
}

/** The record stream cannot be trusted: log, close, abort the requests. */
function protocolError(r: PureReactor, conn: Conn, what: string): Flow {
  r.log(Level.WARN, `fastcgi: ${what}; closed`);
  r.closeConn(conn, false, AbortReason.PEER_GONE);
  return Flow.Closed;
}

/** The web server closed: mid-record (F2) is worth a log line; requests still running are aborted (F25). */
export function fastcgiEof(r: PureReactor, conn: Conn): void {
  const pending = conn.pending.length;
  if (pending > 0) r.log(Level.WARN, `fastcgi: peer closed inside a record (${pending} bytes of it received) (F2); closed`);
  r.closeConn(conn, false, AbortReason.PEER_GONE);
}
