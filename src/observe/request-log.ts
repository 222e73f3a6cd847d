/**
 * The request log: which requests get a line (`--disable-logging`, `--log-4xx`,
 * `--log-5xx`, `--log-slow`) and what the line says: uWSGI's default shape, a
 * `--log-format` template with uWSGI's `%(var)` names, or `--log-json`.
 *
 * Lines never carry request bodies; a template may name any request var (`%(var.NAME)`),
 * which is the operator's choice.
 */
import type { Config } from '../config/index.js';
import { ErrorCodes, TsgiError } from '../errors.js';
import { KEY_IDS, KeyId } from '../codec/keys.js';
import type { Exchange } from '../server/exchange.js';

/** A finished request, and the worker it ran in. */
export interface LoggedRequest {
  readonly exchange: Exchange;
  /** Response time, ms. */
  readonly msecs: number;
  /** When the request started, ms since the epoch. */
  readonly startedAtEpoch: number;
  readonly pid: number;
  /** The worker id (1..processes; 0 without a master). */
  readonly wid: number;
  /** This worker's requests so far, and the instance's. */
  readonly workerRequests: number;
  readonly totalRequests: number;
}

/** The options that shape the log. */
export type RequestLogOptions = Pick<Config, 'disable-logging' | 'log-4xx' | 'log-5xx' | 'log-slow' | 'log-format' | 'log-json'>;

type Getter = (r: LoggedRequest) => string | number;

const REMOTE_ADDR = KEY_IDS.get('REMOTE_ADDR')!;
const get = (id: number) => (r: LoggedRequest) => r.exchange.record.get(id) ?? '';

/** Bytes of the response, head and body. */
const responseSize = (r: LoggedRequest): number => r.exchange.headText.length + r.exchange.bodyBytes;

/** Header lines of a response head (its status line and blank line not counted). */
function headerCount(head: string): number {
  let lines = 0;
  for (let at = head.indexOf('\r\n'); at !== -1; at = head.indexOf('\r\n', at + 2)) lines++;
  return Math.max(0, lines - 2);
}

/**
 * `format` made once per second: a time of day to the second reads the same for every
 * request of that second, and making it costs more than the rest of a log line (Date's
 * local-time text goes through the time zone rules).
 */
function perSecond(format: (epochMs: number) => string): (epochMs: number) => string {
  let second = NaN;
  let text = '';
  return (epochMs) => {
    const now = Math.floor(epochMs / 1000);
    if (now !== second) {
      second = now;
      text = format(epochMs);
    }
    return text;
  };
}

/** `Sun Jan 19 18:50:59 2014`, as C's ctime() (uWSGI's default line), in local time. */
const ctime = perSecond((epochMs) => {
  const d = new Date(epochMs);
  const [weekday, month, day, year, time] = d.toString().split(' ');
  return `${weekday} ${month} ${day!.replace(/^0/, ' ')} ${time} ${year}`;
});

/** `19/Jan/2014:18:50:59 +0100`, Apache's common log time, in local time. */
const apacheTime = perSecond((epochMs) => {
  const d = new Date(epochMs);
  const pad = (n: number) => String(n).padStart(2, '0');
  const month = d.toString().split(' ')[1];
  const offset = -d.getTimezoneOffset();
  const zone = `${offset >= 0 ? '+' : '-'}${pad(Math.floor(Math.abs(offset) / 60))}${pad(Math.abs(offset) % 60)}`;
  return `${pad(d.getDate())}/${month}/${d.getFullYear()}:${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())} ${zone}`;
});

/** uWSGI's `%(name)` log variables (LogFormat.rst), those that mean something here. */
const VARIABLES: Record<string, Getter> = {
  uri: get(KeyId.REQUEST_URI),
  method: get(KeyId.REQUEST_METHOD),
  user: (r) => r.exchange.record.lookup('REMOTE_USER') ?? '',
  addr: get(REMOTE_ADDR),
  host: (r) => r.exchange.record.lookup('HTTP_HOST') ?? '',
  proto: get(KeyId.SERVER_PROTOCOL),
  uagent: (r) => r.exchange.record.lookup('HTTP_USER_AGENT') ?? '',
  referer: (r) => r.exchange.record.lookup('HTTP_REFERER') ?? '',
  status: (r) => r.exchange.status,
  micros: (r) => Math.round(r.msecs * 1000),
  msecs: (r) => Math.round(r.msecs),
  secs: (r) => (r.msecs / 1000).toFixed(6),
  time: (r) => Math.floor(r.startedAtEpoch / 1000),
  tmsecs: (r) => Math.floor(r.startedAtEpoch),
  tmicros: (r) => Math.floor(r.startedAtEpoch * 1000),
  epoch: () => Math.floor(Date.now() / 1000),
  ctime: (r) => ctime(r.startedAtEpoch),
  ltime: (r) => apacheTime(r.startedAtEpoch),
  size: responseSize,
  hsize: (r) => r.exchange.headText.length,
  rsize: (r) => r.exchange.bodyBytes,
  cl: get(KeyId.CONTENT_LENGTH),
  headers: (r) => headerCount(r.exchange.headText),
  vars: (r) => r.exchange.record.nvars,
  pktsize: (r) => r.exchange.record.headSize,
  pid: (r) => r.pid,
  wid: (r) => r.wid,
  core: () => 0,
  switches: () => 1,
};

