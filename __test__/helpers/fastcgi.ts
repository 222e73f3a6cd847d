/**
 * Builds FastCGI records and talks to a server over a raw socket (FastCGI 1.0; what tsgi
 * does with them is docs/protocols.md). The socket work reuses `RawClient` and `splitBuffer`
 * from ./uwsgi.js; what is FastCGI's own is the record framing, and reading until an
 * END_REQUEST rather than until the server closes.
 */
import { RawClient, delay, splitBuffer, waitFor, type RawResult, type Vars } from './uwsgi.js';

/** Record types. */
export const FCGI = {
  BEGIN_REQUEST: 1,
  ABORT_REQUEST: 2,
  END_REQUEST: 3,
  PARAMS: 4,
  STDIN: 5,
  STDOUT: 6,
  STDERR: 7,
  DATA: 8,
  GET_VALUES: 9,
  GET_VALUES_RESULT: 10,
  UNKNOWN_TYPE: 11,
} as const;

/** END_REQUEST protocol statuses. */
export const ProtocolStatus = {
  REQUEST_COMPLETE: 0,
  CANT_MPX_CONN: 1,
  OVERLOADED: 2,
  UNKNOWN_ROLE: 3,
} as const;

/** BEGIN_REQUEST roles. */
export const Role = { RESPONDER: 1, AUTHORIZER: 2, FILTER: 3 } as const;

const TYPE_NAMES: Record<number, string> = Object.fromEntries(Object.entries(FCGI).map(([name, type]) => [type, name]));

function bytes(data: Buffer | string): Buffer {
  return typeof data === 'string' ? Buffer.from(data, 'latin1') : data;
}

/** One record: the 8-byte header, `content`, then `padding` bytes of `padByte`. */
export function record(type: number, id: number, content: Buffer | string = '', padding = 0, padByte = 0): Buffer {
  const body = bytes(content);
  if (body.length > 0xffff) throw new RangeError(`record content of ${body.length} bytes`);
  const header = Buffer.from([1, type, (id >> 8) & 0xff, id & 0xff, body.length >> 8, body.length & 0xff, padding, 0]);
  return Buffer.concat([header, body, Buffer.alloc(padding, padByte)]);
}

export function beginRequest(id: number, options: { role?: number; keepConn?: boolean; padding?: number } = {}): Buffer {
  const role = options.role ?? Role.RESPONDER;
  return record(FCGI.BEGIN_REQUEST, id, Buffer.from([role >> 8, role & 0xff, options.keepConn ? 1 : 0, 0, 0, 0, 0, 0]), options.padding);
}

/** One name-value length field: 1 byte below 128, else 4 bytes big-endian with the high bit set (or always 4 with `fourByte`). */
function nvLength(length: number, fourByte: boolean): Buffer {
  if (length < 128 && !fourByte) return Buffer.from([length]);
  const b = Buffer.alloc(4);
  b.writeUInt32BE((length | 0x80000000) >>> 0);
  return b;
}

/** One name-value pair as it goes on the wire. */
export function nameValue(name: string | Buffer, value: string | Buffer, options: { fourByte?: boolean } = {}): Buffer {
  const n = bytes(name);
  const v = bytes(value);
  const four = options.fourByte ?? false;
  return Buffer.concat([nvLength(n.length, four), nvLength(v.length, four), n, v]);
}

/** A name-value stream (PARAMS or GET_VALUES content) for `vars`, in their order. */
export function nameValues(vars: Vars): Buffer {
  const entries = Array.isArray(vars) ? vars : Object.entries(vars);
  return Buffer.concat(entries.map(([name, value]) => nameValue(name, value)));
}

/** One PARAMS record: `vars` encoded, or raw content (an empty Buffer is the stream's end). */
export function params(id: number, content: Vars | Buffer, padding = 0): Buffer {
  return record(FCGI.PARAMS, id, Buffer.isBuffer(content) ? content : nameValues(content), padding);
}

