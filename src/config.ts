/**
 * The option table: one entry per option, with its uWSGI name and short flag, type,
 * default and help. The CLI parser and `--help` are derived from it. (Config files and
 * environment variables come with the configuration issue; keep everything in this table
 * so they can be derived from it too.)
 */
import { ADAPTERS, type AdapterName } from './adapters/adapter-names.js';
import { ErrorCodes, TsgiError } from './errors.js';

type OptionType = 'string' | 'integer' | 'seconds' | 'octal' | 'boolean' | 'flag';

interface OptionSpec {
  readonly name: string;
  readonly short?: string;
  readonly aliases?: readonly string[];
  readonly type: OptionType;
  readonly default?: string | number | boolean;
  readonly repeatable?: boolean;
  readonly min?: number;
  readonly max?: number;
  /** The values a string option takes (anything else is refused). */
  readonly choices?: readonly string[];
  readonly help: string;
}

export const OPTIONS: readonly OptionSpec[] = [
  { name: 'socket', short: 's', aliases: ['uwsgi-socket'], type: 'string', repeatable: true, help: 'serve uwsgi on HOST:PORT, :PORT or a Unix socket path (repeatable)' },
  { name: 'http-socket', aliases: ['http'], type: 'string', repeatable: true, help: 'serve HTTP/1.1 straight to clients (keep-alive, pipelining, chunked) on HOST:PORT, :PORT or a Unix socket path (repeatable)' },
  { name: 'fastcgi-socket', type: 'string', repeatable: true, help: 'serve FastCGI (responder role) on HOST:PORT, :PORT or a Unix socket path (repeatable)' },
  { name: 'module', short: 'w', aliases: ['wsgi-file', 'file'], type: 'string', help: 'the app: a JavaScript module exporting it as default or application (default: the built-in example app)' },
  { name: 'callable', type: 'string', default: 'application', help: 'the name of the export to serve when it is not the default export' },
  { name: 'adapter', type: 'string', default: 'auto', choices: ADAPTERS, help: 'what the export is: tsgi (app(environ, startResponse)), fetch ((request) => Response, or { fetch }), node ((req, res), or an Express, Koa, Fastify app); auto tells by its shape' },
  { name: 'chmod-socket', type: 'octal', default: 0o660, min: 0, max: 0o777, help: 'file mode of Unix sockets, octal' },
  { name: 'listen', short: 'l', type: 'integer', min: 1, max: 65535, help: "listen queue length of each socket (default: the kernel's net.core.somaxconn, which also caps it)" },
  { name: 'buffer-size', short: 'b', type: 'integer', default: 65535, min: 4, max: 1048576, help: 'largest request head (uwsgi vars block, at most 65535 whatever the value; FastCGI params stream), bytes; over it: 431' },
  { name: 'max-vars', type: 'integer', default: 1000, min: 1, max: 65535, help: 'most vars (uwsgi) or params (FastCGI) in one request; over it: 400' },
  { name: 'limit-post', type: 'integer', default: 0, min: 0, help: 'largest request body, bytes (0: no limit); over it: 413' },
  { name: 'socket-timeout', type: 'seconds', default: 10, min: 0.001, max: 86400, help: 'seconds a peer may take to send the request head, or idle while sending the body or reading the response' },
  { name: 'http-keepalive-timeout', type: 'seconds', default: 65, min: 0.001, max: 86400, help: 'seconds a kept-alive HTTP connection may wait for its next request; keep it above the idle timeout of a proxy in front' },
  { name: 'http-request-timeout', type: 'seconds', default: 300, min: 0.001, max: 86400, help: 'seconds an HTTP request, head and body, may take to arrive whole from its first byte, however steadily it trickles; over it: 408' },
  { name: 'http-max-request-line', type: 'integer', default: 8192, min: 16, max: 1048576, help: 'longest HTTP request line, bytes; over it: 414' },
  { name: 'http-max-head', type: 'integer', default: 16384, min: 64, max: 1048576, help: 'largest HTTP request head (and trailer section), bytes; over it: 431' },
  { name: 'http-max-headers', type: 'integer', default: 100, min: 1, max: 10000, help: 'most header fields in an HTTP request; over it: 431' },
  { name: 'http-max-chunk-extension', type: 'integer', default: 4096, min: 0, max: 1048576, help: 'most chunk-extension bytes on one chunk-size line of a chunked HTTP body; over it: 413' },
  { name: 'max-conns', type: 'integer', default: 10000, min: 1, max: 1000000, help: 'most open connections; at it, accepting pauses until one closes (FastCGI FCGI_MAX_CONNS)' },
  { name: 'fastcgi-max-reqs', type: 'integer', default: 100, min: 1, max: 65535, help: 'most requests at once on one FastCGI connection; over it: FCGI_OVERLOADED (FCGI_MAX_REQS)' },
  { name: 'fastcgi-multiplex', type: 'boolean', default: true, help: 'let one FastCGI connection carry several requests at once; if false, a second gets FCGI_CANT_MPX_CONN (FCGI_MPXS_CONNS)' },
  { name: 'master', short: 'M', type: 'boolean', default: true, help: 'run a master process that binds the sockets and supervises the workers (false: one process serves alone, with no respawn, reload or harakiri)' },
  { name: 'processes', short: 'p', aliases: ['workers'], type: 'integer', default: 1, min: 1, max: 1024, help: 'worker processes serving the app' },
  { name: 'need-app', type: 'boolean', default: true, help: 'stop at start-up when the app cannot be loaded (false: keep retrying with backoff)' },
  { name: 'harakiri', short: 't', type: 'seconds', default: 0, min: 0, max: 86400, help: 'end a request running longer (its abort signal fires, the client gets 504); 0: off' },
  { name: 'harakiri-graceful-timeout', type: 'seconds', default: 1, min: 0, max: 3600, help: 'after --harakiri, seconds a worker whose event loop stays blocked (a busy loop) gets before it is killed and replaced' },
  { name: 'max-requests', short: 'R', type: 'integer', default: 0, min: 0, help: 'recycle a worker after this many requests (replacement first, in-flight requests finish); 0: never' },
  { name: 'max-requests-delta', type: 'integer', default: 0, min: 0, help: 'add worker id × this to --max-requests, so workers do not recycle together' },
  { name: 'max-worker-lifetime', type: 'seconds', default: 0, min: 0, help: 'recycle a worker after this many seconds; 0: never' },
  { name: 'reload-on-rss', type: 'integer', default: 0, min: 0, help: 'recycle a worker whose resident memory exceeds this many MB (it finishes its requests first); 0: never' },
  { name: 'worker-reload-mercy', type: 'seconds', default: 60, min: 0, max: 86400, help: 'seconds a worker being reloaded or recycled gets to finish its requests before it is killed' },
  { name: 'reload-mercy', type: 'seconds', default: 30, min: 0, max: 86400, help: 'seconds the workers get to finish their requests on SIGTERM before they are killed' },
  { name: 'chain-reload', type: 'boolean', default: false, help: 'reload one worker at a time (the next when the new one accepts) instead of all at once' },
  { name: 'touch-reload', type: 'string', repeatable: true, help: 'reload gracefully when this file is touched (its modification time changes; repeatable)' },
  { name: 'pidfile', type: 'string', help: "write the master's pid to this file (before dropping privileges); removed on exit" },
  { name: 'uid', type: 'string', help: 'user (name or number) the master and workers run as, after binding the sockets' },
  { name: 'gid', type: 'string', help: 'group (name or number) the master and workers run as, after binding the sockets' },
  { name: 'allow-root', type: 'boolean', default: false, help: 'let workers run as root (refused otherwise: give --uid/--gid)' },
  { name: 'vacuum', type: 'boolean', default: true, help: 'remove the Unix socket files and the pidfile on exit' },
  { name: 'stats', type: 'string', help: 'serve stats on HOST:PORT or a Unix socket path: uWSGI-compatible JSON (uwsgitop); :PORT means 127.0.0.1' },
  { name: 'stats-http', type: 'boolean', default: false, help: 'speak HTTP on the stats socket: the JSON at /, Prometheus text at /metrics' },
  { name: 'disable-logging', short: 'L', type: 'boolean', default: false, help: 'no request log lines (except those --log-4xx, --log-5xx and --log-slow ask for)' },
  { name: 'log-4xx', type: 'boolean', default: false, help: 'log requests answered 4xx even with --disable-logging' },
  { name: 'log-5xx', type: 'boolean', default: false, help: 'log requests answered 5xx even with --disable-logging' },
  { name: 'log-slow', type: 'integer', default: 0, min: 0, help: 'log requests slower than this many milliseconds even with --disable-logging; 0: off' },
  { name: 'log-format', aliases: ['logformat'], type: 'string', help: "request log line template with uWSGI's %(var) names: method, uri, status, size, msecs, addr, pid, wid, ..." },
  { name: 'log-json', type: 'boolean', default: false, help: 'request log lines as JSON objects' },
  { name: 'logto', type: 'string', help: 'write every log line to this file instead of stderr; SIGUSR1 reopens it (for logrotate)' },
  { name: 'help', short: 'h', type: 'flag', help: 'show this help' },
  { name: 'version', short: 'v', type: 'flag', help: 'show the version and which native binding loaded' },
];

