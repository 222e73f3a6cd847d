/**
 * Fills the shared arena and index with one batch, in the layout the native reactor
 * writes (crates/tsgi-reactor/src/batch.rs), so src/native/batch.ts decodes both the same.
 * An event is written only if it fits whole.
 */
import { isDropped } from '../codec/keys.js';
import { VAR_WORDS, type VarList } from '../codec/wire.js';
import { Layout } from '../native/batch.js';

/** Log levels of LOG events. */
export const Level = { WARN: 1, ERROR: 2 } as const;

/** Words of a BODY event and the BODY_END after it: the room a request head keeps behind it
 * for the body that came with it. */
export const BODY_AND_END_WORDS = 4 + 2;

export class BatchWriter {
  private arenaLength = 0;
  words = 0;

  constructor(
    private readonly arena: Buffer,
    private readonly index: Uint32Array,
  ) {}

  reset(): void {
    this.arenaLength = this.words = 0;
  }

  get isEmpty(): boolean {
    return this.words === 0;
  }

  fits(words: number, bytes: number): boolean {
    return this.index.length - this.words >= words && this.arena.length - this.arenaLength >= bytes;
  }

  /** A REQUEST: `block[start..start+length]` into the arena, one entry per var that is not
   * dropped (var offsets are relative to `start`), if it fits with `wordsAfter` words and
   * `bytesAfter` arena bytes still free behind it for the events that must follow it in this
   * batch. False (and nothing added) if not. This is how a request of every protocol enters
   * the batch (crates/tsgi-reactor/src/batch.rs `request_vars`). */
  request(
    token: number,
    protocol: number,
    contentLength: number,
    flags: number,
    block: Buffer,
    start: number,
    length: number,
    vars: VarList,
    wordsAfter = 0,
    bytesAfter = 0,
  ): boolean {
    let kept = 0;
    for (let v = 0; v < vars.count; v++) if (!isDropped(vars.keyId(v))) kept++;
    const words = Layout.REQUEST_HEADER_WORDS + VAR_WORDS * kept;
    if (!this.fits(words + wordsAfter, length + bytesAfter)) return false;
    const base = this.arenaLength;
    block.copy(this.arena, base, start, start + length);
    const index = this.index;
    let i = this.words;
    index[i++] = Layout.REQUEST;
    index[i++] = token;
    index[i++] = protocol;
    index[i++] = kept;
    index[i++] = contentLength % 2 ** 32;
    index[i++] = Math.floor(contentLength / 2 ** 32);
    index[i++] = flags;
    index[i++] = base;
    index[i++] = length;
    const w = vars.words;
    for (let v = 0; v < vars.count; v++) {
      const at = v * VAR_WORDS;
      if (isDropped(w[at]!)) continue;
      index[i++] = w[at]!;
      index[i++] = base + w[at + 1]!;
      index[i++] = w[at + 2]!;
      index[i++] = base + w[at + 3]!;
      index[i++] = w[at + 4]!;
    }
    this.arenaLength += length;
    this.words = i;
    return true;
  }

  /** Body bytes one more BODY event (and a BODY_END after it) can take now. */
  bodyRoom(): number {
    return this.index.length - this.words >= 4 + 2 ? this.arena.length - this.arenaLength : 0;
  }

  body(token: number, data: Buffer, start: number, end: number): boolean {
    if (!this.fits(4, end - start)) return false;
    const offset = this.arenaLength;
    data.copy(this.arena, offset, start, end);
    this.arenaLength += end - start;
    return this.push(Layout.BODY, token, offset, end - start);
  }

  bodyEnd(token: number): boolean {
    return this.push(Layout.BODY_END, token);
  }

  abort(token: number, reason: number): boolean {
    return this.push(Layout.ABORT, token, reason);
  }

  drain(token: number): boolean {
    return this.push(Layout.DRAIN, token);
  }

  log(level: number, text: string): boolean {
    const bytes = Buffer.byteLength(text);
    if (!this.fits(4, bytes)) return false;
    const offset = this.arenaLength;
    this.arena.write(text, offset, 'utf8');
    this.arenaLength += bytes;
    return this.push(Layout.LOG, level, offset, bytes);
  }

  private push(...words: number[]): boolean {
    if (this.index.length - this.words < words.length) return false;
    for (const word of words) this.index[this.words++] = word;
    return true;
  }
}
