/**
 * The pure-TypeScript reactor: the native reactor's interface and behaviour
 * (crates/tsgi-reactor/src/reactor.rs) over node:net, for platforms no binary fits and
 * as the baseline the native one is measured against.
 *
 * Each socket event is one wake-up: the bytes are parsed by the TypeScript codecs, the
 * events written into the shared arena and index in the native layout, and JavaScript
 * called once with the batch. Writes made during the batch are corked and flushed
 * together in the loop's check phase, after the microtasks the batch caused. What happens
 * outside a batch (a socket closing, a queue draining, a timeout) becomes a notice for the
 * next one, which comes at once.
 *
 * The protocol state machines are in uwsgi.ts, fastcgi.ts and http.ts beside this file.
 */
import net from 'node:net';
import { endRequest, ProtocolStatus, RecordType, recordHeader, streamRecords, type FastcgiLimits } from '../codec/fastcgi.js';
import type { HttpLimits } from '../codec/http-errors.js';
import type { UwsgiLimits } from '../codec/uwsgi.js';
import type { NativeReactor, ReactorOptions, WireProtocol } from '../native/binding.js';
import { AbortReason, WriteEnd, type WriteEndWord } from '../native/batch.js';
import { BatchWriter } from './batch.js';
import { Conn, EMPTY, Level, ReadState, type Stream } from './conn.js';
import { listenNow } from './listen.js';
import { fastcgiEof, fastcgiProcess } from './fastcgi.js';
import { httpEof, httpFail, httpProcess, httpResponseEnded } from './http.js';
import { uwsgiEof, uwsgiProcess } from './uwsgi.js';

/** Bytes after a complete uwsgi request read and dropped before reading stops (U20). */
export const MAX_DISCARD = 64 * 1024;
/** HTTP: pipelined bytes buffered while a response is pending; past it, reading stops. */
export const MAX_PIPELINED = 64 * 1024;
/** Resolution of timeouts. */
const TICK_MS = 100;

/** The limits and timeouts the reactor enforces, as the codecs and connections read them. */
export interface ReactorConfig {
  uwsgi: UwsgiLimits;
  fastcgi: FastcgiLimits;
  http: HttpLimits;
  maxConns: number;
  fastcgiMaxReqs: number;
  fastcgiMultiplex: boolean;
  socketTimeoutMs: number;
  keepaliveTimeoutMs: number;
  requestTimeoutMs: number;
  writeHighWater: number;
  lingerMs: number;
}

/** The reactor options as the limits the codecs and connections read. Every option is
 * given (src/server/reactor-options.ts fills them from the option table): no defaults here. */
function configOf(o: ReactorOptions): ReactorConfig {
  const limitPost = Math.max(0, o.limitPost);
  return {
    uwsgi: { maxVarsBlock: Math.min(o.bufferSize, 0xffff), maxVars: o.maxVars, maxBody: limitPost },
    fastcgi: { maxParamsBytes: o.bufferSize, maxVars: o.maxVars, maxBody: limitPost },
    http: {
      maxRequestLine: o.httpMaxRequestLine,
      maxHeadBytes: o.httpMaxHead,
      maxHeaders: o.httpMaxHeaders,
      maxBody: limitPost,
      maxChunkExtension: o.httpMaxChunkExtension,
    },
    maxConns: Math.max(1, o.maxConns),
    fastcgiMaxReqs: Math.max(1, o.fastcgiMaxReqs),
    fastcgiMultiplex: o.fastcgiMultiplex,
    socketTimeoutMs: o.socketTimeoutMs,
    keepaliveTimeoutMs: o.keepaliveTimeoutMs,
    requestTimeoutMs: o.requestTimeoutMs,
    writeHighWater: o.writeHighWater,
    lingerMs: o.lingerMs,
  };
}

type Notice =
  | { kind: 'abort'; token: number; reason: number }
  | { kind: 'body-end'; token: number }
  | { kind: 'drain'; token: number }
  | { kind: 'log'; level: number; text: string };

/** How a request ends: complete (the connection kept for the peer's next request, or
 * not), or cut short with a FastCGI appStatus. */
export type StreamEnd = { complete: true; keepConn: boolean } | { complete: false; appStatus: number };