export interface Config {
  socket: string[];
  'fastcgi-socket': string[];
  'http-socket': string[];
  module?: string;
  callable: string;
  adapter: AdapterName;
  'chmod-socket': number;
  /** Unset: the kernel's somaxconn. */
  listen?: number;
  'buffer-size': number;
  'max-vars': number;
  'limit-post': number;
  'socket-timeout': number;
  'http-keepalive-timeout': number;
  'http-request-timeout': number;
  'http-max-request-line': number;
  'http-max-head': number;
  'http-max-headers': number;
  'http-max-chunk-extension': number;
  'max-conns': number;
  'fastcgi-max-reqs': number;
  'fastcgi-multiplex': boolean;
  master: boolean;
  processes: number;
  'need-app': boolean;
  harakiri: number;
  'harakiri-graceful-timeout': number;
  'max-requests': number;
  'max-requests-delta': number;
  'max-worker-lifetime': number;
  'reload-on-rss': number;
  'worker-reload-mercy': number;
  'reload-mercy': number;
  'chain-reload': boolean;
  'touch-reload': string[];
  pidfile?: string;
  uid?: string;
  gid?: string;
  'allow-root': boolean;
  vacuum: boolean;
  stats?: string;
  'stats-http': boolean;
  'disable-logging': boolean;
  'log-4xx': boolean;
  'log-5xx': boolean;
  'log-slow': number;
  'log-format'?: string;
  'log-json': boolean;
  logto?: string;
  help: boolean;
  version: boolean;
}

