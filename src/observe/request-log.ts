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
import { readFileSync } from 'node:fs';
import { memoryReportLevel } from '../config/derived.js';
import { logDate } from './strftime.js';
import { KEY_IDS, KeyId } from '../codec/keys.js';
import type { Exchange } from '../server/exchange.js';
import { traceId } from './trace-context.js';

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
  /** This worker's requests so far, and the instance's (summed over every worker's slot:
   * only the default line asks). */
  readonly workerRequests: number;
  readonly totalRequests: () => number;
}

/** The options that shape the log. */
export type RequestLogOptions = Pick<Config, 'disable-logging' | 'log-4xx' | 'log-5xx' | 'log-slow' | 'log-format' | 'log-json'> &
  Partial<Pick<Config, 'log-x-forwarded-for' | 'log-date' | 'log-format-strftime' | 'memory-report'>>;

type Getter = (r: LoggedRequest) => string | number;

const REMOTE_ADDR = KEY_IDS.get('REMOTE_ADDR')!;

/** The address a line names: REMOTE_ADDR, or with --log-x-forwarded-for the request's
 * X-Forwarded-For header as it is when it has one (uWSGI, core/protocol.c). */
type AddrOf = (r: LoggedRequest) => string;
const remoteAddr: AddrOf = (r) => r.exchange.record.get(REMOTE_ADDR) ?? '';
const forwardedFor: AddrOf = (r) => r.exchange.record.lookup('HTTP_X_FORWARDED_FOR') ?? r.exchange.record.get(REMOTE_ADDR) ?? '';

const traceIdOf = (r: LoggedRequest): string | null => traceId(r.exchange.record.lookup('HTTP_TRACEPARENT'));

/** Bytes of the response as uWSGI's `%(size)` counts them: the app's head and the body. */
const responseSize = (r: LoggedRequest): number => r.exchange.headerBytes + r.exchange.bodyBytes;

/** `/proc/self/status`'s VmSize and VmRSS, bytes (where there is no /proc: no VmSize, and
 * the resident size libuv reads). */
export function memoryUsage(): { vsz: number; rss: number } {
  try {
    const status = readFileSync('/proc/self/status', 'latin1');
    const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) * 1024;
    return { vsz: kb('VmSize'), rss: kb('VmRSS') };
  } catch {
    return { vsz: 0, rss: process.memoryUsage.rss() };
  }
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