/** One STDIN record ('' is the end of the body). */
export function stdin(id: number, data: Buffer | string, padding = 0): Buffer {
  return record(FCGI.STDIN, id, data, padding);
}

export function abortRequest(id: number): Buffer {
  return record(FCGI.ABORT_REQUEST, id);
}

/** A GET_VALUES management record asking for `names`. */
export function getValues(names: string[]): Buffer {
  return record(FCGI.GET_VALUES, 0, nameValues(names.map((n): [string, string] => [n, ''])));
}

/** A stream of `type` for `id`: `data` in records of at most `size` bytes, then the empty record. */
export function streamRecords(type: number, id: number, data: Buffer | string, size = 0xffff, padding = 0): Buffer[] {
  const buf = bytes(data);
  const out: Buffer[] = [];
  for (let at = 0; at < buf.length; at += size) out.push(record(type, id, buf.subarray(at, at + size), padding));
  out.push(record(type, id, '', padding));
  return out;
}

export interface RequestOptions {
  keepConn?: boolean;
  role?: number;
  /** Padding of every record. */
  padding?: number;
  /** Most content bytes per PARAMS record (nginx: all in one). */
  paramsRecord?: number;
  /** Most content bytes per STDIN record (nginx: 32 KiB). */
  stdinRecord?: number;
}

/** BEGIN, PARAMS record(s), the empty PARAMS, STDIN record(s), the empty STDIN: as a list, to interleave. */
export function requestRecords(id: number, vars: Vars | Buffer, body: Buffer | string = '', options: RequestOptions = {}): Buffer[] {
  const padding = options.padding ?? 0;
  return [
    beginRequest(id, { role: options.role, keepConn: options.keepConn, padding }),
    ...streamRecords(FCGI.PARAMS, id, Buffer.isBuffer(vars) ? vars : nameValues(vars), options.paramsRecord, padding),
    ...streamRecords(FCGI.STDIN, id, body, options.stdinRecord ?? 32768, padding),
  ];
}

/** A whole request on the wire. */
export function request(id: number, vars: Vars | Buffer, body: Buffer | string = '', options: RequestOptions = {}): Buffer {
  return Buffer.concat(requestRecords(id, vars, body, options));
}

/** Takes one record from each list in turn until all are used up. */
export function interleave(...lists: Buffer[][]): Buffer {
  const out: Buffer[] = [];
  for (let i = 0; lists.some((l) => i < l.length); i++) for (const list of lists) if (i < list.length) out.push(list[i]!);
  return Buffer.concat(out);
}

/** The params nginx's stock fastcgi_params sends for a simple request (then the client's headers as HTTP_*). */
export function nginxParams(method: string, uri: string, extra: Record<string, string> = {}): Record<string, string> {
  const q = uri.indexOf('?');
  const path = q === -1 ? uri : uri.slice(0, q);
  return {
    QUERY_STRING: q === -1 ? '' : uri.slice(q + 1),
    REQUEST_METHOD: method,
    CONTENT_TYPE: '',
    CONTENT_LENGTH: '',
    SCRIPT_NAME: path, // $fastcgi_script_name: the whole path without fastcgi_split_path_info
    REQUEST_URI: uri,
    DOCUMENT_URI: path,
    DOCUMENT_ROOT: '/usr/share/nginx/html',
    SERVER_PROTOCOL: 'HTTP/1.1',
    REQUEST_SCHEME: 'http',
    GATEWAY_INTERFACE: 'CGI/1.1',
    SERVER_SOFTWARE: 'nginx/1.22.1',
    REMOTE_ADDR: '127.0.0.1',
    REMOTE_PORT: '54321',
    REMOTE_USER: '',
    SERVER_ADDR: '127.0.0.1',
    SERVER_PORT: '80',
    SERVER_NAME: 'localhost',
    REDIRECT_STATUS: '200',
    HTTP_HOST: 'localhost',
    ...extra,
  };
}

// ---- what the server sends ------------------------------------------------------------------

