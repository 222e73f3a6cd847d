/**
 * HTTP/1.1 request heads (crates/tsgi-wire/src/http/head.rs): the request line read byte
 * by byte, then the field lines in one pass: each line's structure (CRLF only, no leading
 * white space, the limits at the byte that passes them) and its field by the rules
 * `httparse` applies in the Rust codec, a field's error counting once its line is
 * complete, as the Rust runs httparse only over the lines its scan found complete; then
 * the framing decided here. Every prefix of a buffer answers `null` or what the whole
 * buffer answers, and errors come in byte order, the same as the Rust codec's.
 *
 * This runs for every request of the pure path, so it makes no string and no object per
 * field: bytes are copied into the vars block, field ranges kept in a reused Int32Array,
 * known names' ids looked up from their bytes (keys.ts), long values read a word at a time.
 *
 * The vars are the canonical form: `REQUEST_METHOD`, `REQUEST_URI`, `PATH_INFO`,
 * `QUERY_STRING`, `SERVER_PROTOCOL`, then one var per header line (`CONTENT_LENGTH`,
 * `CONTENT_TYPE`, `HTTP_*`); names with `_` and `Proxy` dropped.
 */
import { HttpErrors, MAX_EMPTY_LINES, type HttpLimits } from './errors.js';
import { KEY_IDS, KeyId, lookupKey } from '../keys.js';
import { TOKEN, VarList, WireError, equalsIgnoreCase, hasToken, hexDigit, parseContentLength } from '../wire.js';

const CR = 0x0d;
const LF = 0x0a;
const SP = 0x20;
const HTAB = 0x09;
const COLON = 0x3a;

/** Below this many bytes a copy is a loop here; from it, Buffer#copy (a native call, whose
 * cost is paid back only on longer runs). */
const NATIVE_COPY = 64;

/** Copies `src[start..end]` to `dst` at `at` (room already made); answers the end in `dst`. */
function copyBytes(dst: Buffer, at: number, src: Buffer, start: number, end: number): number {
  if (end - start >= NATIVE_COPY) return at + src.copy(dst, at, start, end);
  for (let i = start; i < end; i++) dst[at++] = src[i]!;
  return at;
}

/** A var name as bytes, and its id (0 if not known). */
interface Name {
  bytes: Buffer;
  id: number;
}

const name = (text: string): Name => ({ bytes: Buffer.from(text, 'latin1'), id: KEY_IDS.get(text) ?? 0 });
const REQUEST_METHOD = name('REQUEST_METHOD');
const REQUEST_URI = name('REQUEST_URI');
const PATH_INFO = name('PATH_INFO');
const QUERY_STRING = name('QUERY_STRING');
const SERVER_PROTOCOL = name('SERVER_PROTOCOL');
const CONTENT_LENGTH = name('CONTENT_LENGTH');
const CONTENT_TYPE = name('CONTENT_TYPE');
const HTTP_1_0 = Buffer.from('HTTP/1.0', 'latin1');
const HTTP_1_1 = Buffer.from('HTTP/1.1', 'latin1');
const HTTP_PREFIX = Buffer.from('HTTP_', 'latin1');

/** A header name's byte as it is in its var's key: upper case, `-` as `_`. */
const KEY_BYTE = new Uint8Array(256);
for (let b = 0; b < 256; b++) KEY_BYTE[b] = b === 0x2d ? 0x5f : b >= 0x61 && b <= 0x7a ? b - 0x20 : b;

/** The ids of the `HTTP_*` keys whose headers mean more than a var. */
const HeaderId = {
  HOST: KeyId.HTTP_HOST,
  CONNECTION: KeyId.HTTP_CONNECTION,
  UPGRADE: KeyId.HTTP_UPGRADE,
  CONTENT_LENGTH: KeyId.HTTP_CONTENT_LENGTH,
  CONTENT_TYPE: KeyId.HTTP_CONTENT_TYPE,
  TRANSFER_ENCODING: KEY_IDS.get('HTTP_TRANSFER_ENCODING')!,
  PROXY: KeyId.HTTP_PROXY,
} as const;

/**
 * The vars of a head: names and values back to back in `block`, offsets in `vars`. Bytes
 * are copied from the head as they are: no string is made for a name or a value, and a
 * known name's id is looked up from its bytes (keys.ts).
 */
