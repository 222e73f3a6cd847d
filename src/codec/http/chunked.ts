/**
 * `Transfer-Encoding: chunked` request bodies (crates/tsgi-wire/src/http/chunked.rs):
 * one state per byte position of the grammar, data handed back as ranges of the input,
 * strict sizes and extensions, trailers checked and dropped. However the input is cut,
 * the same data, end and error come out.
 */
import { HttpErrors, type HttpLimits } from './errors.js';
import { MAX_CONTENT_LENGTH, TOKEN, WireError, hexDigit } from '../wire.js';

const enum S {
  SizeStart,
  Size,
  ExtName,
  ExtNameMore,
  ExtValue,
  ExtToken,
  ExtQuoted,
  ExtQuotedPair,
  ExtQuotedEnd,
  SizeLf,
  Data,
  DataCr,
  DataLf,
  TrailerStart,
  TrailerName,
  TrailerValue,
  TrailerLf,
  EndLf,
  Done,
}

const CR = 0x0d;
const LF = 0x0a;

/** HTAB, SP..~, obs-text: the bytes of a quoted extension value or a trailer value. */
function isText(b: number): boolean {
  return b === 0x09 || (b >= 0x20 && b <= 0x7e) || b >= 0x80;
}

/** What one {@link ChunkedDecoder.decode} did: input used, one range of data, the end. */
export interface Decoded {
  consumed: number;
  dataStart: number;
  dataEnd: number;
  done: boolean;
}

export class ChunkedDecoder {
  private state = S.SizeStart;
  private size = 0;
  private total = 0;
  private count = 0;
  private failed: WireError | null = null;

  constructor(private readonly limits: HttpLimits) {}

  reset(): void {
    this.state = S.SizeStart;
    this.size = this.total = this.count = 0;
    this.failed = null;
  }

  get isDone(): boolean {
    return this.state === S.Done;
  }

  /** Reads `input[start..end]`: framing up to the next data, then at most one range of it. */
  decode(input: Buffer, start: number, end: number): Decoded | WireError {
    if (this.failed) return this.failed;
    let pos = start;
    while (pos < end) {
      if (this.state === S.Done) break;
      if (this.state === S.Data) {
        const n = Math.min(this.size, end - pos);
        this.size -= n;
        if (this.size === 0) this.state = S.DataCr;
        return { consumed: pos + n - start, dataStart: pos, dataEnd: pos + n, done: false };
      }
      const error = this.step(input[pos]!);
      if (error) {
        this.failed = error;
        return error;
      }
      pos++;
    }
    return { consumed: pos - start, dataStart: pos, dataEnd: pos, done: this.state === S.Done };
  }

  private extByte(): WireError | null {
    this.count++;
    return this.count > this.limits.maxChunkExtension ? HttpErrors.chunkExtensionTooLong(this.limits.maxChunkExtension) : null;
  }

  private endSize(next: S): WireError | S {
    this.total += this.size;
    if (this.limits.maxBody !== 0 && this.total > this.limits.maxBody) return HttpErrors.bodyTooLarge(this.total, this.limits.maxBody);
    return next;
  }

  /** One framing byte; sets the next state or answers the error. */
  private step(b: number): WireError | null {
    let next: S | WireError;
    switch (this.state) {
      case S.SizeStart:
      case S.Size: {
        const digit = hexDigit(b);
        if (digit >= 0) {
          const size = this.size * 16 + digit;
          if (size > MAX_CONTENT_LENGTH) return HttpErrors.chunkSizeOverflow();
          this.size = size;
          next = S.Size;
        } else if (this.state === S.SizeStart) {
          return HttpErrors.invalidChunkSize();
        } else if (b === 0x3b) {
          this.count = 0;
          next = this.endSize(S.ExtName);
          if (!(next instanceof WireError)) {
            const error = this.extByte();
            if (error) return error;
          }
        } else if (b === CR) {
          next = this.endSize(S.SizeLf);
        } else if (b === LF) {
          return HttpErrors.bareLf();
        } else {
          return HttpErrors.invalidChunkSize();
        }
        break;
      }
      case S.ExtName:
      case S.ExtNameMore:
      case S.ExtValue:
      case S.ExtToken:
      case S.ExtQuoted:
      case S.ExtQuotedPair:
      case S.ExtQuotedEnd:
        if (b !== CR) {
          const error = this.extByte();
          if (error) return error;
          next = this.extension(b);
        } else if (this.state === S.ExtNameMore || this.state === S.ExtToken || this.state === S.ExtQuotedEnd) {
          next = S.SizeLf;
        } else {
          return HttpErrors.invalidChunkExtension();
        }
        break;
      case S.SizeLf:
        if (b !== LF) return HttpErrors.bareCr();
        if (this.size === 0) {
          this.count = 0;
          next = S.TrailerStart;
        } else {
          next = S.Data;
        }
        break;
      case S.DataCr:
        if (b !== CR) return HttpErrors.chunkDataNotTerminated();
        next = S.DataLf;
        break;
      case S.DataLf:
        if (b !== LF) return HttpErrors.bareCr();
        next = S.SizeStart;
        break;
      case S.TrailerStart:
      case S.TrailerName:
      case S.TrailerValue:
      case S.TrailerLf:
      case S.EndLf:
        this.count++;
        if (this.count > this.limits.maxHeadBytes) return HttpErrors.trailersTooLarge(this.limits.maxHeadBytes);
        next = this.trailer(b);
        break;
      default:
        return null;
    }
    if (next instanceof WireError) return next;
    this.state = next;
    return null;
  }

  /** One byte of a chunk extension, not a CR. */
  private extension(b: number): S | WireError {
    const token = TOKEN[b] === 1;
    const s = this.state;
    if (s === S.ExtName && token) return S.ExtNameMore;
    if (s === S.ExtNameMore && token) return S.ExtNameMore;
    if ((s === S.ExtNameMore || s === S.ExtToken || s === S.ExtQuotedEnd) && b === 0x3b) return S.ExtName;
    if (s === S.ExtNameMore && b === 0x3d) return S.ExtValue;
    if (s === S.ExtValue && b === 0x22) return S.ExtQuoted;
    if ((s === S.ExtValue || s === S.ExtToken) && token) return S.ExtToken;
    if (s === S.ExtQuoted && b === 0x22) return S.ExtQuotedEnd;
    if (s === S.ExtQuoted && b === 0x5c) return S.ExtQuotedPair;
    if ((s === S.ExtQuoted || s === S.ExtQuotedPair) && isText(b)) return S.ExtQuoted;
    if (b === LF) return HttpErrors.bareLf();
    return HttpErrors.invalidChunkExtension();
  }

  /** One byte of the trailer section, counted already. */
  private trailer(b: number): S | WireError {
    const s = this.state;
    if (s === S.TrailerStart && b === CR) return S.EndLf;
    if ((s === S.TrailerStart || s === S.TrailerName) && TOKEN[b] === 1) return S.TrailerName;
    if (s === S.TrailerName && b === 0x3a) return S.TrailerValue;
    if (s === S.TrailerValue && b === CR) return S.TrailerLf;
    if (s === S.TrailerValue && isText(b)) return S.TrailerValue;
    if (s === S.TrailerLf && b === LF) return S.TrailerStart;
    if (s === S.EndLf && b === LF) return S.Done;
    if (s === S.TrailerLf || s === S.EndLf) return HttpErrors.bareCr();
    if (b === LF) return HttpErrors.bareLf();
    if (s === S.TrailerStart && (b === 0x20 || b === 0x09)) return HttpErrors.obsFold();
    return HttpErrors.invalidTrailer();
  }
}
