/**
 * A `--logto` file that logrotate may move away. Lines go through a LogWriter to its
 * descriptor; `reopen()` opens a new file of the same name (SIGUSR1: the master reopens
 * its own, then has every worker reopen theirs, since each writes its lines itself).
 */
import { closeSync, openSync } from 'node:fs';
import { fdBackend, LogWriter } from './log-writer.js';

/** How long an old descriptor stays open after a reopen: a write in flight on it ends first. */
const CLOSE_OLD_AFTER_MS = 1000;

export class LogFile {
  readonly writer: LogWriter;
  private current: number;

  /** `fd`: the file, already open (a worker's inherited descriptor); opened by name if absent. */
  constructor(
    readonly path: string,
    fd?: number,
  ) {
    this.current = fd ?? openSync(path, 'a', 0o640);
    this.writer = new LogWriter(fdBackend(this.current));
  }

  /** The descriptor lines go to now (what a new worker inherits). */
  get fd(): number {
    return this.current;
  }

  /** Writes to a new file of the same name from the next batch on. Throws what open()
   * threw; the old file is then still written. */
  reopen(): void {
    const next = openSync(this.path, 'a', 0o640);
    const old = this.current;
    this.current = next;
    this.writer.switchTo(fdBackend(next));
    setTimeout(() => closeSync(old), CLOSE_OLD_AFTER_MS).unref();
  }

  close(): void {
    closeSync(this.current);
  }
}
