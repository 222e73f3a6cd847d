/**
 * Raw HTTP/1.1 on a socket, for tests of `--http-socket` that check exact bytes: requests
 * built by hand, the responses tsgi must send (with the `Date` value masked), the static
 * refusals, and a client that waits for bytes by event rather than by polling.
 */
import { RawClient, connect } from './uwsgi.js';

/** What `maskDate` puts in place of a `Date` value. */
export const MASKED_DATE = 'Date: <date>\r\n';

/** An IMF-fixdate `Date` header line (RFC 9110 §5.6.7), as `toUTCString()` writes it. */
export const DATE_LINE = /Date: (?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} GMT\r\n/g;

/** `data` as latin-1 with every `Date` header value replaced (they change every second). */
export function maskDate(data: Buffer | string): string {
  const text = typeof data === 'string' ? data : data.toString('latin1');
  return text.replace(DATE_LINE, MASKED_DATE);
}

/** The reactor's static refusal for `status` (crates/tsgi-reactor/src/refusal.rs `http`). */
export function refusal(status: 400 | 408 | 413 | 414 | 417 | 431 | 501): string {
  const reason = {
    400: 'Bad Request',
    408: 'Request Timeout',
    413: 'Content Too Large',
    414: 'URI Too Long',
    417: 'Expectation Failed',
    431: 'Request Header Fields Too Large',
    501: 'Not Implemented',
  }[status];
  return `HTTP/1.1 ${status} ${reason}\r\nContent-Type: text/plain\r\nContent-Length: ${reason.length + 1}\r\nConnection: close\r\n\r\n${reason}\n`;
}

/** A request as bytes. `Host: a` is added for HTTP/1.1 unless `headers` has a Host (or `host: null`). */
export function req(
  method: string,
  target: string,
  options: { headers?: Array<[string, string]>; body?: string | Buffer; version?: string; host?: string | null } = {},
): Buffer {
  const version = options.version ?? 'HTTP/1.1';
  const headers = [...(options.headers ?? [])];
  const hasHost = headers.some(([name]) => name.toLowerCase() === 'host');
  const host = options.host === undefined ? (version === 'HTTP/1.1' ? 'a' : null) : options.host;
  if (!hasHost && host !== null) headers.unshift(['Host', host]);
  const head = `${method} ${target} ${version}\r\n${headers.map(([n, v]) => `${n}: ${v}\r\n`).join('')}\r\n`;
  return Buffer.concat([Buffer.from(head, 'latin1'), Buffer.from(options.body ?? '')]);
}

/** `pieces` as a chunked body: hex sizes, data, CRLFs, the last chunk and an empty trailer section. */
export function chunked(pieces: Array<string | Buffer>, last = '0\r\n\r\n'): string {
  return pieces.map((p) => `${Buffer.byteLength(p).toString(16)}\r\n${Buffer.from(p).toString('latin1')}\r\n`).join('') + last;
}

export interface Expected {
  /** The app's headers, in order; default `[['Content-Type', 'text/plain']]`. */
  headers?: Array<[string, string]>;
  /** The body bytes on the wire, framing included (see `chunked`). */
  body?: string;
  /** `Content-Length` added by the server (default: the body's length unless `chunked` or `length: null`). */
  length?: number | null;
  /** `Transfer-Encoding: chunked`. */
  chunked?: boolean;
  /** `Connection: close` / `Connection: keep-alive` (HTTP/1.0). */
  connection?: 'close' | 'keep-alive';
}

/** The response tsgi sends, with the `Date` masked: app headers, then Content-Length, Date, Server, Transfer-Encoding, Connection. */
export function res(status: string, expected: Expected = {}): string {
  const headers = expected.headers ?? [['Content-Type', 'text/plain']];
  const body = expected.body ?? '';
  const length = expected.length === undefined ? (expected.chunked ? null : Buffer.byteLength(body, 'latin1')) : expected.length;
  let text = `HTTP/1.1 ${status}\r\n`;
  for (const [name, value] of headers) text += `${name}: ${value}\r\n`;
  if (length !== null) text += `Content-Length: ${length}\r\n`;
  text += `${MASKED_DATE}Server: tsgi\r\n`;
  if (expected.chunked) text += 'Transfer-Encoding: chunked\r\n';
  if (expected.connection === 'close') text += 'Connection: close\r\n';
  else if (expected.connection === 'keep-alive') text += 'Connection: keep-alive\r\n';
  return `${text}\r\n${body}`;
}

