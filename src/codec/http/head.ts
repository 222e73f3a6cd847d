/**
 * HTTP/1.1 request heads (crates/tsgi-wire/src/http/head.rs): the request line read byte
 * by byte, the line structure checked before any field is read (CRLF only, no leading
 * white space, the limits at the byte that passes them), the fields read by the rules
 * `httparse` applies in the Rust codec, then the framing decided here. Every prefix of a
 * buffer answers `null` or what the whole buffer answers, and errors come in byte order.
 *
 * The vars are the canonical form: `REQUEST_METHOD`, `REQUEST_URI`, `PATH_INFO`,
 * `QUERY_STRING`, `SERVER_PROTOCOL`, then one var per header line (`CONTENT_LENGTH`,
 * `CONTENT_TYPE`, `HTTP_*`); names with `_` and `Proxy` dropped.
 */
import { HttpErrors, MAX_EMPTY_LINES, type HttpLimits } from './errors.js';
import { lookupKey } from '../keys.js';
import { TOKEN, VarList, WireError, equalsIgnoreCase, hasToken, hexDigit, parseContentLength } from '../wire.js';

const CR = 0x0d;
const LF = 0x0a;
const SP = 0x20;
const HTAB = 0x09;

/** The vars of a head: names and values back to back in `block`, offsets in `vars`. */
export class HeadVars {
  block = Buffer.allocUnsafe(4096);
  length = 0;
  readonly vars = new VarList();

  clear(): void {
    this.length = 0;
    this.vars.clear();
  }

