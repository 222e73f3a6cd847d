/**
 * The worker's log: one line per event, to stderr by default. Tests and the master
 * replace the sink with `setLogSink`.
 */

export type LogLevel = 'info' | 'warn' | 'error';
export type LogSink = (level: LogLevel, line: string) => void;

const toStderr: LogSink = (_level, line) => {
  process.stderr.write(`tsgi[${process.pid}]: ${line}\n`);
};

let sink: LogSink = toStderr;

/** Routes log lines, prefixed as on stderr, to `writer` (a process's LogWriter). Returns
 * the previous sink. */
export function logThrough(writer: { line(text: string): void }): LogSink {
  const previous = sink;
  sink = (_level, line) => writer.line(`tsgi[${process.pid}]: ${line}`);
  return previous;
}

/** Routes log lines to `next` (or back to stderr when omitted). Returns the previous sink. */
export function setLogSink(next?: LogSink): LogSink {
  const previous = sink;
  sink = next ?? toStderr;
  return previous;
}

export const log = {
  info: (line: string): void => sink('info', line),
  warn: (line: string): void => sink('warn', line),
  error: (line: string): void => sink('error', line),
};