export class HeadVars {
  block = Buffer.allocUnsafe(4096);
  length = 0;
  readonly vars = new VarList();
  /** Where the value of the last var pushed lies in `block`. */
  valueStart = 0;
  valueEnd = 0;

  clear(): void {
    this.length = 0;
    this.vars.clear();
  }

  /** Makes room for `extra` more bytes. */
  reserve(extra: number): void {
    if (this.length + extra <= this.block.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.block.length * 2, this.length + extra));
    this.block.copy(grown, 0, 0, this.length);
    this.block = grown;
  }

  private appendText(text: string): void {
    this.reserve(text.length);
    if (text.length >= NATIVE_COPY) {
      this.length += this.block.write(text, this.length, 'latin1');
      return;
    }
    const block = this.block;
    let at = this.length;
    for (let i = 0; i < text.length; i++) block[at++] = text.charCodeAt(i);
    this.length = at;
  }

  /** Records the var whose key starts at `keyOffset` and value at `valueOffset`, ending
   * now; `keyId` < 0: look it up. Sets `valueStart`/`valueEnd`. */
  private finish(keyId: number, keyOffset: number, valueOffset: number): WireError | null {
    const keyLength = valueOffset - keyOffset;
    const valueLength = this.length - valueOffset;
    if (keyLength > 0xffff) return HttpErrors.fieldTooLong(keyLength);
    if (valueLength > 0xffff) return HttpErrors.fieldTooLong(valueLength);
    const id = keyId >= 0 ? keyId : lookupKey(this.block, keyOffset, keyLength);
    this.vars.push(id, keyOffset, keyLength, valueOffset, valueLength);
    this.valueStart = valueOffset;
    this.valueEnd = this.length;
    return null;
  }

  /** `name` = `src[start..end]`. Room must be made (`reserve`). */
  push(name: Name, src: Buffer, start: number, end: number): WireError | null {
    const keyOffset = this.length;
    const valueOffset = copyBytes(this.block, keyOffset, name.bytes, 0, name.bytes.length);
    this.length = copyBytes(this.block, valueOffset, src, start, end);
    return this.finish(name.id, keyOffset, valueOffset);
  }

  /** `name` = `value` (socket-derived vars). */
  pushText(name: string, value: string): void {
    const keyOffset = this.length;
    this.appendText(name);
    const valueOffset = this.length;
    this.appendText(value);
    this.finish(-1, keyOffset, valueOffset);
  }

  /** Writes the key `HTTP_<NAME>` of the header `src[nameStart..nameEnd]`; answers its id,
   * or -1 if the name has a `_` (such a header is no var). Room must be made. */
  headerKey(src: Buffer, nameStart: number, nameEnd: number): number {
    const block = this.block;
    const keyOffset = this.length;
    let at = copyBytes(block, keyOffset, HTTP_PREFIX, 0, HTTP_PREFIX.length);
    let underscore = false;
    for (let i = nameStart; i < nameEnd; i++) {
      const b = src[i]!;
      if (b === 0x5f) underscore = true;
      block[at++] = KEY_BYTE[b]!;
    }
    this.length = at;
    const id = lookupKey(block, keyOffset, at - keyOffset);
    return underscore ? -1 - id : id;
  }

  /** Drops what was written since `offset` (a header key that is no var). */
  rewind(offset: number): void {
    this.length = offset;
  }

  /** The value `src[start..end]` of the header whose key starts at `keyOffset`. */
  headerValue(keyId: number, keyOffset: number, src: Buffer, start: number, end: number): WireError | null {
    const valueOffset = this.length;
    this.length = copyBytes(this.block, valueOffset, src, start, end);
    return this.finish(keyId, keyOffset, valueOffset);
  }

  /** `PATH_INFO` = `src[start..end]` percent-decoded (a bad escape or %00 refused). Room must be made. */
  pushDecodedPath(src: Buffer, start: number, end: number, slash: boolean): WireError | null {
    const block = this.block;
    const keyOffset = this.length;
    const valueOffset = copyBytes(block, keyOffset, PATH_INFO.bytes, 0, PATH_INFO.bytes.length);
    let at = valueOffset;
    if (slash) block[at++] = 0x2f;
    for (let i = start; i < end;) {
      const b = src[i]!;
      if (b !== 0x25) {
        block[at++] = b;
        i++;
        continue;
      }
      const hi = i + 1 < end ? hexDigit(src[i + 1]!) : -1;
      const lo = i + 2 < end ? hexDigit(src[i + 2]!) : -1;
      if (hi < 0 || lo < 0 || (hi | lo) === 0) return HttpErrors.invalidPercentEncoding();
      block[at++] = (hi << 4) | lo;
      i += 3;
    }
    this.length = at;
    return this.finish(PATH_INFO.id, keyOffset, valueOffset);
  }
}