  private room(extra: number): void {
    if (this.length + extra <= this.block.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.block.length * 2, this.length + extra));
    this.block.copy(grown, 0, 0, this.length);
    this.block = grown;
  }

  private appendBytes(src: Buffer, start: number, end: number): void {
    this.room(end - start);
    src.copy(this.block, this.length, start, end);
    this.length += end - start;
  }

  private appendText(text: string): void {
    this.room(text.length);
    this.length += this.block.write(text, this.length, 'latin1');
  }

  /** Records the var whose key starts at `keyOffset` and value at `valueOffset`, ending now. */
  private finish(keyOffset: number, valueOffset: number): [number, number] | WireError {
    const keyLength = valueOffset - keyOffset;
    const valueLength = this.length - valueOffset;
    if (keyLength > 0xffff) return HttpErrors.fieldTooLong(keyLength);
    if (valueLength > 0xffff) return HttpErrors.fieldTooLong(valueLength);
    this.vars.push(lookupKey(this.block, keyOffset, keyLength), keyOffset, keyLength, valueOffset, valueLength);
    return [valueOffset, this.length];
  }

  /** `name` = `src[start..end]`; answers the value's range in the block. */
  push(name: string, src: Buffer, start: number, end: number): [number, number] | WireError {
    const keyOffset = this.length;
    this.appendText(name);
    const valueOffset = this.length;
    this.appendBytes(src, start, end);
    return this.finish(keyOffset, valueOffset);
  }

  /** `name` = `value` (socket-derived vars). */
  pushText(name: string, value: string): void {
    const keyOffset = this.length;
    this.appendText(name);
    const valueOffset = this.length;
    this.appendText(value);
    this.finish(keyOffset, valueOffset);
  }

  /** `HTTP_<NAME>` for the header `src[nameStart..nameEnd]`. */
  pushHeader(src: Buffer, nameStart: number, nameEnd: number, start: number, end: number): [number, number] | WireError {
    const keyOffset = this.length;
    this.appendText('HTTP_');
    this.room(nameEnd - nameStart);
    for (let i = nameStart; i < nameEnd; i++) {
      const b = src[i]!;
      this.block[this.length++] = b === 0x2d ? 0x5f : b >= 0x61 && b <= 0x7a ? b - 0x20 : b;
    }
    const valueOffset = this.length;
    this.appendBytes(src, start, end);
    return this.finish(keyOffset, valueOffset);
  }

  /** `PATH_INFO` = `src[start..end]` percent-decoded (a bad escape or %00 refused). */
  pushDecodedPath(src: Buffer, start: number, end: number, slash: boolean): WireError | null {
    const keyOffset = this.length;
    this.appendText('PATH_INFO');
    const valueOffset = this.length;
    this.room(slash ? 1 : end - start);
    if (slash) this.block[this.length++] = 0x2f;
    for (let i = start; i < end;) {
      const b = src[i]!;
      if (b !== 0x25) {
        this.block[this.length++] = b;
        i++;
        continue;
      }
      const hi = i + 1 < end ? hexDigit(src[i + 1]!) : -1;
      const lo = i + 2 < end ? hexDigit(src[i + 2]!) : -1;
      if (hi < 0 || lo < 0 || (hi | lo) === 0) return HttpErrors.invalidPercentEncoding();
      this.block[this.length++] = (hi << 4) | lo;
      i += 3;
    }
    const done = this.finish(keyOffset, valueOffset);
    return done instanceof WireError ? done : null;
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

function isMethodByte(b: number): boolean {
  return TOKEN[b] === 1 && !(b >= 0x61 && b <= 0x7a);
}

function isTargetByte(b: number): boolean {
  return b >= 0x21 && b <= 0x7e && b !== 0x23;
}

const VERSION = Buffer.from('HTTP/1.');

const enum L {
  Method,
  Target,
  Version,
  Lf,
}

/** The request line from `start`, refusing each byte as soon as it cannot belong. */
function requestLine(buf: Buffer, start: number, end: number, maxLine: number): RequestLine | WireError | null {
  let state = L.Method;
  let versionAt = 0;
  let methodEnd = start;
  let targetEnd = start;
  let minorVersion = 0;
  for (let pos = start; pos < end; pos++) {
    const b = buf[pos]!;
    if (pos - start >= maxLine && b !== CR && state !== L.Lf) return HttpErrors.requestLineTooLong(maxLine);
    switch (state) {
      case L.Method:
        if (isMethodByte(b)) break;
        if (b === SP && pos > start) {
          methodEnd = pos;
          state = L.Target;
          break;
        }
        return HttpErrors.invalidMethod();
      case L.Target:
        if (isTargetByte(b)) break;
        if (b === SP && pos > methodEnd + 1) {
          targetEnd = pos;
          state = L.Version;
          versionAt = 0;
          break;
        }
        // `GET /` then the line end: HTTP/0.9, which has no version.
        if ((b === CR || b === LF) && pos > methodEnd + 1) return HttpErrors.invalidVersion();
        return HttpErrors.invalidTarget();
      case L.Version:
        if (versionAt < 7 && b === VERSION[versionAt]) versionAt++;
        else if (versionAt === 7 && (b === 0x30 || b === 0x31)) {
          minorVersion = b - 0x30;
          versionAt = 8;
        } else if (versionAt === 8 && b === CR) state = L.Lf;
        else if (versionAt === 8 && b === LF) return HttpErrors.bareLf();
        else return HttpErrors.invalidVersion();
        break;
      case L.Lf:
        if (b !== LF) return HttpErrors.bareCr();
        return { methodStart: start, methodEnd, targetStart: methodEnd + 1, targetEnd, minorVersion, next: pos + 1 };
    }
  }
  return null;
}

/** The line structure: the request line, then complete field lines up to `fieldsEnd`. */
interface Scan {
  line: RequestLine | null;
  fieldsEnd: number;
  fieldLines: number;
  /** The end of the head, null (more bytes), or the first line-level error. */
  outcome: number | null | WireError;
}

function scan(buf: Buffer, length: number, limits: HttpLimits): Scan {
  const result: Scan = { line: null, fieldsEnd: 0, fieldLines: 0, outcome: null };
  let pos = 0;
  let emptyLines = 0;
  for (;;) {
    if (pos >= length || (buf[pos] === CR && pos + 1 >= length)) return result;
    if (buf[pos] === CR && buf[pos + 1] === LF) {
      if (++emptyLines > MAX_EMPTY_LINES) return { ...result, outcome: HttpErrors.tooManyEmptyLines() };
      pos += 2;
      continue;
    }
    if (buf[pos] === CR) return { ...result, outcome: HttpErrors.bareCr() };
    if (buf[pos] === LF) return { ...result, outcome: HttpErrors.bareLf() };
    break;
  }
  const capAt = pos + limits.maxHeadBytes;
  const end = Math.min(length, capAt);
  const over = length > capAt;
  const outOfBytes = (): Scan => (over ? { ...result, outcome: HttpErrors.headTooLarge(limits.maxHeadBytes) } : result);
  const line = requestLine(buf, pos, end, limits.maxRequestLine);
  if (line === null) return outOfBytes();
  if (line instanceof WireError) return { ...result, outcome: line };
  result.line = line;
  result.fieldsEnd = pos = line.next;
  for (;;) {
    if (pos >= end) return outOfBytes();
    const first = buf[pos]!;
    if (first === CR) {
      if (pos + 1 >= end) return outOfBytes();
      result.outcome = buf[pos + 1] === LF ? pos + 2 : HttpErrors.bareCr();
      return result;
    }
    if (first === LF) return { ...result, outcome: HttpErrors.bareLf() };
    if (first === SP || first === HTAB) return { ...result, outcome: result.fieldLines === 0 ? HttpErrors.whitespaceBeforeHeaders() : HttpErrors.obsFold() };
    if (result.fieldLines >= limits.maxHeaders) return { ...result, outcome: HttpErrors.tooManyHeaders(limits.maxHeaders) };
    let k = pos;
    while (k < end && buf[k] !== CR && buf[k] !== LF) k++;
    if (k >= end) return outOfBytes();
    if (buf[k] === LF) return { ...result, outcome: HttpErrors.bareLf() };
    if (k + 1 >= end) return outOfBytes();
    if (buf[k + 1] !== LF) return { ...result, outcome: HttpErrors.bareCr() };
    pos = k + 2;
    result.fieldLines++;
    result.fieldsEnd = pos;
  }
}

/** A field line as read: name, then the value without the white space around it. */
interface Field {
  nameStart: number;
  nameEnd: number;
  valueStart: number;
  valueEnd: number;
}

/**
 * Reads the complete field lines in `buf[start..end]` (each ending in CRLF, as `scan`
 * made sure) by httparse's rules: a token name directly followed by `:`, a value of
 * HTAB, visible ASCII, space and obs-text. The first bad line's error.
 */
function readFields(buf: Buffer, start: number, end: number, fields: Field[]): WireError | null {
  fields.length = 0;
  let pos = start;
  while (pos < end) {
    const nameStart = pos;
    while (TOKEN[buf[pos]!] === 1) pos++;
    if (pos === nameStart || buf[pos] !== 0x3a) return HttpErrors.invalidHeaderName();
    const nameEnd = pos++;
    while (buf[pos] === SP || buf[pos] === HTAB) pos++;
    const valueStart = pos;
    for (;;) {
      const b = buf[pos]!;
      if (b === CR) break;
      if (b !== HTAB && (b < 0x20 || b === 0x7f)) return HttpErrors.invalidHeaderValue();
      pos++;
    }
    let valueEnd = pos;
    while (valueEnd > valueStart && (buf[valueEnd - 1] === SP || buf[valueEnd - 1] === HTAB)) valueEnd--;
    fields.push({ nameStart, nameEnd, valueStart, valueEnd });
    pos += 2;
  }
  return null;
}

const fieldList: Field[] = [];

/** Parses the head at `buf[0..length]` into `out`. */
export function parseHead(buf: Buffer, length: number, limits: HttpLimits, out: HeadVars): Head | WireError | null {
  out.clear();
  const scanned = scan(buf, length, limits);
  const line = scanned.line;
  if (!line) return scanned.outcome instanceof WireError ? scanned.outcome : null;
  // The field lines before the stop are judged first: their errors come earlier in the bytes.
  const fieldError = readFields(buf, line.next, scanned.fieldsEnd, fieldList);
  if (fieldError) return fieldError;
  if (typeof scanned.outcome !== 'number') return scanned.outcome;
  return build(buf, line, fieldList, scanned.outcome, limits, out);
}

/** Host bytes: RFC 3986 unreserved, sub-delims, `%`, `:`, `[`, `]`. Empty is valid. */
const HOST = new Uint8Array(256);
for (const c of "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,;=%:[]") HOST[c.charCodeAt(0)] = 1;

function isHost(buf: Buffer, start: number, end: number): boolean {
  for (let i = start; i < end; i++) if (HOST[buf[i]!] === 0) return false;
  return true;
}

interface TargetParts {
  path: [number, number];
  query: [number, number];
  authority: [number, number] | null;
}

/** The target's form (RFC 9112 §3.2), refusing one the method may not use. Absolute ranges. */
function targetParts(buf: Buffer, line: RequestLine): TargetParts | WireError {
  const { targetStart: ts, targetEnd: te } = line;
  const splitQuery = (from: number): [[number, number], [number, number]] => {
    const q = buf.indexOf(0x3f, from);
    return q === -1 || q >= te
      ? [
          [from, te],
          [te, te],
        ]
      : [
          [from, q],
          [q + 1, te],
        ];
  };
  const method = buf.toString('latin1', line.methodStart, line.methodEnd);
  if (method === 'CONNECT') {
    const colon = buf.lastIndexOf(0x3a, te - 1);
    if (colon < ts || colon === ts || colon + 1 === te || !isHost(buf, ts, te)) return HttpErrors.invalidTarget();
    for (let i = colon + 1; i < te; i++) if (buf[i]! < 0x30 || buf[i]! > 0x39) return HttpErrors.invalidTarget();
    return { path: [ts, ts], query: [te, te], authority: [ts, te] };
  }
  if (te - ts === 1 && buf[ts] === 0x2a && method === 'OPTIONS') return { path: [ts, ts + 1], query: [te, te], authority: null };
  if (buf[ts] === 0x2f) {
    const [path, query] = splitQuery(ts);
    return { path, query, authority: null };
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
  const [path, query] = splitQuery(authorityEnd);
  return { path, query, authority: [from, authorityEnd] };
}

function build(buf: Buffer, line: RequestLine, fields: Field[], headEnd: number, limits: HttpLimits, out: HeadVars): Head | WireError {
  const minorVersion = line.minorVersion;
  const parts = targetParts(buf, line);
  if (parts instanceof WireError) return parts;
  const isConnect = line.methodEnd - line.methodStart === 7 && buf.toString('latin1', line.methodStart, line.methodEnd) === 'CONNECT';
  let pushed = out.push('REQUEST_METHOD', buf, line.methodStart, line.methodEnd);
  if (pushed instanceof WireError) return pushed;
  const uri = out.push('REQUEST_URI', buf, line.targetStart, line.targetEnd);
  if (uri instanceof WireError) return uri;
  const [pathStart, pathEnd] = parts.path;
  const slash = pathStart === pathEnd && parts.authority !== null && !isConnect;
  const pathError = out.pushDecodedPath(buf, pathStart, pathEnd, slash);
  if (pathError) return pathError;
  pushed = out.push('QUERY_STRING', buf, parts.query[0], parts.query[1]);
  if (pushed instanceof WireError) return pushed;
  out.pushText('SERVER_PROTOCOL', minorVersion === 1 ? 'HTTP/1.1' : 'HTTP/1.0');

  // An absolute-form target's authority wins over Host (RFC 9112 §3.2.2): HTTP_HOST says it
  // too, so that it agrees with SERVER_NAME.
  const absoluteHost = isConnect ? null : parts.authority;
  let contentLength = -1;
  let transferEncoding: [number, number] | null = null;
  let host: [number, number] | null = null;
  let close = false;
  let keepAlive = false;
  let connectionUpgrade = false;
  let upgradeHeader = false;
  let expectContinue = false;
  let expectOther = false;
  for (const { nameStart: ns, nameEnd: ne, valueStart: vs, valueEnd: ve } of fields) {
    const is = (lower: string): boolean => equalsIgnoreCase(buf, ns, ne, lower);
    const underscore = buf.indexOf(0x5f, ns);
    if (underscore !== -1 && underscore < ne) {
      if (is('content_length') || is('transfer_encoding')) return HttpErrors.underscoreFramingHeader();
      continue;
    }
    if (is('proxy')) continue;
    if (is('content-length')) {
      if (contentLength >= 0) return HttpErrors.duplicateContentLength();
      if (vs === ve) return HttpErrors.invalidContentLength();
      const n = parseContentLength(buf, vs, ve);
      if (n === 'not-digits') return HttpErrors.invalidContentLength();
      if (n === 'too-large') return HttpErrors.contentLengthOverflow();
      contentLength = n;
      pushed = out.push('CONTENT_LENGTH', buf, vs, ve);
      if (pushed instanceof WireError) return pushed;
      continue;
    }
    if (is('content-type')) {
      pushed = out.push('CONTENT_TYPE', buf, vs, ve);
      if (pushed instanceof WireError) return pushed;
      continue;
    }
    const isHostField = is('host');
    const range = isHostField && absoluteHost ? out.pushHeader(buf, ns, ne, absoluteHost[0], absoluteHost[1]) : out.pushHeader(buf, ns, ne, vs, ve);
    if (range instanceof WireError) return range;
    if (is('transfer-encoding')) {
      if (transferEncoding) return HttpErrors.duplicateTransferEncoding();
      transferEncoding = range;
    } else if (isHostField) {
      if (host) return HttpErrors.duplicateHost();
      if (!isHost(buf, vs, ve)) return HttpErrors.invalidHost();
      host = range;
    } else if (is('connection')) {
      close ||= hasToken(buf, vs, ve, 'close');
      keepAlive ||= hasToken(buf, vs, ve, 'keep-alive');
      connectionUpgrade ||= hasToken(buf, vs, ve, 'upgrade');
    } else if (is('upgrade')) {
      upgradeHeader = true;
    } else if (is('expect') && minorVersion === 1) {
      if (equalsIgnoreCase(buf, vs, ve, '100-continue')) expectContinue = true;
      else expectOther = true;
    }
  }

  if (transferEncoding && contentLength >= 0) return HttpErrors.contentLengthWithTransferEncoding();
  if (transferEncoding) {
    if (minorVersion === 0) return HttpErrors.transferEncodingOnHttp10();
    if (!equalsIgnoreCase(out.block, transferEncoding[0], transferEncoding[1], 'chunked')) return HttpErrors.unsupportedTransferEncoding();
  }
  if (isConnect && (transferEncoding || contentLength >= 0)) return HttpErrors.bodyOnConnect();
  if (minorVersion === 1 && !host) return HttpErrors.missingHost();
  if (contentLength >= 0 && limits.maxBody !== 0 && contentLength > limits.maxBody) return HttpErrors.bodyTooLarge(contentLength, limits.maxBody);
  if (expectOther) return HttpErrors.expectationFailed();

  const authority = parts.authority;
  return {
    length: headEnd,
    minorVersion,
    body: transferEncoding ? 'chunked' : contentLength >= 0 ? contentLength : 'none',
    keepAlive: !isConnect && !close && (minorVersion === 1 || keepAlive),
    expectContinue: minorVersion === 1 && expectContinue,
    upgrade: isConnect || (minorVersion === 1 && connectionUpgrade && upgradeHeader),
    host: authority ? [uri[0] + authority[0] - line.targetStart, uri[0] + authority[1] - line.targetStart] : host,
  };
}
