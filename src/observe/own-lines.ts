/**
 * How a process writes tsgi's own lines (start, reload, warnings, app errors): uWSGI's
 * text (after the time with --log-date, as uWSGI's), or with `--log-json` one JSON object
 * per line (log.ts, jsonLines). The master, each
 * worker and a lone process (`--master false`) use it, so that every line of the log,
 * request lines included, has the one shape the options ask for.
 */
import type { Config } from '../config/index.js';
import { jsonLines, textLines, type LineFormat } from '../log.js';
import type { LogWriter } from './log-writer.js';
import { logDate } from './strftime.js';

/** The format of this process's own lines; `fields` are added to each JSON object (a
 * worker's `wid`). */
export function ownLineFormat(config: Pick<Config, 'log-json' | 'log-date'>, fields: Readonly<Record<string, string | number>> = {}): LineFormat {
  return config['log-json'] ? jsonLines(fields) : textLines(logDate(config['log-date']) ?? undefined);
}

/** `writer`'s own note (the lines it dropped) as JSON too under --log-json (in text it
 * stays `tsgi: N log line(s) dropped...`). */
export function noteIn(writer: LogWriter, config: Pick<Config, 'log-json'>, format: LineFormat): void {
  if (config['log-json']) writer.note = (text) => format('warn', text);
}