/** END_REQUEST as the server sends it. */
export function endRequest(id: number, appStatus = 0, protocolStatus: number = ProtocolStatus.REQUEST_COMPLETE): Buffer {
  const body = Buffer.alloc(8);
  body.writeUInt32BE(appStatus);
  body[4] = protocolStatus;
  return record(FCGI.END_REQUEST, id, body);
}

/** A complete reply whose STDOUT fits one record: STDOUT, the empty STDOUT, END_REQUEST (complete, 0). */
export function reply(id: number, stdout: Buffer | string): Buffer {
  return Buffer.concat([record(FCGI.STDOUT, id, stdout), record(FCGI.STDOUT, id, ''), endRequest(id)]);
}

export interface FcgiRecord {
  type: number;
  id: number;
  content: Buffer;
  padding: number;
}

/** The complete records at the start of `buf`, and the bytes after them. Throws on a version other than 1. */
export function parseRecords(buf: Buffer): { records: FcgiRecord[]; rest: Buffer } {
  const records: FcgiRecord[] = [];
  let at = 0;
  while (buf.length - at >= 8) {
    if (buf[at] !== 1) throw new Error(`record at offset ${at} has version ${buf[at]}`);
    const length = buf.readUInt16BE(at + 4);
    const padding = buf[at + 6]!;
    if (buf.length - at < 8 + length + padding) break;
    records.push({ type: buf[at + 1]!, id: buf.readUInt16BE(at + 2), content: buf.subarray(at + 8, at + 8 + length), padding });
    at += 8 + length + padding;
  }
  return { records, rest: buf.subarray(at) };
}

export function recordsOf(records: FcgiRecord[], id: number): FcgiRecord[] {
  return records.filter((r) => r.id === id);
}

function streamOf(records: FcgiRecord[], id: number, type: number): Buffer {
  return Buffer.concat(records.filter((r) => r.id === id && r.type === type).map((r) => r.content));
}

/** One request's STDOUT, concatenated. */
export function stdoutOf(records: FcgiRecord[], id: number): Buffer {
  return streamOf(records, id, FCGI.STDOUT);
}

/** One request's STDERR, concatenated. */
export function stderrOf(records: FcgiRecord[], id: number): Buffer {
  return streamOf(records, id, FCGI.STDERR);
}

/** One request's END_REQUEST, if it came. */
export function endOf(records: FcgiRecord[], id: number): { appStatus: number; protocolStatus: number } | undefined {
  const end = records.find((r) => r.id === id && r.type === FCGI.END_REQUEST);
  return end && { appStatus: end.content.length >= 4 ? end.content.readUInt32BE(0) : -1, protocolStatus: end.content[4] ?? -1 };
}

/** Records, one a line, for readable diffs: `STDOUT#1 "Status: 200 OK\r\n…"`; trailing bytes as hex. */
export function showRecords(buf: Buffer): string {
  let parsed: ReturnType<typeof parseRecords>;
  try {
    parsed = parseRecords(buf);
  } catch (error) {
    return `unparsable (${(error as Error).message}): ${buf.toString('hex')}`;
  }
  const lines = parsed.records.map((r) => {
    const content =
      r.type === FCGI.END_REQUEST || r.type === FCGI.UNKNOWN_TYPE ? `[${[...r.content].join(',')}]` : JSON.stringify(r.content.toString('latin1'));
    return `${TYPE_NAMES[r.type] ?? `type ${r.type}`}#${r.id}${r.padding ? ` pad=${r.padding}` : ''} ${content}`;
  });
  if (parsed.rest.length > 0) lines.push(`+ ${parsed.rest.length} bytes: ${parsed.rest.toString('hex')}`);
  return lines.join('\n');
}

// ---- a raw client ----------------------------------------------------------------------------

export interface FcgiResult extends RawResult {
  records: FcgiRecord[];
  /** Bytes after the last complete record. */
  rest: Buffer;
  /** The server had closed the connection (EOF or reset). */
  closed: boolean;
  /** The server closed with a FIN. */
  ended: boolean;
}

