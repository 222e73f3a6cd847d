/**
 * Log output that never blocks the process writing it: lines are queued and written in
 * batches, at most COALESCE_MS after the first line of a batch (a write goes through
 * libuv's thread pool, whose hand-offs would cost more than the line itself if each line
 * had its own), and when the destination falls behind by more than
 * `limit` bytes new lines are dropped and counted (the count is logged once the
 * destination catches up). Each worker writes its own lines straight to the log (stderr
 * or `--logto`, inherited from the master), as uWSGI's workers do: no process in between
 * wakes per line. Neither a worker nor the master waits on a slow reader (a full pipe, a
 * stuck terminal).
 */
import { fstatSync, write } from 'node:fs';

/** Writes `bytes` somewhere and calls `done` when they are written (or failed); the bytes
 * are the caller's again after `done`. */
export type WriteBackend = (bytes: Buffer, done: () => void) => void;

/** Bytes that may wait before lines are dropped. */
const DEFAULT_LIMIT = 4 * 1024 * 1024;
/** How long a line may wait for others to join its write. */
const COALESCE_MS = 10;
/** Queued bytes that are written at once, without waiting longer. */
const FLUSH_BYTES = 64 * 1024;
/** A batch buffer's first size; it grows (up to the limit) when a batch needs more. */
const FIRST_BUFFER = 2 * FLUSH_BYTES;

export class LogWriter {
  /** The lines waiting, encoded as they come: `pending[0, used)`. Two buffers take
   * turns: one fills while the other is being written. */
  private pending: Buffer;
  private spare: Buffer;
  private used = 0;
  /** A write is in flight, or due (`due`). */
  private writing = false;
  private due: NodeJS.Timeout | undefined;
  private dropped = 0;
  /** Called once nothing waits and nothing is being written. */
  private idle: (() => void) | null = null;
  /** How the writer's own note (lines it dropped) reads, without its newline. */
  note: (text: string) => string = (text) => `tsgi: ${text}`;

  constructor(
    private backend: WriteBackend,
    private readonly limit = DEFAULT_LIMIT,
  ) {
    this.pending = Buffer.allocUnsafe(Math.min(FIRST_BUFFER, limit));
    this.spare = Buffer.allocUnsafe(this.pending.length);
  }

  /** Queues one line (without its newline). */
  line(text: string): void {
    // The newline is a byte after the text, not a string made of both.
    this.queued(this.append(text, this.limit, true));
  }

  /** Queues text that ends at a line boundary. */
  write(text: string): void {
    this.queued(this.append(text));
  }

  /** A write is due once a batch waits: after COALESCE_MS, or now if FLUSH_BYTES wait. */
  private queued(appended: boolean): void {
    if (!appended) {
      this.dropped++;
      return;
    }
    if (!this.writing) {
      this.writing = true;
      this.due = setTimeout(this.writeDue, COALESCE_MS);
    } else if (this.due !== undefined && this.used >= FLUSH_BYTES) {
      clearTimeout(this.due);
      this.writeDue();
    }
  }

  /** Writes to `backend` from the next batch on (log reopening). */
  switchTo(backend: WriteBackend): void {
    this.backend = backend;
  }

  /** Resolves once everything queued so far is written. */
  flushed(): Promise<void> {
    if (!this.writing && this.used === 0) return Promise.resolve();
    const done = new Promise<void>((resolve) => {
      const previous = this.idle;
      this.idle = () => (previous?.(), resolve());
    });
    if (this.due !== undefined) {
      clearTimeout(this.due);
      this.writeDue();
    }
    return done;
  }

  /** Encodes `text` (and a newline) after the waiting lines; false if that would pass `limit`. */
  private append(text: string, limit = this.limit, newline = false): boolean {
    const extra = newline ? 1 : 0;
    // UTF-8 takes at most 3 bytes per UTF-16 unit: only text that may not fit is measured.
    if (this.used + text.length * 3 + extra > this.pending.length) {
      const needed = this.used + Buffer.byteLength(text) + extra;
      if (needed > limit) return false;
      if (needed > this.pending.length) {
        const larger = Buffer.allocUnsafe(Math.max(needed, Math.min(this.limit, 2 * this.pending.length)));
        this.pending.copy(larger, 0, 0, this.used);
        this.pending = larger;
      }
    }
    this.used += this.pending.write(text, this.used);
    if (newline) this.pending[this.used++] = 0x0a;
    return true;
  }

  private readonly writeDue = (): void => {
    this.due = undefined;
    this.next();
  };

  private next(): void {
    if (this.dropped > 0) {
      // Said even past the limit: it is what explains the gap.
      this.append(`${this.note(`${this.dropped} log line(s) dropped: the log destination did not keep up`)}\n`, Infinity);
      this.dropped = 0;
    }
    if (this.used === 0) {
      this.writing = false;
      const idle = this.idle;
      this.idle = null;
      idle?.();
      return;
    }
    this.writing = true;
    // The spare buffer's write is done (this runs when it is): it takes the next lines.
    const full = this.pending;
    const batch = full.subarray(0, this.used);
    this.pending = this.spare;
    this.spare = full;
    this.used = 0;
    this.backend(batch, () => this.next());
  }
}

/** Bytes a pipe takes in one piece: a write up to this size is never interleaved with
 * another process's (POSIX PIPE_BUF; 4096 on Linux). */
const PIPE_BUF = 4096;

/** A backend writing to a file descriptor (stderr, a log file) off the main thread,
 * whole, retrying while a non-blocking descriptor is full. Errors drop the text: a
 * log that cannot be written must not take the process down. The master and every
 * worker write to the same file: to a file opened for appending any write lands whole,
 * but to a pipe (stderr under systemd or Docker) only one of up to PIPE_BUF bytes, so
 * there text goes in pieces of whole lines that fit. */
export function fdBackend(fd: number): WriteBackend {
  const piece = isPipe(fd) ? PIPE_BUF : Infinity;
  return (bytes, done) => {
    const from = (offset: number): void => {
      write(fd, bytes, offset, pieceEnd(bytes, offset, piece) - offset, null, (error, written) => {
        if (error?.code === 'EAGAIN') return void setTimeout(() => from(offset), 10);
        if (error || offset + written >= bytes.length) return done();
        from(offset + written);
      });
    };
    from(0);
  };
}

function isPipe(fd: number): boolean {
  try {
    const stat = fstatSync(fd);
    return stat.isFIFO() || stat.isSocket();
  } catch {
    return false;
  }
}

/** Where the piece from `offset` ends: after the last whole line within `piece` bytes (a
 * line longer than that goes as it is, the one case a pipe may interleave). */
export function pieceEnd(bytes: Uint8Array, offset: number, piece: number): number {
  if (bytes.length - offset <= piece) return bytes.length;
  const cut = bytes.lastIndexOf(0x0a, offset + piece - 1);
  if (cut >= offset) return cut + 1;
  const end = bytes.indexOf(0x0a, offset);
  return end === -1 ? bytes.length : end + 1;
}

/**
 * Cuts a stream of text into whole lines (what a pipe delivers may end mid-line), so
 * lines from several sources interleave whole. `push` returns the complete lines of
 * the chunk, with their newlines; `end` the rest.
 */
export class LineSplitter {
  private rest = '';

  push(chunk: string): string {
    const text = this.rest + chunk;
    const cut = text.lastIndexOf('\n') + 1;
    this.rest = text.slice(cut);
    return text.slice(0, cut);
  }

  end(): string {
    const rest = this.rest;
    this.rest = '';
    return rest === '' ? '' : rest + '\n';
  }
}