/** What Apache escapes in a log field: quotes, backslashes, control characters. */
const APACHE_ESCAPED_ALL = /["\\\u0000-\u001f\u007f]/g;

/** A request value in a `--log-format` line: as it is, or escaped as Apache does (`\"`,
 * `\\`, `\xhh`) when it holds what would forge a field or a line. */
export function logField(value: string): string {
  // A loop over the code units: for the short values of a line, cheaper than a regex call.
  let plain = true;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 0x20 || c === 0x22 || c === 0x5c || c === 0x7f) {
      plain = false;
      break;
    }
  }
  if (plain) return value;
  return value.replace(APACHE_ESCAPED_ALL, (c) => (c === '"' ? '\\"' : c === '\\' ? '\\\\' : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`));
}

const text = (id: number) => (r: LoggedRequest) => logField(r.exchange.record.get(id) ?? '');
const named = (name: string) => (r: LoggedRequest) => logField(r.exchange.record.lookup(name) ?? '');

/** uWSGI's `%(name)` log variables: every one its core registers (core/logging.c,
 * uwsgi_register_logchunks), with its meaning. The sizes and the header count are the
 * app's response as uWSGI counts them (Exchange.headerBytes). */
const VARIABLES: Record<string, Getter> = {
  uri: text(KeyId.REQUEST_URI),
  method: text(KeyId.REQUEST_METHOD),
  user: named('REMOTE_USER'),
  addr: text(REMOTE_ADDR),
  // uWSGI's host: the Host header, else SERVER_NAME (core/protocol.c).
  host: (r) => logField(r.exchange.record.lookup('HTTP_HOST') ?? r.exchange.record.lookup('SERVER_NAME') ?? ''),
  proto: text(KeyId.SERVER_PROTOCOL),
  uagent: named('HTTP_USER_AGENT'),
  referer: named('HTTP_REFERER'),
  status: (r) => r.exchange.status,
  rsize: (r) => r.exchange.bodyBytes,
  hsize: (r) => r.exchange.headerBytes,
  size: responseSize,
  cl: (r) => r.exchange.record.contentLength,
  micros: (r) => Math.floor(r.msecs * 1000),
  msecs: (r) => Math.floor(r.msecs),
  secs: (r) => (r.msecs / 1000).toFixed(6),
  tmsecs: (r) => Math.floor(r.startedAtEpoch),
  tmicros: (r) => Math.floor(r.startedAtEpoch * 1000),
  time: (r) => Math.floor(r.startedAtEpoch / 1000),
  ltime: (r) => apacheTime(r.startedAtEpoch),
  // Replaced by the log-date format under --log-format-strftime (requestLogger).
  ftime: (r) => apacheTime(r.startedAtEpoch),
  ctime: (r) => ctime(r.startedAtEpoch),
  epoch: () => Math.floor(Date.now() / 1000),
  pid: (r) => r.pid,
  wid: (r) => r.wid,
  switches: (r) => r.exchange.switches,
  vars: (r) => r.exchange.record.nvars,
  core: () => 0,
  vsz: () => memoryUsage().vsz,
  rss: () => memoryUsage().rss,
  vszM: () => Math.floor(memoryUsage().vsz / 1024 / 1024),
  rssM: () => Math.floor(memoryUsage().rss / 1024 / 1024),
  pktsize: (r) => r.exchange.record.headSize,
  modifier1: (r) => r.exchange.modifier1,
  modifier2: () => 0,
  headers: (r) => r.exchange.headerCount,
  werr: (r) => r.exchange.writeErrors,
  rerr: (r) => r.exchange.readErrors,
  ioerr: (r) => r.exchange.writeErrors + r.exchange.readErrors,
};

/** tsgi's own variables, besides uWSGI's. */
const TSGI_VARIABLES: Record<string, Getter> = {
  // The W3C traceparent header's trace id, validated (hex: nothing to escape); '-' without.
  trace_id: (r) => traceIdOf(r) ?? '',
};

/** The uWSGI variable names `--log-format` accepts (besides `var.NAME`), and tsgi's own. */
export const LOG_VARIABLES = Object.keys(VARIABLES);
export const TSGI_LOG_VARIABLES = Object.keys(TSGI_VARIABLES);

/** `/proc/self/smaps_rollup`'s unique (private) and proportional set sizes, bytes (0
 * where there is none). */
function sharedMemory(): { uss: number; pss: number } {
  try {
    const rollup = readFileSync('/proc/self/smaps_rollup', 'latin1');
    const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(rollup)?.[1] ?? 0) * 1024;
    return { uss: kb('Private_Clean') + kb('Private_Dirty'), pss: kb('Pss') };
  } catch {
    return { uss: 0, pss: 0 };
  }
}

/** --memory-report's text before the default line, as uWSGI's (core/logging.c): level 1
 * the address space and rss, 2 also uss and pss. */
function memoryReport(level: 1 | 2): string {
  const { vsz, rss } = memoryUsage();
  const mb = (bytes: number) => Math.floor(bytes / 1024 / 1024);
  let text = `{address space usage: ${vsz} bytes/${mb(vsz)}MB} {rss usage: ${rss} bytes/${mb(rss)}MB} `;
  if (level === 2) {
    const { uss, pss } = sharedMemory();
    text += `{uss usage: ${uss} bytes/${mb(uss)}MB} {pss usage: ${pss} bytes/${mb(pss)}MB} `;
  }
  return text;
}

/** uWSGI's default request line (core/logging.c, uwsgi_logit_simple): `generated` the
 * body's bytes, the headers the app's (Exchange.headerCount, headerBytes). */
function defaultLine(addr: AddrOf, memory: 0 | 1 | 2): (r: LoggedRequest) => string {
  return (r) => {
    const exchange = r.exchange;
    const record = exchange.record;
    return (
      `${memory === 0 ? '' : memoryReport(memory)}[pid: ${r.pid}|app: 0|req: ${r.workerRequests}/${r.totalRequests()}] ${addr(r)} (${record.lookup('REMOTE_USER') ?? ''}) ` +
      `{${record.nvars} vars in ${record.headSize} bytes} [${ctime(r.startedAtEpoch)}] ${record.get(KeyId.REQUEST_METHOD) ?? ''} ${record.get(KeyId.REQUEST_URI) ?? ''} ` +
      `=> generated ${exchange.bodyBytes} bytes in ${Math.floor(r.msecs)} msecs (${record.get(KeyId.SERVER_PROTOCOL) ?? ''} ${exchange.status}) ` +
      `${exchange.headerCount} headers in ${exchange.headerBytes} bytes (${exchange.switches} switches on core 0)`
    );
  };
}

/** `value` as a JSON string. Request values rarely hold what JSON.stringify would escape
 * (quotes, backslashes, control characters, lone surrogates), and then need no call to it;
 * a loop over the code units finds out cheaper than a regex call on short values. */
function jsonString(value: string): string {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 0x20 || c === 0x22 || c === 0x5c || (c >= 0xd800 && c <= 0xdfff)) return JSON.stringify(value);
  }
  return `"${value}"`;
}

/** `2014-01-19T17:50:59.123Z`: the second's text made once per second, the milliseconds added. */
const isoSecond = perSecond((epochMs) => new Date(epochMs).toISOString().slice(0, 19));
function isoTime(epochMs: number): string {
  const ms = Math.floor(epochMs) % 1000;
  return `${isoSecond(epochMs)}.${ms < 10 ? '00' : ms < 100 ? '0' : ''}${ms}Z`;
}

/** `--log-json`: one object per line in the shape of tsgi's own JSON lines (log.ts,
 * jsonLines: `time`, `level`, `msg`, `pid`, `name`), then the request's fields (`trace_id`
 * only when a valid `traceparent` came); written out
 * here rather than through JSON.stringify of an object made for it, which cost more than
 * the rest of the request's logging. */
function jsonLine(addr: AddrOf): (r: LoggedRequest) => string {
  return (r) => {
    const record = r.exchange.record;
    const status = r.exchange.status;
    const method = jsonString(record.get(KeyId.REQUEST_METHOD) ?? '');
    const uri = jsonString(record.get(KeyId.REQUEST_URI) ?? '');
    const trace = traceIdOf(r);
    // `msg` is "METHOD URI => STATUS", made of the two JSON strings already escaped.
    return (
      `{"time":"${isoTime(r.startedAtEpoch)}","level":"info","msg":${method.slice(0, -1)} ${uri.slice(1, -1)} => ${status}","pid":${r.pid},"name":"tsgi",` +
      `"wid":${r.wid},"addr":${jsonString(addr(r))},"method":${method},"uri":${uri},` +
      `"proto":${jsonString(record.get(KeyId.SERVER_PROTOCOL) ?? '')},"status":${status},"size":${responseSize(r)},` +
      `"msecs":${Math.round(r.msecs * 1000) / 1000},"host":${jsonString(record.lookup('HTTP_HOST') ?? '')},` +
      `"uagent":${jsonString(record.lookup('HTTP_USER_AGENT') ?? '')},"referer":${jsonString(record.lookup('HTTP_REFERER') ?? '')}` +
      `${trace === null ? '' : `,"trace_id":"${trace}"`}}`
    );
  };
}