export type BodyFraming = 'none' | 'chunked' | number;

/** What the connection needs to know of a parsed head, beyond its vars. */
export interface Head {
  /** Bytes the head took; the body or the next request starts here. */
  length: number;
  minorVersion: number;
  body: BodyFraming;
  keepAlive: boolean;
  expectContinue: boolean;
  upgrade: boolean;
  /** The host asked for, as a range of the vars block (null: none). */
  host: [number, number] | null;
}

interface RequestLine {
  methodStart: number;
  methodEnd: number;
  targetStart: number;
  targetEnd: number;
  minorVersion: number;
  /** Where the header section starts. */
  next: number;
}

/** Method bytes: token characters other than lower-case letters. */
const METHOD = new Uint8Array(256);
/** Target bytes: visible ASCII other than `#`. */
const TARGET = new Uint8Array(256);
/** Field value bytes, by httparse's rule: HTAB, visible ASCII, space and obs-text. */
const VALUE = new Uint8Array(256);
for (let b = 0; b < 256; b++) {
  METHOD[b] = TOKEN[b] === 1 && !(b >= 0x61 && b <= 0x7a) ? 1 : 0;
  TARGET[b] = b >= 0x21 && b <= 0x7e && b !== 0x23 ? 1 : 0;
  VALUE[b] = b === HTAB || (b >= 0x20 && b !== 0x7f) ? 1 : 0;
}

const VERSION = Buffer.from('HTTP/1.');

/**
 * The request line from `start`, refusing each byte as soon as it cannot belong: the
 * method, the target, then `HTTP/1.x` CRLF, each a loop of its own. Every byte before the
 * CR is line content (the CR itself may sit at `maxLine`); past it, the line is too long.
 */
function requestLine(buf: Buffer, start: number, end: number, maxLine: number): RequestLine | WireError | null {
  const cap = start + maxLine;
  let pos = start;
  for (; ; pos++) {
    if (pos >= end) return null;
    const b = buf[pos]!;
    if (pos >= cap && b !== CR) return HttpErrors.requestLineTooLong(maxLine);
    if (METHOD[b] === 1) continue;
    if (b === SP && pos > start) break;
    return HttpErrors.invalidMethod();
  }
  const methodEnd = pos++;
  for (; ; pos++) {
    if (pos >= end) return null;
    const b = buf[pos]!;
    if (pos >= cap && b !== CR) return HttpErrors.requestLineTooLong(maxLine);
    if (TARGET[b] === 1) continue;
    if (b === SP && pos > methodEnd + 1) break;
    // `GET /` then the line end: HTTP/0.9, which has no version.
    if ((b === CR || b === LF) && pos > methodEnd + 1) return HttpErrors.invalidVersion();
    return HttpErrors.invalidTarget();
  }
  const targetEnd = pos++;
  let minorVersion = 0;
  // `HTTP/1.` (bytes 0-6), the minor version (7), the CR (8), the LF (9).
  for (let at = 0; ; at++, pos++) {
    if (pos >= end) return null;
    const b = buf[pos]!;
    if (at < 9 && pos >= cap && b !== CR) return HttpErrors.requestLineTooLong(maxLine);
    if (at < 7) {
      if (b !== VERSION[at]) return HttpErrors.invalidVersion();
    } else if (at === 7) {
      if (b !== 0x30 && b !== 0x31) return HttpErrors.invalidVersion();
      minorVersion = b - 0x30;
    } else if (at === 8) {
      if (b === LF) return HttpErrors.bareLf();
      if (b !== CR) return HttpErrors.invalidVersion();
    } else {
      if (b !== LF) return HttpErrors.bareCr();
      return { methodStart: start, methodEnd, targetStart: methodEnd + 1, targetEnd, minorVersion, next: pos + 1 };
    }
  }
}

