/**
 * The environ: a mapping that looks like a plain object of strings, made lazily.
 *
 * Building 20 strings per request costs microseconds; most apps read three. So the
 * environ is a Proxy over an empty prototype-free object: a key becomes a string (and an
 * own property) the first time it is read, enumerating materialises everything, and the
 * app may set and delete keys as on any object. A var named `__proto__` is plain data.
 */
import type { Environ } from '../app/contract.js';
import { Protocol, RequestFlags, type RequestRecord } from '../native/request.js';
import { KeyId } from '../codec/keys.js';

/** Per-request values the server supplies for the `tsgi.*` keys. */
export interface EnvironSource {
  readonly record: RequestRecord;
  readonly multiprocess: boolean;
  input(): unknown;
  signal(): AbortSignal;
  /** See ServerHooks. */
  onClientGone(listener: () => void): void;
  sendHead(): void;
  varNames(): string[];
  upgrade(): RawConnection | undefined;
  errors: unknown;
  fileWrapper: unknown;
}

const VERSION = Object.freeze([1, 0] as const);

/**
 * `environ[SERVER_HOOKS]` is the server's side of the request, for the adapters
 * (src/adapters/) to do what Node's and fetch's objects promise but TSGI has no words for.
 * Absent from environs made elsewhere: the adapters then do without (or fall back to
 * `tsgi.signal`).
 */
export const SERVER_HOOKS: unique symbol = Symbol('tsgi.serverHooks');

export interface ServerHooks {
  /** Calls `listener` once if the client goes away before the response ends: what
   * `tsgi.signal` says, without an AbortController and listener (microseconds a request). */
  onClientGone(listener: () => void): void;
  /** Sends the head now, before any body (Node's `res.flushHeaders()`), if startResponse
   * was called and nothing has gone out yet. */
  sendHead(): void;
  /** The names of the vars the request came with, in their order: what enumerating the
   * environ would list of them, without making every `tsgi.*` value (an AbortController,
   * the input stream) as enumerating does. */
  varNames(): string[];
  /**
   * Takes the connection over, raw, for an upgrade request nothing was sent for yet (a
   * WebSocket handshake that Node's `'upgrade'` event hands to an app such as `ws`): from
   * now on what is written goes out as it is, the app's own `101` head included, and
   * what the client sends arrives in `tsgi.input`, which ends when the client closes its
   * side. The request stays in flight until the connection ends. Undefined where the
   * connection cannot switch: not an upgrade request (FastCGI never carries one), or a
   * response already begun.
   */
  upgrade(): RawConnection | undefined;
}

/** A connection taken over by the app after an upgrade (`ServerHooks.upgrade`). */
export interface RawConnection {
  /** Sends bytes as they are; false once the queue is over its high-water mark: wait for
   * `onDrain` before writing more. False too once the connection is gone. */
  write(chunk: Uint8Array | string): boolean;
  /** Calls `listener` once, when the queue drains after a write returned false (or the
   * connection went away). */
  onDrain(listener: () => void): void;
  /** Our side is done: the connection closes once what is queued is sent. */
  end(): void;
  /** Closes the connection at once (a reset), dropping what is queued. */
  destroy(): void;
}

/** The server's hooks of `environ`'s request, if it came through tsgi's server. */
export function serverHooks(environ: Environ): ServerHooks | undefined {
  return (environ as unknown as Record<symbol, ServerHooks | undefined>)[SERVER_HOOKS];
}

/** Calls `listener` once if the client of `environ`'s request goes away before its response ends. */
export function onClientGone(environ: Environ, listener: () => void): void {
  const hooks = serverHooks(environ);
  if (hooks) hooks.onClientGone(listener);
  else environ['tsgi.signal'].addEventListener('abort', listener, { once: true });
}

/** The keys every environ has even when the proxy did not send them (PEP 3333 §environ). */
const DERIVED = ['SCRIPT_NAME', 'PATH_INFO', 'QUERY_STRING', 'SERVER_NAME', 'SERVER_PORT', 'SERVER_PROTOCOL'];
const TSGI_KEYS = [
  'tsgi.version',
  'tsgi.url_scheme',
  'tsgi.input',
  'tsgi.errors',
  'tsgi.multithread',
  'tsgi.multiprocess',
  'tsgi.run_once',
  'tsgi.signal',
  'tsgi.file_wrapper',
];

