/**
 * The `res` a Node-style handler gets, and the socket under it.
 *
 * `res` is a genuine `http.ServerResponse`: Express re-roots its prototype onto Node's own,
 * so Node's methods (setHeader, writeHead, write, end, flushHeaders...) are what run, and
 * they write to `res.socket`. That socket is a `ResponseSocket`: a stand-in for the
 * connection that carries this one request. The head Node serializes (`res._header`) is
 * parsed back into a TSGI status and header list; the body chunks wait in a queue that
 * the TSGI body drains as the server sends them. A write returns `false` once 64 KiB
 * wait, and `res` emits `'drain'` when the server has taken them: Node's backpressure,
 * carried through tsgi's own.
 */
import { EventEmitter } from 'node:events';
import { ReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { OutgoingMessage, ServerResponse, type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { isHopByHop, type Chunk, type Environ, type Headers, type StartResponse } from '../app/contract.js';
import { onClientGone, serverHooks } from '../server/environ.js';
import { log } from '../log.js';
import { endUnreadBody } from './node-request.js';
import { socketAddress } from './request-parts.js';
import { describeError } from '../errors.js';
import { FileBody } from '../app/file-wrapper.js';

/** Queued body bytes above which `res.write()` returns false (a socket's default). */
const HIGH_WATER = 64 * 1024;

/**
 * Node's own flag for "a write returned false, emit 'drain' when the socket drains". Its
 * server clears it on the socket's drain; this socket does the same, or `writableNeedDrain`
 * stays true and a later `pipe()` into `res` waits forever.
 */
const kNeedDrain = Object.getOwnPropertySymbols(new OutgoingMessage()).find((symbol) => symbol.description === 'kNeedDrain');

type WriteCallback = (error?: Error | null) => void;
/** The fields of Node's ServerResponse this module reads and sets beyond its typings. */
type InternalResponse = ServerResponse & { _header: string | null; _headerSent: boolean; chunkedEncoding: boolean; _closed: boolean } & Record<symbol, unknown>;

/** The `res` of one request, writing to `socket`. */
export function createServerResponse(req: IncomingMessage, socket: ResponseSocket): ServerResponse {
  const res = new ServerResponse(req) as InternalResponse;
  // The server adds Date where the protocol wants it (HTTP); nginx adds its own.
  res.sendDate = false;
  res.writeHead = writeHeadUnframed as InternalResponse['writeHead'];
  res.assignSocket(socket as unknown as Socket);
  res.on('prefinish', () => socket.responseEnded());
  res.on('pipe', (source: Readable) => socket.piped(source));
  return res;
}

/**
 * `res.writeHead`, as an own property (it survives Express's prototype swap). tsgi frames
 * the body itself (Content-Length, chunks, or the end of the connection), so Node must
 * write it as it is: its `Transfer-Encoding: chunked` is dropped from the head, and its
 * chunk framing turned off.
 */
function writeHeadUnframed(this: InternalResponse, ...args: unknown[]): ServerResponse {
  (ServerResponse.prototype.writeHead as (...args: unknown[]) => ServerResponse).apply(this, args);
  this.chunkedEncoding = false;
  return this;
}

/** A ReadStream of a path nobody has read from or listened to but the pipe: its bytes
 * are the file's, as they are. */
function untouched(source: ReadStream): boolean {
  return (
    (typeof source.path === 'string' || Buffer.isBuffer(source.path)) &&
    source.bytesRead === 0 &&
    !source.destroyed &&
    source.readableEncoding === null &&
    source.listenerCount('data') === 1 &&
    source.listenerCount('readable') === 0
  );
}

/** Whether `res` writes what it is given as it is: a middleware that replaced its
 * `write` or `end` (compression's gzip, Next.js's) transforms the bytes, so a file piped
 * into it must flow through them. */
function writesAsNode(res: ServerResponse): boolean {
  return res.write === ServerResponse.prototype.write && res.end === ServerResponse.prototype.end;
}

/** The error Node's server gives a request whose client went away. */
function connectionReset(): Error {
  return Object.assign(new Error('aborted'), { code: 'ECONNRESET' });
}

/**
 * One request's connection, as `req.socket` and `res.socket` see it, and the TSGI body
 * that sends what `res` wrote to it.
 */
export class ResponseSocket extends EventEmitter implements AsyncIterableIterator<Chunk> {
  // ---- what Node's ServerResponse and apps read off a net.Socket ---------------------------
  readable = true;
  writable = true;
  destroyed = false;
  closed = false;
  connecting = false;
  readonly readableHighWaterMark = HIGH_WATER;
  readonly writableHighWaterMark = HIGH_WATER;
  _httpMessage: ServerResponse | null = null;
  _hadError = false;
  /** `res.end()` sets `corked` to 1 here before its last uncork. */
  readonly _writableState = { corked: 0 };

  // ---- the response, as written -------------------------------------------------------
  private res: InternalResponse | null = null;
  private req: IncomingMessage | null = null;
  private status: string | null = null;
  private headers: Headers | null = null;
  private started = false;
  /** What `res` wrote, and files piped into it (a FileBody the server sends itself). */
  private readonly chunks: Array<Chunk | FileBody> = [];
  private hasFile = false;
  private readonly callbacks: Array<WriteCallback | undefined> = [];
  private taken = 0;
  private queuedBytes = 0;
  private ended = false;
  private failure: Error | null = null;
  private wake: (() => void) | null = null;
  private firstOutput: (() => void) | null = null;

  constructor(
    private readonly environ: Environ,
    private readonly startResponse: StartResponse,
  ) {
    super();
  }

  get remoteAddress(): string | undefined {
    return socketAddress.remoteAddress(this.environ);
  }

  get remotePort(): number | undefined {
    return socketAddress.remotePort(this.environ);
  }

  get remoteFamily(): string | undefined {
    return socketAddress.remoteFamily(this.environ);
  }

  get localAddress(): string | undefined {
    return socketAddress.localAddress(this.environ);
  }

  get localPort(): number {
    return socketAddress.localPort(this.environ);
  }

  get encrypted(): true | undefined {
    return socketAddress.encrypted(this.environ);
  }

  get writableLength(): number {
    return this.queuedBytes;
  }

  get writableCorked(): number {
    return this._writableState.corked;
  }

  address(): { address?: string; port: number; family?: string } {
    return socketAddress.address(this.environ);
  }

  cork(): void {
    this._writableState.corked++;
  }

  uncork(): void {
    if (this._writableState.corked > 0) this._writableState.corked--;
  }

  // Timeouts and socket options are the server's (--socket-timeout): accepted, no effect.
  setTimeout(): this {
    return this;
  }

  setNoDelay(): this {
    return this;
  }

  setKeepAlive(): this {
    return this;
  }

  ref(): this {
    return this;
  }

  unref(): this {
    return this;
  }

  pause(): this {
    return this;
  }

  resume(): this {
    return this;
  }

  // ---- the handler's side ----------------------------------------------------------------

  /** Binds the request and response; called once, before the handler runs. */
  attach(req: IncomingMessage, res: ServerResponse): void {
    this.req = req;
    this.res = res as InternalResponse;
  }

  write(data: string | Uint8Array, encoding?: BufferEncoding | WriteCallback | null, callback?: WriteCallback): boolean {
    if (typeof encoding === 'function') {
      callback = encoding;
      encoding = undefined;
    }
    if (this.destroyed) {
      if (callback) process.nextTick(callback, new Error('write after the connection was closed'));
      return false;
    }
    let body: string | Uint8Array = data;
    if (this.status === null) {
      const head = this.res?._header;
      // Node sends its head with the first write, as the start of that string (or alone);
      // an interim response (writeContinue, writeEarlyHints) goes before it, with the head
      // not marked sent: the server has its own 100. (Not data.startsWith(head): Node's
      // data is head + body, a string V8 would flatten just to compare.)
      if (typeof head !== 'string' || typeof data !== 'string' || !this.res!._headerSent || data.length < head.length) {
        if (callback) process.nextTick(callback);
        return true;
      }
      this.parseHead(head);
      body = data.length === head.length ? '' : data.slice(head.length);
    }
    const chunk = typeof body === 'string' && body !== '' && encoding && encoding !== 'utf8' && encoding !== 'utf-8' ? Buffer.from(body, encoding) : body;
    this.chunks.push(chunk);
    this.callbacks.push(callback);
    this.queuedBytes += chunk.length;
    this.notify();
    return this.queuedBytes < HIGH_WATER;
  }

  /**
   * A readable was piped into `res`. An untouched `fs.ReadStream` of a path (what
   * express's `res.sendFile` and `express.static` pipe) is taken off the pipe and its
   * file, or its range of it, handed to the server as a file body: the native reactor
   * sends it with sendfile(2), never reading it into JavaScript. A stream the app has
   * touched (read from, listened to, given an encoding), or piped into a `res` whose
   * writes a middleware wraps (compression), flows through the pipe as usual.
   */
  piped(source: Readable): void {
    if (!(source instanceof ReadStream) || this.destroyed || this.ended || !untouched(source) || !writesAsNode(this.res!)) return;
    const start = (source as ReadStream & { start?: number }).start ?? 0;
    const end = (source as ReadStream & { end?: number }).end ?? Infinity;
    const path = source.path;
    const res = this.res!;
    source.unpipe(res);
    source.destroy();
    // The head goes first, as Node would send it with the first bytes.
    if (!res.headersSent) res.flushHeaders();
    this.hasFile = true;
    this.chunks.push(new FileBody(typeof path === 'string' ? path : path.toString(), undefined, { start, length: end - start + 1 }));
    this.callbacks.push(undefined);
    this.notify();
    // The pipe would end `res` at the stream's end: the file is all of it.
    res.end();
  }

  /** `res.end()` ran: everything it will write is queued. */
  responseEnded(): void {
    this.ended = true;
    this.notify();
  }

  /** The handler (or Node) closes the connection: the response cannot be completed. */
  destroy(error?: Error): this {
    if (this.destroyed) return this;
    this.failure = error ?? new Error('the app destroyed the response before it ended');
    this.close(true, error);
    return this;
  }

  end(): this {
    return this.destroy();
  }

  /** The handler failed (a thrown error, a rejected promise): the response fails with it,
   * unless it had already ended (then the error is only logged, as the response stands). */
  fail(error: unknown): void {
    if (this.destroyed) return;
    if (this.ended) {
      log.error(
        `${this.environ.REQUEST_METHOD} ${this.environ.REQUEST_URI ?? this.environ.PATH_INFO}: the handler failed after its response ended: ${describeError(error)}`,
      );
      return;
    }
    this.failure = error instanceof Error ? error : new Error(String(error));
    this.close(true, this.failure);
  }

  // ---- the server's side --------------------------------------------------------------

  /**
   * The TSGI body, once the handler has run: the chunks in an array if the response is
   * already complete (the server then sends it in one write, with its length), else this
   * socket, which yields them as they come.
   */
  body(): Chunk[] | Promise<Chunk[] | this> | this {
    if (this.ended && this.status !== null && !this.hasFile) return this.takeAll();
    this.watchClient();
    if (this.failure || this.status !== null) return this;
    // Wait for the first output: a response that is whole by then still goes out whole.
    return new Promise<void>((resolve) => (this.firstOutput = resolve)).then(() =>
      this.ended && this.status !== null && !this.failure && !this.hasFile ? this.takeAll() : this,
    );
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  async next(): Promise<IteratorResult<Chunk>> {
    for (;;) {
      if (this.failure) throw this.failure;
      if (this.taken < this.chunks.length) {
        const chunk = this.take();
        if (!(chunk instanceof FileBody) && chunk.length === 0) continue;
        this.start();
        // A file body among the chunks: the server's exchange sends it (see piped()).
        return { value: chunk as Chunk, done: false };
      }
      if (this.ended) {
        this.start();
        this.finished();
        return { value: undefined, done: true };
      }
      if (this.status !== null && !this.started) {
        // Node has written its head and nothing more yet (flushHeaders, a writeHead before
        // a slow body): with Node it would be on the wire now, so it goes now.
        this.start();
        serverHooks(this.environ)?.sendHead();
      }
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  /** The server is done with the body: at its end, after an error, or when the client went away. */
  close(hadError = false, error?: Error): void {
    if (this.closed) return;
    if (!hadError && this.ended && this.taken === this.chunks.length) return;
    // Torn down before the response ended: as Node does when the connection closes early.
    this.closed = true;
    this.destroyed = true;
    this.readable = this.writable = false;
    this.notify();
    for (let i = this.taken; i < this.callbacks.length; i++) this.callbacks[i]?.(error ?? connectionReset());
    // Node's order: the request is aborted first, then res hears the socket close.
    const req = this.req;
    if (req && !(req.complete && req.readableEnded) && !req.destroyed) req.destroy(connectionReset());
    this.emit('close', hadError);
  }

  private watchClient(): void {
    onClientGone(this.environ, () => {
      if (this.closed) return;
      this.failure = connectionReset();
      this.close(true, this.failure);
    });
  }

  /** Every queued chunk of an ended response; their write callbacks run in finished()'s tick. */
  private takeAll(): Chunk[] {
    this.start();
    const chunks: Chunk[] = [];
    const callbacks: WriteCallback[] = [];
    for (; this.taken < this.chunks.length; this.taken++) {
      const chunk = this.chunks[this.taken] as Chunk;
      const callback = this.callbacks[this.taken];
      if (chunk.length > 0) chunks.push(chunk);
      if (callback) callbacks.push(callback);
    }
    this.queuedBytes = 0;
    this.finished(callbacks);
    return chunks;
  }

  /** The next queued chunk; its write callback runs once the server has it. */
  private take(): Chunk | FileBody {
    const i = this.taken++;
    const chunk = this.chunks[i]!;
    const callback = this.callbacks[i];
    this.chunks[i] = '';
    if (!(chunk instanceof FileBody)) this.queuedBytes -= chunk.length;
    if (callback) process.nextTick(callback);
    const res = this.res;
    if (kNeedDrain && res?.[kNeedDrain] && this.queuedBytes < HIGH_WATER / 2 && !this.ended) {
      res[kNeedDrain] = false;
      process.nextTick(() => res.emit('drain'));
    }
    return chunk;
  }

  private start(): void {
    if (this.started) return;
    this.started = true;
    this.startResponse(this.status!, this.headers!);
  }

  /** The whole response went to the server: 'finish' (by the last write's callback, among
   * `callbacks` or already called), then 'close'. One tick for all of it. */
  private finished(callbacks: WriteCallback[] = []): void {
    const res = this.res!;
    const req = this.req!;
    process.nextTick(() => {
      for (const callback of callbacks) callback();
      // As Node's server does after 'finish'.
      res.detachSocket(this as unknown as Socket);
      endUnreadBody(req);
      if (!res._closed) {
        res._closed = true;
        res.destroyed = true;
        res.emit('close');
      }
      // This connection carried one request: it closes with it. Apps that track
      // connections until their 'close' (Fastify's keep-alive set) let go of them here.
      this.closed = this.destroyed = true;
      this.readable = this.writable = false;
      this.emit('close', false);
    });
  }

  private notify(): void {
    const first = this.firstOutput;
    if (first) {
      this.firstOutput = null;
      first();
    }
    const wake = this.wake;
    if (wake) {
      this.wake = null;
      wake();
    }
  }

  /** `res._header` → the TSGI status and headers, less what only concerns the connection. */
  private parseHead(head: string): void {
    let at = head.indexOf('\r\n');
    // "HTTP/1.1 200 OK": Node always writes HTTP/1.1 and a reason.
    this.status = head.slice(9, at);
    const headers: Headers = [];
    for (at += 2; at < head.length - 2;) {
      const end = head.indexOf('\r\n', at);
      const colon = head.indexOf(':', at);
      const name = head.slice(at, colon);
      // Node adds Connection, Transfer-Encoding and Keep-Alive for its own framing; tsgi's frames.
      if (!isHopByHop(name)) headers.push([name, head.slice(colon + 2, end)]);
      at = end + 2;
    }
    this.headers = headers;
  }
}