export class PureReactor implements NativeReactor {
  readonly config: ReactorConfig;
  readonly batch: BatchWriter;
  private readonly servers: net.Server[] = [];
  private readonly conns = new Set<Conn>();
  private readonly streams = new Map<number, Stream>();
  private nextToken = 1;
  private live = 0;
  private acceptedCount = 0;
  /** Sockets accepted at max-conns, served as connections close. */
  private readonly waiting: Array<[net.Socket, WireProtocol]> = [];
  /** A graceful stop is under way: no connection is kept past its current request. */
  draining = false;
  private notices: Notice[] = [];
  private readonly retry = new Set<Conn>();
  private readonly dirty: Conn[] = [];
  private inBatch = false;
  private ringing = false;
  private flushing = false;
  private timer: NodeJS.Timeout | null = null;
  private shut = false;

  constructor(
    private readonly onBatch: (words: number) => void,
    arena: Uint8Array,
    index: Uint32Array,
    options: ReactorOptions,
  ) {
    this.config = configOf(options);
    this.batch = new BatchWriter(Buffer.from(arena.buffer, arena.byteOffset, arena.byteLength), index);
  }

  get connections(): number {
    return this.live;
  }

  get accepted(): number {
    return this.acceptedCount;
  }

  // ---- listeners ---------------------------------------------------------------------

  private server(protocol: WireProtocol): net.Server {
    if (protocol !== 'uwsgi' && protocol !== 'fastcgi' && protocol !== 'http') throw new Error(`unknown protocol ${JSON.stringify(protocol)}`);
    const server = net.createServer({ allowHalfOpen: true, noDelay: true });
    server.on('connection', (socket) => this.onConnection(socket, protocol));
    // Listen errors are thrown by listen()/adopt(); later ones (EMFILE on accept) are logged.
    server.on('error', (error) => this.shut || this.log(Level.ERROR, `accept: ${error.message}`));
    return server;
  }

  listen(address: string, protocol: WireProtocol, backlog: number, mode: number): string {
    const server = this.server(protocol);
    const local = listenNow(server, address, backlog, mode);
    this.servers.push(server);
    return local;
  }

  adopt(fd: number, protocol: WireProtocol, backlog?: number): void {
    const server = this.server(protocol);
    // The master binds without listening: listen() on an fd listens on it.
    server.listen({ fd, backlog: backlog ?? 1024 });
    if (!server.listening) throw new Error(`cannot listen on file descriptor ${fd}`);
    this.servers.push(server);
  }

  private onConnection(socket: net.Socket, protocol: WireProtocol): void {
    if (this.shut) {
      socket.destroy();
      return;
    }
    if (this.live >= this.config.maxConns) {
      // Node has no way to leave connections in the listen queue: they wait here, unread.
      if (this.waiting.length === 0)
        this.cycle(() => this.log(Level.WARN, `max-conns ${this.config.maxConns} connections open; not accepting until one closes (raise --max-conns)`));
      socket.pause();
      socket.on('error', () => {});
      this.waiting.push([socket, protocol]);
      return;
    }
    this.addConn(socket, protocol);
  }

  private addConn(socket: net.Socket, protocol: WireProtocol): void {
    const now = Date.now();
    const conn = new Conn(socket, protocol, now);
    conn.deadline = now + this.config.socketTimeoutMs;
    this.conns.add(conn);
    this.live++;
    this.acceptedCount++;
    this.armTimer();
    socket.on('data', (chunk: Buffer) => this.onData(conn, chunk));
    socket.on('end', () => this.cycle(() => this.onEof(conn)));
    socket.on('error', () => this.cycle(() => this.closeConn(conn, true, AbortReason.PEER_GONE)));
    socket.on('close', () => conn.closed || this.cycle(() => this.closeConn(conn, false, AbortReason.PEER_GONE)));
    socket.on('drain', () => this.onDrained(conn));
  }

  /** A graceful stop: no new connections; idle kept-alive ones close, busy ones after their response. */
  stopListening(): void {
    for (const server of this.servers.splice(0)) server.close();
    for (const [socket] of this.waiting.splice(0)) socket.destroy();
    this.draining = true;
    for (const conn of [...this.conns]) {
      const idle = conn.streams.length === 0 && conn.pending.length === 0;
      // A connection busy with a request closes after its response (endStream).
      if (conn.protocol === 'http') {
        if (idle && conn.idle) this.closeConn(conn, false, AbortReason.PEER_GONE);
      } else if (conn.protocol === 'fastcgi') {
        conn.closeWhenIdle = true;
        if (idle && conn.queued === 0) this.closeConn(conn, false, AbortReason.PEER_GONE);
      }
    }
  }