const byName = new Map<string, OptionSpec>();
for (const spec of OPTIONS) {
  byName.set(spec.name, spec);
  if (spec.short) byName.set(spec.short, spec);
  for (const alias of spec.aliases ?? []) byName.set(alias, spec);
}

/** Parses command-line arguments (without node and the script). */
export function parseArgs(argv: readonly string[]): Config {
  const values = new Map<string, unknown>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const match = /^(?:--([^=]+)|-([A-Za-z]))(?:=(.*))?$/.exec(arg);
    if (!match) {
      throw new TsgiError(ErrorCodes.INVALID_OPTION, `unexpected argument ${JSON.stringify(arg)}; options start with --`);
    }
    const given = match[1] ?? match[2]!;
    const spec = byName.get(given);
    if (!spec) {
      const hint = suggest(given);
      throw new TsgiError(ErrorCodes.INVALID_OPTION, `unknown option ${arg.split('=')[0]}${hint ? `; did you mean --${hint}?` : ''}`);
    }
    const flag = `--${spec.name}`;
    let raw: string | undefined = match[3];
    if (spec.type === 'flag') {
      if (raw !== undefined) throw new TsgiError(ErrorCodes.INVALID_OPTION, `${flag} takes no value`);
      values.set(spec.name, true);
      continue;
    }
    if (raw === undefined && spec.type === 'boolean') {
      // uWSGI's switches are bare (`--vacuum`); a following true/false is their value.
      raw = BOOLEAN_WORD.test(argv[i + 1] ?? '') ? argv[++i] : 'true';
    }
    if (raw === undefined) {
      raw = argv[++i];
      if (raw === undefined) throw new TsgiError(ErrorCodes.INVALID_OPTION, `${flag} needs a value`);
    }
    const value = convert(spec, raw, flag);
    if (spec.repeatable) values.set(spec.name, [...((values.get(spec.name) as unknown[]) ?? []), value]);
    else values.set(spec.name, value);
  }
  const config: Record<string, unknown> = {};
  for (const spec of OPTIONS) {
    config[spec.name] = values.get(spec.name) ?? (spec.repeatable ? [] : spec.type === 'flag' ? false : spec.default);
  }
  return config as unknown as Config;
}