/** The Proxy handler: one per request, holding the request and what was materialised. */
class LazyEnviron implements ProxyHandler<Record<string, unknown>> {
  /** Keys looked up and found absent, and keys the app deleted or set, so that a deleted
   * key stays deleted. Made on first use: most requests never need it. */
  private settledKeys: Set<string> | null = null;
  private complete = false;

  constructor(private readonly source: EnvironSource) {}

  private settled(): Set<string> {
    return (this.settledKeys ??= new Set());
  }

  get(target: Record<string, unknown>, key: string | symbol): unknown {
    if (typeof key === 'string') this.settle(target, key);
    else if (key === SERVER_HOOKS) return this.source;
    return target[key as string];
  }

  has(target: Record<string, unknown>, key: string | symbol): boolean {
    if (typeof key === 'string') this.settle(target, key);
    return key in target;
  }

  set(target: Record<string, unknown>, key: string | symbol, value: unknown): boolean {
    if (typeof key === 'string') this.settled().add(key);
    return Reflect.set(target, key, value);
  }

  deleteProperty(target: Record<string, unknown>, key: string | symbol): boolean {
    if (typeof key === 'string') this.settled().add(key);
    return Reflect.deleteProperty(target, key);
  }

  defineProperty(target: Record<string, unknown>, key: string | symbol, descriptor: PropertyDescriptor): boolean {
    if (typeof key === 'string') this.settled().add(key);
    return Reflect.defineProperty(target, key, descriptor);
  }

  getOwnPropertyDescriptor(target: Record<string, unknown>, key: string | symbol): PropertyDescriptor | undefined {
    if (typeof key === 'string') this.settle(target, key);
    return Reflect.getOwnPropertyDescriptor(target, key);
  }

  ownKeys(target: Record<string, unknown>): ArrayLike<string | symbol> {
    if (!this.complete) {
      this.complete = true;
      for (const key of this.source.record.names()) this.settle(target, key);
      for (const key of DERIVED) this.settle(target, key);
      for (const key of TSGI_KEYS) this.settle(target, key);
    }
    return Reflect.ownKeys(target);
  }

  /** Makes `key` an own property of `target` if the request has it and it was never
   * settled. A key in `target` is settled by being there; only the keys found absent (or
   * deleted, or defined by the app) go in the set, so reading the keys a request has costs
   * no set operation. */
  private settle(target: Record<string, unknown>, key: string): void {
    if (key in target || this.settledKeys?.has(key)) return;
    const value = this.compute(key);
    if (value !== undefined) target[key] = value;
    else this.settled().add(key);
  }

  private compute(key: string): unknown {
    const { record } = this.source;
    if (key.startsWith('tsgi.')) return this.extension(key);
    switch (key) {
      case 'SCRIPT_NAME':
        return scriptName(record);
      case 'PATH_INFO':
        return pathInfo(record);
      case 'QUERY_STRING':
        return record.get(KeyId.QUERY_STRING) ?? '';
      case 'SERVER_PROTOCOL':
        return record.get(KeyId.SERVER_PROTOCOL) || 'HTTP/1.0';
      case 'SERVER_NAME':
        return record.get(KeyId.SERVER_NAME) || hostName(record) || 'localhost';
      case 'SERVER_PORT':
        return record.get(KeyId.SERVER_PORT) || (urlScheme(record) === 'https' ? '443' : '80');
      default:
        return record.lookup(key);
    }
  }

  private extension(key: string): unknown {
    const source = this.source;
    switch (key) {
      case 'tsgi.version':
        return VERSION;
      case 'tsgi.url_scheme':
        return urlScheme(source.record);
      case 'tsgi.input':
        return source.input();
      case 'tsgi.errors':
        return source.errors;
      case 'tsgi.multithread':
        return false;
      case 'tsgi.multiprocess':
        return source.multiprocess;
      case 'tsgi.run_once':
        return false;
      case 'tsgi.signal':
        return source.signal();
      case 'tsgi.file_wrapper':
        return source.fileWrapper;
      default:
        return undefined;
    }
  }
}