/** Past this many bytes a value is read four bytes at a time. */
const LONG_VALUE = 64;

/**
 * Where the run of {@link VALUE} bytes from `pos` ends (at most `end`). A long value (a
 * cookie, a token) is read a 32-bit word at a time: a word with no byte below 0x20 and none
 * 0x7f is all value bytes (obs-text included), and only a word that may hold another (an
 * HTAB, the CR) is looked at byte by byte. About four times fewer steps per byte.
 */
function valueBytes(buf: Buffer, pos: number, end: number): number {
  const short = Math.min(end, pos + LONG_VALUE);
  while (pos < short && VALUE[buf[pos]!] === 1) pos++;
  if (pos < short || pos + 4 > end) {
    while (pos < end && VALUE[buf[pos]!] === 1) pos++;
    return pos;
  }
  const words = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  while (pos + 4 <= end) {
    const x = words.getUint32(pos, true);
    const y = x ^ 0x7f7f7f7f;
    // Any byte < 0x20, any byte 0x7f (exact as a yes/no, not as to which byte).
    if ((((x - 0x20202020) & ~x) | ((y - 0x01010101) & ~y)) & 0x80808080) {
      for (let k = 0; k < 4; k++, pos++) if (VALUE[buf[pos]!] === 0) return pos;
      continue;
    }
    pos += 4;
  }
  while (pos < end && VALUE[buf[pos]!] === 1) pos++;
  return pos;
}

/** The field lines read by {@link fieldLines}: name start, name end, value start, value end
 * per line. Reused across heads; grows with the largest head. */
let fieldRanges = new Int32Array(4 * 64);
/** How many field lines {@link fieldLines} read. */
let fieldCount = 0;

/**
 * Reads the field lines from `start` to the empty line, in one pass over their bytes: the
 * line structure (each line ends in CRLF, never a bare CR or LF, and does not start with
 * white space; the field count limit when line `maxHeaders + 1` starts), and inside each
 * line the field by httparse's rules (a token name directly followed by `:`, a value of
 * {@link VALUE} bytes). A field's error counts only once its line is complete: a line cut
 * short, or ended by a bare CR or LF, answers for its line end instead, as the Rust codec
 * runs httparse only over the complete lines its scan found. Answers the end of the head
 * (its ranges in `fieldRanges`, `fieldCount` of them), null when the bytes run out before
 * `end`, or the first error in byte order.
 */
function fieldLines(buf: Buffer, start: number, end: number, maxHeaders: number): number | WireError | null {
  let count = 0;
  let pos = start;
  for (;;) {
    if (pos >= end) return null;
    const first = buf[pos]!;
    if (first === CR) {
      if (pos + 1 >= end) return null;
      if (buf[pos + 1] !== LF) return HttpErrors.bareCr();
      fieldCount = count;
      return pos + 2;
    }
    if (first === LF) return HttpErrors.bareLf();
    if (first === SP || first === HTAB) return count === 0 ? HttpErrors.whitespaceBeforeHeaders() : HttpErrors.obsFold();
    if (count >= maxHeaders) return HttpErrors.tooManyHeaders(maxHeaders);
    const nameStart = pos;
    while (pos < end && TOKEN[buf[pos]!] === 1) pos++;
    const nameEnd = pos;
    let valueStart = pos;
    let valueEnd = pos;
    let error: WireError | null = null;
    if (pos === nameStart || pos >= end || buf[pos] !== COLON) {
      if (pos < end) error = HttpErrors.invalidHeaderName();
    } else {
      pos++;
      while (pos < end && (buf[pos] === SP || buf[pos] === HTAB)) pos++;
      valueStart = pos;
      pos = valueBytes(buf, pos, end);
      valueEnd = pos;
      if (pos < end && buf[pos] !== CR && buf[pos] !== LF) error = HttpErrors.invalidHeaderValue();
    }
    // The line end: the first CR or LF.
    if (error) while (pos < end && buf[pos] !== CR && buf[pos] !== LF) pos++;
    if (pos >= end) return null;
    if (buf[pos] === LF) return HttpErrors.bareLf();
    if (pos + 1 >= end) return null;
    if (buf[pos + 1] !== LF) return HttpErrors.bareCr();
    if (error) return error;
    while (valueEnd > valueStart && (buf[valueEnd - 1] === SP || buf[valueEnd - 1] === HTAB)) valueEnd--;
    const at = 4 * count;
    if (at + 4 > fieldRanges.length) {
      const grown = new Int32Array(fieldRanges.length * 2);
      grown.set(fieldRanges);
      fieldRanges = grown;
    }
    fieldRanges[at] = nameStart;
    fieldRanges[at + 1] = nameEnd;
    fieldRanges[at + 2] = valueStart;
    fieldRanges[at + 3] = valueEnd;
    count++;
    pos += 2;
  }
}