const BOOLEAN_WORD = /^(true|yes|on|1|false|no|off|0)$/i;

function convert(spec: OptionSpec, raw: string, flag: string): string | number | boolean {
  const bad = (why: string) => new TsgiError(ErrorCodes.INVALID_OPTION, `${flag} ${JSON.stringify(raw)}: ${why}`);
  let value: number;
  switch (spec.type) {
    case 'string':
      if (raw === '') throw bad('must not be empty');
      if (spec.choices && !spec.choices.includes(raw)) throw bad(`expected one of ${spec.choices.join(', ')}`);
      return raw;
    case 'integer':
      if (!/^[0-9]+$/.test(raw)) throw bad('expected a whole number');
      value = Number(raw);
      break;
    case 'seconds':
      if (!/^[0-9]+(\.[0-9]+)?$/.test(raw)) throw bad('expected a number of seconds');
      value = Number(raw);
      break;
    case 'boolean':
      if (/^(true|yes|on|1)$/i.test(raw)) return true;
      if (/^(false|no|off|0)$/i.test(raw)) return false;
      throw bad('expected true or false');
    case 'octal':
      if (!/^[0-7]{1,4}$/.test(raw)) throw bad('expected an octal file mode such as 660');
      value = parseInt(raw, 8);
      break;
    default:
      throw bad('unexpected value');
  }
  if (spec.min !== undefined && value < spec.min) throw bad(`must be at least ${spec.min}`);
  if (spec.max !== undefined && value > spec.max) throw bad(`must be at most ${spec.max}`);
  return value;
}

/** The closest option name to a mistyped one, if it is close enough to be a typo. */
function suggest(given: string): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const spec of OPTIONS) {
    const d = editDistance(given, spec.name);
    if (d < bestDistance) {
      bestDistance = d;
      best = spec.name;
    }
  }
  return bestDistance <= Math.max(2, Math.floor(given.length / 3)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length]!;
}

/** The `--help` text. */
export function helpText(): string {
  const lines = ['usage: tsgi [options]', '', 'options:'];
  for (const spec of OPTIONS) {
    const names = [spec.short ? `-${spec.short}` : null, `--${spec.name}`, ...(spec.aliases ?? []).map((a) => `--${a}`)].filter(Boolean).join(', ');
    const value = spec.type === 'flag' ? '' : ` ${spec.type === 'string' ? 'VALUE' : spec.type.toUpperCase()}`;
    const fallback = spec.default === undefined ? '' : ` (default: ${spec.type === 'octal' ? (spec.default as number).toString(8) : spec.default})`;
    lines.push(`  ${names}${value}`, `      ${spec.help}${fallback}`);
  }
  return lines.join('\n') + '\n';
}
