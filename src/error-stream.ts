/** `tsgi.errors`: what the app writes here goes to the worker's stderr, unchanged. */
import type { ErrorStream } from './app.js';

export const errorStream: ErrorStream = {
  write(text: string): void {
    process.stderr.write(String(text));
  },
  writelines(lines: Iterable<string>): void {
    for (const line of lines) process.stderr.write(String(line));
  },
  flush(): void {},
};