/** The variable names `--log-format` accepts (besides `var.NAME`). */
export const LOG_VARIABLES = Object.keys(VARIABLES);

/** uWSGI's default request line. */
function defaultLine(r: LoggedRequest): string {
  const record = r.exchange.record;
  const head = r.exchange.headText;
  return (
    `[pid: ${r.pid}|app: 0|req: ${r.workerRequests}/${r.totalRequests}] ${record.get(REMOTE_ADDR) ?? ''} (${record.lookup('REMOTE_USER') ?? ''}) ` +
    `{${record.nvars} vars in ${record.headSize} bytes} [${ctime(r.startedAtEpoch)}] ${record.get(KeyId.REQUEST_METHOD) ?? ''} ${record.get(KeyId.REQUEST_URI) ?? ''} ` +
    `=> generated ${responseSize(r)} bytes in ${Math.round(r.msecs)} msecs (${record.get(KeyId.SERVER_PROTOCOL) ?? ''} ${r.exchange.status}) ` +
    `${headerCount(head)} headers in ${head.length} bytes (1 switches on core 0)`
  );
}

/** What JSON.stringify would escape in a string: quotes, backslashes, control characters,
 * lone surrogates. Request values rarely hold any, and then need no call to it. */
const JSON_ESCAPED = /["\\\u0000-\u001f\ud800-\udfff]/;

function jsonString(value: string): string {
  return JSON_ESCAPED.test(value) ? JSON.stringify(value) : `"${value}"`;
}

/** `2014-01-19T17:50:59.123Z`: the second's text made once per second, the milliseconds added. */
const isoSecond = perSecond((epochMs) => new Date(epochMs).toISOString().slice(0, 19));
function isoTime(epochMs: number): string {
  const ms = Math.floor(epochMs) % 1000;
  return `${isoSecond(epochMs)}.${ms < 10 ? '00' : ms < 100 ? '0' : ''}${ms}Z`;
}

/** `--log-json`: one object per line, written out here rather than through JSON.stringify
 * of an object made for it, which cost more than the rest of the request's logging. */
function jsonLine(r: LoggedRequest): string {
  const record = r.exchange.record;
  return (
    `{"time":"${isoTime(r.startedAtEpoch)}","pid":${r.pid},"wid":${r.wid},"addr":${jsonString(record.get(REMOTE_ADDR) ?? '')},` +
    `"method":${jsonString(record.get(KeyId.REQUEST_METHOD) ?? '')},"uri":${jsonString(record.get(KeyId.REQUEST_URI) ?? '')},` +
    `"proto":${jsonString(record.get(KeyId.SERVER_PROTOCOL) ?? '')},"status":${r.exchange.status},"size":${responseSize(r)},` +
    `"msecs":${Math.round(r.msecs * 1000) / 1000},"host":${jsonString(record.lookup('HTTP_HOST') ?? '')},` +
    `"uagent":${jsonString(record.lookup('HTTP_USER_AGENT') ?? '')},"referer":${jsonString(record.lookup('HTTP_REFERER') ?? '')}}`
  );
}

/** Compiles a `--log-format` template; an unknown `%(name)` is an error naming it. */
export function compileFormat(template: string): (r: LoggedRequest) => string {
  const parts: Array<string | Getter> = [];
  let last = 0;
  for (const match of template.matchAll(/%\(([^)]*)\)/g)) {
    parts.push(template.slice(last, match.index));
    const name = match[1]!;
    if (name.startsWith('var.') && name.length > 4) {
      const key = name.slice(4);
      parts.push((r) => r.exchange.record.lookup(key) ?? '');
    } else if (VARIABLES[name]) {
      parts.push(VARIABLES[name]);
    } else {
      throw new TsgiError(
        ErrorCodes.INVALID_OPTION,
        `--log-format: unknown variable %(${name}); known: ${LOG_VARIABLES.map((n) => `%(${n})`).join(' ')} and %(var.NAME)`,
      );
    }
    last = match.index + match[0].length;
  }
  parts.push(template.slice(last));
  return (r) => {
    let line = '';
    for (const part of parts) line += typeof part === 'string' ? part : String(part(r));
    return line;
  };
}

/** The request log as the options ask: `line(r)` is the text to log, or null for none;
 * no logger at all when no request is ever logged (the worker then skips the work). */
export function requestLogger(options: RequestLogOptions): ((r: LoggedRequest) => string | null) | null {
  const format = options['log-json'] ? jsonLine : options['log-format'] !== undefined ? compileFormat(options['log-format']) : defaultLine;
  if (!options['disable-logging']) return format;
  const { 'log-4xx': log4xx, 'log-5xx': log5xx, 'log-slow': slowMs } = options;
  if (!log4xx && !log5xx && slowMs === 0) return null;
  return (r) => {
    const status = r.exchange.status;
    const wanted = (log4xx && status >= 400 && status < 500) || (log5xx && status >= 500) || (slowMs > 0 && r.msecs >= slowMs);
    return wanted ? format(r) : null;
  };
}