/**
 * A raw client that can wait, by event, for what it has received to satisfy a condition
 * (`until`), and for a given number of masked bytes (`untilText`).
 */
export class HttpClient extends RawClient {
  private waiters: Array<() => void> = [];

  constructor(address: string, options: { allowHalfOpen?: boolean } = {}) {
    super(address, options);
    const wake = () => {
      const waiters = this.waiters;
      this.waiters = [];
      for (const w of waiters) w();
    };
    this.socket.on('data', wake);
    this.socket.on('close', wake);
  }

  /** Everything received so far, latin-1, Date masked. */
  text(): string {
    return maskDate(this.data);
  }

  /** Resolves once `probe(received)` holds; rejects if the connection closes first or after `timeoutMs`. */
  until(probe: (data: Buffer) => boolean, what = 'a condition on the received bytes', timeoutMs = 10_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => fail(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; got ${JSON.stringify(this.text().slice(-400))}`)),
        timeoutMs,
      );
      const fail = (error: Error) => {
        clearTimeout(timer);
        reject(error);
      };
      const check = () => {
        if (probe(this.data)) {
          clearTimeout(timer);
          resolve();
        } else if (this.closed) {
          fail(new Error(`the connection closed while waiting for ${what}; got ${JSON.stringify(this.text().slice(-400))}`));
        } else {
          this.waiters.push(check);
        }
      };
      check();
    });
  }

  /** Waits until the masked text is at least `expected` long; returns the masked text. */
  async untilText(expected: string, timeoutMs?: number): Promise<string> {
    await this.until((d) => maskDate(d).length >= expected.length, `${expected.length} bytes`, timeoutMs);
    return this.text();
  }

  /** Sends `data` and waits for the masked reply to be as long as `expected`; returns everything received so far. */
  async exchange(data: Buffer | string, expected: string): Promise<string> {
    const before = this.text().length;
    await this.write(data);
    await this.until((d) => maskDate(d).length >= before + expected.length, `${expected.length} more bytes`);
    return this.text().slice(before);
  }
}

/** Opens a client and waits for the connection. */
export async function open(address: string, options?: { allowHalfOpen?: boolean }): Promise<HttpClient> {
  const client = new HttpClient(address, options);
  await client.connected;
  return client;
}

/** One request on a fresh connection; resolves with everything until the server closed (masked), and how. */
export function oneShot(address: string, data: Buffer | string): Promise<{ text: string; reset: boolean }> {
  return new Promise((resolve, reject) => {
    const socket = connect(address);
    const chunks: Buffer[] = [];
    let reset = false;
    socket.on('connect', () => socket.write(data));
    socket.on('data', (d) => chunks.push(d));
    socket.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'ECONNRESET' || e.code === 'EPIPE') reset = true;
      else reject(e);
    });
    socket.on('close', () => resolve({ text: maskDate(Buffer.concat(chunks)), reset }));
  });
}

/** A promise with its resolver, for gates and events an app and a test share. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** Named one-shot events: `fire(name)` from the app, `when(name)` from the test (either order). */
export class Events {
  private readonly map = new Map<string, ReturnType<typeof deferred<unknown>>>();
  private get(name: string) {
    let d = this.map.get(name);
    if (!d) this.map.set(name, (d = deferred<unknown>()));
    return d;
  }
  fire(name: string, value?: unknown): void {
    this.get(name).resolve(value);
  }
  when<T = unknown>(name: string, timeoutMs = 10_000): Promise<T> {
    return Promise.race([
      this.get(name).promise as Promise<T>,
      new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for event ${name}`)), timeoutMs).unref()),
    ]);
  }
  clear(): void {
    this.map.clear();
  }
}

