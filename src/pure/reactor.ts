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
 * This file keeps the reactor and that loop; each role has the file of its Rust twin:
 * accepting (accept.ts), the connection table (conns.ts), timeouts (timers.ts), notices to
 * JavaScript (notices.ts), the write side (write.ts), and one file per protocol whose state
 * answers what should happen to its connection ({@link Next}), applied here in one place.
 * Three Rust files have no twin: node:net is the system interface (sys.rs), a socket its own
 * output queue (outbuf.rs), and a Map by token the request table (table.rs).
 */
import type { NativeReactor, ReactorOptions, WireProtocol } from '../native/binding.js';
import { AbortReason, type WriteEndWord } from '../native/batch.js';
import { Accepting, adopt, listen, stopListening } from './accept.js';
import { BatchWriter, Level } from './batch.js';
import { configOf, type ReactorConfig } from './config.js';
import { EMPTY, Stage, reset, type Conn, type Next } from './conn.js';
import { closeConn, updateInterest } from './conns.js';
import { Notices } from './notices.js';
import { Streams } from './stream.js';
import { Timer, refreshDeadline } from './timers.js';
import { abort, pause, reply, upgrade, write, writeError } from './write.js';

export class PureReactor implements NativeReactor {
  readonly config: ReactorConfig;
  readonly batch: BatchWriter;
  readonly accept = new Accepting();
  /** Every open connection. */
  readonly conns = new Set<Conn>();
  /** Every request JavaScript may write to. */
  readonly streams = new Streams();
  readonly notices = new Notices(() => this.cycle());
  readonly timer = new Timer();
  /** Connections corked by writes during the current batch. */
  readonly corked: Conn[] = [];
  /** A graceful stop is under way: no connection is kept past its current request. */
  draining = false;
  /** Closed: nothing is accepted any more. */
  shut = false;
  private flushing = false;

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
    return this.conns.size;
  }

  get accepted(): number {
    return this.accept.accepted;
  }

  /** node:net has no sendfile(2): files are read and written in JavaScript. */
  get sentFileBytes(): number {
    return 0;
  }

  listen(address: string, protocol: WireProtocol, backlog: number, mode: number): string {
    return listen(this, address, protocol, backlog, mode);
  }

  adopt(fd: number, protocol: WireProtocol, backlog?: number): void {
    adopt(this, fd, protocol, backlog);
  }

  write(token: number, head: string | null, body: Uint8Array | string | null, end: WriteEndWord): number {
    return write(this, token, head, body, end);
  }

  /** Never queues a file (node:net has no sendfile): -2 (the caller writes the bytes),
   * or -1 if the request is gone, as the native reactor answers for FastCGI. */
  sendFile(token: number): number {
    return this.streams.has(token) ? -2 : -1;
  }

  writeError(token: number, text: Uint8Array | string): boolean {
    return writeError(this, token, text);
  }

  upgrade(token: number): boolean {
    return upgrade(this, token);
  }

  pause(token: number, paused: boolean): void {
    pause(this, token, paused);
  }

  abort(token: number): void {
    abort(this, token);
  }

  stopListening(): void {
    stopListening(this);
  }

  close(): void {
    if (this.shut) return;
    this.stopListening();
    this.shut = true;
    for (const conn of [...this.conns]) closeConn(this, conn, true, AbortReason.PEER_GONE);
    this.timer.disarm();
  }

  // ---- batches ------------------------------------------------------------------------

  /** One wake-up: retried connections, then `work`, then the notices; JavaScript is called
   * once with what that produced, and the writes it made are flushed. Again while more is
   * due right away. */
  cycle(work?: () => void): void {
    if (this.notices.batching) {
      work?.();
      return;
    }
    do {
      const retried = this.notices.beginBatch();
      this.batch.reset();
      try {
        for (const conn of retried) if (!conn.closed) this.process(conn);
        work?.();
        work = undefined;
        this.notices.deliver(this.batch);
        if (this.batch.words > 0) this.onBatch(this.batch.words);
      } finally {
        this.flushCorked();
      }
    } while (this.notices.pending);
  }

  /** Native batches run the microtasks they cause before their writes are flushed (an async
   * app that answers at once answers within its batch): here the flush waits for the loop's
   * check phase, after every microtask and every socket event of this turn. */
  private flushCorked(): void {
    this.notices.endBatch();
    if (this.corked.length === 0 || this.flushing) return;
    this.flushing = true;
    setImmediate(() => {
      this.flushing = false;
      for (const conn of this.corked.splice(0)) {
        conn.dirty = false;
        conn.socket.uncork();
        if (!conn.closed) this.flushConn(conn);
      }
    });
  }

  // ---- reading ----------------------------------------------------------------------------

  onData(conn: Conn, chunk: Buffer): void {
    if (conn.closed) return;
    if (this.dropsInput(conn)) {
      this.drop(conn, chunk.length);
      return;
    }
    conn.pending = conn.pending.length === 0 ? chunk : Buffer.concat([conn.pending, chunk]);
    this.cycle(() => this.process(conn));
  }

  /** What the peer sends now is read and dropped, never parsed: after our answer, or (uwsgi,
   * U20) after its request. */
  private dropsInput(conn: Conn): boolean {
    return conn.stage !== Stage.Serving || conn.proto.dropsInput;
  }

  /** Drops `bytes` the peer sent; past a bound, reading stops (uwsgi U20). */
  private drop(conn: Conn, bytes: number): void {
    if (conn.stage === Stage.Serving) conn.proto.drop(bytes);
    updateInterest(conn);
  }

  /** Handles what is buffered, as the connection's protocol says. */
  private process(conn: Conn): void {
    if (this.dropsInput(conn)) {
      this.drop(conn, conn.pending.length);
      conn.pending = EMPTY;
      return;
    }
    this.apply(conn, conn.proto.process(this, conn));
  }

  onEof(conn: Conn): void {
    if (conn.closed) return;
    const next: Next = conn.stage === Stage.Serving ? conn.proto.eof(this, conn) : { reset: false, reason: AbortReason.PEER_GONE };
    this.apply(conn, next);
  }

  /** Does what a protocol handler answered for `conn`. */
  apply(conn: Conn, next: Next): void {
    if (conn.closed) return;
    if (next === 'wait') {
      updateInterest(conn);
    } else if (next === 'go' || next === 'retry') {
      if (next === 'retry') this.notices.retryLater(conn);
      refreshDeadline(this, conn);
      updateInterest(conn);
    } else if ('answer' in next) {
      this.answer(conn, next.answer);
    } else {
      closeConn(this, conn, next.reset, next.reason);
    }
  }

  /** The batch has no room for what a connection must hand over: it waits for the next
   * batch, unless this one is empty (the buffers are smaller than one request, a
   * misconfiguration: the connection is reset, with `why` logged). */
  noRoom(why: string): Next {
    if (!this.batch.isEmpty) return 'retry';
    this.notices.log(Level.ERROR, why);
    return reset(AbortReason.INTERNAL);
  }

  // ---- writing -------------------------------------------------------------------------

  /** Answers from the reactor itself (a refusal, a pong), then closes after it. */
  private answer(conn: Conn, response: Buffer): void {
    conn.closing = true;
    conn.stage = Stage.Refused;
    conn.pending = EMPTY;
    reply(this, conn, response);
    this.flushConn(conn);
  }

  /** Output went out as far as it goes now: a connection whose last response ended closes. */
  flushConn(conn: Conn): void {
    if (conn.closing && !conn.closed) this.finish(conn);
    else refreshDeadline(this, conn);
  }

  /** The last response is queued: close after it if the request was read whole, else
   * shut our side and drain the rest (lingering close), so the peer reads our answer. */
  private finish(conn: Conn): void {
    if (conn.stage === Stage.Linger) return;
    if (conn.stage === Stage.Serving && conn.proto.readWhole) {
      closeConn(this, conn, false, AbortReason.PEER_GONE, true);
      return;
    }
    conn.socket.end();
    conn.stage = Stage.Linger;
    conn.lingerUntil = Date.now() + this.config.lingerMs;
    conn.paused = false;
    conn.pending = EMPTY;
    refreshDeadline(this, conn);
    updateInterest(conn);
  }

  onDrained(conn: Conn): void {
    if (conn.closed) return;
    for (const stream of conn.streams) {
      if (!stream.wantDrain) continue;
      stream.wantDrain = false;
      this.notices.push({ kind: 'drain', token: stream.token });
    }
    refreshDeadline(this, conn);
  }
}
