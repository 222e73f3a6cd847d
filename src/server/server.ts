/**
 * The worker side: a native reactor, the batches it delivers, and one Exchange per
 * request.
 */
import { createRequire } from 'node:module';
import type { App, Headers } from '../app/contract.js';
import { ErrorCodes, TsgiError } from '../errors.js';
import { Exchange, type ExchangeContext, type Transport } from './exchange.js';
import { InFlight } from './in-flight.js';
import { healthAnswer } from './health.js';
import { StaticFiles, type StaticFilesOptions } from './static-files.js';
import type { NativeReactor, WireProtocol } from '../native/binding.js';
import { loadNative } from '../native/load.js';
import type { PureReactor } from '../pure/reactor.js';
import { AbortReason, decodeBatch, type BatchSink } from '../native/batch.js';
import type { RequestRecord } from '../native/request.js';
import { log } from '../log.js';
import { reactorOptions, WRITE_HIGH_WATER } from './reactor-options.js';

let pureReactor: typeof PureReactor | undefined;

/**
 * Loads the reactor `new Server()` will use, ahead: the binding, or where none loads, the
 * pure-TypeScript reactor. That one is loaded only then: its twenty-odd modules (src/pure/,
 * src/codec/) are start-up time every worker would otherwise pay for nothing. Without
 * this, `new Server()` requires it itself, synchronously (require() of an ES module, Node
 * 20.19+), which cannot load the TypeScript sources (under a test runner).
 */
export async function prepareReactor(): Promise<void> {
  if (!loadNative().binding) pureReactor ??= (await import('../pure/reactor.js')).PureReactor;
}

function requirePureReactor(): typeof PureReactor {
  return (pureReactor ??= (createRequire(import.meta.url)('../pure/reactor.js') as typeof import('../pure/reactor.js')).PureReactor);
}

/** Limits and timeouts of a server; the CLI fills them from options. Each one left out
 * takes its option's default (src/server/reactor-options.ts maps them). */
export interface ServerOptions {
  /** Largest uwsgi vars block, bytes (`--buffer-size`). */
  bufferSize?: number;
  /** Most vars in one request (`--max-vars`). */
  maxVars?: number;
  /** Largest request body, bytes; 0 = no limit (`--limit-post`). */
  limitPost?: number;
  /** Head, body-idle and write-stall timeout, seconds (`--socket-timeout`). */
  socketTimeout?: number;
  /** Whether several worker processes serve the app (`tsgi.multiprocess`). */
  multiprocess?: boolean;
  /** Headers every response gets after the app's (`--add-header`). */
  addHeaders?: Headers;
  /** The app is called once this many bytes of the body (or all of it) arrived (`--post-buffering`); 0: at once. */
  postBuffering?: number;
  /** Idle time between requests on a kept-alive HTTP connection, seconds (`--http-keepalive-timeout`). */
  keepaliveTimeout?: number;
  /** An HTTP request, head and body, must arrive whole within this many seconds of its first byte (`--http-request-timeout`). */
  requestTimeout?: number;
  /** A tunnel (a WebSocket after its upgrade) with no byte either way for this many seconds is closed; 0: never (`--tunnel-timeout`). */
  tunnelTimeout?: number;
  /** Longest HTTP request line, bytes (`--http-max-request-line`); over it: 414. */
  httpMaxRequestLine?: number;
  /** Largest HTTP head (and trailer section), bytes (`--http-max-head`); over it: 431. */
  httpMaxHead?: number;
  /** Most HTTP header fields (`--http-max-headers`); over it: 431. */
  httpMaxHeaders?: number;
  /** Most chunk-extension bytes on one chunk-size line (`--http-max-chunk-extension`); over it: 413. */
  httpMaxChunkExtension?: number;
  /** Most open connections; at it, accepting pauses until one closes (`--max-conns`). */
  maxConns?: number;
  /** Most requests at once on one FastCGI connection (`--fastcgi-max-reqs`). */
  fastcgiMaxReqs?: number;
  /** Whether a FastCGI connection may carry several requests at once (`--fastcgi-multiplex`). */
  fastcgiMultiplex?: boolean;
  /** TCP listeners accept a connection once its first bytes are there, with the native
   * reactor only, as Node cannot set TCP_DEFER_ACCEPT (`--defer-accept`). */
  deferAccept?: boolean;
  /** A connection on a shared socket wakes one idle worker, not all, with the native
   * reactor only (`--exclusive-accept`). */
  exclusiveAccept?: boolean;
  /** A path every listener answers itself, never calling the app: 200 while accepting,
   * 503 once draining (`--health-path`). */
  healthPath?: string;
  /** Files the worker serves itself before the app, with `--static-index` and
   * `--static-expires` (`--static-map`). */
  staticFiles?: StaticFilesOptions;
  /** File bodies go to the native reactor's sendfile(2) (default); false reads them in
   * JavaScript (`--disable-sendfile`). */
  sendfile?: boolean;
}

