/**
 * The `Request` a fetch handler gets: Node's own `Request`, made only when the handler
 * needs it.
 *
 * Making a `Request` costs about 4 µs in Node 20 (and its AbortSignal 3 µs more), several
 * times what tsgi spends on the whole request; most handlers read only `method`, `url` and
 * a few headers. So the handler gets a `LazyRequest`: an object whose prototype is
 * `Request.prototype` (`instanceof Request` holds), that answers `method`, `url`,
 * `headers` (a real `Headers`) and `signal` itself, and makes the real `Request` (body
 * streamed from `tsgi.input`) the first time anything else is asked. Node's own code finds
 * the real one too: the internal symbols its methods and `new Request(request)` read
 * (undici's state, headers and signal) are forwarded to it.
 */
import type { Environ, Input } from '../app/contract.js';
import { onClientGone } from '../server/environ.js';
import { headerList, requestUrl } from './request-parts.js';

/** Bytes asked of tsgi.input per pull of the body stream. */
const READ_SIZE = 64 * 1024;

/** The real Request of a LazyRequest, made on first call. */
const MATERIALIZE = Symbol('tsgi.materialize');

class LazyRequest {
  // Private fields: a real Request has no own properties for an app to stumble on.
  readonly #environ: Environ;
  #url: string | undefined;
  #headers: Headers | undefined;
  #controller: AbortController | undefined;
  #real: Request | undefined;

  constructor(environ: Environ) {
    this.#environ = environ;
  }

  get method(): string {
    return this.#environ.REQUEST_METHOD;
  }

  get url(): string {
    return (this.#url ??= requestUrl(this.#environ));
  }

  get headers(): Headers {
    return this.#real?.headers ?? (this.#headers ??= new Headers(headerList(this.#environ)));
  }

  /** Fires when the client goes away before the response has ended. */
  get signal(): AbortSignal {
    if (!this.#controller) {
      const controller = (this.#controller = new AbortController());
      onClientGone(this.#environ, () => controller.abort(new DOMException('the client went away', 'AbortError')));
    }
    return this.#controller.signal;
  }

  [MATERIALIZE](): Request {
    if (this.#real) return this.#real;
    const method = this.method;
    const init: RequestInit & { duplex?: 'half' } = { method, headers: this.headers, signal: this.signal };
    if (method !== 'GET' && method !== 'HEAD') {
      init.body = bodyStream(this.#environ['tsgi.input']);
      init.duplex = 'half';
    }
    return (this.#real = new Request(this.url, init));
  }
}

Object.setPrototypeOf(LazyRequest.prototype, Request.prototype);

// Everything else a Request has (body, json(), clone(), cache...) is the real one's.
for (const [key, descriptor] of Object.entries(Object.getOwnPropertyDescriptors(Request.prototype))) {
  if (key === 'constructor' || Object.hasOwn(LazyRequest.prototype, key)) continue;
  if (typeof descriptor.value === 'function') {
    const method = descriptor.value as (...args: unknown[]) => unknown;
    Object.defineProperty(LazyRequest.prototype, key, {
      value(this: LazyRequest, ...args: unknown[]) {
        return method.apply(this[MATERIALIZE](), args);
      },
      configurable: true,
      writable: true,
    });
  } else if (descriptor.get) {
    const get = descriptor.get;
    Object.defineProperty(LazyRequest.prototype, key, {
      get(this: LazyRequest) {
        return get.call(this[MATERIALIZE]());
      },
      configurable: true,
    });
  }
}

// ...and so are the internal symbols Node's Request code reads off an instance.
for (const symbol of Object.getOwnPropertySymbols(new Request('http://localhost/'))) {
  Object.defineProperty(LazyRequest.prototype, symbol, {
    get(this: LazyRequest) {
      return (this[MATERIALIZE]() as unknown as Record<symbol, unknown>)[symbol];
    },
    configurable: true,
  });
}

/** The `Request` of one request. */
export function createRequest(environ: Environ): Request {
  return new LazyRequest(environ) as unknown as Request;
}

/** tsgi.input as a web stream, read as the stream is pulled. */
function bodyStream(input: Input): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const chunk = await input.read(READ_SIZE);
      if (chunk.length === 0) controller.close();
      else controller.enqueue(chunk);
    },
  });
}
