/**
 * FastCGI 1.0 records and params (crates/tsgi-wire/src/fastcgi.rs, cases F1-F26): the
 * record header, `BEGIN_REQUEST`, name-value pairs, and the PARAMS stream reassembled
 * into the canonical vars. Which record may come when is the connection's business
 * (src/pure/fastcgi.ts).
 */
import { Framing, httpPrefix, refusalError } from './request.js';
import { VarList, WireError, pushVar } from './wire.js';

export const HEADER_LEN = 8;
export const MAX_CONTENT_LEN = 0xffff;
export const KEEP_CONN = 1;

export const RecordType = {
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

/** The spec's name of a type byte, for log lines. */
export function typeName(type: number): string {
  const entry = Object.entries(RecordType).find(([, value]) => value === type);
  return entry ? entry[0] : `type ${type}`;
}

export function isManagement(type: number): boolean {
  return type === RecordType.GET_VALUES || type === RecordType.GET_VALUES_RESULT || type === RecordType.UNKNOWN_TYPE;
}

export const ProtocolStatus = { REQUEST_COMPLETE: 0, CANT_MPX_CONN: 1, OVERLOADED: 2, UNKNOWN_ROLE: 3 } as const;
export const ROLE_RESPONDER = 1;

export interface RecordHead {
  type: number;
  requestId: number;
  contentLength: number;
  /** Header + content + padding. */
  total: number;
}

/** The record at `buf[start..end]`: null until it is whole, padding included (F3). */
export function parseRecord(buf: Buffer, start: number, end: number): RecordHead | WireError | null {
  if (start >= end) return null;
  const version = buf[start]!;
  if (version !== 1) {
    const sniff = httpPrefix(buf, start, end);
    if (sniff === 'http')
      return new WireError(
        'fastcgi_looks_like_http',
        null,
        'HTTP request sent to a FastCGI socket (point an HTTP client at --http-socket, or use fastcgi_pass in nginx)',
      );
    if (sniff === 'maybe') return null;
    return new WireError('fastcgi_unsupported_version', null, `FastCGI record version ${version} is not supported (only 1 is)`);
  }
  if (end - start < HEADER_LEN) return null;
  const contentLength = buf.readUInt16BE(start + 4);
  const total = HEADER_LEN + contentLength + buf[start + 6]!;
  if (end - start < total) return null;
  return { type: buf[start + 1]!, requestId: buf.readUInt16BE(start + 2), contentLength, total };
}

/** `BEGIN_REQUEST` content: role and flags; anything but 8 bytes is F9. */
export function parseBeginRequest(content: Buffer): { role: number; flags: number } | WireError {
  if (content.length !== 8) return new WireError('fastcgi_begin_request_length', null, `FastCGI BEGIN_REQUEST content is ${content.length} bytes, not 8`);
  return { role: content.readUInt16BE(0), flags: content[2]! };
}

const emptyName = (): WireError => new WireError('fastcgi_empty_name', 400, 'FastCGI param with an empty name');
const paramsTooLarge = (limit: number): WireError =>
  new WireError('fastcgi_params_too_large', 431, `FastCGI params are over buffer-size ${limit} bytes (raise --buffer-size)`);

/** One name-value length field at `buf[pos..end]`: [length, width], or null. */
function readLength(buf: Buffer, pos: number, end: number): [number, number] | null {
  if (pos >= end) return null;
  const b = buf[pos]!;
  if ((b & 0x80) === 0) return [b, 1];
  if (end - pos < 4) return null;
  return [(buf.readUInt32BE(pos) & 0x7fffffff) >>> 0, 4];
}

interface PairLengths {
  name: number;
  value: number;
  fields: number;
}

/** Both length fields of the pair at `buf[pos..end]`; a zero name length is F18. */
function parseLengths(buf: Buffer, pos: number, end: number): PairLengths | WireError | null {
  const name = readLength(buf, pos, end);
  if (!name) return null;
  if (name[0] === 0) return emptyName();
  const value = readLength(buf, pos + name[1], end);
  if (!value) return null;
  return { name: name[0], value: value[0], fields: name[1] + value[1] };
}

/** One whole pair at `buf[pos..end]` (GET_VALUES): name range and bytes taken. */
export function parseNameValue(buf: Buffer, pos: number, end: number): { nameStart: number; nameEnd: number; next: number } | WireError | null {
  const lengths = parseLengths(buf, pos, end);
  if (lengths === null || lengths instanceof WireError) return lengths;
  const next = pos + lengths.fields + lengths.name + lengths.value;
  if (next > end) return null;
  const nameStart = pos + lengths.fields;
  return { nameStart, nameEnd: nameStart + lengths.name, next };
}

/** `buffer-size` (params bytes), `max-vars`, `limit-post`. */
export interface FastcgiLimits {
  maxParamsBytes: number;
  maxVars: number;
  maxBody: number;
}

/**
 * Reassembles one request's PARAMS stream, however its records cut it, into a block and
 * {@link VarList}; bounded by `buffer-size` before anything is stored (F17).
 */
export class ParamsDecoder {
  block: Buffer = Buffer.allocUnsafe(4096);
  length = 0;
  readonly vars = new VarList();
  private parsed = 0;
  private readonly framing = new Framing();
  private state: 'open' | 'done' | WireError = 'open';
  /** The body length, once the stream ended well. */
  contentLength = 0;
  /** Once the stream ended well: the request asks to switch protocols (FastCGI cannot). */
  upgrade = false;

  constructor(private limits: FastcgiLimits) {}

  /** Ready for another request, under `limits`. */
  reset(limits: FastcgiLimits = this.limits): void {
    this.limits = limits;
    this.length = this.parsed = 0;
    this.vars.clear();
    this.framing.reset();
    this.state = 'open';
  }

  get done(): boolean {
    return this.state === 'done';
  }

  /** Takes one PARAMS record's content (empty: the end). True once complete; null: more. */
  feed(content: Buffer): true | null | WireError {
    if (this.state === 'done') return new WireError('fastcgi_params_after_end', null, 'FastCGI PARAMS record after the end of the params stream');
    if (this.state !== 'open') return this.state;
    const result = content.length === 0 ? this.finish() : this.take(content);
    if (result instanceof WireError) this.state = result;
    else if (result === true) this.state = 'done';
    return result;
  }

  private take(content: Buffer): null | WireError {
    const limit = this.limits.maxParamsBytes;
    const fits = Math.min(content.length, limit - this.length);
    this.append(content, fits);
    const error = this.readPairs();
    if (error) return error;
    return fits < content.length ? paramsTooLarge(limit) : null;
  }

  private append(content: Buffer, count: number): void {
    if (this.length + count > this.block.length) {
      const grown = Buffer.allocUnsafe(Math.max(this.block.length * 2, this.length + count));
      this.block.copy(grown, 0, 0, this.length);
      this.block = grown;
    }
    content.copy(this.block, this.length, 0, count);
    this.length += count;
  }

  private readPairs(): WireError | null {
    const limit = this.limits.maxParamsBytes;
    while (this.parsed < this.length) {
      if (this.vars.count >= this.limits.maxVars) {
        return new WireError('fastcgi_too_many_vars', 400, `FastCGI request has more than max-vars ${this.limits.maxVars} params (raise --max-vars)`);
      }
      const lengths = parseLengths(this.block, this.parsed, this.length);
      if (lengths === null) return null;
      if (lengths instanceof WireError) return lengths;
      const end = this.parsed + lengths.fields + lengths.name + lengths.value;
      if (end > limit) return paramsTooLarge(limit);
      for (const length of [lengths.name, lengths.value]) {
        if (length > 0xffff) return new WireError('fastcgi_param_too_long', 431, `FastCGI param name or value of ${length} bytes is over 65535`);
      }
      if (end > this.length) return null;
      const keyOffset = this.parsed + lengths.fields;
      const valueOffset = keyOffset + lengths.name;
      const keyId = pushVar(this.vars, this.block, keyOffset, lengths.name, valueOffset, lengths.value);
      this.framing.see(this.block, keyId, valueOffset, lengths.value);
      this.parsed = end;
    }
    return null;
  }

  private finish(): true | WireError {
    if (this.parsed !== this.length) return new WireError('fastcgi_truncated_params', 400, 'FastCGI params stream ended inside a name-value pair');
    const outcome = this.framing.finish(this.block, this.limits.maxBody);
    if (typeof outcome !== 'number') return refusalError('FastCGI', 'param', outcome);
    this.contentLength = outcome;
    this.upgrade = this.framing.upgrade;
    return true;
  }
}

// ---- encoding ----------------------------------------------------------------------------

export function recordHeader(type: number, requestId: number, contentLength: number): Buffer {
  return Buffer.from([1, type, requestId >> 8, requestId & 0xff, contentLength >> 8, contentLength & 0xff, 0, 0]);
}

/** `data` as records of `type` of at most 65535 bytes each (nothing for no data). */
export function streamRecords(type: number, requestId: number, data: Buffer, out: Buffer[]): void {
  for (let at = 0; at < data.length; at += MAX_CONTENT_LEN) {
    const piece = data.subarray(at, at + MAX_CONTENT_LEN);
    out.push(recordHeader(type, requestId, piece.length), piece);
  }
}

export function endRequest(requestId: number, appStatus: number, protocolStatus: number): Buffer {
  const out = Buffer.alloc(16);
  recordHeader(RecordType.END_REQUEST, requestId, 8).copy(out);
  out.writeUInt32BE(appStatus >>> 0, 8);
  out[12] = protocolStatus;
  return out;
}

export function unknownType(type: number): Buffer {
  const out = Buffer.alloc(16);
  recordHeader(RecordType.UNKNOWN_TYPE, 0, 8).copy(out);
  out[8] = type;
  return out;
}

function lengthField(length: number): Buffer {
  if (length < 0x80) return Buffer.from([length]);
  const out = Buffer.alloc(4);
  out.writeUInt32BE((length | 0x80000000) >>> 0);
  return out;
}

/** A `GET_VALUES_RESULT` with `pairs` (a few short names: always one record). */
export function getValuesResult(pairs: Array<[string, string]>): Buffer {
  const content = Buffer.concat(
    pairs.flatMap(([name, value]) => [lengthField(name.length), lengthField(value.length), Buffer.from(name, 'latin1'), Buffer.from(value, 'latin1')]),
  );
  return Buffer.concat([recordHeader(RecordType.GET_VALUES_RESULT, 0, content.length), content]);
}
