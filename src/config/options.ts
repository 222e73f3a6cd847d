/**
 * The option table: one entry per option, with its uWSGI name, short flag and aliases,
 * type, unit, default and help. Everything else is derived from it: the `Config` type,
 * the command line, `--help`, the config files' keys, the `TSGI_*` environment
 * variables, the camelCase names of `serve()`, validation and `--print-config`; a test
 * holds docs/options.md's table to it.
 */
/**
 * - `string`: any non-empty text (or one of `choices`).
 * - `integer`: digits; `seconds`: a decimal number; `octal`: a file mode written in octal.
 * - `boolean`: true/yes/on/1 or false/no/off/0; on the command line it may stand bare.
 * - `flag`: command line only, bare (`--help`).
 * - `assignment`: `KEY=VALUE` (`--env`).
 * - `header`: `Name: value`, a response header (`--add-header`).
 */
export type OptionType = 'string' | 'integer' | 'seconds' | 'octal' | 'boolean' | 'flag' | 'assignment' | 'header';

export interface OptionSpec {
  readonly name: string;
  readonly short?: string;
  readonly aliases?: readonly string[];
  readonly type: OptionType;
  /** What the value is, in `--help` and docs/options.md (`--buffer-size BYTES`): its unit or kind. */
  readonly arg?: string;
  readonly default?: string | number | boolean;
  /** Given several times, every value counts (the last one otherwise). */
  readonly repeatable?: boolean;
  readonly min?: number;
  readonly max?: number;
  /** The values a string option takes (anything else is refused). */
  readonly choices?: readonly string[];
  readonly help: string;
}

