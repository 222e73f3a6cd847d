/**
 * What every protocol's codec speaks (crates/tsgi-wire/src/lib.rs, and the `Var` the Rust
 * codecs share): a refusal with its stable code, the list of vars a parse produces (the
 * canonical form the batch carries), strict `CONTENT_LENGTH` and the token grammar. The
 * checks run on a request's vars once they are in are request.ts's.
 */
import { lookupKey } from './keys.js';

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

/** Whether `buf[start..end]` is `lower` in any case (ASCII). */
export function equalsIgnoreCase(buf: Buffer, start: number, end: number, lower: string): boolean {
  if (end - start !== lower.length) return false;
  for (let i = 0; i < lower.length; i++) {
    let b = buf[start + i]!;
    if (b >= 0x41 && b <= 0x5a) b += 0x20;
    if (b !== lower.charCodeAt(i)) return false;
  }
  return true;
}

/** Whether the comma-separated list `buf[start..end]` holds `token` (any case, white space
 * around items): a `Connection` header's options, as a header or an `HTTP_CONNECTION` var. */
export function hasToken(buf: Buffer, start: number, end: number, token: string): boolean {
  const isSpace = (b: number): boolean => b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0c || b === 0x0d;
  let itemStart = start;
  for (let i = start; i <= end; i++) {
    if (i < end && buf[i] !== 0x2c) continue;
    let s = itemStart;
    let e = i;
    while (s < e && isSpace(buf[s]!)) s++;
    while (e > s && isSpace(buf[e - 1]!)) e--;
    if (equalsIgnoreCase(buf, s, e, token)) return true;
    itemStart = i + 1;
  }
  return false;
}

/** The value of a hex digit byte, or -1. */
export function hexDigit(b: number): number {
  if (b >= 0x30 && b <= 0x39) return b - 0x30;
  if (b >= 0x61 && b <= 0x66) return b - 0x57;
  if (b >= 0x41 && b <= 0x46) return b - 0x37;
  return -1;
}

/** Pushes a var whose key is `block[keyOffset..keyOffset+keyLength]`, looking its id up. */
export function pushVar(vars: VarList, block: Buffer, keyOffset: number, keyLength: number, valueOffset: number, valueLength: number): number {
  const keyId = lookupKey(block, keyOffset, keyLength);
  vars.push(keyId, keyOffset, keyLength, valueOffset, valueLength);
  return keyId;
}
