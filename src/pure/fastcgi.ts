/**
 * The FastCGI side of a connection (crates/tsgi-reactor/src/fastcgi.rs, F1-F26): which
 * record may come when, management records answered at any time, requests as streams
 * (several at once when multiplexed) whose FastCGI part ({@link FastcgiStream}) is their id
 * and where their input is, and three kinds of trouble: untrustworthy framing closes the
 * connection, a bad request is refused alone, a request that cannot be taken gets
 * END_REQUEST with the protocol status. What the connection itself keeps is
 * {@link FastcgiConn}.
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
  recordHeader,
  streamRecords,
  typeName,
  unknownType,
  type RecordHead,
} from '../codec/fastcgi.js';
import { KeyId } from '../codec/keys.js';
import { VAR_WORDS, WireError } from '../codec/wire.js';
import { AbortReason, Layout } from '../native/batch.js';
import { Level } from './batch.js';
import type { ReactorConfig } from './config.js';
import { close, type Conn, DRAIN_IDLE_MS, type Next, type ProtoConn } from './conn.js';
import type { PureReactor } from './reactor.js';
import { cgiRefusal } from './refusal.js';
import type { Stream } from './stream.js';
import { endStream, reply, type StreamEnd } from './write.js';

/** Logged when a request or its body does not fit even in an empty batch. */
const NO_ROOM = 'fastcgi: batch buffers smaller than one request; closed';

/** Spare params decoders, so a request does not allocate one. */
const decoders: ParamsDecoder[] = [];

/** What a FastCGI request keeps: its id, FCGI_KEEP_CONN, and where its input is. */
export class FastcgiStream {
  readonly protocol = 'fastcgi';
  /** PARAMS, then STDIN, then complete. */
  phase: 'params' | 'stdin' | 'complete' = 'params';
  /** STDIN bytes still expected; with `untilEnd`, still allowed by limit-post. */
  remaining = 0;
  /** No CONTENT_LENGTH: the body is what STDIN carries until its end. */
  untilEnd = false;

  constructor(
    readonly id: number,
    readonly keepConn: boolean,
    public decoder: ParamsDecoder | null,
  ) {}
}

/** A stream on a FastCGI connection, with its FastCGI part. */
type Request = Stream & { readonly proto: FastcgiStream };

/** What a FastCGI connection keeps besides its requests. */
export class FastcgiConn implements ProtoConn {
  readonly protocol = 'fastcgi';
  /** A request without FCGI_KEEP_CONN began (or a graceful stop): close once none is left. */
  private closeWhenIdle = false;
  /** When a graceful stop began (ms; 0: none). The web server keeps the connection for its
   * next request and may be sending it: an idle connection waits DRAIN_IDLE_MS for it and
   * ends after answering it, rather than closing under it. */
  private drainStarted = 0;

  readonly dropsInput = false;

  drop(): void {}

  /** Handles every whole record buffered, until one says to stop. */
  process(r: PureReactor, conn: Conn): Next {
    const data = conn.pending;
    let pos = 0;
    let next: Next = 'go';
    for (;;) {
      const record = parseRecord(data, pos, data.length);
      if (record === null) break;
      if (record instanceof WireError) {
        next = protocolError(r, record.message);
        break;
      }
      // Once the last request without FCGI_KEEP_CONN ended, nothing more is taken.
      if (!conn.closing) next = this.onRecord(r, conn, record, data.subarray(pos + 8, pos + 8 + record.contentLength));
      if (next !== 'go') break;
      pos += record.total;
    }
    if (next !== 'go' && next !== 'retry') return next;
    conn.take(pos);
    return next;
  }