  close(): void {
    if (this.shut) return;
    this.stopListening();
    this.shut = true;
    for (const conn of [...this.conns]) this.closeConn(conn, true, AbortReason.PEER_GONE);
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  // ---- batches ------------------------------------------------------------------------

  /** One wake-up: retried connections, then `work`, then the notices; JavaScript is called
   * once with what that produced, and the writes it made are flushed. Again while more is
   * due right away. */
  cycle(work?: () => void): void {
    if (this.inBatch) {
      work?.();
      return;
    }
    do {
      this.inBatch = true;
      this.batch.reset();
      try {
        const retried = [...this.retry];
        this.retry.clear();
        for (const conn of retried) if (!conn.closed) this.process(conn);
        work?.();
        work = undefined;
        this.deliverNotices();
        if (this.batch.words > 0) this.onBatch(this.batch.words);
      } finally {
        this.flushCorked();
      }
    } while (this.retry.size > 0 || this.notices.length > 0);
  }

  /** Native batches run the microtasks they cause before their writes are flushed (an async
   * app that answers at once answers within its batch): here the flush waits for the loop's
   * check phase, after every microtask and every socket event of this turn. */
  private flushCorked(): void {
    this.inBatch = false;
    if (this.dirty.length === 0 || this.flushing) return;
    this.flushing = true;
    setImmediate(() => {
      this.flushing = false;
      for (const conn of this.dirty.splice(0)) {
        conn.dirty = false;
        conn.socket.uncork();
        if (!conn.closed) this.flushConn(conn);
      }
    });
  }

  /** Something is due outside a batch: a batch comes on the next turn of the loop. */
  ring(): void {
    if (this.inBatch || this.ringing) return;
    this.ringing = true;
    setImmediate(() => {
      this.ringing = false;
      this.cycle();
    });
  }

  pushNotice(notice: Notice): void {
    this.notices.push(notice);
    this.ring();
  }

  log(level: number, text: string): void {
    this.pushNotice({ kind: 'log', level, text });
  }

  private deliverNotices(): void {
    const batch = this.batch;
    let delivered = 0;
    for (; delivered < this.notices.length; delivered++) {
      const n = this.notices[delivered]!;
      const fits =
        n.kind === 'abort'
          ? batch.abort(n.token, n.reason)
          : n.kind === 'drain'
            ? batch.drain(n.token)
            : n.kind === 'body-end'
              ? batch.bodyEnd(n.token)
              : batch.log(n.level, n.text);
      if (fits) continue;
      if (!batch.isEmpty) break;
      // Too long for an empty batch: only a log line can be.
      if (n.kind === 'log') process.stderr.write(`tsgi: ${n.text}\n`);
    }
    this.notices = this.notices.slice(delivered);
  }

  /** A connection whose request did not fit is handled again first thing in the next batch. */
  retryLater(conn: Conn): void {
    this.retry.add(conn);
    this.ring();
  }

  // ---- reading ----------------------------------------------------------------------------

  private onData(conn: Conn, chunk: Buffer): void {
    if (conn.closed) return;
    if (this.drainsOnly(conn)) {
      this.discard(conn, chunk.length);
      return;
    }
    if (conn.idle) {
      // The next request began: its head has socket-timeout from now.
      conn.idle = false;
      conn.acceptedAt = Date.now();
    }
    conn.pending = conn.pending.length === 0 ? chunk : Buffer.concat([conn.pending, chunk]);
    this.cycle(() => this.process(conn));
  }

  /** Drops `bytes` the peer sent; past a bound, reading stops (uwsgi U20). */
  private discard(conn: Conn, bytes: number): void {
    conn.discarded += bytes;
    this.updateInterest(conn);
  }

  /** States in which what the peer sends is read and dropped, never parsed. */
  private drainsOnly(conn: Conn): boolean {
    const s = conn.state;
    if (s === ReadState.Refused || s === ReadState.Linger) return true;
    if (conn.protocol === 'uwsgi') return s === ReadState.Done;
    return conn.protocol === 'fastcgi' && s !== ReadState.Records;
  }

  /** Handles what is buffered, as the connection's protocol says. */
  private process(conn: Conn): void {
    if (this.drainsOnly(conn)) {
      this.discard(conn, conn.pending.length);
      conn.pending = EMPTY;
      return;
    }
    if (conn.protocol === 'uwsgi') uwsgiProcess(this, conn);
    else if (conn.protocol === 'fastcgi') fastcgiProcess(this, conn);
    else httpProcess(this, conn);
  }

  private onEof(conn: Conn): void {
    if (conn.closed) return;
    if (this.drainsOnly(conn) && conn.state !== ReadState.Done) {
      this.closeConn(conn, false, AbortReason.PEER_GONE);
      return;
    }
    if (conn.protocol === 'uwsgi') uwsgiEof(this, conn);
    else if (conn.protocol === 'fastcgi') fastcgiEof(this, conn);
    else httpEof(this, conn);
  }

  /** Whether the connection should be read now (the native epoll interest). */
  updateInterest(conn: Conn): void {
    if (conn.closed) return;
    let reading: boolean;
    switch (conn.state) {
      case ReadState.Body:
      case ReadState.Records:
      case ReadState.Chunked:
        reading = !conn.paused;
        break;
      case ReadState.Tunnel:
        reading = !conn.paused && !conn.tunnelEof;
        break;
      case ReadState.Done:
        reading = conn.protocol === 'http' ? conn.pending.length < MAX_PIPELINED : conn.discarded < MAX_DISCARD;
        break;
      default:
        reading = true;
    }
    if (reading === conn.reading) return;
    conn.reading = reading;
    if (reading) conn.socket.resume();
    else conn.socket.pause();
  }

  // ---- writing -------------------------------------------------------------------------

  /** Before writing: during a batch the socket is corked until the batch ends, so what
   * JavaScript writes goes out together; outside one, until `endWrite`. */
  private beginWrite(conn: Conn): void {
    if (!this.inBatch) {
      conn.socket.cork();
    } else if (!conn.dirty) {
      conn.dirty = true;
      conn.socket.cork();
      this.dirty.push(conn);
    }
  }

  /** After writing: outside a batch, the bytes go out now. */
  private endWrite(conn: Conn): void {
    if (this.inBatch) return;
    conn.socket.uncork();
    if (!conn.closed) this.flushConn(conn);
  }

  /** Queues bytes the reactor sends itself. */
  send(conn: Conn, ...pieces: Buffer[]): void {
    if (conn.closed || conn.socket.destroyed) return;
    this.beginWrite(conn);
    for (const piece of pieces) if (piece.length > 0) conn.socket.write(piece);
    this.endWrite(conn);
  }

  /** Output went out as far as it goes now: a connection whose last response ended closes. */
  private flushConn(conn: Conn): void {
    if (conn.closing && !conn.closed) this.finish(conn);
    else this.refreshDeadline(conn);
  }

  /** The last response is queued: close after it if the request was read whole, else
   * shut our side and drain the rest (lingering close), so the peer reads our answer. */
  private finish(conn: Conn): void {
    if (conn.state === ReadState.Linger) return;
    if (conn.state === ReadState.Done) {
      this.closeConn(conn, false, AbortReason.PEER_GONE, true);
      return;
    }
    conn.socket.end();
    conn.state = ReadState.Linger;
    conn.lingerUntil = Date.now() + this.config.lingerMs;
    conn.paused = false;
    conn.pending = EMPTY;
    this.refreshDeadline(conn);
    this.updateInterest(conn);
  }

  private onDrained(conn: Conn): void {
    if (conn.closed) return;
    for (const stream of conn.streams) {
      if (!stream.wantDrain) continue;
      stream.wantDrain = false;
      this.pushNotice({ kind: 'drain', token: stream.token });
    }
    this.refreshDeadline(conn);
  }

  /** Answers from the reactor itself (a refusal, a pong), then closes after it. */
  answer(conn: Conn, response: Buffer): void {
    conn.closing = true;
    conn.state = ReadState.Refused;
    conn.pending = EMPTY;
    this.send(conn, response);
    this.flushConn(conn);
  }

  // ---- the transport JavaScript writes through -------------------------------------------

  write(token: number, head: string | null, body: Uint8Array | string | null, end: WriteEndWord): number {
    const stream = this.streams.get(token);
    if (!stream) return -1;
    const conn = stream.conn;
    const socket = conn.socket;
    if (socket.destroyed) {
      this.closeConn(conn, true, AbortReason.PEER_GONE);
      return -1;
    }
    this.beginWrite(conn);
    let wrote = false;
    if (conn.protocol === 'fastcgi') {
      const parts = [
        head ? Buffer.from(head, 'latin1') : EMPTY,
        body === null ? EMPTY : typeof body === 'string' ? Buffer.from(body) : Buffer.from(body.buffer, body.byteOffset, body.byteLength),
      ];
      const data = parts[0]!.length === 0 ? parts[1]! : parts[1]!.length === 0 ? parts[0]! : Buffer.concat(parts);
      const records: Buffer[] = [];
      streamRecords(RecordType.STDOUT, stream.id, data, records);
      for (const record of records) socket.write(record);
      wrote = data.length > 0;
    } else {
      if (head) socket.write(head, 'latin1');
      if (body !== null && body.length > 0) socket.write(body);
      wrote = (head?.length ?? 0) > 0 || (body?.length ?? 0) > 0;
    }
    stream.wrote ||= wrote;
    if (end !== WriteEnd.MORE) this.endStream(stream, { complete: true, keepConn: end === WriteEnd.KEEP_ALIVE });
    this.endWrite(conn);
    if (conn.closed) return 0;
    const queued = conn.queued;
    if (queued > this.config.writeHighWater && this.streams.has(token)) stream.wantDrain = true;
    return queued;
  }

  writeError(token: number, text: Uint8Array | string): boolean {
    const stream = this.streams.get(token);
    if (!stream || stream.conn.protocol !== 'fastcgi') return false;
    const records: Buffer[] = [];
    streamRecords(RecordType.STDERR, stream.id, typeof text === 'string' ? Buffer.from(text) : Buffer.from(text), records);
    this.send(stream.conn, ...records);
    return true;
  }

  upgrade(token: number): boolean {
    const stream = this.streams.get(token);
    if (!stream) return false;
    const conn = stream.conn;
    if (conn.protocol !== 'http' || conn.state !== ReadState.Done) return false;
    conn.state = ReadState.Tunnel;
    conn.tunnelEof = false;
    // Bytes already buffered after the request are the first tunnelled ones.
    if (conn.pending.length > 0) this.retryLater(conn);
    this.refreshDeadline(conn);
    this.updateInterest(conn);
    return true;
  }

  pause(token: number, paused: boolean): void {
    const stream = this.streams.get(token);
    if (!stream) return;
    const conn = stream.conn;
    stream.paused = paused;
    if (!paused && stream.awaitingContinue) {
      // The app wants the body of an `Expect: 100-continue` request: now ask for it.
      stream.awaitingContinue = false;
      this.send(conn, CONTINUE);
    }
    this.refreshPaused(conn);
  }

  abort(token: number): void {
    const stream = this.streams.get(token);
    if (!stream) return;
    const conn = stream.conn;
    stream.inApp = false;
    if (conn.protocol === 'fastcgi' && conn.streams.length > 1) {
      // Other requests share the connection: this one alone ends, with appStatus 1.
      this.endStream(stream, { complete: false, appStatus: 1 });
    } else {
      this.closeConn(conn, true, AbortReason.INTERNAL);
    }
  }

  // ---- requests ---------------------------------------------------------------------------

  openStream(conn: Conn, id: number, keepConn: boolean, phase: Stream['phase']): Stream {
    let token = this.nextToken;
    while (token === 0 || this.streams.has(token)) token = (token + 1) >>> 0;
    this.nextToken = (token + 1) >>> 0;
    const stream: Stream = {
      token,
      conn,
      id,
      keepConn,
      phase,
      decoder: null,
      remaining: 0,
      untilEnd: false,
      inApp: false,
      paused: false,
      wantDrain: false,
      wrote: false,
      awaitingContinue: false,
    };
    this.streams.set(token, stream);
    conn.streams.push(stream);
    return stream;
  }

  /** Drops the requests of a connection without telling JavaScript (it was told already). */
  forgetStreams(conn: Conn): void {
    for (const stream of conn.streams.splice(0)) this.streams.delete(stream.token);
  }

  findStream(conn: Conn, id: number): Stream | undefined {
    return conn.streams.find((s) => s.id === id);
  }

  /** The request is over. FastCGI: END_REQUEST goes out (after the empty STDOUT of a
   * complete response). The connection closes once its output is sent, unless kept alive. */
  endStream(stream: Stream, end: StreamEnd): void {
    if (!this.streams.delete(stream.token)) return;
    const conn = stream.conn;
    conn.streams.splice(conn.streams.indexOf(stream), 1);
    if (conn.closed) return;
    // Whether the connection carries another request: JavaScript's word for a response it
    // ended; for a request cut short or refused by the reactor, the peer's (FCGI_KEEP_CONN;
    // never for HTTP, whose cut response cannot be followed). A graceful stop keeps none.
    const keepConn = (end.complete ? end.keepConn : stream.keepConn) && !this.draining;
    // uwsgi: one request per connection.
    if (conn.protocol === 'uwsgi') conn.closing = true;
    else if (conn.protocol === 'http') httpResponseEnded(this, conn, keepConn);
    else {
      const pieces = end.complete ? [recordHeader(RecordType.STDOUT, stream.id, 0)] : [];
      pieces.push(endRequest(stream.id, end.complete ? 0 : end.appStatus, ProtocolStatus.REQUEST_COMPLETE));
      this.send(conn, ...pieces);
      conn.closeWhenIdle ||= !keepConn;
      if (conn.streams.length === 0 && conn.closeWhenIdle) conn.closing = true;
    }
    if (stream.paused) this.refreshPaused(conn);
    if (this.inBatch) this.beginWrite(conn);
    else this.flushConn(conn);
  }

  /** A connection reads unless one of its requests asked to pause. */
  refreshPaused(conn: Conn): void {
    const paused = conn.streams.some((s) => s.paused);
    if (conn.paused === paused) return;
    conn.paused = paused;
    if (conn.state === ReadState.Body) conn.deadline = paused ? 0 : Date.now() + this.config.socketTimeoutMs;
    // Bytes read before the pause wait in the buffer: handle them now.
    if (!paused && conn.pending.length > 0) this.retryLater(conn);
    this.updateInterest(conn);
  }

  /** Closes a connection; its requests JavaScript still has get an ABORT with `reason`.
   * `reset` sends RST instead of FIN; `graceful` sends what is queued first. */
  closeConn(conn: Conn, reset: boolean, reason: number, graceful = false): void {
    if (conn.closed) return;
    conn.closed = true;
    this.conns.delete(conn);
    this.retry.delete(conn);
    this.live--;
    const socket = conn.socket;
    if (reset) resetSocket(socket);
    else if (graceful) socket.destroySoon();
    else socket.destroy();
    for (const stream of conn.streams.splice(0)) {
      this.streams.delete(stream.token);
      if (stream.inApp) this.pushNotice({ kind: 'abort', token: stream.token, reason });
    }
    while (this.waiting.length > 0 && this.live < this.config.maxConns) {
      const [waiting, protocol] = this.waiting.shift()!;
      if (waiting.destroyed) continue;
      waiting.removeAllListeners('error');
      this.addConn(waiting, protocol);
      waiting.resume();
    }
  }

  // ---- time -------------------------------------------------------------------------------

  private armTimer(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.cycle(() => this.tick()), TICK_MS);
    this.timer.unref();
  }