/**
 * Parses the head at `buf[0..length]` into `out`. In byte order: up to MAX_EMPTY_LINES
 * empty lines, the request line, the field lines (fieldLines); each limit at the byte that
 * passes it. Once the head is complete, `build` judges the target and the fields' meaning.
 */
export function parseHead(buf: Buffer, length: number, limits: HttpLimits, out: HeadVars): Head | WireError | null {
  out.clear();
  let pos = 0;
  let emptyLines = 0;
  for (;;) {
    if (pos >= length || (buf[pos] === CR && pos + 1 >= length)) return null;
    if (buf[pos] === CR && buf[pos + 1] === LF) {
      if (++emptyLines > MAX_EMPTY_LINES) return HttpErrors.tooManyEmptyLines();
      pos += 2;
      continue;
    }
    if (buf[pos] === CR) return HttpErrors.bareCr();
    if (buf[pos] === LF) return HttpErrors.bareLf();
    break;
  }
  const capAt = pos + limits.maxHeadBytes;
  const end = Math.min(length, capAt);
  const outOfBytes = length > capAt ? HttpErrors.headTooLarge(limits.maxHeadBytes) : null;
  const line = requestLine(buf, pos, end, limits.maxRequestLine);
  if (line === null) return outOfBytes;
  if (line instanceof WireError) return line;
  const headEnd = fieldLines(buf, line.next, end, limits.maxHeaders);
  if (headEnd === null) return outOfBytes;
  if (headEnd instanceof WireError) return headEnd;
  return build(buf, line, headEnd, limits, out);
}

/** Host bytes: RFC 3986 unreserved, sub-delims, `%`, `:`, `[`, `]`. Empty is valid. */
const HOST = new Uint8Array(256);
for (const c of "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,;=%:[]") HOST[c.charCodeAt(0)] = 1;

function isHost(buf: Buffer, start: number, end: number): boolean {
  for (let i = start; i < end; i++) if (HOST[buf[i]!] === 0) return false;
  return true;
}

/** Whether `buf[start..end]` is `bytes`, exactly. */
function equalsBytes(buf: Buffer, start: number, end: number, bytes: Buffer): boolean {
  if (end - start !== bytes.length) return false;
  for (let i = 0; i < bytes.length; i++) if (buf[start + i] !== bytes[i]) return false;
  return true;
}

const CONNECT = Buffer.from('CONNECT', 'latin1');
const OPTIONS = Buffer.from('OPTIONS', 'latin1');

/** The target's parts, as absolute ranges of the buffer; authority -1 when there is none. */
const parts = { pathStart: 0, pathEnd: 0, queryStart: 0, queryEnd: 0, authorityStart: -1, authorityEnd: -1 };

/** Splits the target from `from` at its first `?` into `parts`' path and query. */
function splitQuery(buf: Buffer, from: number, te: number): void {
  let q = from;
  while (q < te && buf[q] !== 0x3f) q++;
  parts.pathStart = from;
  parts.pathEnd = q;
  parts.queryStart = q < te ? q + 1 : te;
  parts.queryEnd = te;
}

