/**
 * `tsgi.file_wrapper` and the file bodies the server sends without reading them: a
 * `FileBody` names a file (a path, or an open descriptor) and a range of it. The worker's
 * exchange hands it to the native reactor, which sends it with sendfile(2) (HTTP, uwsgi);
 * where it cannot (FastCGI, the pure-TypeScript reactor, an app iterating the body itself)
 * the file is read in blocks, the next block only once the previous one was handed on.
 *
 * A path is opened by the body and closed by it, or by the reactor once the reactor has
 * taken it; a caller's descriptor stays the caller's, read from its current position, as
 * PEP 3333 asks of `wsgi.file_wrapper`.
 */
import { close, fstat, open, read } from 'node:fs';
import { promisify } from 'node:util';
import type { Body, FileWrapper } from './contract.js';

const DEFAULT_BLOCK = 64 * 1024;
const openAsync = promisify(open);
const readAsync = promisify(read);
const closeAsync = promisify(close);
const fstatAsync = promisify(fstat);

/** The part of an open file a body sends. */
export interface FileSpan {
  readonly fd: number;
  /** Where it starts; -1 for a caller's descriptor whose position is not known (it is
   * read from where it stands, to its end). */
  readonly offset: number;
  /** Bytes to send; -1 when not known (offset -1). */
  readonly length: number;
}

/** A file, or a range of one, as a response body. */
export class FileBody implements AsyncIterable<Uint8Array> {
  private fd: number | null;
  /** The body opened the file (a path), and closes it, unless the reactor took it. */
  private readonly owned: boolean;
  private closed = false;

  /**
   * `file`: a path, or an open descriptor (`owned`: the body closes it, as it does a file
   * it opened). `range`: the first byte and the number of bytes; the whole file (from a
   * caller's descriptor's position) when left out.
   */
  constructor(
    readonly file: string | number | { fd: number; owned?: boolean },
    readonly blockSize = DEFAULT_BLOCK,
    readonly range?: { readonly start: number; readonly length: number },
  ) {
    this.owned = typeof file === 'string' || (typeof file === 'object' && file.owned === true);
    this.fd = typeof file === 'string' ? null : typeof file === 'number' ? file : file.fd;
  }

  /** The length the body will have, when known before opening anything: a range. */
  get knownLength(): number {
    return this.range?.length ?? -1;
  }

  /** Whether the body owns its descriptor (and so may hand it over). */
  get ownsFile(): boolean {
    return this.owned;
  }

  /**
   * Opens the file (a path) and measures what is sent. `position(fd)` tells where a
   * caller's descriptor stands, where the platform can say (the native binding's
   * `filePosition`); without it, its span is of unknown offset and length.
   */
  async open(position?: (fd: number) => number): Promise<FileSpan> {
    // An open file of a range measured by its owner (--static-map): nothing to ask the disk.
    if (this.fd !== null && this.owned && this.range && Number.isFinite(this.range.length)) {
      return { fd: this.fd, offset: this.range.start, length: this.range.length };
    }
    const fd = this.fd ?? (this.fd = await openAsync(this.file as string, 'r'));
    const start = this.range?.start ?? (this.owned ? 0 : position ? position(fd) : -1);
    if (start < 0) return { fd, offset: -1, length: -1 };
    const size = (await fstatAsync(fd)).size;
    const length = Math.max(0, Math.min(this.range?.length ?? Infinity, size - start));
    return { fd, offset: start, length };
  }

  /** The reactor took the descriptor: it closes it, the body no longer does. */
  handOver(): void {
    this.fd = null;
    this.closed = true;
  }

  /** The span's bytes in blocks. Throws `ERR_FILE_SHRANK` when the file ends before a
   * span of known length does. */
  async *blocks(span: FileSpan): AsyncGenerator<Uint8Array> {
    let at = span.offset;
    let left = span.length;
    while (!this.closed && left !== 0) {
      const want = left < 0 ? this.blockSize : Math.min(this.blockSize, left);
      const buffer = Buffer.allocUnsafe(want);
      // position null: from the descriptor's own position, as PEP 3333 asks.
      const { bytesRead } = await readAsync(span.fd, buffer, 0, want, at < 0 ? null : at);
      if (bytesRead === 0) {
        if (left < 0) return;
        throw Object.assign(new Error(`the file ended ${left} bytes before its length`), { code: 'ERR_FILE_SHRANK' });
      }
      if (at >= 0) at += bytesRead;
      if (left > 0) left -= bytesRead;
      yield buffer.subarray(0, bytesRead);
    }
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    yield* this.blocks(await this.open());
  }

  /** Closes the file if the body opened it (a path); a caller's fd stays the caller's. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.owned && this.fd !== null) {
      const fd = this.fd;
      this.fd = null;
      await closeAsync(fd);
    }
  }
}

export const fileWrapper: FileWrapper = (file, blockSize = DEFAULT_BLOCK): Body => new FileBody(file, blockSize);