  /** The deadline the connection's state calls for. */
  refreshDeadline(conn: Conn): void {
    const timeout = this.config.socketTimeoutMs;
    const now = Date.now();
    const readingBody = (conn.state === ReadState.Body || conn.state === ReadState.Chunked) && !conn.paused;
    let deadline = 0;
    if (conn.state === ReadState.Head) deadline = conn.acceptedAt + (conn.idle ? this.config.keepaliveTimeoutMs : timeout);
    else if (conn.state === ReadState.DiscardVars) deadline = conn.acceptedAt + timeout;
    else if (conn.state === ReadState.Linger) deadline = conn.lingerUntil;
    // A body must keep coming, and (HTTP) be whole by the request's deadline.
    else if (readingBody) deadline = conn.requestDeadline !== 0 ? Math.min(now + timeout, conn.requestDeadline) : now + timeout;
    else if (conn.queued > 0) deadline = now + timeout;
    // FastCGI: idle between requests, or a request still sending its input.
    else if (conn.state === ReadState.Records && !conn.paused && (conn.streams.length === 0 || conn.streams.some((s) => s.phase !== 'complete')))
      deadline = now + timeout;
    conn.deadline = deadline;
  }

  private tick(): void {
    if (this.live === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = null;
      return;
    }
    const now = Date.now();
    const timeout = this.config.socketTimeoutMs;
    const seconds = timeout / 1000;
    for (const conn of [...this.conns]) {
      // A response the peer is reading keeps its connection alive; one it reads none of does not.
      const queued = conn.queued;
      if (queued > 0 && (queued !== conn.lastQueued || conn.deadline === 0)) conn.deadline = now + timeout;
      else if (queued === 0 && conn.lastQueued > 0) this.refreshDeadline(conn);
      conn.lastQueued = queued;
      if (conn.deadline === 0 || conn.deadline > now) continue;
      this.expire(conn, now, seconds);
    }
  }

