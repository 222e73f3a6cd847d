/**
 * Notices to JavaScript, and how the next batch is asked for
 * (crates/tsgi-reactor/src/notices.rs). What JavaScript learns outside the bytes that cause
 * it (a socket closing, a queue draining, a timeout, a log line) becomes a notice, delivered
 * at the end of the next batch in the order it arose; a connection whose request did not fit
 * in a batch is queued here too, to be handled first thing in the next one. The native
 * reactor asks for that batch by ringing an eventfd in its epoll set; here the bell is a
 * `setImmediate`, and the batch comes on the loop's next turn.
 */
import type { BatchWriter } from './batch.js';
import type { Conn } from './conn.js';

export type Notice =
  | { kind: 'abort'; token: number; reason: number }
  | { kind: 'body-end'; token: number }
  | { kind: 'drain'; token: number }
  | { kind: 'log'; level: number; text: string };

export class Notices {
  private queue: Notice[] = [];
  /** Connections to handle again first thing in the next batch. */
  private readonly retry = new Set<Conn>();
  /** A batch is being filled: what is pushed now is delivered at its end. */
  private inBatch = false;
  private ringing = false;

  /** `batch` runs one. */
  constructor(private readonly batch: () => void) {}

  push(notice: Notice): void {
    this.queue.push(notice);
    this.ring();
  }

  log(level: number, text: string): void {
    this.push({ kind: 'log', level, text });
  }

  /** Something is due outside a batch: a batch comes on the next turn of the loop. */
  ring(): void {
    if (this.inBatch || this.ringing) return;
    this.ringing = true;
    setImmediate(() => {
      this.ringing = false;
      this.batch();
    });
  }

  /** `conn` is handled again first thing in the next batch. */
  retryLater(conn: Conn): void {
    this.retry.add(conn);
    this.ring();
  }

  /** A closed connection is handled no more. */
  forget(conn: Conn): void {
    this.retry.delete(conn);
  }

  /** A batch starts: the connections to handle again, oldest first. */
  beginBatch(): Conn[] {
    this.inBatch = true;
    const retried = [...this.retry];
    this.retry.clear();
    return retried;
  }

  /** The batch ended: notices pushed from now on ring. */
  endBatch(): void {
    this.inBatch = false;
  }

  get batching(): boolean {
    return this.inBatch;
  }

  /** Work is waiting for another batch right away. */
  get pending(): boolean {
    return this.retry.size > 0 || this.queue.length > 0;
  }

  /** Writes the waiting notices into `batch`, as many as fit, oldest first. */
  deliver(batch: BatchWriter): void {
    let delivered = 0;
    for (; delivered < this.queue.length; delivered++) {
      const n = this.queue[delivered]!;
      const fits =
        n.kind === 'abort'
          ? batch.abort(n.token, n.reason)
          : n.kind === 'drain'
            ? batch.drain(n.token)
            : n.kind === 'body-end'
              ? batch.bodyEnd(n.token)
              : batch.log(n.level, n.text);
      if (fits) continue;
      if (!batch.isEmpty) break;
      // Too long for an empty batch: only a log line can be.
      if (n.kind === 'log') process.stderr.write(`tsgi: ${n.text}\n`);
    }
    this.queue = this.queue.slice(delivered);
  }
}
