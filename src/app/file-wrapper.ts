/**
 * `tsgi.file_wrapper`: sends a file in blocks, from its current position to its end,
 * reading the next block only when the previous one has been handed to the connection.
 */
import { close, open, read } from 'node:fs';
import { promisify } from 'node:util';
import type { Body, FileWrapper } from './contract.js';

const DEFAULT_BLOCK = 64 * 1024;
const openAsync = promisify(open);
const readAsync = promisify(read);
const closeAsync = promisify(close);

class FileBody implements AsyncIterable<Uint8Array> {
  private fd: number | null;
  private readonly owned: boolean;
  private closed = false;

  constructor(
    private readonly file: string | number | { fd: number },
    private readonly blockSize: number,
  ) {
    this.owned = typeof file === 'string';
    this.fd = typeof file === 'string' ? null : typeof file === 'number' ? file : file.fd;
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    const fd = this.fd ?? (this.fd = await openAsync(this.file as string, 'r'));
    while (!this.closed) {
      const buffer = Buffer.allocUnsafe(this.blockSize);
      // position null: read from the file's current position, as PEP 3333 asks.
      const { bytesRead } = await readAsync(fd, buffer, 0, this.blockSize, null);
      if (bytesRead === 0) return;
      yield buffer.subarray(0, bytesRead);
    }
  }

  /** Closes the file if the wrapper opened it (a path); a caller's fd stays the caller's. */
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