export type Split = 'bytes' | number | number[];

/** The offset just past the record that completes END_REQUESTs for all `ids`, or -1. */
function endOffset(buf: Buffer, ids: number[]): number {
  const waiting = new Set(ids);
  if (waiting.size === 0) return 0;
  let at = 0;
  for (const r of parseRecords(buf).records) {
    at += 8 + r.content.length + r.padding;
    if (r.type === FCGI.END_REQUEST) waiting.delete(r.id);
    if (waiting.size === 0) return at;
  }
  return -1;
}

/**
 * A connection the test drives: sends pieces, reads until END_REQUESTs or the close. Each
 * `untilEnd`/`untilClosed` returns what arrived since the previous one, so the replies of
 * successive requests on a kept connection come back one by one.
 */
export class FcgiClient {
  readonly raw: RawClient;
  /** Bytes already returned. */
  private consumed = 0;

  constructor(address: string, options: { allowHalfOpen?: boolean } = {}) {
    this.raw = new RawClient(address, options);
  }

  /** Sends `data` whole, or cut as `splitBuffer` does with a pause after each piece; stops once the server has closed. */
  async send(data: Buffer, options: { split?: Split; delayMs?: number } = {}): Promise<void> {
    await this.raw.connected;
    const pieces = splitBuffer(data, options.split ?? 1);
    for (let i = 0; i < pieces.length; i++) {
      if (this.raw.closed || !this.raw.socket.writable) return;
      await this.raw.write(pieces[i]!).catch(() => undefined);
      if (i < pieces.length - 1) await delay(options.delayMs ?? 1);
    }
  }

  /** What arrived since the last `untilEnd`/`untilClosed`, without consuming it. */
  get result(): FcgiResult {
    return this.slice(this.raw.data.length - this.consumed);
  }

  /** Waits until an END_REQUEST arrived for each of `ids` (or the server closed); returns the bytes up to the last of them. */
  async untilEnd(ids: number[], timeout = 5000): Promise<FcgiResult> {
    let cut = -1;
    await waitFor(
      () => {
        cut = endOffset(this.raw.data.subarray(this.consumed), ids);
        return cut >= 0 || this.raw.closed;
      },
      { timeout, what: `END_REQUEST for id ${ids.join(', ')}` },
    );
    return this.take(cut >= 0 ? cut : this.raw.data.length - this.consumed);
  }

  /** Waits until the server closed the connection; returns everything not returned yet. */
  async untilClosed(timeout = 5000): Promise<FcgiResult> {
    await waitFor(() => this.raw.closed, { timeout, what: 'the server to close the connection' });
    return this.take(this.raw.data.length - this.consumed);
  }

  private slice(length: number): FcgiResult {
    const data = this.raw.data.subarray(this.consumed, this.consumed + length);
    return { data, ...parseRecords(data), reset: this.raw.reset, closed: this.raw.closed, ended: this.raw.ended };
  }

  private take(length: number): FcgiResult {
    const result = this.slice(length);
    this.consumed += length;
    return result;
  }

  /** Half-closes the sending side. */
  end(): void {
    this.raw.end();
  }

  destroy(): void {
    this.raw.destroy();
  }
}

/**
 * Sends `data` on a new connection (whole, or cut with `split`; `end` half-closes after it)
 * and reads until the server closes, or, with `until`, until those ids' END_REQUESTs came.
 */
export async function fcgiExchange(
  address: string,
  data: Buffer,
  options: { split?: Split; delayMs?: number; end?: boolean; until?: number[] } = {},
): Promise<FcgiResult> {
  const client = new FcgiClient(address);
  try {
    await client.send(data, options);
    if (options.end && !client.raw.closed) client.end();
    return options.until ? await client.untilEnd(options.until) : await client.untilClosed();
  } finally {
    client.destroy();
  }
}
