/**
 * One request and its response on a connection: the deferred head, the body iteration
 * under backpressure, errors and aborts, and the wire framing the protocol needs. The
 * contract's rules (startResponse, Content-Length, bodiless responses, close()) are the
 * shared response state's (src/app/response.ts). Protocol-neutral except for the status
 * line of the head (HTTP for uwsgi, a CGI `Status:` header for FastCGI) and where
 * `tsgi.errors` goes.
 */
import {
  checkHead,
  type App,
  type Body,
  type CheckedHead,
  type Chunk,
  type ErrorStream,
  type Headers,
  type StartResponse,
  type Write,
} from '../app/contract.js';
import { byteLength, isChunk, isThenable, knownLength, ResponseState, type ResponseRequest } from '../app/response.js';
import { describeError, ErrorCodes, TsgiError, wrongInterfaceHint } from '../errors.js';
import { createEnviron, type EnvironSource, type RawConnection } from './environ.js';
import { BodyInput, abortError } from '../app/input.js';
import { KeyId } from '../codec/keys.js';
import { Protocol, RequestFlags, type RequestRecord } from '../native/request.js';
import { log } from '../log.js';
import { FileBody, fileWrapper, type FileSpan } from '../app/file-wrapper.js';
import { createErrorStream, errorStream } from '../app/error-stream.js';
import { appHeadSize, chunkFrame, serializeHead } from './response-head.js';
import { WriteEnd, type WriteEndWord } from '../native/batch.js';

/** What an exchange needs from the connection layer. */
export interface Transport {
  /** Queues head and/or body; `end` says whether the response goes on or is complete, and
   * whether the connection stays open after it. Returns bytes queued, -1 if gone. */
  write(token: number, head: string | null, body: Chunk | null, end: WriteEndWord): number;
  /** Stops or resumes reading the request body. */
  pause(token: number, paused: boolean): void;
  /** Ends the request abnormally: the response cannot be completed. */
  abort(token: number): void;
  /** An upgrade request (HTTP or uwsgi) is answered 101, or taken over raw: the connection
   * becomes a tunnel. False if it cannot (FastCGI, or no upgrade request). */
  upgrade(token: number): boolean;
  /** Sends text to the web server's error log (FastCGI STDERR); false if there is no such channel. */
  writeError(token: number, text: string): boolean;
  /** Queues head, then `length` bytes of the file `fd` from `offset`, sent with
   * sendfile(2); the reactor takes `fd` if `owned` and it returns bytes queued (>= 0).
   * -1 if gone, -2 if the request cannot send files (FastCGI): write the bytes instead. */
  sendFile(token: number, head: string | null, fd: number, offset: number, length: number, end: WriteEndWord, owned: boolean): number;
}

/** Server-wide settings an exchange reads. */
export interface ExchangeContext {
  readonly app: App;
  readonly transport: Transport;
  readonly multiprocess: boolean;
  /** Above this many queued bytes, the body iteration waits for DRAIN. */
  readonly writeHighWater: number;
  /** Above this many unread body bytes, reading the socket pauses. */
  readonly inputHighWater: number;
  /** Headers every response gets after the app's (`--add-header`). */
  readonly addHeaders?: Headers;
  /** The app is called once this many body bytes (or the whole body) arrived (`--post-buffering`); 0: at once. */
  readonly postBuffering?: number;
  /** Set where the reactor sends files itself (the native one, with sendfile(2)): where a
   * caller's open descriptor stands. Unset, file bodies are read and written here. */
  readonly filePosition?: (fd: number) => number;
  /** Called once when the exchange is over (response ended or aborted). */
  done(exchange: Exchange): void;
  /** Called once when the connection becomes a tunnel (a 101, or taken over raw). */
  tunneled(exchange: Exchange): void;
}

const ERROR_BODY = 'Internal Server Error\n';
const ERROR_HEAD = checkHead('500 Internal Server Error', [['Content-Type', 'text/plain']]);
const TIMEOUT_BODY = 'Gateway Timeout\n';
const TIMEOUT_HEAD = checkHead('504 Gateway Timeout', [['Content-Type', 'text/plain']]);