export const OPTIONS = [
  {
    name: 'socket',
    short: 's',
    aliases: ['uwsgi-socket'],
    type: 'string',
    arg: 'ADDRESS',
    repeatable: true,
    help: 'serve uwsgi on HOST:PORT, :PORT or a Unix socket path (repeatable); with no socket of any kind, 127.0.0.1:3031',
  },
  {
    name: 'http-socket',
    aliases: ['http'],
    type: 'string',
    arg: 'ADDRESS',
    repeatable: true,
    help: 'serve HTTP/1.1 straight to clients (keep-alive, pipelining, chunked) on HOST:PORT, :PORT or a Unix socket path (repeatable)',
  },
  {
    name: 'fastcgi-socket',
    type: 'string',
    arg: 'ADDRESS',
    repeatable: true,
    help: 'serve FastCGI (responder role) on HOST:PORT, :PORT or a Unix socket path (repeatable)',
  },
  {
    name: 'module',
    short: 'w',
    aliases: ['wsgi-file', 'file'],
    type: 'string',
    arg: 'FILE',
    help: 'the app: a JavaScript module exporting it as default or application, or FILE:NAME for another export; may be named alone (tsgi app.mjs). Default: the built-in example app',
  },
  {
    name: 'node-args',
    type: 'string',
    arg: 'FLAGS',
    help: "Node.js flags for the workers, split at spaces (--enable-source-maps --max-old-space-size=512); the workers also get the flags tsgi itself was started with (node --import tsx tsgi ...), but --inspect's",
  },
  {
    name: 'chdir',
    type: 'string',
    arg: 'DIR',
    help: 'change to this directory once the options are read, before binding and loading the app: relative paths (sockets, --module, --pidfile) are then relative to it',
  },
  { name: 'callable', type: 'string', arg: 'NAME', default: 'application', help: 'the name of the export to serve when it is not the default export' },
  {
    name: 'adapter',
    type: 'string',
    arg: 'KIND',
    default: 'auto',
    choices: ['auto', 'tsgi', 'fetch', 'node'],
    help: 'what the export is: tsgi (app(environ, startResponse)), fetch ((request) => Response, or { fetch }), node ((req, res), or an Express, Koa, Fastify app); auto tells by its shape',
  },
  {
    name: 'env',
    type: 'assignment',
    arg: 'KEY=VALUE',
    repeatable: true,
    help: "set an environment variable in the workers (the app's process.env); repeatable",
  },
  { name: 'chmod-socket', type: 'octal', arg: 'MODE', default: 0o660, min: 0, max: 0o777, help: 'file mode of Unix sockets, octal' },
  {
    name: 'chown-socket',
    type: 'string',
    arg: 'USER[:GROUP]',
    help: "owner (and group) of Unix sockets, names or numbers, set before privileges drop: nginx's user (www-data) may then connect",
  },
  {
    name: 'listen',
    short: 'l',
    type: 'integer',
    arg: 'N',
    min: 1,
    max: 65535,
    help: "listen queue length of each socket (default: the kernel's net.core.somaxconn, which also caps it)",
  },
  {
    name: 'buffer-size',
    short: 'b',
    type: 'integer',
    arg: 'BYTES',
    default: 65535,
    min: 4,
    max: 1048576,
    help: 'largest request head (uwsgi vars block, at most 65535 whatever the value; FastCGI params stream), bytes; over it: 431',
  },
  {
    name: 'max-vars',
    type: 'integer',
    arg: 'N',
    default: 1000,
    min: 1,
    max: 65535,
    help: 'most vars (uwsgi) or params (FastCGI) in one request; over it: 400',
  },
  { name: 'limit-post', type: 'integer', arg: 'BYTES', default: 0, min: 0, help: 'largest request body, bytes (0: no limit); over it: 413' },
  {
    name: 'post-buffering',
    type: 'integer',
    arg: 'BYTES',
    default: 0,
    min: 0,
    help: "call the app once this many bytes of the request body (or all of it, if shorter) have arrived, as uWSGI's; 0: at once",
  },
  {
    name: 'add-header',
    type: 'header',
    arg: 'HEADER',
    repeatable: true,
    help: "add 'Name: value' to every response, after the app's headers (repeatable); 'Connection: close' closes each connection after its response",
  },
  {
    name: 'socket-timeout',
    type: 'seconds',
    arg: 'SECONDS',
    default: 10,
    min: 0.001,
    max: 86400,
    help: 'seconds a peer may take to send the request head, or idle while sending the body or reading the response',
  },
  {
    name: 'http-keepalive-timeout',
    type: 'seconds',
    arg: 'SECONDS',
    default: 65,
    min: 0.001,
    max: 86400,
    help: 'seconds a kept-alive HTTP connection may wait for its next request; keep it above the idle timeout of a proxy in front',
  },
  {
    name: 'http-request-timeout',
    type: 'seconds',
    arg: 'SECONDS',
    default: 300,
    min: 0.001,
    max: 86400,
    help: 'seconds an HTTP request, head and body, may take to arrive whole from its first byte, however steadily it trickles; over it: 408',
  },
  {
    name: 'tunnel-timeout',
    type: 'seconds',
    arg: 'SECONDS',
    default: 600,
    min: 0,
    max: 86400,
    help: 'seconds a tunnel (a WebSocket after its upgrade) may pass with no byte either way before it is closed; 0: never',
  },
  {
    name: 'http-max-request-line',
    type: 'integer',
    arg: 'BYTES',
    default: 8192,
    min: 16,
    max: 1048576,
    help: 'longest HTTP request line, bytes; over it: 414',
  },
  {
    name: 'http-max-head',
    type: 'integer',
    arg: 'BYTES',
    default: 16384,
    min: 64,
    max: 1048576,
    help: 'largest HTTP request head (and trailer section), bytes; over it: 431',
  },
  { name: 'http-max-headers', type: 'integer', arg: 'N', default: 100, min: 1, max: 10000, help: 'most header fields in an HTTP request; over it: 431' },
  {
    name: 'http-max-chunk-extension',
    type: 'integer',
    arg: 'BYTES',
    default: 4096,
    min: 0,
    max: 1048576,
    help: 'most chunk-extension bytes on one chunk-size line of a chunked HTTP body; over it: 413',
  },
  {
    name: 'max-conns',
    type: 'integer',
    arg: 'N',
    default: 10000,
    min: 1,
    max: 1000000,
    help: 'most open connections; at it, accepting pauses until one closes (FastCGI FCGI_MAX_CONNS)',
  },
  {
    name: 'fastcgi-max-reqs',
    type: 'integer',
    arg: 'N',
    default: 100,
    min: 1,
    max: 65535,
    help: 'most requests at once on one FastCGI connection; over it: FCGI_OVERLOADED (FCGI_MAX_REQS)',
  },
  {
    name: 'fastcgi-multiplex',
    type: 'boolean',
    arg: 'BOOL',
    default: true,
    help: 'let one FastCGI connection carry several requests at once; if false, a second gets FCGI_CANT_MPX_CONN (FCGI_MPXS_CONNS)',
  },
  {
    name: 'defer-accept',
    type: 'boolean',
    arg: 'BOOL',
    default: true,
    help: "TCP sockets hand a connection to a worker only once its first bytes are there (TCP_DEFER_ACCEPT, up to --socket-timeout), as uWSGI's do; false is uWSGI's no-defer-accept. Native reactor only",
  },
  {
    name: 'exclusive-accept',
    type: 'boolean',
    arg: 'BOOL',
    default: true,
    help: "a new connection on a socket the workers share wakes one idle worker, not all of them (EPOLLEXCLUSIVE in Node's own epoll set); false wakes every worker and the first to accept takes it. Native reactor only: the pure one always wakes every worker",
  },
  {
    name: 'master',
    short: 'M',
    type: 'boolean',
    arg: 'BOOL',
    default: true,
    help: 'run a master process that binds the sockets and supervises the workers (false: one process serves alone, with no respawn, reload or harakiri)',
  },
  { name: 'processes', short: 'p', aliases: ['workers'], type: 'integer', arg: 'N', default: 1, min: 1, max: 1024, help: 'worker processes serving the app' },
  {
    name: 'worker-sockets',
    type: 'boolean',
    arg: 'BOOL',
    default: false,
    help: 'also give each worker a socket of its own for every socket: worker N on HOST:(PORT+N), or PATH.N for a Unix socket (port 0: any free port), so a proxy can keep a client on one worker (socket.io)',
  },
  {
    name: 'start-timeout',
    type: 'seconds',
    arg: 'SECONDS',
    default: 60,
    min: 1,
    max: 3600,
    help: 'seconds a worker may take to load the app and run its onStart() before it counts as failed (and is killed)',
  },
  {
    name: 'exit-on-reload',
    type: 'boolean',
    arg: 'BOOL',
    default: false,
    help: 'a reload (SIGHUP, --touch-reload) stops tsgi gracefully instead, for a supervisor (systemd, Kubernetes) to start it again',
  },
  { name: 'need-app', type: 'boolean', arg: 'BOOL', default: true, help: 'stop at start-up when the app cannot be loaded (false: keep retrying with backoff)' },
  {
    name: 'harakiri',
    short: 't',
    type: 'seconds',
    arg: 'SECONDS',
    default: 0,
    min: 0,
    max: 86400,
    help: 'end a request running longer (its abort signal fires, the client gets 504); 0: off',
  },
  {
    name: 'harakiri-verbose',
    type: 'boolean',
    arg: 'BOOL',
    default: false,
    help: "when the master kills a worker for --harakiri, first log its JavaScript stack (taken by an inspector thread in the worker, within 1 s more), then, as uWSGI's, its system call (/proc/PID/syscall) and wait channel (wchan)",
  },
  {
    name: 'harakiri-graceful-timeout',
    type: 'seconds',
    arg: 'SECONDS',
    default: 1,
    min: 0,
    max: 3600,
    help: 'after --harakiri, seconds a worker whose event loop stays blocked (a busy loop) gets before it is killed and replaced',
  },
  {
    name: 'uncaught-exception-grace',
    type: 'seconds',
    arg: 'SECONDS',
    default: 5,
    min: 0,
    max: 3600,
    help: 'after an exception nothing caught, seconds a worker (which accepts nothing more) gets to finish its other requests before it exits and is replaced',
  },
  {
    name: 'max-requests',
    short: 'R',
    type: 'integer',
    arg: 'N',
    default: 0,
    min: 0,
    help: 'recycle a worker after this many requests (replacement first, in-flight requests finish); 0: never',
  },
  {
    name: 'max-requests-delta',
    type: 'integer',
    arg: 'N',
    default: 0,
    min: 0,
    help: 'add worker id × this to --max-requests, so workers do not recycle together',
  },
  {
    name: 'standby-worker',
    type: 'boolean',
    arg: 'BOOL',
    default: false,
    help: 'keep one worker process started ahead, its modules loaded, not serving: a respawn, recycle or scale-up takes it and only loads the app (about 10-20 ms) instead of starting Node (about 100 ms); costs one idle process; a reload starts its workers afresh',
  },
  { name: 'max-worker-lifetime', type: 'seconds', arg: 'SECONDS', default: 0, min: 0, help: 'recycle a worker after this many seconds; 0: never' },
  {
    name: 'reload-on-rss',
    type: 'integer',
    arg: 'MB',
    default: 0,
    min: 0,
    help: 'recycle a worker whose resident memory exceeds this many MB (it finishes its requests first); 0: never',
  },
  {
    name: 'worker-reload-mercy',
    type: 'seconds',
    arg: 'SECONDS',
    default: 60,
    min: 0,
    max: 86400,
    help: 'seconds a worker being reloaded or recycled gets to finish its requests before it is killed',
  },
  {
    name: 'reload-mercy',
    type: 'seconds',
    arg: 'SECONDS',
    default: 30,
    min: 0,
    max: 86400,
    help: 'seconds the workers get to finish their requests on SIGTERM before they are killed',
  },
  {
    name: 'chain-reload',
    type: 'boolean',
    arg: 'BOOL',
    default: false,
    help: 'reload one worker at a time (the next when the new one accepts) instead of all at once',
  },
  {
    name: 'cheaper',
    type: 'integer',
    arg: 'N',
    default: 0,
    min: 0,
    max: 1024,
    help: 'adaptive workers: run at least N and up to --processes, adding --cheaper-step workers when all are busy for --cheaper-overload seconds and retiring an idle one after --cheaper-idle seconds; 0: always --processes',
  },
  {
    name: 'cheaper-initial',
    type: 'integer',
    arg: 'N',
    min: 1,
    max: 1024,
    help: 'with --cheaper, the workers started at first, from --cheaper to --processes (default: --cheaper)',
  },
  {
    name: 'cheaper-step',
    type: 'integer',
    arg: 'N',
    default: 1,
    min: 1,
    max: 1024,
    help: 'with --cheaper, workers added at once when the workers are overloaded',
  },
  {
    name: 'cheaper-overload',
    type: 'seconds',
    arg: 'SECONDS',
    default: 3,
    min: 0.1,
    max: 3600,
    help: 'with --cheaper, how long every worker must stay busy (event loop at work or requests in flight), or connections wait in the listen queue, before workers are added; also the least time between two additions',
  },
  {
    name: 'cheaper-idle',
    type: 'seconds',
    arg: 'SECONDS',
    default: 10,
    min: 0.1,
    max: 86400,
    help: 'with --cheaper, how long a worker must stay idle (no request in flight, its event loop resting) before it is retired, after its requests, as a recycle; one retirement per this long',
  },
  {
    name: 'control-socket',
    type: 'string',
    arg: 'PATH',
    help: 'a Unix socket (mode 0600) taking commands from tsgi ctl PATH: status, workers N|+1|-1, reload, chain-reload, reopen-logs, stop, shutdown, upgrade; removed on exit',
  },
  {
    name: 'master-fifo',
    type: 'string',
    arg: 'PATH',
    help: "a named pipe (mode 0600) taking uWSGI's one-letter commands: r reload, c chain reload, q graceful and Q fast shutdown, l reopen the log, + and - a worker more or less, s stats to the log; removed on exit",
  },
  {
    name: 'touch-reload',
    type: 'string',
    arg: 'FILE',
    repeatable: true,
    help: 'reload gracefully when this file is touched (its modification time changes; repeatable)',
  },
  {
    name: 'auto-procname',
    type: 'boolean',
    arg: 'BOOL',
    default: true,
    help: "name the processes in ps and top tsgi master and tsgi worker N (false: node's command line, unless --procname names them)",
  },
  { name: 'procname', type: 'string', arg: 'NAME', help: "the name of every process in ps (the master's too, unless --procname-master)" },
  { name: 'procname-master', type: 'string', arg: 'NAME', help: "the master's name in ps" },
  { name: 'procname-prefix', type: 'string', arg: 'TEXT', help: "put this before every process's name in ps" },
  { name: 'procname-prefix-spaced', type: 'string', arg: 'TEXT', help: "put this and a space before every process's name in ps" },
  { name: 'procname-append', type: 'string', arg: 'TEXT', help: "put this after every process's name in ps" },
  {
    name: 'health-path',
    type: 'string',
    arg: 'PATH',
    help: 'a path every socket answers itself, never the app: 200 while the worker accepts, 503 once it drains (stop, reload, --shutdown-delay)',
  },
  {
    name: 'static-map',
    type: 'string',
    arg: 'PREFIX=DIR',
    repeatable: true,
    help: 'serve the files under DIR at PREFIX (/static=/srv/app/static) from the worker, before the app, with ETag, Last-Modified, 304s and ranges; a path with no file goes to the app; .., NUL and symlinks out of DIR answer 403 (repeatable)',
  },
  {
    name: 'static-index',
    type: 'string',
    arg: 'FILE',
    repeatable: true,
    help: 'for a directory under --static-map, the first of these files that exists (index.html) (repeatable)',
  },
  {
    name: 'static-expires',
    type: 'string',
    arg: 'REGEXP SECONDS',
    repeatable: true,
    help: "static files whose real path matches REGEXP get Expires and Cache-Control: max-age=SECONDS ('\\.(css|js)$ 86400') (repeatable)",
  },
  {
    name: 'disable-sendfile',
    type: 'boolean',
    arg: 'BOOL',
    default: false,
    help: 'read files (--static-map, tsgi.file_wrapper, a piped fs.ReadStream) in JavaScript instead of handing them to sendfile(2)',
  },
  {
    name: 'shutdown-delay',
    type: 'seconds',
    arg: 'SECONDS',
    default: 0,
    min: 0,
    max: 3600,
    help: 'on SIGTERM, answer 503 on --health-path at once but keep serving this long, then stop gracefully; a second SIGTERM skips the wait',
  },
  { name: 'pidfile', type: 'string', arg: 'FILE', help: "write the master's pid to this file (before dropping privileges); removed on exit" },
  { name: 'uid', type: 'string', arg: 'USER', help: 'user (name or number) the master and workers run as, after binding the sockets' },
  { name: 'gid', type: 'string', arg: 'GROUP', help: 'group (name or number) the master and workers run as, after binding the sockets' },
  { name: 'allow-root', type: 'boolean', arg: 'BOOL', default: false, help: 'let workers run as root (refused otherwise: give --uid/--gid)' },
  { name: 'vacuum', type: 'boolean', arg: 'BOOL', default: true, help: 'remove the Unix socket files and the pidfile on exit' },
  {
    name: 'stats',
    type: 'string',
    arg: 'ADDRESS',
    help: 'serve stats on HOST:PORT or a Unix socket path: uWSGI-compatible JSON (uwsgitop); :PORT means 127.0.0.1',
  },
  { name: 'stats-http', type: 'boolean', arg: 'BOOL', default: false, help: 'speak HTTP on the stats socket: the JSON at /, Prometheus text at /metrics' },
  {
    name: 'disable-logging',
    short: 'L',
    type: 'boolean',
    arg: 'BOOL',
    default: false,
    help: 'no request log lines (except those --log-4xx, --log-5xx and --log-slow ask for)',
  },
  { name: 'log-4xx', type: 'boolean', arg: 'BOOL', default: false, help: 'log requests answered 4xx even with --disable-logging' },
  { name: 'log-5xx', type: 'boolean', arg: 'BOOL', default: false, help: 'log requests answered 5xx even with --disable-logging' },
  {
    name: 'log-slow',
    type: 'integer',
    arg: 'MS',
    default: 0,
    min: 0,
    help: 'log requests slower than this many milliseconds even with --disable-logging; 0: off',
  },
  {
    name: 'slowlog-timeout',
    type: 'seconds',
    arg: 'SECONDS',
    default: 0,
    min: 0,
    max: 86400,
    help: "log a request still running this long, once, with the worker's JavaScript stack (PHP-FPM's request_slowlog_timeout); it runs on; 0: off",
  },
  { name: 'slowlog', type: 'string', arg: 'FILE', help: "append --slowlog-timeout's lines to this file instead of the log" },
  {
    name: 'log-format',
    aliases: ['logformat'],
    type: 'string',
    arg: 'TEMPLATE',
    help: "request log line template with uWSGI's %(var) names: method, uri, status, size, msecs, addr, pid, wid, ...",
  },
  {
    name: 'log-x-forwarded-for',
    type: 'boolean',
    arg: 'BOOL',
    default: false,
    help: "the request log's address (%(addr), the default line's) is the X-Forwarded-For header when the request has one, as uWSGI's",
  },
  {
    name: 'log-date',
    type: 'string',
    arg: 'FORMAT',
    help: "tsgi's own log lines begin with the time and ' - ': true for C's ctime shape, else a strftime format (%Y-%m-%d %H:%M:%S); false: off",
  },
  {
    name: 'log-format-strftime',
    aliases: ['logformat-strftime'],
    type: 'boolean',
    arg: 'BOOL',
    default: false,
    help: "%(ftime) in --log-format is the request's time in --log-date's strftime format",
  },
  {
    name: 'memory-report',
    type: 'string',
    arg: 'LEVEL',
    choices: ['0', '1', '2', 'false', 'true', 'no', 'yes', 'off', 'on'],
    default: '0',
    help: "the default request line begins with the worker's memory, as uWSGI's: 1 (or true) address space and rss, 2 also uss and pss; 0: off",
  },
  { name: 'log-json', type: 'boolean', arg: 'BOOL', default: false, help: "every log line as a JSON object: the request lines and tsgi's own" },
  { name: 'logto', type: 'string', arg: 'FILE', help: 'write every log line to this file instead of stderr; SIGUSR1 reopens it (for logrotate)' },
  {
    name: 'ini',
    type: 'string',
    arg: 'FILE[:SECTION]',
    repeatable: true,
    help: "read options from an INI file's [tsgi] section, else its [uwsgi] section (FILE:SECTION for another); repeatable, later files win",
  },
  { name: 'json', type: 'string', arg: 'FILE[:SECTION]', repeatable: true, help: 'read options from a JSON file\'s "tsgi" object, else its "uwsgi" object' },
  { name: 'toml', type: 'string', arg: 'FILE[:SECTION]', repeatable: true, help: "read options from a TOML file's [tsgi] table, else its [uwsgi] table" },
  {
    name: 'yaml',
    aliases: ['yml'],
    type: 'string',
    arg: 'FILE[:SECTION]',
    repeatable: true,
    help: "read options from a YAML file's tsgi mapping, else its uwsgi mapping",
  },
  { name: 'print-config', type: 'flag', help: 'print the merged configuration, with where each value came from, and exit' },
  { name: 'help', short: 'h', type: 'flag', help: 'show this help' },
  { name: 'version', short: 'v', type: 'flag', help: 'show the version and which native binding loaded' },
] as const satisfies readonly OptionSpec[];

