/**
 * What every protocol's codec shares: the list of vars a parse produces (the canonical
 * form the batch carries), the checks every adapter runs once a request's vars are in
 * (crates/tsgi-wire/src/request.rs), strict `CONTENT_LENGTH`, the token grammar and the
 * "this is HTTP" sniff. The TypeScript twin of the Rust codecs: same decisions, same
 * order, so the pure-TypeScript server refuses what the native one refuses.
 */
import { KeyId, lookupKey } from './keys.js';

/** A codec's refusal: a stable code, the static response status (null: close without
 * one), and one log line of static text and numbers (nothing from the request). */
export class WireError {
  constructor(
    readonly code: string,
    readonly status: number | null,
    readonly message: string,
  ) {}
}

/** Words per var in a {@link VarList} (and in a batch's REQUEST event). */
export const VAR_WORDS = 5;

/**
 * Vars as offsets into a block: per var `keyId, keyOffset, keyLength, valueOffset,
 * valueLength`. Grows as needed and is reused across requests.
 */
export class VarList {
  words = new Uint32Array(64 * VAR_WORDS);
  count = 0;

  clear(): void {
    this.count = 0;
  }

  push(keyId: number, keyOffset: number, keyLength: number, valueOffset: number, valueLength: number): void {
    let at = this.count * VAR_WORDS;
    if (at + VAR_WORDS > this.words.length) {
      const grown = new Uint32Array(this.words.length * 2);
      grown.set(this.words);
      this.words = grown;
    }
    const w = this.words;
    w[at++] = keyId;
    w[at++] = keyOffset;
    w[at++] = keyLength;
    w[at++] = valueOffset;
    w[at] = valueLength;
    this.count++;
  }

  keyId(i: number): number {
    return this.words[i * VAR_WORDS]!;
  }
}

/** The largest body length accepted from the wire: 2^53 - 1. */
export const MAX_CONTENT_LENGTH = Number.MAX_SAFE_INTEGER;

/** `CONTENT_LENGTH` strictly: digits only, at most 2^53 - 1; empty is 0. */
export function parseContentLength(buf: Buffer, start: number, end: number): number | 'not-digits' | 'too-large' {
  let n = 0;
  for (let i = start; i < end; i++) {
    const d = buf[i]! - 0x30;
    if (d < 0 || d > 9) return 'not-digits';
    n = n * 10 + d;
    // Checked at every digit, as the Rust does: a long run of digits ends as too large,
    // never as a rounded float.
    if (n > MAX_CONTENT_LENGTH) return 'too-large';
  }
  return n;
}

/** RFC 9110 tchar, the grammar of methods and header names. */
export const TOKEN = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") TOKEN[c.charCodeAt(0)] = 1;

/** The value of a hex digit byte, or -1. */
export function hexDigit(b: number): number {
  if (b >= 0x30 && b <= 0x39) return b - 0x30;
  if (b >= 0x61 && b <= 0x66) return b - 0x57;
  if (b >= 0x41 && b <= 0x46) return b - 0x37;
  return -1;
}

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

/**
 * The first value of each var that decides framing or routing; a later occurrence must
 * repeat it byte for byte or the request is refused (U10/U11).
 */
export class Framing {
  private method = -1;
  private methodLength = 0;
  private uri = -1;
  private uriLength = 0;
  private contentLength = -1;
  private contentLengthLength = 0;
  private conflict = 0;

  reset(): void {
    this.method = this.uri = this.contentLength = -1;
    this.conflict = 0;
  }

  see(block: Buffer, keyId: number, offset: number, length: number): void {
    switch (keyId) {
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

  /** The checks on meaning, in the Rust order; answers the body length or a refusal. */
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
    return length;
  }
}

/** Pushes a var whose key is `block[keyOffset..keyOffset+keyLength]`, looking its id up. */
export function pushVar(vars: VarList, block: Buffer, keyOffset: number, keyLength: number, valueOffset: number, valueLength: number): number {
  const keyId = lookupKey(block, keyOffset, keyLength);
  vars.push(keyId, keyOffset, keyLength, valueOffset, valueLength);
  return keyId;
}
