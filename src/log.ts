/**
 * The process's log: one line per event, to stderr by default. Tests and the master
 * replace the sink with `setLogSink`; a process that owns its log routes the lines to its
 * writer with `logThrough`, in text (`tsgi[pid]: ...`, with `--log-date`'s prefix) or, with
 * `--log-json`, as one JSON object per line.
 */

export type LogLevel = 'info' | 'warn' | 'error';
export type LogSink = (level: LogLevel, line: string) => void;
/** How a line is written out: its whole text, without the newline. */
export type LineFormat = (level: LogLevel, line: string) => string;

const toStderr: LogSink = (_level, line) => {
  process.stderr.write(`tsgi[${process.pid}]: ${line}\n`);
};

let sink: LogSink = toStderr;

/** uWSGI's text lines: `tsgi[pid]: line`, after `date(now) - ` when a date is asked for
 * (uWSGI's --log-date). */
export function textLines(date?: (epochMs: number) => string): LineFormat {
  return date ? (_level, line) => `${date(Date.now())} - tsgi[${process.pid}]: ${line}` : (_level, line) => `tsgi[${process.pid}]: ${line}`;
}

/** A message's stack trace, after its first line: the lines `    at ...` an Error's stack has. */
const STACK_FRAMES = /\n\s+at /;

/**
 * `--log-json`: one object per line in the shape pino and bunyan write, which log
 * pipelines know: `time` (ISO 8601), `level` (`info`, `warn`, `error`), `msg`, `pid`,
 * `name`, then `fields` (a worker's `wid`). A message that carries an error's stack (an app
 * error) has its first line as `msg` and the whole text in `stack`; any other newline is
 * escaped, so an object never spans lines.
 */
export function jsonLines(fields: Readonly<Record<string, string | number>> = {}): LineFormat {
  const extra = Object.entries(fields)
    .map(([name, value]) => `,${JSON.stringify(name)}:${JSON.stringify(value)}`)
    .join('');
  return (level, line) => {
    const cut = STACK_FRAMES.test(line) ? line.indexOf('\n') : -1;
    const msg = cut === -1 ? line : line.slice(0, cut);
    const stack = cut === -1 ? '' : `,"stack":${JSON.stringify(line)}`;
    return `{"time":"${new Date().toISOString()}","level":"${level}","msg":${JSON.stringify(msg)},"pid":${process.pid},"name":"tsgi"${extra}${stack}}`;
  };
}

/** Routes log lines, in `format` (text by default), to `writer` (a process's LogWriter).
 * Returns the previous sink. */
export function logThrough(writer: { line(text: string): void }, format: LineFormat = textLines()): LogSink {
  const previous = sink;
  sink = (level, line) => writer.line(format(level, line));
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
