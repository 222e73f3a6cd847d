/**
 * The `req` a Node-style handler gets: a genuine `http.IncomingMessage` (Express re-roots
 * `req`'s prototype onto Node's own, so Node's methods must find Node's fields), filled
 * from the environ. What differs from Node's is kept in own properties, which survive
 * that re-rooting: the headers, made only when read, and `_read`, which pulls the body
 * from `tsgi.input` as the stream is consumed (so its backpressure reaches the socket).
 */
import { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Environ, Input } from '../app/contract.js';
import { headerList, headerValue, requestTarget } from './request-parts.js';

/** Bytes asked of tsgi.input per read (Node's own socket reads are 64 KiB). */
const READ_SIZE = 64 * 1024;

/** Where a request's body comes from; a symbol, so it cannot clash with an app's field. */
const BODY_SOURCE = Symbol('tsgi.bodySource');

interface BodySource {
  environ: Environ;
  reading: boolean;
  /** The response is over: nothing more is read (Node's `_dump` of an unread body). */
  over: boolean;
}

/** IncomingMessage with the internals its `_read` touches, and the body source. */
type TsgiIncomingMessage = IncomingMessage & {
  [BODY_SOURCE]: BodySource;
  _consuming: boolean;
  _readableState: { readingMore: boolean };
  _dump(): void;
};

/** `req` for one request, on `socket`. */
export function createIncomingMessage(environ: Environ, socket: Socket): IncomingMessage {
  const req = new IncomingMessage(socket) as TsgiIncomingMessage;
  req.method = environ.REQUEST_METHOD;
  req.url = requestTarget(environ);
  const protocol = environ.SERVER_PROTOCOL;
  const version = /^HTTP\/(\d)\.(\d)$/.exec(protocol);
  req.httpVersionMajor = version ? Number(version[1]) : 1;
  req.httpVersionMinor = version ? Number(version[2]) : 1;
  req.httpVersion = `${req.httpVersionMajor}.${req.httpVersionMinor}`;
  req.headers = new Proxy({}, new LazyHeaders(environ)) as IncomingMessage['headers'];
  req.rawHeaders = new Proxy([], new LazyRawHeaders(environ)) as string[];
  req[BODY_SOURCE] = { environ, reading: false, over: false };
  req._read = readBody;
  // Node's parser marks a request without a body complete before the app reads it.
  if (!hasBody(environ)) req.complete = true;
  return req;
}

/** After the response: a body nobody read ends here, unread (tsgi discards the rest). */
export function endUnreadBody(req: IncomingMessage): void {
  const source = (req as TsgiIncomingMessage)[BODY_SOURCE];
  if (source) source.over = true;
  // As Node's server does once a response is finished: dump a body no one consumed, so
  // the request ends and closes.
  if (!(req as TsgiIncomingMessage)._consuming) (req as TsgiIncomingMessage)._dump();
}

function hasBody(environ: Environ): boolean {
  const length = environ.CONTENT_LENGTH;
  return (typeof length === 'string' && length !== '' && length !== '0') || environ.HTTP_TRANSFER_ENCODING !== undefined;
}

/** `req._read`: one read of tsgi.input at a time; Readable asks again while it wants more. */
function readBody(this: TsgiIncomingMessage): void {
  const source = this[BODY_SOURCE];
  if (!this._consuming) {
    // What Node's own _read does first: the stream may now ask for more by itself, and
    // the body counts as consumed (it is not dumped after the response).
    this._readableState.readingMore = false;
    this._consuming = true;
  }
  if (source.reading) return;
  if (source.over || !hasBody(source.environ)) {
    this.complete = true;
    this.push(null);
    return;
  }
  source.reading = true;
  (source.environ['tsgi.input'] as Input).read(READ_SIZE).then(
    (chunk) => {
      source.reading = false;
      if (chunk.length === 0) {
        this.complete = true;
        this.push(null);
      } else {
        this.push(chunk);
      }
    },
    (error: Error) => {
      source.reading = false;
      // An aborted request is destroyed by the socket (with Node's "aborted" error).
      if (!this.destroyed && !this.socket?.destroyed) this.destroy(error);
    },
  );
}

/** A Proxy handler that fills its target on first use, then lets every operation through. */
abstract class FillOnUse<T extends object> implements ProxyHandler<T> {
  protected whole = false;

  constructor(protected readonly environ: Environ) {}

  /** Puts what the environ has into `target`, once. */
  protected abstract fillFrom(target: T): void;

  protected fill(target: T): T {
    if (!this.whole) {
      this.whole = true;
      this.fillFrom(target);
    }
    return target;
  }

  get(target: T, key: string | symbol): unknown {
    return Reflect.get(this.fill(target), key);
  }

  has(target: T, key: string | symbol): boolean {
    return Reflect.has(this.fill(target), key);
  }

  ownKeys(target: T): ArrayLike<string | symbol> {
    return Reflect.ownKeys(this.fill(target));
  }

  getOwnPropertyDescriptor(target: T, key: string | symbol): PropertyDescriptor | undefined {
    return Reflect.getOwnPropertyDescriptor(this.fill(target), key);
  }

  defineProperty(target: T, key: string | symbol, descriptor: PropertyDescriptor): boolean {
    return Reflect.defineProperty(this.fill(target), key, descriptor);
  }

  set(target: T, key: string | symbol, value: unknown): boolean {
    return Reflect.set(this.fill(target), key, value);
  }

  deleteProperty(target: T, key: string | symbol): boolean {
    return Reflect.deleteProperty(this.fill(target), key);
  }
}

/**
 * `req.headers`: reading one header is one environ lookup; enumerating or changing the
 * mapping first makes it the plain object Node would have made.
 */
class LazyHeaders extends FillOnUse<Record<string, string>> {
  override get(target: Record<string, string>, name: string | symbol): unknown {
    if (!this.whole && typeof name === 'string' && !Object.hasOwn(target, name)) {
      const value = headerValue(this.environ, name);
      if (value !== undefined) return (target[name] = value);
    }
    return Reflect.get(target, name);
  }

  override has(target: Record<string, string>, name: string | symbol): boolean {
    return this.get(target, name) !== undefined || Reflect.has(target, name);
  }

  protected fillFrom(target: Record<string, string>): void {
    for (const [name, value] of headerList(this.environ)) if (!Object.hasOwn(target, name)) target[name] = value;
  }
}

/** `req.rawHeaders`, `[name, value, name, value...]`, made on first use. */
class LazyRawHeaders extends FillOnUse<string[]> {
  protected fillFrom(target: string[]): void {
    for (const [name, value] of headerList(this.environ)) target.push(name, value);
  }
}
