/**
 * A `Response` that costs what its arguments cost. Node 20's own builds a web stream for
 * every body, a string's too, at about 5 µs and much garbage a request: more than tsgi's
 * whole dispatch. Served fetch apps (Hono, itty-router...) make one per request, so while
 * tsgi serves one, `globalThis.Response` is this class (as @hono/node-server does on its
 * own server). It keeps the body and init it was made with; the fetch adapter sends a
 * string or bytes body from them directly. Anything else an app asks of it (`body`,
 * `text()`, `clone()`...) is answered by a real Response made then from the same
 * arguments, so it behaves as one: `instanceof Response` holds, and the statics
 * (`Response.json()`...) are Node's.
 */
import type { Chunk } from '../app/contract.js';

/** Node's own Response, whatever `globalThis.Response` is later. */
export const NativeResponse = globalThis.Response;

/** Whether `value` is a Response, light or Node's (Response.json() and the like make
 * Node's even while the light one is the global). */
export function isResponse(value: unknown): value is Response {
  return value instanceof NativeResponse;
}

/** What the light path sends: known once made, unless the app touched the body. */
export interface LightParts {
  status: number;
  statusText: string;
  headers: Headers | HeadersInit | undefined;
  body: Chunk | null;
  /** The fetch default for a string body, when `headers` has no Content-Type. */
  defaultType: string | null;
}

const kBody = Symbol('body');
const kInit = Symbol('init');
const kHeaders = Symbol('headers');
const kReal = Symbol('real');

/** The Content-Type fetch gives a string body when the headers name none. */
const STRING_TYPE = 'text/plain;charset=UTF-8';

/** Statuses whose response has no body (the fetch standard's "null body status"). */
const NULL_BODY = new Set([101, 103, 204, 205, 304]);

interface LightState {
  [kBody]: string | Uint8Array | null;
  [kInit]: ResponseInit | undefined;
  [kHeaders]: Headers | undefined;
  [kReal]: Response | undefined;
}

/** The real Response behind `light`, made from its arguments the first time it is needed. */
function real(light: LightState): Response {
  const init = light[kHeaders] ? { ...light[kInit], headers: light[kHeaders] } : light[kInit];
  return (light[kReal] ??= new NativeResponse(light[kBody] as BodyInit | null, init));
}

class LightResponse {
  declare [kBody]: string | Uint8Array | null;
  declare [kInit]: ResponseInit | undefined;
  declare [kHeaders]: Headers | undefined;
  declare [kReal]: Response | undefined;

  constructor(body?: BodyInit | null, init?: ResponseInit) {
    // Only a string, bytes or no body is kept as it is; for the rest, and wherever a real
    // Response would throw (a bad status, a body on a null-body status), one is made now.
    const status = init?.status ?? 200;
    const simple = body === undefined || body === null || typeof body === 'string' || body instanceof Uint8Array;
    const valid = Number.isInteger(status) && status >= 200 && status <= 599 && !(NULL_BODY.has(status) && body !== undefined && body !== null);
    this[kBody] = simple ? (body ?? null) : null;
    this[kInit] = init;
    this[kHeaders] = undefined;
    this[kReal] = simple && valid ? undefined : new NativeResponse(body, init);
  }

  get status(): number {
    return this[kReal]?.status ?? this[kInit]?.status ?? 200;
  }

  get statusText(): string {
    return this[kReal]?.statusText ?? this[kInit]?.statusText ?? '';
  }

  get ok(): boolean {
    const status = this.status;
    return status >= 200 && status <= 299;
  }

  /** Made on first use without the rest of a real Response: middleware sets headers on
   * responses it did not make (Hono's cors, etag...). */
  get headers(): Headers {
    if (this[kReal]) return this[kReal].headers;
    if (!this[kHeaders]) {
      const headers = new Headers(this[kInit]?.headers);
      if (typeof this[kBody] === 'string' && !headers.has('content-type')) headers.set('content-type', STRING_TYPE);
      this[kHeaders] = headers;
    }
    return this[kHeaders];
  }
}

// Every other member of Response.prototype answers from the real one. (A subclass of the
// light Response, made while it is the global, inherits all this too.)
for (const [name, descriptor] of Object.entries(Object.getOwnPropertyDescriptors(NativeResponse.prototype))) {
  if (name === 'constructor' || Object.hasOwn(LightResponse.prototype, name)) continue;
  if (typeof descriptor.value === 'function') {
    const method = descriptor.value as (...args: unknown[]) => unknown;
    Object.defineProperty(LightResponse.prototype, name, {
      ...descriptor,
      value(this: LightState, ...args: unknown[]) {
        return method.apply(real(this), args);
      },
    });
  } else if (descriptor.get) {
    const get = descriptor.get;
    Object.defineProperty(LightResponse.prototype, name, {
      ...descriptor,
      get: function (this: LightState) {
        return get.call(real(this));
      },
    });
  }
}
Object.setPrototypeOf(LightResponse.prototype, NativeResponse.prototype);
Object.setPrototypeOf(LightResponse, NativeResponse);

/** Makes `globalThis.Response` the light one (idempotent). */
export function installLightResponse(): void {
  globalThis.Response = LightResponse as unknown as typeof Response;
}

/** The Response behind `response`: the real one of a light Response that has one. */
export function realResponse(response: Response): Response {
  return response instanceof LightResponse ? (response[kReal] ?? response) : response;
}

/** What to send for `response` without a real Response, if it is a light one that nothing
 * has turned into a real one; undefined otherwise. */
export function lightParts(response: Response): LightParts | undefined {
  if (!(response instanceof LightResponse) || response[kReal]) return undefined;
  const init = response[kInit];
  const headers = response[kHeaders] ?? init?.headers;
  const body = response[kBody];
  return {
    status: init?.status ?? 200,
    statusText: init?.statusText ?? '',
    headers,
    body,
    defaultType: typeof body === 'string' && !response[kHeaders] ? STRING_TYPE : null,
  };
}
