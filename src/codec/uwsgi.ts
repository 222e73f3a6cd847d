/**
 * The uwsgi protocol (crates/tsgi-wire/src/uwsgi.rs, cases U1-U27): a 4-byte header
 * (modifier1, datasize u16 LE, modifier2), `datasize` bytes of `u16 LE key length, key,
 * u16 LE value length, value` pairs, then the body of `CONTENT_LENGTH` bytes.
 *
 * `parseRequest` answers `null` (more bytes needed), a {@link WireError}, or the parsed
 * head; every prefix of a buffer answers `null` or what the whole buffer answers.
 */
import { Framing, httpPrefix, refusalError } from './request.js';
import { VarList, WireError, pushVar } from './wire.js';

export const HEADER_LEN = 4;
export const MODIFIER_WSGI = 0;
export const MODIFIER_MANAGE_PATH_INFO = 30;
export const MODIFIER_PING = 100;

/** `buffer-size` (at most 65535), `max-vars`, `limit-post` (0: none). */
export interface UwsgiLimits {
  maxVarsBlock: number;
  maxVars: number;
  maxBody: number;
}

export interface UwsgiHead {
  modifier1: number;
  contentLength: number;
  /** The request asks to switch protocols (crates/tsgi-wire/src/uwsgi.rs
   * `RequestInfo::upgrade`): CONNECT, or HTTP/1.1 with a Connection token `upgrade` and an
   * Upgrade header, read from the vars. Whether it can be tunnelled is the reactor's call. */
  upgrade: boolean;
  /** Header and vars block: the body starts here. */
  consumed: number;
}

export const UwsgiErrors = {
  truncatedHeader: () => new WireError('uwsgi_truncated_header', null, 'uwsgi peer closed inside the 4-byte packet header (truncated header)'),
  truncatedVars: () => new WireError('uwsgi_truncated_vars', null, 'uwsgi peer closed inside the vars block (truncated vars)'),
  varsTooLarge: (size: number, limit: number) =>
    new WireError('uwsgi_vars_too_large', 431, `uwsgi vars block of ${size} bytes is over buffer-size ${limit} (raise --buffer-size)`),
};

const emptyVars = (): WireError => new WireError('uwsgi_empty_vars', 400, 'uwsgi vars block is empty (datasize 0), so there is no REQUEST_METHOD');
const keyOverrun = (): WireError => new WireError('uwsgi_key_overrun', 400, 'uwsgi var key length runs past the end of the vars block');
const valueOverrun = (): WireError => new WireError('uwsgi_value_overrun', 400, 'uwsgi var value length runs past the end of the vars block');
const emptyKey = (): WireError => new WireError('uwsgi_empty_key', 400, 'uwsgi var with an empty key');
const tooManyVars = (limit: number): WireError =>
  new WireError('uwsgi_too_many_vars', 400, `uwsgi request has more than max-vars ${limit} vars (raise --max-vars)`);
const unsupportedModifier = (m: number): WireError =>
  new WireError(
    'uwsgi_unsupported_modifier',
    501,
    `uwsgi modifier1 ${m} is not served (only ${MODIFIER_WSGI}, ${MODIFIER_MANAGE_PATH_INFO} and ping ${MODIFIER_PING} are)`,
  );
const looksLikeHttp = (): WireError =>
  new WireError('uwsgi_looks_like_http', null, 'HTTP request sent to a uwsgi socket (point an HTTP client at --http-socket, or use uwsgi_pass in nginx)');

function isServedModifier(m: number): boolean {
  return m === MODIFIER_WSGI || m === MODIFIER_MANAGE_PATH_INFO || m === MODIFIER_PING;
}

const framing = new Framing();

/**
 * Parses a whole head at `buf[0..length]` into `vars` (offsets relative to the vars
 * block, which starts at `HEADER_LEN`). Checks in the Rust order: HTTP bytes, modifier1,
 * datasize 0, datasize over the limit, then the pairs in wire order, then their meaning.
 */
export function parseRequest(buf: Buffer, length: number, limits: UwsgiLimits, vars: VarList): UwsgiHead | WireError | null {
  if (length === 0) return null;
  const sniff = httpPrefix(buf, 0, length);
  if (sniff === 'http') return looksLikeHttp();
  if (sniff === 'maybe') return null;
  const modifier1 = buf[0]!;
  if (!isServedModifier(modifier1)) return unsupportedModifier(modifier1);
  if (length < HEADER_LEN) return null;
  const datasize = buf[1]! | (buf[2]! << 8);
  if (modifier1 === MODIFIER_PING) {
    if (datasize !== 0) return unsupportedModifier(modifier1);
    vars.clear();
    return { modifier1, contentLength: 0, upgrade: false, consumed: HEADER_LEN };
  }
  if (datasize === 0) return emptyVars();
  if (datasize > limits.maxVarsBlock) return UwsgiErrors.varsTooLarge(datasize, limits.maxVarsBlock);
  const end = HEADER_LEN + datasize;
  if (length < end) return null;
  const block = buf.subarray(HEADER_LEN, end);
  const info = parseVars(block, limits, vars);
  if (info instanceof WireError) return info;
  return { modifier1, contentLength: info, upgrade: framing.upgrade, consumed: end };
}

/** Parses a complete vars block; answers the body length (`parseRequest` adds whether the
 * request is an upgrade, decided in the same walk). */
export function parseVars(block: Buffer, limits: UwsgiLimits, vars: VarList): number | WireError {
  vars.clear();
  framing.reset();
  const end = block.length;
  let pos = 0;
  while (pos < end) {
    if (vars.count >= limits.maxVars) return tooManyVars(limits.maxVars);
    if (end - pos < 2) return keyOverrun();
    const keyLength = block[pos]! | (block[pos + 1]! << 8);
    pos += 2;
    if (keyLength === 0) return emptyKey();
    if (keyLength > end - pos) return keyOverrun();
    const keyOffset = pos;
    pos += keyLength;
    if (end - pos < 2) return valueOverrun();
    const valueLength = block[pos]! | (block[pos + 1]! << 8);
    pos += 2;
    if (valueLength > end - pos) return valueOverrun();
    const keyId = pushVar(vars, block, keyOffset, keyLength, pos, valueLength);
    framing.see(block, keyId, pos, valueLength);
    pos += valueLength;
  }
  const outcome = framing.finish(block, limits.maxBody);
  return typeof outcome === 'number' ? outcome : refusalError('uwsgi', 'var', outcome);
}