  private expire(conn: Conn, now: number, seconds: number): void {
    const name = conn.protocol;
    const readingBody = conn.state === ReadState.Body || conn.state === ReadState.Chunked;
    if (readingBody && conn.requestDeadline !== 0 && conn.requestDeadline <= now) {
      this.log(
        Level.WARN,
        `http: request not received whole within http-request-timeout ${this.config.requestTimeoutMs / 1000} s; aborted (raise --http-request-timeout)`,
      );
      httpFail(this, conn, 408);
      return;
    }
    switch (conn.state) {
      case ReadState.Head:
      case ReadState.DiscardVars: {
        const got = conn.pending.length;
        if (got > 0)
          this.log(Level.WARN, `${name}: no complete request head within socket-timeout ${seconds} s (${got} bytes received); closed (raise --socket-timeout)`);
        this.closeConn(conn, false, AbortReason.TIMEOUT);
        return;
      }
      case ReadState.Linger:
      case ReadState.Refused:
        this.closeConn(conn, false, AbortReason.TIMEOUT);
        return;
      case ReadState.Tunnel:
        this.log(Level.WARN, `http: peer read nothing of the tunnel's output for socket-timeout ${seconds} s; aborted (raise --socket-timeout)`);
        this.closeConn(conn, true, AbortReason.TIMEOUT);
        return;
      case ReadState.Chunked:
        this.log(Level.WARN, `http: chunked request body stalled for socket-timeout ${seconds} s; aborted (raise --socket-timeout)`);
        this.closeConn(conn, true, AbortReason.TIMEOUT);
        return;
      case ReadState.Body:
        this.log(
          Level.WARN,
          `${name}: request body stalled for socket-timeout ${seconds} s with ${conn.remaining} bytes missing; aborted (raise --socket-timeout)`,
        );
        this.closeConn(conn, true, AbortReason.TIMEOUT);
        return;
      case ReadState.Records: {
        const got = conn.pending.length;
        const busy = conn.streams.length > 0;
        if (got > 0 || busy) {
          const what = conn.queued > 0 ? 'peer read nothing of the response' : 'no FastCGI record arrived';
          this.log(Level.WARN, `fastcgi: ${what} for socket-timeout ${seconds} s (${got} bytes of a record pending); closed (raise --socket-timeout)`);
        }
        // An idle kept-alive connection just closes: the web server opens another.
        this.closeConn(conn, busy, AbortReason.TIMEOUT);
        return;
      }
      case ReadState.Done:
        this.log(Level.WARN, `uwsgi: peer read nothing of the response for socket-timeout ${seconds} s; aborted (raise --socket-timeout)`);
        this.closeConn(conn, true, AbortReason.TIMEOUT);
    }
  }
}

/** Closes with RST (a TCP socket; a Unix socket has none, and just closes). */
function resetSocket(socket: net.Socket): void {
  try {
    socket.resetAndDestroy();
  } catch {
    socket.destroy();
  }
}

/** `100 Continue`, sent before the body of a request that asked for it. */
const CONTINUE = Buffer.from('HTTP/1.1 100 Continue\r\n\r\n', 'latin1');