/** The target's form (RFC 9112 §3.2) into `parts`, refusing one the method may not use. */
function targetParts(buf: Buffer, line: RequestLine, isConnect: boolean): WireError | null {
  const { targetStart: ts, targetEnd: te } = line;
  parts.authorityStart = parts.authorityEnd = -1;
  if (isConnect) {
    const colon = buf.lastIndexOf(0x3a, te - 1);
    if (colon < ts || colon === ts || colon + 1 === te || !isHost(buf, ts, te)) return HttpErrors.invalidTarget();
    for (let i = colon + 1; i < te; i++) if (buf[i]! < 0x30 || buf[i]! > 0x39) return HttpErrors.invalidTarget();
    parts.pathStart = parts.pathEnd = ts;
    parts.queryStart = parts.queryEnd = te;
    parts.authorityStart = ts;
    parts.authorityEnd = te;
    return null;
  }
  if (te - ts === 1 && buf[ts] === 0x2a && equalsBytes(buf, line.methodStart, line.methodEnd, OPTIONS)) {
    parts.pathStart = ts;
    parts.pathEnd = ts + 1;
    parts.queryStart = parts.queryEnd = te;
    return null;
  }
  if (buf[ts] === 0x2f) {
    splitQuery(buf, ts, te);
    return null;
  }
  const sep = buf.indexOf('://', ts, 'latin1');
  if (sep === -1 || sep + 3 > te) return HttpErrors.invalidTarget();
  if (!equalsIgnoreCase(buf, ts, sep, 'http') && !equalsIgnoreCase(buf, ts, sep, 'https')) return HttpErrors.invalidTarget();
  const from = sep + 3;
  let authorityEnd = from;
  while (authorityEnd < te && buf[authorityEnd] !== 0x2f && buf[authorityEnd] !== 0x3f) authorityEnd++;
  if (authorityEnd === from) return HttpErrors.invalidTarget();
  const at = buf.indexOf(0x40, from);
  if (at !== -1 && at < authorityEnd) return HttpErrors.invalidTarget();
  if (!isHost(buf, from, authorityEnd)) return HttpErrors.invalidHost();
  splitQuery(buf, authorityEnd, te);
  parts.authorityStart = from;
  parts.authorityEnd = authorityEnd;
  return null;
}

