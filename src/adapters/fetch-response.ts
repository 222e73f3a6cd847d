/**
 * A fetch `Response` sent as a TSGI response: its status and headers go to
 * `startResponse`, its body is read as the server sends it (a read only when the
 * connection takes more: backpressure), and cancelled if the client goes away.
 */
import { STATUS_CODES } from 'node:http';
import { isHopByHop, type Body, type Chunk, type Environ, type Headers as HeaderList, type StartResponse } from '../app/contract.js';
import { onClientGone } from '../server/environ.js';
import { isResponse, lightParts, NativeResponse, realResponse } from './light-response.js';

/**
 * Node's Response keeps what it was made from (a string, bytes) beside its stream, under
 * this symbol. Reading a small body through the stream costs about 10 µs in Node 20; the
 * bytes it was made from are the same bytes for free. Where Node keeps no such thing (or
 * keeps it elsewhere), every body goes through the stream.
 */
const kState = Object.getOwnPropertySymbols(new NativeResponse('')).find((symbol) => symbol.description === 'state');

interface ResponseState {
  body: { source: unknown; stream: ReadableStream } | null;
}

/** Sends `response`; returns the TSGI body. */
export function sendResponse(sent: unknown, environ: Environ, startResponse: StartResponse): Body {
  if (!isResponse(sent)) {
    throw new TypeError(`a fetch handler must return a Response (or a Promise of one), got ${sent === null ? 'null' : typeof sent}`);
  }
  const light = lightParts(sent);
  if (light) {
    startResponse(statusLine(light.status, light.statusText), initPairs(light.headers, light.defaultType));
    return light.body === null ? [] : [light.body];
  }
  const response = realResponse(sent);
  startResponse(statusLine(response.status, response.statusText), headerPairs(response.headers));
  if (response.body === null) return [];
  const whole = wholeBody(response);
  if (whole !== undefined) return [whole];
  return new StreamBody(response.body.getReader(), environ);
}

function statusLine(status: number, statusText: string): string {
  return `${status} ${statusText || STATUS_CODES[status] || 'Unknown'}`;
}

function headerPairs(headers: Headers): HeaderList {
  const pairs: HeaderList = [];
  for (const [name, value] of headers) if (!isHopByHop(name)) pairs.push([name, value]);
  return pairs;
}

/** The headers a light Response was made with (a Headers, pairs or a record), as sent;
 * `defaultType` when they name no Content-Type. */
function initPairs(init: Headers | HeadersInit | undefined, defaultType: string | null): HeaderList {
  if (init instanceof Headers) return headerPairs(init);
  const pairs: HeaderList = [];
  let typed = false;
  const add = (name: string, value: unknown) => {
    const lower = name.toLowerCase();
    if (isHopByHop(lower)) return;
    typed ||= lower === 'content-type';
    pairs.push([name, String(value).trim()]);
  };
  if (Array.isArray(init)) for (const [name, value] of init as Array<[string, string]>) add(name, value);
  else if (init) for (const name of Object.keys(init)) add(name, (init as Record<string, string>)[name]);
  if (defaultType !== null && !typed) pairs.push(['content-type', defaultType]);
  return pairs;
}

/** The bytes the body was made from, if Node kept them and nobody has read the stream. */
function wholeBody(response: Response): Chunk | undefined {
  if (kState === undefined) return undefined;
  const body = (response as unknown as Record<symbol, ResponseState | undefined>)[kState]?.body;
  if (!body || body.stream.locked || response.bodyUsed) return undefined;
  const source = body.source;
  return typeof source === 'string' || source instanceof Uint8Array ? source : undefined;
}

/** A response body stream as a TSGI body: one read per chunk the server asks for. */
class StreamBody implements AsyncIterableIterator<Chunk> {
  private done = false;

  constructor(
    private readonly reader: ReadableStreamDefaultReader<Uint8Array>,
    environ: Environ,
  ) {
    onClientGone(environ, () => this.close());
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  async next(): Promise<IteratorResult<Chunk>> {
    const step = await this.reader.read();
    if (step.done) {
      this.done = true;
      return { value: undefined, done: true };
    }
    return { value: step.value, done: false };
  }

  /** The server stopped early (client gone, error): the stream's source hears of it. */
  close(): void {
    if (this.done) return;
    this.done = true;
    this.reader.cancel().catch(() => {});
  }
}