/** Watches requests come and go: the worker's request log, stats and harakiri. */
export interface RequestObserver {
  /** Before the app is called. */
  started(exchange: Exchange): void;
  /** The app's first call returned (the rest of the request, if any, is asynchronous). */
  returned(exchange: Exchange): void;
  /** The exchange is over: its response ended, or it was aborted. */
  finished(exchange: Exchange): void;
  /** The connection became a tunnel (a WebSocket): the request stays in flight until it closes. */
  tunneled(exchange: Exchange): void;
}

/** Options of one listening socket. */
export interface ListenOptions {
  /** Unix socket file mode (`--chmod-socket`), e.g. 0o660. */
  mode?: number;
  /** Listen queue length (`--listen`). */
  backlog?: number;
  /** The wire protocol: `uwsgi` (default), `fastcgi` or `http`. */
  protocol?: WireProtocol;
}

const ARENA_BYTES = 4 * 1024 * 1024;
const INDEX_WORDS = 64 * 1024;
const INPUT_HIGH_WATER = 256 * 1024;

export class Server implements BatchSink, ExchangeContext {
  readonly app: App;
  readonly transport: Transport;
  readonly multiprocess: boolean;
  readonly addHeaders: Headers;
  readonly postBuffering: number;
  readonly writeHighWater = WRITE_HIGH_WATER;
  readonly inputHighWater = INPUT_HIGH_WATER;
  readonly filePosition?: (fd: number) => number;
  private readonly reactor: NativeReactor;
  private readonly arena: Buffer;
  private readonly index: Uint32Array;
  private readonly exchanges = new InFlight();
  /** Records delivered in the current batch, to detach if their request outlives it. */
  private readonly fresh: RequestRecord[] = [];
  private closed = false;
  private readonly healthPath: string | undefined;
  private readonly staticFiles: StaticFiles | null;
  private isDraining = false;
  /** Set by the worker process; a server used from code has none. */
  observer: RequestObserver | null = null;

  constructor(app: App, options: ServerOptions = {}) {
    // The native reactor when a binding loads, else the pure-TypeScript one: same interface,
    // same batches, same behaviour (the test matrix runs every protocol test on both).
    const binding = loadNative().binding;
    const Reactor = binding?.Reactor ?? requirePureReactor();
    // The native reactor sends files with sendfile(2); the pure one has them read here.
    if (binding && options.sendfile !== false) this.filePosition = binding.filePosition;
    this.staticFiles = options.staticFiles && options.staticFiles.maps.length > 0 ? new StaticFiles(options.staticFiles) : null;
    this.app = app;
    this.multiprocess = options.multiprocess ?? false;
    this.healthPath = options.healthPath;
    this.addHeaders = options.addHeaders ?? [];
    this.postBuffering = options.postBuffering ?? 0;
    this.arena = Buffer.alloc(ARENA_BYTES);
    this.index = new Uint32Array(INDEX_WORDS);
    this.reactor = new Reactor((words) => this.onBatch(words), this.arena, this.index, reactorOptions(options));
    this.transport = this.reactor;
  }

  /** Binds `address` (HOST:PORT, :PORT or a socket path); returns the bound address. */
  listen(address: string, options: ListenOptions = {}): string {
    try {
      return this.reactor.listen(address, options.protocol ?? 'uwsgi', options.backlog ?? 1024, options.mode ?? 0o660);
    } catch (error) {
      throw new TsgiError(ErrorCodes.LISTEN, `${address}: ${(error as Error).message}`, { cause: error });
    }
  }