/** What `%(name)` reads, or why it cannot be: uWSGI's kinds besides its variables. */
function variable(name: string, ftime: Getter | undefined, addr: AddrOf): Getter {
  if (name === 'ftime' && ftime) return ftime;
  if (name === 'addr' && addr !== remoteAddr) return (r) => logField(addr(r));
  const known = VARIABLES[name] ?? TSGI_VARIABLES[name];
  if (known) return known;
  if (name.startsWith('var.') && name.length > 4) {
    const key = name.slice(4);
    return (r) => logField(r.exchange.record.lookup(key) ?? '');
  }
  const why = name.startsWith('metric.')
    ? "one of uWSGI's metrics, which tsgi does not have (the stats socket, --stats, has its counters)"
    : "not a uWSGI log variable (uWSGI would print the app's own logvar, set with uwsgi.set_logvar(), which tsgi apps have no equivalent for)";
  throw new TsgiError(
    ErrorCodes.INVALID_OPTION,
    `--log-format: unknown variable %(${name}): ${why}; known: ${[...LOG_VARIABLES, ...TSGI_LOG_VARIABLES].map((n) => `%(${n})`).join(' ')} and %(var.NAME) for a request variable`,
  );
}

/**
 * Compiles a `--log-format` template as uWSGI does (core/logging.c, uwsgi_logit_lf): each
 * `%(name)` is replaced, and an empty value prints `-` (Apache's combined format reads
 * right). Request values are Apache-escaped (logField), which uWSGI does not do: a quote
 * in a User-Agent cannot forge a field. An unknown `%(name)` is an error naming it.
 * `ftime` is what `%(ftime)` prints (--log-format-strftime), else the Apache time;
 * `forwardedFor`: %(addr) is X-Forwarded-For when there is one (--log-x-forwarded-for).
 */