/** The environ of one request. */
export function createEnviron(source: EnvironSource): Environ {
  return new Proxy(Object.create(null) as Record<string, unknown>, new LazyEnviron(source)) as Environ;
}

/** `https` if the proxy says so (REQUEST_SCHEME or HTTPS=on), else `http`. */
export function urlScheme(record: RequestRecord): 'http' | 'https' {
  const scheme = record.get(KeyId.REQUEST_SCHEME);
  if (scheme !== undefined) return scheme.toLowerCase() === 'https' ? 'https' : 'http';
  const https = record.get(KeyId.HTTPS)?.toLowerCase();
  return https === 'on' || https === '1' ? 'https' : 'http';
}

function hostName(record: RequestRecord): string | undefined {
  const host = record.get(KeyId.HTTP_HOST);
  if (!host) return undefined;
  // "[::1]:8080" → "[::1]", "example.com:8080" → "example.com"
  const end = host.startsWith('[') ? host.indexOf(']') + 1 : host.indexOf(':');
  return end > 0 ? host.slice(0, end) : host;
}

function scriptName(record: RequestRecord): string {
  const name = record.get(KeyId.SCRIPT_NAME) ?? '';
  // PEP 3333: SCRIPT_NAME is "" for the root, never "/".
  if (name === '/') return '';
  if (record.protocol === Protocol.FASTCGI && record.get(KeyId.PATH_INFO) === undefined) {
    // nginx's stock fastcgi_params sends SCRIPT_NAME as the whole path ($fastcgi_script_name,
    // a PHP notion) and no PATH_INFO. For an app container that is no mount point: only a
    // proper prefix of the path, at a segment boundary, is taken as one.
    return mountPrefix(name, pathOfUri(record.get(KeyId.REQUEST_URI) ?? ''));
  }
  return name;
}

/** `script` if it is a proper prefix of `path` at a path-segment boundary, else "". */
function mountPrefix(script: string, path: string): string {
  const prefix = script.replace(/\/+$/, '');
  return prefix !== '' && path.startsWith(prefix + '/') ? prefix : '';
}

/** PATH_INFO as the app sees it: the var, else derived from REQUEST_URI (and SCRIPT_NAME,
 * for FastCGI), with SCRIPT_NAME stripped for uwsgi's modifier1 30. */
export function pathInfo(record: RequestRecord): string {
  let path = record.get(KeyId.PATH_INFO);
  if (path === undefined) {
    path = pathOfUri(record.get(KeyId.REQUEST_URI) ?? '');
    // CGI: the path is SCRIPT_NAME + PATH_INFO (FastCGI, where SCRIPT_NAME may be a mount point).
    if (record.protocol === Protocol.FASTCGI) path = path.slice(scriptName(record).length);
  }
  // uwsgi modifier1 30: the server strips SCRIPT_NAME from the front of PATH_INFO, at a
  // path-segment boundary only ("/app" is not a prefix of "/application").
  if (record.flags & RequestFlags.MANAGE_PATH_INFO) {
    const script = scriptName(record).replace(/\/+$/, '');
    if (script && (path === script || path.startsWith(script + '/'))) path = path.slice(script.length);
  }
  return path;
}

/**
 * The decoded path of a request target, for a proxy that sends REQUEST_URI but no
 * PATH_INFO: the query is cut off, an absolute form (`http://host/x`) loses its scheme and
 * authority, and `*` (OPTIONS *) or an empty target is the root.
 */
export function pathOfUri(uri: string): string {
  const q = uri.indexOf('?');
  let path = q === -1 ? uri : uri.slice(0, q);
  const authority = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/[^/]*/.exec(path);
  if (authority) path = path.slice(authority[0].length);
  return path === '' || path === '*' ? '/' : percentDecode(path);
}

/** Decodes %XX escapes into latin-1 characters (CGI values are byte strings). */
function percentDecode(text: string): string {
  if (!text.includes('%')) return text;
  return text.replace(/%([0-9A-Fa-f]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
}
