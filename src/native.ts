/**
 * Loads the native binding and says which copy won, and why the others did not.
 *
 * Order: `TSGI_NATIVE_PATH` (an explicit file), then the build in the package's `native/`
 * folder. `TSGI_NATIVE=0` skips them all.
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

/** Options the native reactor enforces (see crates/tsgi-napi). */
export interface NativeReactorOptions {
  bufferSize?: number;
  maxVars?: number;
  limitPost?: number;
  socketTimeoutMs?: number;
  keepaliveTimeoutMs?: number;
  requestTimeoutMs?: number;
  writeHighWater?: number;
  lingerMs?: number;
  httpMaxRequestLine?: number;
  httpMaxHead?: number;
  httpMaxHeaders?: number;
  httpMaxChunkExtension?: number;
  maxConns?: number;
  fastcgiMaxReqs?: number;
  fastcgiMultiplex?: boolean;
}

/** The wire protocols a listener speaks. */
export type WireProtocol = 'uwsgi' | 'fastcgi' | 'http';

/** The reactor class of the binding. */
export interface NativeReactor {
  listen(address: string, protocol: WireProtocol, backlog: number, mode: number): string;
  /** Serves a socket bound by the master, listening on it with `backlog` if given. */
  adopt(fd: number, protocol: WireProtocol, backlog?: number): void;
  write(token: number, head: string | null, body: Uint8Array | string | null, end: boolean): number;
  writeError(token: number, text: Uint8Array | string): boolean;
  closeAfter(token: number): void;
  upgrade(token: number): boolean;
  pause(token: number, paused: boolean): void;
  abort(token: number): void;
  /** A graceful stop: no new connections, kept-alive idle ones closed, the others closed after their current response. */
  stopListening(): void;
  close(): void;
  readonly connections: number;
  readonly accepted: number;
}

/** What the binding exports. */
export interface NativeBinding {
  Reactor: new (
    onBatch: (words: number) => void,
    arena: Uint8Array,
    index: Uint32Array,
    options?: NativeReactorOptions,
  ) => NativeReactor;
  knownKeys(): string[];
  batchLayout(): Record<string, number>;
  /** Worker processes: the kernel sends `signal` when the parent (the master) dies. Native only. */
  setParentDeathSignal?(signal: number): void;
  /** Worker processes: `length` bytes of the file `fd` mapped shared (the scoreboard). Native only. */
  mapShared?(fd: number, length: number): Buffer;
}

/** The outcome of loading. */
export interface NativeLoad {
  binding: NativeBinding | null;
  /** Which copy loaded: `env` (TSGI_NATIVE_PATH), `local` (the package's native/ build), or `none`. */
  kind: 'env' | 'local' | 'none';
  /** The file that loaded. */
  file?: string;
  /** Why each candidate failed, in order. */
  failures: string[];
}

const require = createRequire(import.meta.url);
const packageRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

function platformTriple(): string {
  const abi = process.platform === 'linux' ? '-gnu' : '';
  return `${process.platform}-${process.arch}${abi}`;
}

let cached: NativeLoad | undefined;

/** Loads the binding once and remembers the outcome. */
export function loadNative(): NativeLoad {
  if (cached) return cached;
  const failures: string[] = [];
  if (process.env.TSGI_NATIVE === '0') {
    failures.push('TSGI_NATIVE=0: native binding disabled');
    return (cached = { binding: null, kind: 'none', failures });
  }
  const candidates: Array<[NativeLoad['kind'], string | undefined]> = [
    ['env', process.env.TSGI_NATIVE_PATH],
    ['local', path.join(packageRoot, 'native', `tsgi.${platformTriple()}.node`)],
  ];
  for (const [kind, file] of candidates) {
    if (!file) continue;
    try {
      const binding = require(file) as NativeBinding;
      return (cached = { binding, kind, file, failures });
    } catch (error) {
      failures.push(`${kind} ${file}: ${(error as Error).message.split('\n')[0]}`);
    }
  }
  return (cached = { binding: null, kind: 'none', failures });
}
