/**
 * The slow-request log (`--slowlog-timeout`, PHP-FPM's request_slowlog_timeout): a
 * request still running after the timeout is logged once, with how long it has run and
 * what its worker's JavaScript is doing, and runs on. Two cases, told apart by whether
 * the worker's event loop turns:
 *
 * - the loop is blocked (the request spins): the master sees it in the scoreboard and
 *   asks the worker's probe thread for the stack of the running JavaScript;
 * - the loop turns (the request awaits I/O or a timer): the worker sees the request in
 *   its own tick and says so, with what the request waits on (the app's answer, its
 *   next body piece, the client); no JavaScript of the request is running, so there is
 *   no stack of it to show (the stack would be the idle loop's).
 *
 * Lines go to `--slowlog FILE` (each with its date) or to the log. The master writes
 * every one of them: one writer per file.
 */
import { closeSync, openSync } from 'node:fs';
import type { Config } from '../config/index.js';
import { ErrorCodes, TsgiError } from '../errors.js';
import { log } from '../log.js';
import { LogFile } from './log-file.js';

/** What a slow request was doing when seen. */
export type SlowActivity = { kind: 'idle'; waiting: string } | { kind: 'blocked'; blockedSeconds: number; stack: readonly string[] };

/** Refuses `--slowlog` without `--slowlog-timeout` (it would never get a line), and a
 * file that cannot be opened for appending, at start rather than at the first slow request. */
export function checkSlowlog(config: Config): void {
  if (config.slowlog === undefined) return;
  if (config['slowlog-timeout'] === 0) {
    throw new TsgiError(ErrorCodes.INVALID_OPTION, `--slowlog ${config.slowlog}: needs --slowlog-timeout SECONDS (0, the default, is off)`);
  }
  try {
    closeSync(openSync(config.slowlog, 'a', 0o640));
  } catch (error) {
    throw new TsgiError(ErrorCodes.INVALID_OPTION, `--slowlog ${config.slowlog}: cannot open it for appending: ${(error as Error).message}`);
  }
}

export class Slowlog {
  private readonly file: LogFile | null;

  constructor(private readonly config: Config) {
    this.file = config.slowlog === undefined ? null : new LogFile(config.slowlog);
  }

  /** One slow request of worker `who` (`worker 1 (pid 123)`), seen after `seconds`. */
  report(who: string, request: string, seconds: number, activity: SlowActivity): void {
    const head = `slowlog: ${who}: ${request} running for ${seconds.toFixed(1)} s (--slowlog-timeout ${this.config['slowlog-timeout']})`;
    const lines =
      activity.kind === 'idle'
        ? [`${head}; event loop idle: the request awaits I/O or a timer, no JavaScript of it is running; waiting on ${activity.waiting}`]
        : [
            `${head}; event loop blocked for ${activity.blockedSeconds.toFixed(1)} s; JavaScript stack:`,
            ...activity.stack.map((line) => `slowlog: ${who}: ${line}`),
          ];
    if (!this.file) {
      for (const line of lines) log.warn(line);
      return;
    }
    const date = new Date().toISOString();
    this.file.writer.write(lines.map((line) => `[${date}] ${line}\n`).join(''));
  }

  /** SIGUSR1: a new file of the same name (logrotate moved the old one). */
  reopen(): void {
    try {
      this.file?.reopen();
    } catch (error) {
      log.error(`cannot reopen --slowlog ${this.config.slowlog}: ${(error as Error).message}; still writing to the old file`);
    }
  }

  async close(): Promise<void> {
    await this.file?.writer.flushed();
    this.file?.close();
  }
}
