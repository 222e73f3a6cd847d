/**
 * Log output that never blocks the process writing it: lines are queued, written one
 * batch at a time, and when the destination falls behind by more than `limit` bytes
 * new lines are dropped and counted (the count is logged once the destination catches
 * up). A worker writes through one to its pipe to the master, the master through one to
 * stderr or `--logto`; neither waits on a slow reader (a full pipe, a stuck terminal).
 */
import { write } from 'node:fs';

/** Writes `text` somewhere and calls `done` when it is written (or failed). */
export type WriteBackend = (text: string, done: () => void) => void;

/** Bytes that may wait before lines are dropped. */
const DEFAULT_LIMIT = 4 * 1024 * 1024;

export class LogWriter {
  private queue: string[] = [];
  private queuedBytes = 0;
  private writing = false;
  private dropped = 0;
  /** Called once the queue is empty and nothing is being written. */
  private idle: (() => void) | null = null;

  constructor(
    private backend: WriteBackend,
    private readonly limit = DEFAULT_LIMIT,
  ) {}

  /** Queues one line (without its newline). */
  line(text: string): void {
    this.write(text + '\n');
  }

  /** Queues text that ends at a line boundary. */
  write(text: string): void {
    if (this.queuedBytes + text.length > this.limit) {
      this.dropped++;
      return;
    }
    this.queue.push(text);
    this.queuedBytes += text.length;
    if (!this.writing) this.next();
  }

  /** Writes to `backend` from the next batch on (log reopening). */
  switchTo(backend: WriteBackend): void {
    this.backend = backend;
  }

  /** Resolves once everything queued so far is written. */
  flushed(): Promise<void> {
    if (!this.writing && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const previous = this.idle;
      this.idle = () => (previous?.(), resolve());
    });
  }

  private next(): void {
    if (this.dropped > 0) {
      this.queue.push(`tsgi: ${this.dropped} log line(s) dropped: the log destination did not keep up\n`);
      this.dropped = 0;
    }
    if (this.queue.length === 0) {
      this.writing = false;
      const idle = this.idle;
      this.idle = null;
      idle?.();
      return;
    }
    this.writing = true;
    const text = this.queue.length === 1 ? this.queue[0]! : this.queue.join('');
    this.queue = [];
    this.queuedBytes = 0;
    this.backend(text, () => this.next());
  }
}

/** A backend writing to a file descriptor (stderr, a log file) off the main thread,
 * whole, retrying while a non-blocking descriptor is full. Errors drop the text: a
 * log that cannot be written must not take the process down. */
export function fdBackend(fd: number): WriteBackend {
  return (text, done) => {
    const bytes = Buffer.from(text);
    const from = (offset: number): void => {
      write(fd, bytes, offset, bytes.length - offset, null, (error, written) => {
        if (error?.code === 'EAGAIN') return void setTimeout(() => from(offset), 10);
        if (error || offset + written >= bytes.length) return done();
        from(offset + written);
      });
    };
    from(0);
  };
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
