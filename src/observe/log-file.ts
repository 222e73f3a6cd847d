/**
 * A `--logto` file that logrotate may move away. Lines go through a LogWriter to its
 * descriptor; `reopen()` opens a new file of the same name (SIGUSR1: the master reopens
 * its own, then has every worker reopen theirs, since each writes its lines itself).
 */
import { closeSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import { ErrorCodes, TsgiError } from '../errors.js';
import { log } from '../log.js';
import { fdBackend, LogWriter } from './log-writer.js';

/** How long an old descriptor stays open after a reopen: a write in flight on it ends first. */
const CLOSE_OLD_AFTER_MS = 1000;

/** Opens `path` for appending, or throws one line saying why it cannot. */
function openLog(path: string): number {
  try {
    return openSync(path, 'a', 0o640);
  } catch (error) {
    const { code, message } = error as NodeJS.ErrnoException;
    const why =
      code === 'ENOENT' ? `no such directory: ${dirname(path)}` : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'it is a directory' : message;
    throw new TsgiError(ErrorCodes.INVALID_OPTION, `--logto ${path}: cannot open it: ${why}`, { cause: error });
  }
}

export class LogFile {
  readonly writer: LogWriter;
  private current: number;

  /** `fd`: the file, already open (a worker's inherited descriptor); opened by name if
   * absent, and one that cannot be opened is a start-up error naming the option. */
  constructor(
    readonly path: string,
    fd?: number,
  ) {
    this.current = fd ?? openLog(path);
    this.writer = new LogWriter(fdBackend(this.current));
  }

  /** The descriptor lines go to now (what a new worker inherits). */
  get fd(): number {
    return this.current;
  }

  /** Writes to a new file of the same name from the next batch on; false, and logged,
   * when it cannot be opened (the old file is then still written). */
  reopen(): boolean {
    let next: number;
    try {
      next = openSync(this.path, 'a', 0o640);
    } catch (error) {
      log.error(`cannot reopen --logto ${this.path}: ${(error as Error).message}; still writing to the old file`);
      return false;
    }
    const old = this.current;
    this.current = next;
    this.writer.switchTo(fdBackend(next));
    setTimeout(() => closeSync(old), CLOSE_OLD_AFTER_MS).unref();
    return true;
  }

  close(): void {
    closeSync(this.current);
  }
}