  private onRecord(r: PureReactor, conn: Conn, record: RecordHead, content: Buffer): Next {
    const { type, requestId: id } = record;
    if (id === 0) {
      if (type === RecordType.GET_VALUES) return getValues(r, conn, content);
      if (type === RecordType.GET_VALUES_RESULT || type === RecordType.UNKNOWN_TYPE || type === 0 || type > RecordType.UNKNOWN_TYPE) {
        // F4: a management type we do not take.
        reply(r, conn, unknownType(type));
        return 'go';
      }
      return protocolError(r, `FastCGI ${typeName(type)} record with request id 0 (F6)`);
    }
    if (isManagement(type)) return protocolError(r, `FastCGI ${typeName(type)} record with request id ${id}, not 0 (F6)`);
    const request = find(conn, id);
    if (type === RecordType.BEGIN_REQUEST) {
      if (request) return protocolError(r, `FastCGI BEGIN_REQUEST for request id ${id}, which is active (F10)`);
      const begin = parseBeginRequest(content);
      return begin instanceof WireError ? protocolError(r, begin.message) : this.beginRequest(r, conn, id, begin.role, begin.flags);
    }
    // F8: records for a request that is not active are ignored.
    if (!request) return 'go';
    switch (type) {
      case RecordType.ABORT_REQUEST:
        abortRequest(r, request);
        return 'go';
      case RecordType.PARAMS:
        return params(r, request, content);
      case RecordType.STDIN:
        return stdin(r, request, content);
      default:
        return protocolError(r, `FastCGI ${typeName(type)} record for active request id ${id} (F7)`);
    }
  }

  /** BEGIN_REQUEST for an inactive id: a new request, or a rejection (F11-F13). */
  private beginRequest(r: PureReactor, conn: Conn, id: number, role: number, flags: number): Next {
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
      r.notices.log(Level.WARN, `fastcgi: ${rejection[1]}`);
      this.closeWhenIdle ||= !keepConn;
      conn.closing = conn.streams.length === 0 && this.closeWhenIdle;
      reply(r, conn, endRequest(id, 0, rejection[0]));
      return 'go';
    }
    const decoder = decoders.pop() ?? new ParamsDecoder(r.config.fastcgi);
    decoder.reset(r.config.fastcgi);
    // Handed to JavaScript once its params are complete.
    r.streams.open(conn, new FastcgiStream(id, keepConn, decoder));
    return 'go';
  }

  /** A request is over: END_REQUEST goes out, after the empty STDOUT record that closes a
   * complete response. The connection closes once its output is sent, unless kept alive. */
  requestEnded(r: PureReactor, conn: Conn, stream: Stream, end: StreamEnd, keepConn: boolean): void {
    // A FastCGI connection carries FastCGI requests only.
    const request = stream.proto as FastcgiStream;
    const pieces = end.complete ? [recordHeader(RecordType.STDOUT, request.id, 0)] : [];
    pieces.push(endRequest(request.id, end.complete ? 0 : end.appStatus, ProtocolStatus.REQUEST_COMPLETE));
    this.closeWhenIdle ||= !keepConn;
    const closes = conn.streams.length === 0 && this.closeWhenIdle;
    // The web server asked to keep the connection (a graceful stop ends it) and would send
    // its next request into our close. The record after END_REQUEST, in the same write,
    // makes it drop the connection instead: nginx keeps one only when END_REQUEST ends what
    // it read, and HAProxy sends nothing more on one whose FCGI_MAX_REQS is 0 (with
    // FCGI_MPXS_CONNS 1: without it HAProxy reads the limit as 1).
    if (closes && request.keepConn) pieces.push(NO_MORE_REQUESTS);
    reply(r, conn, ...pieces);
    if (closes) conn.closing = true;
  }

  /** The web server closed: mid-record (F2) is worth a log line; requests still running are aborted (F25). */
  eof(r: PureReactor, conn: Conn): Next {
    const pending = conn.pending.length;
    if (pending > 0) r.notices.log(Level.WARN, `fastcgi: peer closed inside a record (${pending} bytes of it received) (F2); closed`);
    return close(AbortReason.PEER_GONE);
  }

  wantsRead(conn: Conn): boolean {
    return !conn.paused;
  }

  /** A queued response must keep moving; idle between requests, or while a request still
   * sends its input, the next record must come. */
  deadline(conn: Conn, config: ReactorConfig, now: number): number {
    if (conn.queued > 0) return now + config.socketTimeoutMs;
    const idle = conn.streams.length === 0 && conn.pending.length === 0;
    if (idle && this.drainStarted !== 0) return this.drainStarted + Math.min(DRAIN_IDLE_MS, config.socketTimeoutMs);
    const sending = conn.streams.length === 0 || conn.streams.some((s) => (s.proto as FastcgiStream).phase !== 'complete');
    return !conn.paused && sending ? now + config.socketTimeoutMs : 0;
  }

  /** The deadline passed. */
  expired(r: PureReactor, conn: Conn): Next {
    const got = conn.pending.length;
    const busy = conn.streams.length > 0;
    if (got > 0 || busy) {
      const what = conn.queued > 0 ? 'peer read nothing of the response' : 'no FastCGI record arrived';
      r.notices.log(
        Level.WARN,
        `fastcgi: ${what} for socket-timeout ${r.config.socketTimeoutMs / 1000} s (${got} bytes of a record pending); closed (raise --socket-timeout)`,
      );
    }
    // An idle kept-alive connection just closes: the web server opens another.
    return { reset: busy, reason: AbortReason.TIMEOUT };
  }

  readonly readWhole = false;
  readonly inLengthBody = false;

  /** A graceful stop: no request after the current ones, and an idle connection closes
   * when DRAIN_IDLE_MS pass without one. */
  stop(_conn: Conn, now: number): void {
    this.closeWhenIdle = true;
    this.drainStarted = now;
  }
}

