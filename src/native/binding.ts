/**
 * The native binding's contract (crates/tsgi-napi): what its exports look like from
 * TypeScript, as tsgi uses them. The pure-TypeScript reactor (src/pure/) implements the
 * same `NativeReactor`.
 *
 * napi-rs writes the binding's own declarations into native/index.d.ts from the Rust (the
 * build keeps it); __test__/unit/binding-contract.test.ts holds this file to it: the same
 * reactor methods and getters with the same parameters, the same option fields, the same
 * exported functions. The options are documented there, each with its default, from
 * crates/tsgi-napi/src/options.rs; the server fills every one from the option table
 * (src/server/reactor-options.ts).
 */
import type { WriteEndWord } from './batch.js';

/** The wire protocols a listener speaks. */
export type WireProtocol = 'uwsgi' | 'fastcgi' | 'http';

/** Options the native reactor enforces; a field left out keeps the binding's default. */
export interface NativeReactorOptions {
  bufferSize?: number;
  maxVars?: number;
  limitPost?: number;
  socketTimeoutMs?: number;
  keepaliveTimeoutMs?: number;
  requestTimeoutMs?: number;
  tunnelTimeoutMs?: number;
  writeHighWater?: number;
  lingerMs?: number;
  httpMaxRequestLine?: number;
  httpMaxHead?: number;
  httpMaxHeaders?: number;
  httpMaxChunkExtension?: number;
  maxConns?: number;
  fastcgiMaxReqs?: number;
  fastcgiMultiplex?: boolean;
  deferAccept?: boolean;
  exclusiveAccept?: boolean;
}

/** Every option set: what a server gives its reactor (src/server/reactor-options.ts). */
export type ReactorOptions = Required<NativeReactorOptions>;

/** The reactor class of the binding. */
export interface NativeReactor {
  listen(address: string, protocol: WireProtocol, backlog: number, mode: number): string;
  /** Serves a socket bound by the master, listening on it with `backlog` if given. */
  adopt(fd: number, protocol: WireProtocol, backlog?: number): void;
  /** Queues head and/or body; `end` says whether the response goes on or is complete, and
   * whether the connection stays open after it. Returns bytes queued, -1 if the request is gone. */
  write(token: number, head: string | null, body: Uint8Array | string | null, end: WriteEndWord): number;
  /** Queues head, then `length` bytes of the open file `fd` from `offset`, sent with
   * sendfile(2); the reactor takes `fd` if `owned` and the result is >= 0. -1 if the
   * request is gone, -2 if it cannot send files (FastCGI; the pure reactor): nothing was
   * queued, and the caller writes the file's bytes itself. */
  sendFile(token: number, head: string | null, fd: number, offset: number, length: number, end: WriteEndWord, owned: boolean): number;
  writeError(token: number, text: Uint8Array | string): boolean;
  upgrade(token: number): boolean;
  pause(token: number, paused: boolean): void;
  abort(token: number): void;
  /** A graceful stop: no new connections, kept-alive idle ones closed, the others closed after their current response. */
  stopListening(): void;
  close(): void;
  readonly connections: number;
  readonly accepted: number;
  /** Bytes this process sent with sendfile(2) (0 on the pure reactor, which has none). */
  readonly sentFileBytes: number;
}

/** What the binding exports. */
export interface NativeBinding {
  Reactor: new (onBatch: (words: number) => void, arena: Uint8Array, index: Uint32Array, options?: NativeReactorOptions) => NativeReactor;
  /** The options a reactor given none gets: the binding's defaults, every field set. */
  defaultOptions(): Required<NativeReactorOptions>;
  knownKeys(): string[];
  /** Where the open file `fd` stands (lseek): what `tsgi.file_wrapper` sends a caller's descriptor from. */
  filePosition(fd: number): number;
  batchLayout(): Record<string, number>;
  /** Worker processes: the kernel sends `signal` when the parent (the master) dies. */
  setParentDeathSignal(signal: number): void;
  /** Worker processes: `length` bytes of the file `fd` mapped shared (the scoreboard). */
  mapShared(fd: number, length: number): Buffer;
  /** The master: `state` in one datagram to systemd's `$NOTIFY_SOCKET` (`@` abstract). */
  notify(path: string, state: string): void;
}
