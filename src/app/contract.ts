/**
 * TSGI: WSGI (PEP 3333) carried over to TypeScript.
 *
 * An app is `app(environ, startResponse)`. It calls `startResponse(status, headers)` and
 * returns the body: an iterable or async iterable of chunks (strings, sent as UTF-8, or
 * Uint8Arrays), or a Promise of one. The server sends nothing until the first non-empty
 * chunk, so an app can still turn a 200 into a 500 until then; it always calls the body's
 * `close()`. Middleware is an app that wraps an app (see `compose`).
 */
import { ErrorCodes, TsgiError } from '../errors.js';

/** A piece of a response body. Strings are encoded as UTF-8. */
export type Chunk = Uint8Array | string;

/** What an app returns (or resolves to). An optional `close()` is always called. */
export type Body = (Iterable<Chunk> | AsyncIterable<Chunk>) & { close?: () => unknown };

/** Response headers: a list of [name, value] pairs, names and values latin-1 strings. */
export type Headers = Array<[string, string]>;

/** Sends a chunk at once (WSGI's legacy `write`). Returns `false` when the connection's
 * queue is over its high-water mark. */
export type Write = (chunk: Chunk) => boolean;

/**
 * Starts the response. A second call throws unless `excInfo` is given; with `excInfo`,
 * it replaces status and headers if they are not sent yet, and rethrows `excInfo` if
 * they are. Invalid status lines and headers throw at call time.
 */
export type StartResponse = (status: string, headers: Headers, excInfo?: unknown) => Write;

/** The request body (`tsgi.input`): bounded memory, read on demand. */
export interface Input extends AsyncIterable<Uint8Array> {
  /** Up to `size` bytes (all that is left when omitted); empty at the end. */
  read(size?: number): Promise<Uint8Array>;
  /** One line, `\n` included, of at most `size` bytes; empty at the end. */
  readline(size?: number): Promise<Uint8Array>;
}

/** `tsgi.errors`: text written here goes to the server's error log. */
export interface ErrorStream {
  write(text: string): void;
  writelines(lines: Iterable<string>): void;
  flush(): void;
}

/** `tsgi.file_wrapper`: wraps a file so the server can send it efficiently. */
export type FileWrapper = (file: string | number | { fd: number }, blockSize?: number) => Body;

/** The request, as CGI variables plus `tsgi.*` entries. A plain mapping the app may change. */
export interface Environ {
  REQUEST_METHOD: string;
  SCRIPT_NAME: string;
  PATH_INFO: string;
  QUERY_STRING: string;
  CONTENT_TYPE?: string;
  CONTENT_LENGTH?: string;
  SERVER_NAME: string;
  SERVER_PORT: string;
  SERVER_PROTOCOL: string;
  REMOTE_ADDR?: string;
  'tsgi.version': readonly [1, 0];
  'tsgi.url_scheme': 'http' | 'https';
  'tsgi.input': Input;
  'tsgi.errors': ErrorStream;
  'tsgi.multithread': boolean;
  'tsgi.multiprocess': boolean;
  'tsgi.run_once': boolean;
  'tsgi.signal': AbortSignal;
  'tsgi.file_wrapper': FileWrapper;
  /** A request header, as CGI names it (`User-Agent` is `HTTP_USER_AGENT`): a string when
   * the request carried it, so `environ.HTTP_X_ANYTHING ?? ''` needs no cast. */
  [header: `HTTP_${string}`]: string | undefined;
  [key: string]: unknown;
}

/** A TSGI application. */
export type App = (environ: Environ, startResponse: StartResponse) => Body | Promise<Body>;

/** A middleware: takes an app, returns an app. */
export type Middleware = (app: App) => App;

/**
 * Applies middleware outside-in: `compose(a, b)(app)` is `a(b(app))`, so `a` sees the
 * request first and the response last.
 */
export function compose(...middleware: Middleware[]): Middleware {
  return (app) => middleware.reduceRight((inner, wrap) => wrap(inner), app);
}

// ---- the rules of status lines and headers (shared by the server and validate()) ----

const STATUS = /^[1-9][0-9]{2}(?: [\t\x20-\x7e\x80-\xff]*)?$/;
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
const DIGITS = /^[0-9]+$/;