  /** Serves a socket bound by another process (the master), listening on it with
   * `backlog` first (the master binds without listening). */
  adopt(fd: number, protocol: WireProtocol, backlog?: number): void {
    try {
      this.reactor.adopt(fd, protocol, backlog);
    } catch (error) {
      throw new TsgiError(ErrorCodes.LISTEN, `fd ${fd}: ${(error as Error).message}`, { cause: error });
    }
  }

  /** The requests being served, in no particular order. */
  inFlight(): IterableIterator<Exchange> {
    return this.exchanges.values();
  }

  /** Open connections. */
  get connections(): number {
    return this.reactor.connections;
  }

  /** Connections accepted since the server started. */
  get acceptedConnections(): number {
    return this.reactor.accepted;
  }

  /** Bytes this process sent with sendfile(2) (the native reactor; 0 on the pure one). */
  get sentFileBytes(): number {
    return this.reactor.sentFileBytes;
  }

  /** Requests being served. */
  get activeRequests(): number {
    return this.exchanges.size;
  }

  /**
   * Graceful shutdown: stops accepting at once, lets the requests in flight finish (and
   * their responses reach the peer) for up to `graceMs`, then closes what is left (those
   * requests are aborted). Resolves with the number of requests that had to be aborted.
   */
  async shutdown(graceMs: number): Promise<number> {
    if (this.closed) return 0;
    await this.windDown(graceMs);
    const left = this.exchanges.size;
    this.close();
    return left;
  }

  /** Says it is going away (health answers 503) while it goes on accepting and serving
   * (`--shutdown-delay`); a stop follows. */
  startDraining(): void {
    this.isDraining = true;
  }

  /** From the first moment of a drain (startDraining(), windDown()): health answers 503. */
  get draining(): boolean {
    return this.isDraining;
  }

  /** The first half of `shutdown`: stops accepting and waits up to `graceMs` for the
   * requests in flight, tunnels included, to end; closes nothing. */
  async windDown(graceMs: number): Promise<void> {
    this.startDraining();
    this.reactor.stopListening();
    const deadline = Date.now() + graceMs;
    while ((this.exchanges.size > 0 || this.reactor.connections > 0) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /** Of the requests being served, the open tunnels (WebSockets and other upgrades). */
  get openTunnels(): number {
    let tunnels = 0;
    for (const exchange of this.exchanges.values()) if (exchange.tunnel) tunnels++;
    return tunnels;
  }

  /** Stops listening and closes every connection; requests still running are aborted
   * (their signal fires, their input fails, their body is closed). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.reactor.close();
    for (const exchange of [...this.exchanges.values()]) exchange.onAbort(false);
  }

  done(exchange: Exchange): void {
    this.exchanges.delete(exchange.token);
    this.observer?.finished(exchange);
  }

  tunneled(exchange: Exchange): void {
    this.observer?.tunneled(exchange);
  }

  private onBatch(words: number): void {
    decodeBatch(words, this.arena, this.index, this);
    // The next batch overwrites the shared buffers. What still runs reads its vars later,
    // and an app that has answered may still read its environ (in a timer, a log line after
    // the response): every record gets its own copy, so no read ever finds another
    // request's bytes.
    for (const record of this.fresh) record.detach();
    this.fresh.length = 0;
  }

  // ---- BatchSink ---------------------------------------------------------------------

  request(record: RequestRecord): void {
    const exchange = new Exchange(record, this);
    this.exchanges.add(exchange);
    this.fresh.push(record);
    // The health path and static files are answered here, for every protocol and both reactors.
    const app = (this.healthPath === undefined ? undefined : healthAnswer(this.healthPath, record, this.draining)) ?? this.staticFiles?.answer(record);
    const observer = this.observer;
    if (observer) {
      observer.started(exchange);
      exchange.run(app);
      observer.returned(exchange);
    } else {
      exchange.run(app);
    }
  }

  body(token: number, chunk: Buffer): void {
    this.exchanges.get(token)?.onBody(chunk);
  }

  bodyEnd(token: number): void {
    this.exchanges.get(token)?.onBodyEnd();
  }

  abort(token: number, reason: number): void {
    this.exchanges.get(token)?.onAbort(reason === AbortReason.BODY_TRUNCATED);
  }

  drain(token: number): void {
    this.exchanges.get(token)?.onDrain();
  }

  log(level: number, text: string): void {
    if (level >= 2) log.error(text);
    else log.warn(text);
  }
}