/** Says the connection takes no more requests, after the last END_REQUEST of one the web
 * server wanted kept (requestEnded). */
const NO_MORE_REQUESTS = getValuesResult([
  ['FCGI_MPXS_CONNS', '1'],
  ['FCGI_MAX_REQS', '0'],
]);

/** The active request `id` on the connection. */
function find(conn: Conn, id: number): Request | undefined {
  return conn.streams.find((s): s is Request => s.proto.protocol === 'fastcgi' && s.proto.id === id);
}

/** F5: the names this application knows, each once, in the order asked. */
function getValues(r: PureReactor, conn: Conn, content: Buffer): Next {
  const answers = new Map<string, string>();
  const known: Record<string, () => string> = {
    FCGI_MAX_CONNS: () => String(r.config.maxConns),
    FCGI_MAX_REQS: () => String(maxReqs(r)),
    FCGI_MPXS_CONNS: () => (r.config.fastcgiMultiplex ? '1' : '0'),
  };
  for (let pos = 0; pos < content.length;) {
    const pair = parseNameValue(content, pos, content.length);
    if (pair === null) return protocolError(r, 'FastCGI GET_VALUES pair runs past its record');
    if (pair instanceof WireError) return protocolError(r, pair.message);
    const name = content.toString('latin1', pair.nameStart, pair.nameEnd);
    const answer = Object.hasOwn(known, name) ? known[name] : undefined;
    if (answer && !answers.has(name)) answers.set(name, answer());
    pos = pair.next;
  }
  reply(r, conn, getValuesResult([...answers]));
  return 'go';
}

function maxReqs(r: PureReactor): number {
  return r.config.fastcgiMultiplex ? r.config.fastcgiMaxReqs : 1;
}

/** F23: the web server gave up: the app learns it, and END_REQUEST goes out at once. */
function abortRequest(r: PureReactor, request: Request): void {
  if (request.inApp) r.notices.push({ kind: 'abort', token: request.token, reason: AbortReason.PEER_GONE });
  request.inApp = false;
  releaseDecoder(request.proto);
  endStream(r, request, { complete: false, appStatus: 0 });
}

function releaseDecoder(request: FastcgiStream): void {
  if (request.decoder && decoders.length < 64) decoders.push(request.decoder);
  request.decoder = null;
}

/** PARAMS: more params, or their end, which hands the request to JavaScript. Without a
 * declared CONTENT_LENGTH the body is what STDIN carries, up to limit-post. */