/** `HTTP/1.x NNN`: the status a raw response (an upgrade taken over by the app) begins with. */
const RAW_STATUS = /^HTTP\/1\.[01] ([1-9][0-9]{2})/;
/** The wrong-interface hint (errors.ts) is logged once a process, not with every 500. */
let hinted = false;

export class Exchange implements EnvironSource, ResponseRequest {
  readonly token: number;
  readonly errors: ErrorStream;
  readonly fileWrapper = fileWrapper;
  /** A 101 answering an upgrade request turns the connection into a tunnel. */
  readonly tunnels = true;
  readonly headRequest: boolean;
  private readonly response: ResponseState;
  /** Total body length when known before sending (an array body), else -1. */
  private knownLength = -1;
  /** The connection carries the peer's next request after this response: decided with the
   * head (response-head.ts), carried on the last write. */
  private keepAlive = false;
  /** HTTP: the body goes in chunks; `chunkOpen` once one was sent (its CRLF is still due). */
  private chunked = false;
  private chunkOpen = false;
  /** The app asked for the body (for `Expect: 100-continue`, the 100 went out). */
  private bodyAskedFor = false;
  /** An upgrade request answered without switching: its input has nothing more. */
  private inputOver = false;
  private aborted = false;
  private finished = false;
  private bodyInput: BodyInput | null = null;
  private controller: AbortController | null = null;
  private abortReason: TsgiError | null = null;
  private wakeOnDrain: (() => void) | null = null;
  private goneListeners: Array<() => void> | null = null;
  /** The last write left the connection's queue over its high-water mark. */
  private queuedOver = false;
  /** The app took the connection over (`upgrade()`): it writes raw bytes, its body is ignored. */
  private raw = false;

  /** The connection became a tunnel (a 101, or taken over raw): the request is answered,
   * and stays in flight until the connection ends. Harakiri does not apply to it. */
  tunnel = false;

  // What the request log and the stats read once the exchange is done.
  /** When the request reached the app (`performance.now()`). */
  readonly startedAt = performance.now();
  /** The status code sent; 0 until a head goes out (and if none ever does). */
  status = 0;
  /** The response head as sent ('' until it is), and the body bytes handed to the connection. */
  headText = '';
  bodyBytes = 0;
  /** Request body bytes received. */
  inputBytes = 0;
  /** The pieces of the body the app gave (its iterable's items): what uWSGI's log calls
   * switches, its loop's turns over the body (plugins/python/wsgi_handlers.c). */
  switches = 0;
  /** The head the response went out with (null until it did, and for a raw response). */
  private sentHead: CheckedHead | null = null;
  /** The app threw or broke the contract (a 500 or a reset followed). */
  failed = false;

  constructor(
    readonly record: RequestRecord,
    private readonly context: ExchangeContext,
  ) {
    this.token = record.token;
    this.errors = record.protocol === Protocol.FASTCGI ? createErrorStream((text) => context.transport.writeError(this.token, text)) : errorStream;
    this.headRequest = record.get(KeyId.REQUEST_METHOD) === 'HEAD';
    this.response = new ResponseState(this);
  }

  get multiprocess(): boolean {
    return this.context.multiprocess;
  }

  // ---- EnvironSource -------------------------------------------------------------

  input(): BodyInput {
    if (!this.bodyInput) {
      // Made on first use: most requests (a GET) have no body and never ask.
      const held = (this.record.flags & RequestFlags.AWAITING_CONTINUE) !== 0;
      this.bodyInput = new BodyInput(
        this.context.inputHighWater,
        (paused) => {
          if (!paused) this.bodyAskedFor = true;
          this.context.transport.pause(this.token, paused);
        },
        held,
      );
      if (this.record.flags & RequestFlags.BODY_COMPLETE || this.inputOver) this.bodyInput.end();
    }
    return this.bodyInput;
  }

  signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.abortReason) this.controller.abort(this.abortReason);
    }
    return this.controller.signal;
  }

  onClientGone(listener: () => void): void {
    if (this.aborted) queueMicrotask(listener);
    else if (!this.finished) (this.goneListeners ??= []).push(listener);
  }

  varNames(): string[] {
    return this.record.names();
  }

  upgrade(): RawConnection | undefined {
    if ((this.record.flags & RequestFlags.UPGRADE) === 0 || this.response.headSent || this.finished) return undefined;
    if (!this.context.transport.upgrade(this.token)) return undefined;
    this.raw = true;
    this.response.headSent = true;
    this.becomeTunnel();
    return {
      write: (chunk) => this.rawWrite(chunk),
      onDrain: (listener) => this.rawOnDrain(listener),
      end: () => this.finished || this.transmit(null, null, true),
      destroy: () => this.reset(),
    };
  }

  sendHead(): void {
    if (this.response.head && !this.response.headSent && !this.finished) this.transmit(this.commitHead(), null, false);
  }

  // ---- events from the connection ---------------------------------------------------

  onBody(chunk: Buffer): void {
    this.inputBytes += chunk.length;
    this.input().push(chunk);
  }

  onBodyEnd(): void {
    this.input().end();
  }

  onDrain(): void {
    const wake = this.wakeOnDrain;
    this.wakeOnDrain = null;
    wake?.();
  }

  /** What the request waits on while no JavaScript of it runs (the slowlog's words). */
  waitingOn(): string {
    if (this.wakeOnDrain) return `the client to read what was sent (backpressure, ${this.bodyBytes} body bytes so far)`;
    if (this.status !== 0) return `the app's next body piece (status ${this.status} sent, ${this.bodyBytes} body bytes so far)`;
    return `the app's answer (no response begun; ${this.inputBytes} request body bytes received)`;
  }

  /** The connection ended before the response did. Fires the abort signal, once. */
  onAbort(truncated: boolean): void {
    if (this.aborted || this.finished) return;
    this.aborted = true;
    this.abortReason = abortError(truncated);
    this.bodyInput?.fail(this.abortReason);
    this.controller?.abort(this.abortReason);
    for (const listener of this.goneListeners ?? []) {
      try {
        listener();
      } catch (error) {
        log.error(`${this.describeRequest()}: error in a client-gone listener: ${describeError(error)}`);
      }
    }
    this.onDrain();
    this.finish();
  }

  // ---- running the app ----------------------------------------------------------------

  /** Calls the app (or `app`, an answer the server gives itself: the health path). */
  run(app: App = this.context.app): void {
    const buffering = this.context.postBuffering ?? 0;
    if (buffering > 0 && (this.record.flags & (RequestFlags.BODY_COMPLETE | RequestFlags.UPGRADE)) === 0) {
      // --post-buffering: the body's first bytes (all of it, if shorter) are read first,
      // as uWSGI does; a request cut meanwhile never reaches the app.
      void this.input()
        .prefetch(Math.min(buffering, this.record.contentLength > 0 ? this.record.contentLength : buffering))
        .then(() => this.finished || this.callApp(app));
      return;
    }
    this.callApp(app);
  }

  private callApp(app: App): void {
    let result: Body | Promise<Body>;
    try {
      result = app(createEnviron(this), this.startResponse);
    } catch (error) {
      this.fail(error);
      return;
    }
    if (isThenable(result)) {
      result.then(
        (body) => this.consume(body),
        (error: unknown) => this.fail(error),
      );
    } else {
      this.consume(result);
    }
  }

  readonly startResponse: StartResponse = (status, headers, excInfo) => {
    const head = this.response.start(status, headers, excInfo);
    if (head.code === 101 && this.record.flags & RequestFlags.UPGRADE && !this.response.headSent) {
      // Switching protocols cannot be taken back, and the client says nothing in the new
      // protocol before it has the 101: it goes out now, not with the first chunk.
      this.transmit(this.commitHead(), null, false);
    }
    return this.write;
  };

  /** WSGI's `write(chunk)`: sent before anything the body yields. */
  readonly write: Write = (chunk) => this.send(chunk);

  private consume(body: Body): void {
    if (this.finished || this.raw) {
      // After upgrade() the connection is the app's: what the app returned is not sent.
      this.response.holdBody(body);
      this.response.closeBody();
      return;
    }
    if (typeof body === 'string' || body instanceof Uint8Array) body = [body];
    this.response.holdBody(body);
    if (body instanceof FileBody) {
      void this.sendWholeFile(body);
      return;
    }
    try {
      if (Array.isArray(body)) {
        // The whole body is in hand: send it with its Content-Length.
        this.knownLength = knownLength(body);
        const chunks = body as Chunk[];
        for (let i = 0; i < chunks.length && !this.finished; i++) {
          this.switches++;
          // The last chunk carries the end: a one-chunk response is one native write.
          this.send(chunks[i]!, i === chunks.length - 1);
        }
        this.end();
        this.response.closeBody();
        return;
      }
      if (typeof (body as Iterable<Chunk>)[Symbol.iterator] === 'function') {
        const iterator = (body as Iterable<Chunk>)[Symbol.iterator]();
        // Synchronous fast path; falls back to the async pump at the first full queue.
        for (;;) {
          const step = iterator.next();
          if (step.done) break;
          this.switches++;
          let more: boolean;
          try {
            more = this.send(step.value);
          } catch (error) {
            // The app yielded something unsendable: stop as for-of would, with return().
            this.fail(error);
            void this.stopEarly(iterator);
            this.response.closeBody();
            return;
          }
          if (!more || this.finished) {
            void this.pump(iterator);
            return;
          }
        }
        this.end();
        this.response.closeBody();
        return;
      }
      if (typeof (body as AsyncIterable<Chunk>)[Symbol.asyncIterator] === 'function') {
        void this.pump((body as AsyncIterable<Chunk>)[Symbol.asyncIterator]());
        return;
      }
      throw new TypeError('the app must return an iterable or async iterable of chunks');
    } catch (error) {
      this.fail(error);
      this.response.closeBody();
    }
  }

  /** Iterates until the end, waiting for DRAIN whenever the connection's queue is full. */
  private async pump(iterator: Iterator<Chunk> | AsyncIterator<Chunk>): Promise<void> {
    let early = false;
    try {
      for (;;) {
        if (!this.finished && this.queuedOver) await this.drained();
        if (this.finished) {
          early = true;
          break;
        }
        const step = await iterator.next();
        if (step.done) break;
        this.switches++;
        try {
          // A file among the chunks: a Node ReadStream piped into `res` (node-response.ts).
          if ((step.value as unknown) instanceof FileBody) await this.sendFile(step.value as unknown as FileBody, false);
          else this.send(step.value);
        } catch (error) {
          this.fail(error);
          early = true;
          break;
        }
      }
      this.end();
    } catch (error) {
      // The iterator itself threw: it is finished, so no return().
      this.fail(error);
    }
    if (early) await this.stopEarly(iterator);
    this.response.closeBody();
  }

  /** The body is a file (`tsgi.file_wrapper`, a static file): sent whole, with its length. */
  private async sendWholeFile(file: FileBody): Promise<void> {
    this.switches++;
    try {
      await this.sendFile(file, true);
      this.end();
    } catch (error) {
      this.fail(error);
    }
    this.response.closeBody();
  }

  /**
   * Sends a file body: handed to the reactor, which sends it with sendfile(2), where it
   * can (the native one, HTTP or uwsgi); else read here in blocks under backpressure. A
   * path opened here gives the response its Content-Length when it is the whole body
   * (`whole`); a caller's descriptor does not (the pure reactor cannot tell where it
   * stands, and both reactors give the same answers).
   */
  private async sendFile(file: FileBody, whole: boolean): Promise<void> {
    try {
      await this.sendFileSpan(file, whole);
    } finally {
      // A file among other chunks is this exchange's to close (unless the reactor took it).
      if (!whole) await file.close();
    }
  }

  private async sendFileSpan(file: FileBody, whole: boolean): Promise<void> {
    this.response.started();
    const position = this.record.protocol === Protocol.FASTCGI ? undefined : this.context.filePosition;
    const span = await file.open(position);
    if (this.finished) return;
    const response = this.response;
    if (whole && file.ownsFile && !response.headSent) this.knownLength = span.length;
    const head = response.headSent ? null : this.commitHead();
    if (!response.bodyAllowed || span.length === 0) {
      if (head !== null) this.transmit(head, null, false);
      return;
    }
    const length = span.length < 0 ? -1 : response.takeLength(span.length);
    if (position !== undefined && length >= 0) {
      if (length > 0 && !this.transmitFile(head, file, span, length) && !this.finished) await this.drained();
      return;
    }
    if (head !== null) this.transmit(head, null, false);
    for await (const block of file.blocks({ fd: span.fd, offset: span.offset, length })) {
      if (this.finished) return;
      if (!this.transmit(null, block, false) && !this.finished) await this.drained();
    }
  }

  /** Hands `length` bytes of the file to the reactor (after the head, or with its chunk
   * framing). Returns `false` when the caller should wait for DRAIN. */
  private transmitFile(head: string | null, file: FileBody, span: FileSpan, length: number): boolean {
    if (head !== null) this.headGoesOut(head);
    this.bodyBytes += length;
    let before = head ?? '';
    if (this.chunked) {
      const frame = chunkFrame(length, this.chunkOpen, false);
      this.chunkOpen = frame.open;
      before += frame.before;
    }
    const queued = this.context.transport.sendFile(this.token, before === '' ? null : before, span.fd, span.offset, length, WriteEnd.MORE, file.ownsFile);
    if (queued >= 0 && file.ownsFile) file.handOver();
    return this.queuedAfter(queued, false);
  }

  /** Tells an iterator we stopped before its end (a generator's `finally` runs). */
  private async stopEarly(iterator: Iterator<Chunk> | AsyncIterator<Chunk>): Promise<void> {
    try {
      await iterator.return?.();
    } catch (error) {
      log.error(`error in the body's return() after the request ended: ${describeError(error)}`);
    }
  }

  private drained(): Promise<void> {
    return new Promise((resolve) => {
      this.wakeOnDrain = () => {
        this.queuedOver = false;
        resolve();
      };
    });
  }

  /** Sends one chunk (the head goes with the first non-empty one), ending the response
   * with it if `last` and nothing else is due. Returns `false` when the caller should wait
   * for DRAIN before producing more. */
  private send(chunk: Chunk, last = false): boolean {
    const response = this.response;
    if (this.finished && isChunk(chunk)) return false;
    if (!response.accepts(chunk)) return true;
    const head = response.headSent ? null : this.commitHead();
    if (!response.bodyAllowed) {
      // No body on the wire, but the head goes out now, as it would with one.
      if (head !== null) this.transmit(head, null, last);
      return true;
    }
    const piece = response.take(chunk);
    if (response.overflowed) {
      this.transmit(head, piece, true);
      return false;
    }
    return this.transmit(head, piece, last && response.lengthReached);
  }

  /** A raw write, after `upgrade()`: the bytes as they are, with backpressure. */
  private rawWrite(chunk: Uint8Array | string): boolean {
    if (this.finished) return false;
    // The log's status is the one the app's own head gives (a 101, or the refusal it wrote).
    if (this.status === 0) this.status = rawStatus(chunk);
    return this.transmit(null, chunk, false);
  }

  private rawOnDrain(listener: () => void): void {
    if (this.finished || !this.queuedOver) {
      queueMicrotask(listener);
      return;
    }
    this.wakeOnDrain = () => {
      this.queuedOver = false;
      listener();
    };
  }

  private transmit(head: string | null, body: Chunk | null, end: boolean): boolean {
    if (head !== null) this.headGoesOut(head);
    if (body !== null) this.bodyBytes += byteLength(body);
    const queued = this.chunked ? this.writeChunk(head, body, end) : this.context.transport.write(this.token, head, body, this.endWord(end));
    return this.queuedAfter(queued, end);
  }

  /** The app's head is being written: what the log and the stats read of it. */
  private headGoesOut(head: string): void {
    this.response.headSent = true;
    this.sentHead = this.response.head!;
    this.status = this.sentHead.code;
    this.headText = head;
  }

  /** After a write that left `queued` bytes (-1: the request is gone): whether the
   * caller may go on (`false`: ended, gone, or wait for DRAIN). */
  private queuedAfter(queued: number, end: boolean): boolean {
    if (queued < 0) {
      this.onAbort(false);
      return false;
    }
    if (end) {
      this.finish();
      return false;
    }
    if (queued > this.context.writeHighWater) {
      this.queuedOver = true;
      return false;
    }
    return true;
  }

  /** HTTP chunked: one piece of body with its chunk framing (two writes when it ends the body). */
  private writeChunk(head: string | null, body: Chunk | null, end: boolean): number {
    const length = body === null ? 0 : byteLength(body);
    const frame = chunkFrame(length, this.chunkOpen, end);
    this.chunkOpen = frame.open;
    const before = (head ?? '') + frame.before;
    if (length === 0) return this.context.transport.write(this.token, before + frame.after, null, this.endWord(end));
    const queued = this.context.transport.write(this.token, before, body, WriteEnd.MORE);
    return queued < 0 || !end ? queued : this.context.transport.write(this.token, frame.after, null, this.endWord(true));
  }

  /** The `end` word of a write: the last one says whether the connection stays open. */
  private endWord(end: boolean): WriteEndWord {
    if (!end) return WriteEnd.MORE;
    return this.keepAlive ? WriteEnd.KEEP_ALIVE : WriteEnd.CLOSE;
  }

  /** The body is complete: send what is still due and end the response. */
  private end(): void {
    if (this.finished) return;
    const shortfall = this.response.shortfall();
    if (!this.response.headSent) {
      if (this.knownLength < 0) this.knownLength = 0;
      this.transmit(this.commitHead(), null, true);
      return;
    }
    if (shortfall !== null) {
      log.error(`${this.describeRequest()}: ${shortfall}; connection reset`);
      this.reset();
      return;
    }
    this.transmit(null, null, true);
  }

  /** The app failed: a 500 if nothing was sent yet, else a reset (never a fake complete response). */
  private fail(error: unknown): void {
    if (this.finished) {
      if (!this.aborted) log.error(`${this.describeRequest()}: error after the response ended: ${describeError(error)}`);
      return;
    }
    log.error(`${this.describeRequest()}: app error: ${describeError(error)}`);
    const hint = wrongInterfaceHint(error);
    if (hint !== undefined && !hinted) {
      hinted = true;
      log.warn(hint);
    }
    this.failed = true;
    this.endWith(ERROR_HEAD, ERROR_BODY);
  }

  /**
   * Harakiri: the request ran longer than `seconds`. Its signal fires and its input fails
   * (the app should stop), its body is closed when the app lets go of it, and the client
   * gets a `504` if nothing was sent yet, else a reset. Returns whether the 504 went out.
   */
  expire(seconds: number): boolean {
    if (this.finished) return false;
    const answered = !this.response.headSent;
    this.aborted = true;
    this.abortReason = new TsgiError(ErrorCodes.HARAKIRI, `the request ran longer than --harakiri ${seconds} s`);
    this.bodyInput?.fail(this.abortReason);
    this.controller?.abort(this.abortReason);
    this.endWith(TIMEOUT_HEAD, TIMEOUT_BODY);
    this.onDrain();
    return answered;
  }

  /** Ends the response with a static one (`head`, `text`) if nothing was sent yet, else
   * by resetting the connection: never a fake complete response. */
  private endWith(head: CheckedHead, text: string): void {
    if (this.response.headSent) {
      this.reset();
      return;
    }
    const body = this.headRequest ? '' : text;
    const headText = this.frame(head, text.length);
    this.response.headSent = true;
    this.sentHead = head;
    this.status = head.code;
    this.headText = headText;
    this.bodyBytes += body.length;
    this.context.transport.write(this.token, headText, body, this.endWord(true));
    this.finish();
  }

  private becomeTunnel(): void {
    this.tunnel = true;
    this.context.tunneled(this);
  }

  /** Ends the response abnormally: the connection is reset (never a fake complete response). */
  private reset(): void {
    if (this.finished) return;
    this.context.transport.abort(this.token);
    this.finish();
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.context.done(this);
  }

  /** The app's head, going out now: the response is committed. An upgrade request
   * switches to a tunnel (101) or, answered otherwise, has no more input. */
  private commitHead(): string {
    const head = this.response.head!;
    if ((this.record.flags & RequestFlags.UPGRADE) !== 0) {
      if (head.code === 101) {
        if (!this.context.transport.upgrade(this.token))
          throw new TsgiError(ErrorCodes.INVALID_STATUS, '101 Switching Protocols, but the connection cannot switch');
        this.becomeTunnel();
      } else {
        this.inputOver = true;
        this.bodyInput?.end();
      }
    } else if (head.code === 101) {
      throw new TsgiError(
        ErrorCodes.INVALID_STATUS,
        '101 Switching Protocols answers an upgrade request only (HTTP/1.1 or uwsgi, with Connection: upgrade and Upgrade)',
      );
    }
    return this.frame(head, this.knownLength);
  }

  /** Serializes `head` (response-head.ts) and keeps what it decided: chunks or not, and
   * whether the connection stays open. */
  private frame(head: CheckedHead, knownLength: number): string {
    // A body the client holds back (Expect: 100-continue, never asked for) cannot be
    // skipped to reach a next request: the connection closes after this response.
    const bodyHeldBack = (this.record.flags & RequestFlags.AWAITING_CONTINUE) !== 0 && !this.bodyAskedFor;
    const framing = serializeHead(this.record, head, knownLength, this.headRequest, bodyHeldBack, this.context.addHeaders);
    this.chunked = framing.chunked;
    this.keepAlive = !framing.close;
    return framing.text;
  }

  /** The uwsgi packet's modifier1 that reached the app: 30 (PATH_INFO managed), else 0,
   * as uWSGI logs it for every protocol. */
  get modifier1(): number {
    return (this.record.flags & RequestFlags.MANAGE_PATH_INFO) !== 0 ? 30 : 0;
  }

  /** The head's header lines as uWSGI's log counts them: the app's own (see appHeadSize). */
  get headerCount(): number {
    return this.sentHead === null ? 0 : this.sentHead.headers.length + (this.context.addHeaders?.length ?? 0);
  }

  /** The head's bytes as uWSGI's log counts them (appHeadSize); 0 before a head went out. */
  get headerBytes(): number {
    return this.sentHead === null ? 0 : appHeadSize(this.record, this.sentHead, this.context.addHeaders);
  }

  /** 1 when the request ended before its response did (the client went away, a write
   * failed) after the head went out, else 0: the log's %(werr). */
  get writeErrors(): number {
    return this.aborted && this.sentHead !== null ? 1 : 0;
  }

  /** 1 when it ended so before any head went out (the request or its body was cut), else
   * 0: the log's %(rerr). */
  get readErrors(): number {
    return this.aborted && this.sentHead === null ? 1 : 0;
  }

  /** `METHOD URI`, for log lines. */
  describeRequest(): string {
    const method = this.record.get(KeyId.REQUEST_METHOD) ?? '?';
    const uri = this.record.get(KeyId.REQUEST_URI) ?? this.record.get(KeyId.PATH_INFO) ?? '?';
    return `${method} ${uri}`;
  }
}

/** The status code a raw response starts with (`HTTP/1.1 101 ...`), or 0. */
function rawStatus(chunk: Uint8Array | string): number {
  const start = typeof chunk === 'string' ? chunk.slice(0, 12) : Buffer.from(chunk.buffer, chunk.byteOffset, Math.min(chunk.byteLength, 12)).toString('latin1');
  const match = RAW_STATUS.exec(start);
  return match ? Number(match[1]) : 0;
}