export function compileFormat(
  template: string,
  { ftime, forwardedFor: xff = false }: { ftime?: ((epochMs: number) => string) | null; forwardedFor?: boolean } = {},
): (r: LoggedRequest) => string {
  const parts: Array<string | Getter> = [];
  const ftimeGetter: Getter | undefined = ftime ? (r) => ftime(r.startedAtEpoch) : undefined;
  let last = 0;
  for (const match of template.matchAll(/%\(([^)]*)\)/g)) {
    parts.push(template.slice(last, match.index));
    parts.push(variable(match[1]!, ftimeGetter, xff ? forwardedFor : remoteAddr));
    last = match.index + match[0].length;
  }
  parts.push(template.slice(last));
  return (r) => {
    let line = '';
    for (const part of parts) {
      if (typeof part === 'string') {
        line += part;
        continue;
      }
      const value = part(r);
      line += value === '' ? '-' : value;
    }
    return line;
  };
}

/** The line's shape the options ask for: JSON, a --log-format template, or uWSGI's default. */
function requestLineFormat(options: RequestLogOptions): (r: LoggedRequest) => string {
  const addr = options['log-x-forwarded-for'] ? forwardedFor : remoteAddr;
  if (options['log-json']) return jsonLine(addr);
  if (options['log-format'] !== undefined) {
    const ftime = options['log-format-strftime'] ? logDate(options['log-date']) : null;
    return compileFormat(options['log-format'], { ftime, forwardedFor: options['log-x-forwarded-for'] });
  }
  return defaultLine(addr, memoryReportLevel(options['memory-report'] ?? '0'));
}

/** The request log as the options ask: `line(r)` is the text to log, or null for none;
 * no logger at all when no request is ever logged (the worker then skips the work). */
export function requestLogger(options: RequestLogOptions): ((r: LoggedRequest) => string | null) | null {
  const format = requestLineFormat(options);
  if (!options['disable-logging']) return format;
  const { 'log-4xx': log4xx, 'log-5xx': log5xx, 'log-slow': slowMs } = options;
  if (!log4xx && !log5xx && slowMs === 0) return null;
  return (r) => {
    const status = r.exchange.status;
    const wanted = (log4xx && status >= 400 && status < 500) || (log5xx && status >= 500) || (slowMs > 0 && r.msecs >= slowMs);
    return wanted ? format(r) : null;
  };
}