function params(r: PureReactor, request: Request, content: Buffer): Next {
  const part = request.proto;
  const decoder = part.decoder;
  if (part.phase !== 'params' || !decoder) return protocolError(r, 'FastCGI PARAMS record after the end of the params stream');
  // A request whose delivery waited for room in the batch is complete already.
  const parsed = decoder.done && content.length === 0 ? true : decoder.feed(content);
  if (parsed === null) return 'go';
  if (parsed instanceof WireError) {
    if (parsed.status === null) return protocolError(r, parsed.message);
    r.notices.log(Level.WARN, `fastcgi: ${parsed.message}; answered ${parsed.status}`);
    refuse(r, request, parsed.status);
    return 'go';
  }
  let declared = false;
  for (let v = 0; v < decoder.vars.count; v++) {
    if (decoder.vars.keyId(v) === KeyId.CONTENT_LENGTH && decoder.vars.words[v * VAR_WORDS + 4]! > 0) declared = true;
  }
  const contentLength = decoder.contentLength;
  let flags = declared && contentLength === 0 ? Layout.FLAG_BODY_COMPLETE : 0;
  if (part.keepConn) flags |= Layout.FLAG_KEEP_ALIVE;
  if (!r.batch.request(request.token, Layout.PROTOCOL_FASTCGI, contentLength, flags, decoder.block, 0, decoder.length, decoder.vars)) {
    return r.noRoom(NO_ROOM);
  }
  const limit = r.config.fastcgi.maxBody;
  part.phase = 'stdin';
  part.untilEnd = !declared;
  part.remaining = declared ? contentLength : limit === 0 ? Infinity : limit;
  request.inApp = true;
  releaseDecoder(part);
  return 'go';
}

/** STDIN: body bytes for JavaScript, or the end of the body. */
function stdin(r: PureReactor, request: Request, content: Buffer): Next {
  const part = request.proto;
  if (part.phase === 'params') return protocolError(r, 'FastCGI STDIN before the end of PARAMS (F19)');
  if (part.phase === 'complete') return protocolError(r, 'FastCGI STDIN after the end of STDIN (F22)');
  const { remaining, untilEnd } = part;
  const batch = r.batch;
  if (content.length === 0) {
    if (untilEnd) {
      if (!batch.fits(2, 0)) return r.noRoom(NO_ROOM);
      batch.bodyEnd(request.token);
    } else if (remaining > 0) {
      return failRequest(r, request, `FastCGI STDIN ended with ${remaining} bytes of CONTENT_LENGTH missing (F21)`, 400);
    }
    part.phase = 'complete';
    return 'go';
  }
  if (content.length > remaining) {
    if (untilEnd) return failRequest(r, request, `FastCGI request body is over limit-post ${r.config.fastcgi.maxBody} bytes (raise --limit-post)`, 413);
    return failRequest(r, request, `FastCGI STDIN carried more than CONTENT_LENGTH (${content.length - remaining} bytes over, F20)`, 400);
  }
  if (!batch.fits(4 + 2, content.length)) return r.noRoom(NO_ROOM);
  batch.body(request.token, content, 0, content.length);
  part.remaining = remaining - content.length;
  // The body is whole; the empty STDIN record that must follow is awaited without holding the app up.
  if (part.remaining === 0 && !untilEnd) batch.bodyEnd(request.token);
  return 'go';
}

/** The body does not match its CONTENT_LENGTH (F20, F21) or is over limit-post: the request
 * is aborted; the web server gets `status` if nothing of the response went out, else the
 * connection closes, the only way left to say the response is not complete. */
function failRequest(r: PureReactor, request: Request, why: string, status: number): Next {
  if (request.inApp) r.notices.push({ kind: 'abort', token: request.token, reason: AbortReason.BODY_TRUNCATED });
  request.inApp = false;
  if (request.wrote) {
    r.notices.log(Level.WARN, `fastcgi: ${why}; request aborted, connection closed`);
    return { reset: true, reason: AbortReason.BODY_TRUNCATED };
  }
  r.notices.log(Level.WARN, `fastcgi: ${why}; request aborted, answered ${status}`);
  refuse(r, request, status);
  return 'go';
}

/** Ends a request with the static response for `status`. */
function refuse(r: PureReactor, request: Request, status: number): void {
  const records: Buffer[] = [];
  streamRecords(RecordType.STDOUT, request.proto.id, cgiRefusal(status), records);
  reply(r, request.conn, ...records);
  releaseDecoder(request.proto);
  endStream(r, request, { complete: true, keepConn: request.proto.keepConn });
}

/** The record stream cannot be trusted: log, close, abort the requests. */
function protocolError(r: PureReactor, what: string): Next {
  r.notices.log(Level.WARN, `fastcgi: ${what}; closed`);
  return close(AbortReason.PEER_GONE);
}