/** Headers that describe the connection, not the response (lowercase): the server's
 * framing owns them. Every layer that drops or refuses them asks `isHopByHop`. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade']);

/** What a valid header name is to the server. */
const PLAIN = 0;
const CONTENT_LENGTH = 1;
const HOP = 2;
const STATUS_HEADER = 3;
type NameKind = typeof PLAIN | typeof CONTENT_LENGTH | typeof HOP | typeof STATUS_HEADER;

/** Names already checked, as they were spelled: an app sends the same few names on every
 * response, so each is tested and lowercased once. Bounded, so that an app making up
 * names cannot grow it; past the bound a name is checked each time. */
const nameKinds = new Map<string, NameKind>();
const NAME_KINDS_MAX = 512;

/** The kind of header name `name`, or undefined if it is no HTTP token. */
function nameKind(name: string): NameKind | undefined {
  let kind = nameKinds.get(name);
  if (kind !== undefined) return kind;
  if (!TOKEN.test(name)) return undefined;
  const lower = name.toLowerCase();
  kind = lower === 'content-length' ? CONTENT_LENGTH : lower === 'status' ? STATUS_HEADER : HOP_BY_HOP.has(lower) ? HOP : PLAIN;
  if (nameKinds.size < NAME_KINDS_MAX) nameKinds.set(name, kind);
  return kind;
}

/** Whether header `name` (any case) describes the connection, not the response. */
export function isHopByHop(name: string): boolean {
  return nameKind(name) === HOP;
}

/** The response head as the server needs it, checked. */
export interface CheckedHead {
  status: string;
  code: number;
  headers: Headers;
  /** The app's Content-Length, or -1. */
  contentLength: number;
}

/** Checks a status line and headers; throws a TsgiError naming the first fault. */
export function checkHead(status: unknown, headers: unknown): CheckedHead {
  if (typeof status !== 'string' || !STATUS.test(status)) {
    throw new TsgiError(ErrorCodes.INVALID_STATUS, `invalid status line ${JSON.stringify(status)}: expected "NNN Reason" without control characters`);
  }
  if (!Array.isArray(headers)) {
    throw new TsgiError(ErrorCodes.INVALID_HEADER, 'headers must be an array of [name, value] pairs');
  }
  let contentLength = -1;
  for (const header of headers) {
    if (!Array.isArray(header) || header.length !== 2) {
      throw new TsgiError(ErrorCodes.INVALID_HEADER, `each header must be a [name, value] pair, got ${describe(header)}`);
    }
    const [name, value] = header as [unknown, unknown];
    const kind = typeof name === 'string' ? nameKind(name) : undefined;
    if (kind === undefined) {
      throw new TsgiError(ErrorCodes.INVALID_HEADER, `invalid header name ${JSON.stringify(name)}: must be an HTTP token`);
    }
    if (typeof value !== 'string' || !FIELD_VALUE.test(value)) {
      throw new TsgiError(ErrorCodes.INVALID_HEADER, `invalid value for header ${name}: must be a latin-1 string without CR, LF or other control characters`);
    }
    if (kind === PLAIN) continue;
    // A 101 names the protocol switched to: there Upgrade and Connection are the app's.
    if (kind === HOP && !(status.startsWith('101') && /^(upgrade|connection)$/i.test(name as string))) {
      throw new TsgiError(ErrorCodes.HOP_BY_HOP_HEADER, `header ${name} is hop-by-hop; the server sets it`);
    }
    if (kind === STATUS_HEADER) {
      throw new TsgiError(ErrorCodes.INVALID_HEADER, 'a Status header is not allowed; pass the status to startResponse');
    }
    if (kind === CONTENT_LENGTH) {
      if (!DIGITS.test(value) || (contentLength !== -1 && Number(value) !== contentLength)) {
        throw new TsgiError(ErrorCodes.INVALID_HEADER, `invalid Content-Length ${JSON.stringify(value)}`);
      }
      contentLength = Number(value);
    }
  }
  return { status, code: Number(status.slice(0, 3)), headers: headers as Headers, contentLength };
}

/** `true` for statuses whose responses never carry a body. */
export function isBodiless(code: number): boolean {
  return code < 200 || code === 204 || code === 304;
}

function describe(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
