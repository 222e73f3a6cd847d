/**
 * `tsgi.errors`. What the app writes goes to the web server's error log where the
 * protocol has a channel for it (FastCGI STDERR), else to the worker's stderr, unchanged.
 */
import type { ErrorStream } from './contract.js';

/** Sends text on the request's own channel; false if it has none (or is gone). */
export type ErrorChannel = (text: string) => boolean;

/** The error stream of one request: `channel` first, the worker's stderr otherwise. */
export function createErrorStream(channel?: ErrorChannel): ErrorStream {
  const write = (text: unknown): void => {
    const value = String(text);
    if (!channel?.(value)) process.stderr.write(value);
  };
  return {
    write,
    writelines(lines: Iterable<string>): void {
      for (const line of lines) write(line);
    },
    flush(): void {},
  };
}

/** The error stream of requests whose protocol has no channel of its own (uwsgi). */
export const errorStream: ErrorStream = createErrorStream();