/** The vars and the Head of a complete head whose field lines are in `fieldRanges`. */
function build(buf: Buffer, line: RequestLine, headEnd: number, limits: HttpLimits, out: HeadVars): Head | WireError {
  const minorVersion = line.minorVersion;
  const isConnect = equalsBytes(buf, line.methodStart, line.methodEnd, CONNECT);
  const partsError = targetParts(buf, line, isConnect);
  if (partsError) return partsError;
  const { targetStart: ts, targetEnd: te } = line;
  const authorityStart = parts.authorityStart;
  const authorityEnd = parts.authorityEnd;
  const hasAuthority = authorityStart >= 0;
  // Room for every var at once: the head's bytes, the target three times more (PATH_INFO,
  // QUERY_STRING; HTTP_HOST from an absolute target, twice at most), the names longer than the bytes
  // they come from (`HTTP_`, the request line's vars).
  out.reserve(headEnd + 3 * (te - ts) + 5 * fieldCount + 128);
  let error = out.push(REQUEST_METHOD, buf, line.methodStart, line.methodEnd);
  if (error) return error;
  error = out.push(REQUEST_URI, buf, ts, te);
  if (error) return error;
  const uriStart = out.valueStart;
  const slash = parts.pathStart === parts.pathEnd && hasAuthority && !isConnect;
  error = out.pushDecodedPath(buf, parts.pathStart, parts.pathEnd, slash);
  if (error) return error;
  error = out.push(QUERY_STRING, buf, parts.queryStart, parts.queryEnd);
  if (error) return error;
  const protocol = minorVersion === 1 ? HTTP_1_1 : HTTP_1_0;
  error = out.push(SERVER_PROTOCOL, protocol, 0, protocol.length);
  if (error) return error;

  // An absolute-form target's authority wins over Host (RFC 9112 §3.2.2): HTTP_HOST says it
  // too, so that it agrees with SERVER_NAME.
  const absoluteHost = hasAuthority && !isConnect;
  let contentLength = -1;
  let transferEncoding = -1;
  let transferEncodingEnd = -1;
  let hostStart = -1;
  let hostEnd = -1;
  let close = false;
  let keepAlive = false;
  let connectionUpgrade = false;
  let upgradeHeader = false;
  let expectContinue = false;
  let expectOther = false;
  const ranges = fieldRanges;
  for (let f = 0; f < fieldCount; f++) {
    const ns = ranges[4 * f]!;
    const ne = ranges[4 * f + 1]!;
    const vs = ranges[4 * f + 2]!;
    const ve = ranges[4 * f + 3]!;
    const keyOffset = out.length;
    const id = out.headerKey(buf, ns, ne);
    if (id < 0) {
      // A name with `_`: no var; the framing headers spelt so are refused.
      out.rewind(keyOffset);
      if (id === -1 - HeaderId.CONTENT_LENGTH || id === -1 - HeaderId.TRANSFER_ENCODING) return HttpErrors.underscoreFramingHeader();
      continue;
    }
    if (id === HeaderId.PROXY) {
      out.rewind(keyOffset);
      continue;
    }
    if (id === HeaderId.CONTENT_LENGTH) {
      out.rewind(keyOffset);
      if (contentLength >= 0) return HttpErrors.duplicateContentLength();
      if (vs === ve) return HttpErrors.invalidContentLength();
      const n = parseContentLength(buf, vs, ve);
      if (n === 'not-digits') return HttpErrors.invalidContentLength();
      if (n === 'too-large') return HttpErrors.contentLengthOverflow();
      contentLength = n;
      error = out.push(CONTENT_LENGTH, buf, vs, ve);
      if (error) return error;
      continue;
    }
    if (id === HeaderId.CONTENT_TYPE) {
      out.rewind(keyOffset);
      error = out.push(CONTENT_TYPE, buf, vs, ve);
      if (error) return error;
      continue;
    }
    const isHostField = id === HeaderId.HOST;
    error = isHostField && absoluteHost ? out.headerValue(id, keyOffset, buf, authorityStart, authorityEnd) : out.headerValue(id, keyOffset, buf, vs, ve);
    if (error) return error;
    if (id === HeaderId.TRANSFER_ENCODING) {
      if (transferEncoding >= 0) return HttpErrors.duplicateTransferEncoding();
      transferEncoding = out.valueStart;
      transferEncodingEnd = out.valueEnd;
    } else if (isHostField) {
      if (hostStart >= 0) return HttpErrors.duplicateHost();
      if (!isHost(buf, vs, ve)) return HttpErrors.invalidHost();
      hostStart = out.valueStart;
      hostEnd = out.valueEnd;
    } else if (id === HeaderId.CONNECTION) {
      close ||= hasToken(buf, vs, ve, 'close');
      keepAlive ||= hasToken(buf, vs, ve, 'keep-alive');
      connectionUpgrade ||= hasToken(buf, vs, ve, 'upgrade');
    } else if (id === HeaderId.UPGRADE) {
      upgradeHeader = true;
    } else if (id === 0 && minorVersion === 1 && equalsIgnoreCase(buf, ns, ne, 'expect')) {
      if (equalsIgnoreCase(buf, vs, ve, '100-continue')) expectContinue = true;
      else expectOther = true;
    }
  }

  const chunked = transferEncoding >= 0;
  if (chunked && contentLength >= 0) return HttpErrors.contentLengthWithTransferEncoding();
  if (chunked) {
    if (minorVersion === 0) return HttpErrors.transferEncodingOnHttp10();
    if (!equalsIgnoreCase(out.block, transferEncoding, transferEncodingEnd, 'chunked')) return HttpErrors.unsupportedTransferEncoding();
  }
  if (isConnect && (chunked || contentLength >= 0)) return HttpErrors.bodyOnConnect();
  if (minorVersion === 1 && hostStart < 0) return HttpErrors.missingHost();
  if (contentLength >= 0 && limits.maxBody !== 0 && contentLength > limits.maxBody) return HttpErrors.bodyTooLarge(contentLength, limits.maxBody);
  if (expectOther) return HttpErrors.expectationFailed();

  return {
    length: headEnd,
    minorVersion,
    body: chunked ? 'chunked' : contentLength >= 0 ? contentLength : 'none',
    keepAlive: !isConnect && !close && (minorVersion === 1 || keepAlive),
    expectContinue: minorVersion === 1 && expectContinue,
    upgrade: isConnect || (minorVersion === 1 && connectionUpgrade && upgradeHeader),
    host: hasAuthority ? [uriStart + authorityStart - ts, uriStart + authorityEnd - ts] : hostStart >= 0 ? [hostStart, hostEnd] : null,
  };
}