/** One parsed response. */
export interface ParsedResponse {
  status: number;
  statusLine: string;
  /** Lower-cased names, in order. */
  headers: Array<[string, string]>;
  /** The body, chunk framing removed. */
  body: Buffer;
}

/**
 * Parses the complete responses at the start of `data` (Content-Length, chunked, or no
 * body for 1xx/204/304 and the responses `bodiless` marks, e.g. to HEAD). A
 * close-delimited body is taken to run to the end of `data` only with `closed`.
 * Returns the responses and how many bytes they took.
 */
export function parseResponses(
  data: Buffer,
  options: { bodiless?: (index: number) => boolean; closed?: boolean } = {},
): { responses: ParsedResponse[]; used: number } {
  const responses: ParsedResponse[] = [];
  let at = 0;
  for (;;) {
    const end = data.indexOf('\r\n\r\n', at);
    if (end === -1) break;
    const [statusLine, ...lines] = data.subarray(at, end).toString('latin1').split('\r\n');
    const status = Number(statusLine!.split(' ')[1]);
    const headers = lines.map((line): [string, string] => {
      const i = line.indexOf(':');
      return [line.slice(0, i).toLowerCase(), line.slice(i + 1).trim()];
    });
    const header = (name: string) => headers.find(([n]) => n === name)?.[1];
    let pos = end + 4;
    let body: Buffer;
    if (status < 200 || status === 204 || status === 304 || options.bodiless?.(responses.length)) {
      if (status < 200) {
        // An interim response: not counted, the final one follows.
        at = pos;
        continue;
      }
      body = Buffer.alloc(0);
    } else if (header('transfer-encoding') === 'chunked') {
      const pieces: Buffer[] = [];
      let complete = false;
      for (;;) {
        const lineEnd = data.indexOf('\r\n', pos);
        if (lineEnd === -1) break;
        const size = parseInt(data.subarray(pos, lineEnd).toString('latin1'), 16);
        if (size === 0) {
          // No trailers from tsgi: the empty line follows.
          if (data.length < lineEnd + 4) break;
          pos = lineEnd + 4;
          complete = true;
          break;
        }
        if (data.length < lineEnd + 2 + size + 2) break;
        pieces.push(data.subarray(lineEnd + 2, lineEnd + 2 + size));
        pos = lineEnd + 2 + size + 2;
      }
      if (!complete) break;
      body = Buffer.concat(pieces);
    } else if (header('content-length') !== undefined) {
      const length = Number(header('content-length'));
      if (data.length < pos + length) break;
      body = data.subarray(pos, pos + length);
      pos += length;
    } else {
      if (!options.closed) break;
      body = data.subarray(pos);
      pos = data.length;
    }
    responses.push({ status, statusLine: statusLine!, headers, body: Buffer.from(body) });
    at = pos;
  }
  return { responses, used: at };
}

/**
 * Sends `requests` on one connection, pipelined: up to `depth` outstanding at a time
 * (the next one goes out as each response completes). Resolves with the responses in
 * order; rejects if the connection closes before all came.
 */
export async function pipeline(
  address: string,
  requests: Buffer[],
  depth: number,
  options: { bodiless?: (index: number) => boolean } = {},
): Promise<ParsedResponse[]> {
  const client = await open(address);
  let sent = 0;
  let received: ParsedResponse[] = [];
  const sendUpTo = (n: number) => {
    const batch: Buffer[] = [];
    while (sent < Math.min(n, requests.length)) batch.push(requests[sent++]!);
    if (batch.length) client.socket.write(Buffer.concat(batch));
  };
  sendUpTo(depth);
  await client.until(
    (data) => {
      received = parseResponses(data, options).responses;
      sendUpTo(received.length + depth);
      return received.length >= requests.length;
    },
    `${requests.length} pipelined responses`,
    20_000,
  );
  client.destroy();
  return received;
}