type Spec = (typeof OPTIONS)[number];
type ValueOf<S extends Spec> = S extends { choices: readonly (infer C)[] }
  ? C
  : S['type'] extends 'integer' | 'seconds' | 'octal'
    ? number
    : S['type'] extends 'boolean' | 'flag'
      ? boolean
      : string;
/** Options that always have a value: a default, a list (maybe empty), or a flag's false. */
type AlwaysSet = Extract<Spec, { default: unknown } | { repeatable: true } | { type: 'flag' }>;

/** The merged, validated options, keyed by option name. Plain JSON: the master sends it
 * to every worker. */
export type Config = {
  -readonly [S in Spec as S extends AlwaysSet ? S['name'] : never]: S extends { repeatable: true } ? Array<ValueOf<S>> : ValueOf<S>;
} & {
  -readonly [S in Spec as S extends AlwaysSet ? never : S['name']]?: ValueOf<S>;
};

/** The values of `--adapter`: what the exported app is (src/adapters/detect.ts). */
export type AdapterName = Config['adapter'];

/** What `serve()` and `defineConfig()` take: the options by camelCase name, typed values
 * (a list, or one value, for an option that takes several). */
export type TsgiOptions = {
  [S in Exclude<Spec, { type: 'flag' }> as CamelCase<S['name']>]?: S extends { repeatable: true } ? ValueOf<S> | ReadonlyArray<ValueOf<S>> : ValueOf<S>;
};

