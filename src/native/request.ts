/**
 * One request's head as the codec left it: var offsets into a byte buffer, with names
 * of well-known keys as integer ids. Strings are made only when a var is read.
 *
 * During the batch that delivered it, a record points into the shared arena and index;
 * `detach()` copies its bytes out before the next batch overwrites them. The server
 * detaches every record once its batch's calls return: a request still running reads its
 * vars later, and so may an app that has answered (an environ read in a timer, a log
 * written after the response), which must never see another request's bytes.
 */
import { KEY_IDS, KNOWN_KEYS } from '../codec/keys.js';

/**
 * Where detached records keep their words: blocks shared by many records, not a
 * Uint32Array each (a small typed array of its own costs ~0.5 µs to allocate, several
 * times the copy). A full block is left to the records in it, which keep it alive; the
 * blocks are small, as Node's Buffer pool is, so that a long-lived request (a WebSocket)
 * keeps little else alive with it.
 */
const WORD_BLOCK = 2048;
let wordBlock = new Uint32Array(WORD_BLOCK);
let wordsUsed = 0;

/** Room for `count` words in the current block (a new block when it is full). */
function wordRoom(count: number): number {
  if (wordsUsed + count > wordBlock.length) {
    wordBlock = new Uint32Array(Math.max(WORD_BLOCK, count));
    wordsUsed = 0;
  }
  const at = wordsUsed;
  wordsUsed += count;
  return at;
}

/** The `protocol` word of a record: which wire protocol carried the request. */
export const Protocol = {
  UWSGI: 1,
  /** FastCGI: the response is a CGI response, its status in a `Status:` header. */
  FASTCGI: 2,
  /** HTTP/1.1: the server frames the response itself (length, chunks, keep-alive). */
  HTTP: 3,
} as const;

/** Bits of a record's `flags` (the REQUEST event's flags word). */
export const RequestFlags = {
  /** No body follows: CONTENT_LENGTH was 0 or absent. */
  BODY_COMPLETE: 1,
  /** uwsgi modifier1 30: strip SCRIPT_NAME from the front of PATH_INFO. */
  MANAGE_PATH_INFO: 2,
  /** The peer allows another request on the connection after this one: HTTP keep-alive,
   * FastCGI FCGI_KEEP_CONN (never uwsgi). Whether it gets one is the response's decision. */
  KEEP_ALIVE: 4,
  /** HTTP `Expect: 100-continue`: reading starts paused; the first unpause sends `100 Continue`. */
  AWAITING_CONTINUE: 8,
  /** An upgrade request (HTTP, or uwsgi without a body); answered 101, its input goes on as
   * the client's raw bytes. */
  UPGRADE: 16,
} as const;

const H_TOKEN = 1;
const H_PROTOCOL = 2;
const H_NVARS = 3;
const H_CL_LO = 4;
const H_CL_HI = 5;
const H_FLAGS = 6;
const H_BLOCK_OFF = 7;
const H_BLOCK_LEN = 8;
const HEADER_WORDS = 9;
const VAR_WORDS = 5;

export class RequestRecord {
  readonly token: number;
  readonly protocol: number;
  readonly flags: number;
  readonly contentLength: number;
  readonly nvars: number;
  private data: Buffer;
  private words: Uint32Array;
  /** Word index of the first var in `words`. */
  private varsAt: number;
  /** Subtracted from the offsets in `words` (non-zero once detached). */
  private base = 0;
  private detached = false;
  private blockOff: number;
  private blockLen: number;

  constructor(data: Buffer, index: Uint32Array, at: number) {
    this.data = data;
    this.words = index;
    this.token = index[at + H_TOKEN]!;
    this.protocol = index[at + H_PROTOCOL]!;
    this.nvars = index[at + H_NVARS]!;
    this.contentLength = index[at + H_CL_LO]! + index[at + H_CL_HI]! * 2 ** 32;
    this.flags = index[at + H_FLAGS]!;
    this.blockOff = index[at + H_BLOCK_OFF]!;
    this.blockLen = index[at + H_BLOCK_LEN]!;
    this.varsAt = at + HEADER_WORDS;
  }

  /** Bytes of the request head as the proxy sent it (the uwsgi vars block, the FastCGI
   * params, the HTTP head as vars). */
  get headSize(): number {
    return this.blockLen;
  }

  /** Copies the record's bytes and words out of the shared buffers. */
  detach(): void {
    if (this.detached) return;
    this.detached = true;
    // Buffer.from copies into Node's pool; the words go into a shared block.
    this.data = Buffer.from(this.data.subarray(this.blockOff, this.blockOff + this.blockLen));
    const count = this.nvars * VAR_WORDS;
    const at = wordRoom(count);
    wordBlock.set(this.words.subarray(this.varsAt, this.varsAt + count), at);
    this.words = wordBlock;
    this.varsAt = at;
    this.base = this.blockOff;
    this.blockOff = 0;
  }

  /** The value of the known key `id` (last one wins if repeated), or undefined. */
  get(id: number): string | undefined {
    const w = this.words;
    for (let v = this.nvars - 1; v >= 0; v--) {
      const at = this.varsAt + v * VAR_WORDS;
      if (w[at] === id) return this.value(at);
    }
    return undefined;
  }

  /**
   * The value of `name` as the app sees it: for `HTTP_*` names sent more than once (a
   * proxy that does not merge repeated headers, like nginx before 1.23), the values joined
   * as nginx joins them (`; ` for cookies, `, ` otherwise); for other names the last wins.
   */
  lookup(name: string): string | undefined {
    const id = KEY_IDS.get(name) ?? 0;
    let found: string | undefined;
    const w = this.words;
    for (let v = 0; v < this.nvars; v++) {
      const at = this.varsAt + v * VAR_WORDS;
      // An unknown name is compared by its length before a string is made of it.
      if (w[at] !== id || (id === 0 && (w[at + 2] !== name.length || this.key(at) !== name))) continue;
      const value = this.value(at);
      found = found === undefined || !name.startsWith('HTTP_') ? value : found + (name === 'HTTP_COOKIE' ? '; ' : ', ') + value;
    }
    return found;
  }

  /** Every var name, in wire order, once each. */
  names(): string[] {
    const seen = new Set<string>();
    for (let v = 0; v < this.nvars; v++) seen.add(this.key(this.varsAt + v * VAR_WORDS));
    return [...seen];
  }

  private key(at: number): string {
    const id = this.words[at]!;
    if (id !== 0) return KNOWN_KEYS[id - 1]!;
    const off = this.words[at + 1]! - this.base;
    return this.data.toString('latin1', off, off + this.words[at + 2]!);
  }

  private value(at: number): string {
    const off = this.words[at + 3]! - this.base;
    return this.data.toString('latin1', off, off + this.words[at + 4]!);
  }
}
