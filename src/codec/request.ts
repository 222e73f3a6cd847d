/**
 * What every protocol checks once a request's vars are all in (crates/tsgi-wire/src/
 * request.rs, the rules of U10/U11 and U15-U18 and their FastCGI twins), so the same vars
 * sent over uwsgi or FastCGI are refused for the same reason, in the same order, with the
 * same words; whether the vars ask to switch protocols, by the HTTP codec's rule; and the
 * sniff that tells an HTTP request sent to the wrong port.
 *
 * The Rust maps a `Refusal` into each protocol's own error type (uwsgi.rs, fastcgi.rs);
 * here one function words both, so the two cannot drift apart.
 */
import { KeyId, KNOWN_KEYS } from './keys.js';
import { MAX_CONTENT_LENGTH, hasToken, parseContentLength, TOKEN, WireError } from './wire.js';

/** Whether the start of a buffer is an HTTP request line: `[A-Z]{3}[A-Z ]`. */
export function httpPrefix(buf: Buffer, start: number, end: number): 'http' | 'maybe' | 'no' {
  const n = Math.min(4, end - start);
  for (let i = 0; i < n; i++) {
    const b = buf[start + i]!;
    const upper = b >= 0x41 && b <= 0x5a;
    if (!upper && !(i === 3 && b === 0x20)) return 'no';
  }
  return n >= 4 ? 'http' : 'maybe';
}

/** Why well-formed vars are still refused; each protocol words its own message. */
export type Refusal =
  | { kind: 'conflict'; key: number }
  | { kind: 'missing-method' }
  | { kind: 'invalid-method' }
  | { kind: 'invalid-content-length' }
  | { kind: 'content-length-overflow' }
  | { kind: 'body-too-large'; length: number; limit: number };

const CONNECT = Buffer.from('CONNECT', 'latin1');
const HTTP_11 = Buffer.from('HTTP/1.1', 'latin1');

/**
 * What the walk over the vars keeps for the checks after it: the first value of each var
 * that decides framing or routing (a later occurrence must repeat it byte for byte or the
 * request is refused, U10/U11), and what says whether the request is an upgrade.
 */
export class Framing {
  private method = -1;
  private methodLength = 0;
  private uri = -1;
  private uriLength = 0;
  private contentLength = -1;
  private contentLengthLength = 0;
  private conflict = 0;
  /** SERVER_PROTOCOL is HTTP/1.1 (its last value: the one the app sees). */
  private http11 = false;
  /** An HTTP_CONNECTION value holds the token `upgrade`. */
  private connectionUpgrade = false;
  /** An HTTP_UPGRADE var is there. */
  private upgradeHeader = false;
  /** After a `finish` that answered a length: the request is an upgrade (`CONNECT`, or
   * HTTP/1.1 with a Connection token `upgrade` and an Upgrade header, as parseHead decides). */
  upgrade = false;

  reset(): void {
    this.method = this.uri = this.contentLength = -1;
    this.conflict = 0;
    this.http11 = this.connectionUpgrade = this.upgradeHeader = this.upgrade = false;
  }

  see(block: Buffer, keyId: number, offset: number, length: number): void {
    switch (keyId) {
      case KeyId.SERVER_PROTOCOL:
        this.http11 = HTTP_11.compare(block, offset, offset + length) === 0;
        break;
      case KeyId.HTTP_CONNECTION:
        this.connectionUpgrade ||= hasToken(block, offset, offset + length, 'upgrade');
        break;
      case KeyId.HTTP_UPGRADE:
        this.upgradeHeader = true;
        break;
      case KeyId.REQUEST_METHOD:
        if (this.method < 0) [this.method, this.methodLength] = [offset, length];
        else this.compare(block, keyId, this.method, this.methodLength, offset, length);
        break;
      case KeyId.REQUEST_URI:
        if (this.uri < 0) [this.uri, this.uriLength] = [offset, length];
        else this.compare(block, keyId, this.uri, this.uriLength, offset, length);
        break;
      case KeyId.CONTENT_LENGTH:
        if (this.contentLength < 0) [this.contentLength, this.contentLengthLength] = [offset, length];
        else this.compare(block, keyId, this.contentLength, this.contentLengthLength, offset, length);
        break;
    }
  }

  private compare(block: Buffer, keyId: number, first: number, firstLength: number, offset: number, length: number): void {
    if (this.conflict !== 0) return;
    if (firstLength !== length || Buffer.compare(block.subarray(first, first + length), block.subarray(offset, offset + length)) !== 0) {
      this.conflict = keyId;
    }
  }

  /** The checks on meaning, in the Rust order; answers the body length (and sets
   * `upgrade`) or a refusal. */
  finish(block: Buffer, maxBody: number): number | Refusal {
    if (this.conflict !== 0) return { kind: 'conflict', key: this.conflict };
    if (this.method < 0) return { kind: 'missing-method' };
    if (this.methodLength === 0) return { kind: 'invalid-method' };
    for (let i = this.method; i < this.method + this.methodLength; i++) {
      if (TOKEN[block[i]!] === 0) return { kind: 'invalid-method' };
    }
    let length = 0;
    if (this.contentLength >= 0) {
      const parsed = parseContentLength(block, this.contentLength, this.contentLength + this.contentLengthLength);
      if (parsed === 'not-digits') return { kind: 'invalid-content-length' };
      if (parsed === 'too-large') return { kind: 'content-length-overflow' };
      length = parsed;
    }
    if (maxBody !== 0 && length > maxBody) return { kind: 'body-too-large', length, limit: maxBody };
    const connect = CONNECT.compare(block, this.method, this.method + this.methodLength) === 0;
    this.upgrade = connect || (this.http11 && this.connectionUpgrade && this.upgradeHeader);
    return length;
  }
}

/** The refusal as `protocol`'s error. `protocol` is the log's word ("uwsgi", "FastCGI"); `noun` what a pair is called there. */
export function refusalError(protocol: 'uwsgi' | 'FastCGI', noun: 'var' | 'param', refusal: Refusal): WireError {
  const code = (name: string): string => `${protocol.toLowerCase()}_${name}`;
  switch (refusal.kind) {
    case 'conflict': {
      const name = KNOWN_KEYS[refusal.key - 1];
      return new WireError(code('conflicting_duplicate'), 400, `${protocol} ${noun} ${name} given twice with different values`);
    }
    case 'missing-method':
      return new WireError(code('missing_method'), 400, `${protocol} request has no REQUEST_METHOD ${noun}`);
    case 'invalid-method':
      return new WireError(code('invalid_method'), 400, `${protocol} REQUEST_METHOD is empty or not an HTTP token`);
    case 'invalid-content-length':
      return new WireError(code('invalid_content_length'), 400, `${protocol} CONTENT_LENGTH is not plain ASCII digits`);
    case 'content-length-overflow':
      return new WireError(code('content_length_overflow'), 400, `${protocol} CONTENT_LENGTH is over ${MAX_CONTENT_LENGTH} (2^53 - 1)`);
    case 'body-too-large':
      return new WireError(
        code('body_too_large'),
        413,
        `${protocol} request body of ${refusal.length} bytes is over limit-post ${refusal.limit} (raise --limit-post)`,
      );
  }
}