/** `max-requests` → `maxRequests`, `log-4xx` → `log4xx`: the names `serve()` takes. */
export type CamelCase<S extends string> = S extends `${infer Head}-${infer Tail}` ? `${Head}${Capitalize<CamelCase<Tail>>}` : S;

export function camelCase(name: string): string {
  return name.replace(/-([a-z0-9])/g, (_, letter: string) => letter.toUpperCase());
}

/** `lazyApps` → `lazy-apps`: back from camelCase, for names not in the table. */
export function kebabCase(name: string): string {
  return name.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`);
}

/** `TSGI_MAX_REQUESTS` for `max-requests`. */
export function environmentName(name: string): string {
  return `TSGI_${name.toUpperCase().replace(/-/g, '_')}`;
}

const byName = new Map<string, OptionSpec>();
for (const spec of OPTIONS as readonly OptionSpec[]) {
  byName.set(spec.name, spec);
  for (const alias of spec.aliases ?? []) byName.set(alias, spec);
}

/** The option a name or alias (not a short flag) stands for. */
export function optionNamed(name: string): OptionSpec | undefined {
  return byName.get(name);
}

const byShort = new Map<string, OptionSpec>((OPTIONS as readonly OptionSpec[]).flatMap((spec) => (spec.short ? [[spec.short, spec] as const] : [])));

/** The option a one-letter flag (`-p`) stands for. */
export function optionOfShortFlag(letter: string): OptionSpec | undefined {
  return byShort.get(letter);
}

/** Every name and alias, for did-you-mean suggestions. */
export const OPTION_NAMES: readonly string[] = [...byName.keys()];

/** The options that name config files, one per format. */
export const FILE_OPTIONS = ['ini', 'json', 'toml', 'yaml'] as const;
export type FileFormat = (typeof FILE_OPTIONS)[number];
