/**
 * uWSGI's options tsgi does not have, told apart from typos: uWSGI's own names are a fact
 * list (uwsgi-option-names.ts, generated from its option tables), so a name of uWSGI's is
 * never answered "did you mean" another one.
 *
 * - Some are ignored with one warning in a `[uwsgi]` section, so an existing uwsgi.ini
 *   runs unchanged: Python's, and those whose purpose tsgi serves by default or that only
 *   change what `ps` or the log shows. Anywhere else (a `[tsgi]` section, the environment,
 *   the command line, code) they are errors, since nobody writes them there by habit.
 * - The others are refused everywhere, each with what to do instead where it is known.
 */
import { optionNamed } from './options.js';
import { UWSGI_OPTION_NAMES } from './uwsgi-option-names.js';

/** Why each is ignored, as the warning says it. */
export const UWSGI_ONLY_OPTIONS: ReadonlyMap<string, string> = new Map([
  // Python's.
  ['virtualenv', "a Python virtualenv; Node finds the app's packages in node_modules"],
  ['venv', "a Python virtualenv; Node finds the app's packages in node_modules"],
  ['home', "a Python virtualenv; Node finds the app's packages in node_modules"],
  ['pythonpath', 'the Python module path; --module takes a file path'],
  ['python-path', 'the Python module path; --module takes a file path'],
  ['pyargv', "the Python app's sys.argv; give a Node app its settings with --env"],
  ['enable-threads', "Python's GIL switch; a Node app needs none"],
  ['single-interpreter', 'each worker runs one Node isolate'],
  ['wsgi-disable-file-wrapper', "Python's file wrapper switch; tsgi.file_wrapper streams files and works with any file"],
  ['py-autoreload', 'Python module reloading; use --touch-reload'],
  ['py-callos-afterfork', "Python's signal handling in the workers; a Node worker handles its own"],
  ['plugins', 'tsgi has no plugins; uwsgi, FastCGI and HTTP are built in'],
  ['plugin', 'tsgi has no plugins; uwsgi, FastCGI and HTTP are built in'],
  ['autoload', 'tsgi has no plugins to load'],
  // Threads and green threads: Node's event loop serves a worker's requests concurrently.
  [
    'threads',
    "a worker runs the app on one thread, Node's event loop, which serves many requests at once while they wait for I/O; for more CPU cores, raise --processes",
  ],
  ['offload-threads', 'a worker writes responses without blocking; it needs no offload threads'],
  ['async', "a worker serves many requests at once on Node's event loop already"],
  ['gevent', "a worker serves many requests at once on Node's event loop already"],
  ['ugreen', "a worker serves many requests at once on Node's event loop already"],
  // What tsgi always does.
  ['die-on-term', 'SIGTERM is a graceful shutdown already'],
  ['hook-master-start', 'tsgi runs no hooks; the usual one (unix_signal:15 gracefully_kill_them_all) is the default behaviour'],
  ['lazy-apps', 'each worker loads the app itself, after it starts, always'],
  ['lazy', 'each worker loads the app itself, after it starts, always'],
  ['thunder-lock', 'the kernel spreads connections over the workers; no accept lock is needed'],
  ['strict', 'tsgi is always strict: an unknown option is an error'],
  ['no-orphans', 'a worker always dies with its master'],
  ['show-config', 'tsgi --print-config prints the merged configuration, with where each value came from'],
  // One adaptive algorithm: the event loop's busyness, the requests in flight and the listen queue.
  ['cheaper-algo', "tsgi has one algorithm: --cheaper's, from the workers' event loop busyness, requests in flight and listen queue"],
  ...['multiplier', 'min', 'max', 'backlog-alert', 'backlog-step'].map(
    (name) =>
      [`cheaper-busyness-${name}`, "tsgi has one algorithm: --cheaper's, from the workers' event loop busyness, requests in flight and listen queue"] as const,
  ),
]);

/** What to do instead of the uWSGI options a real uwsgi.ini often has and tsgi refuses. */
export const UWSGI_ADVICE: ReadonlyMap<string, string> = new Map([
  ['stats-push', 'tsgi pushes no stats: scrape them from --stats, as JSON (uwsgitop) or Prometheus text (--stats-http, /metrics)'],
  ['stats-server', 'use --stats'],
  ['daemonize', 'run tsgi in the foreground under systemd, a container or supervisord; --logto writes the log to a file'],
  ['daemonize2', 'run tsgi in the foreground under systemd, a container or supervisord; --logto writes the log to a file'],
  ['logto2', 'use --logto'],
  ['logger', 'tsgi logs to stderr or --logto; ship the log from there (journald, a collector)'],
  ['req-logger', 'tsgi logs to stderr or --logto; ship the log from there (journald, a collector)'],
  ['static-map2', 'serve static files from the web server in front (nginx: location with alias), or from the app'],
  ['check-static', 'serve static files from the web server in front (nginx: location with try_files), or from the app'],
  ['route', 'route in the web server in front, or in the app'],
  ['mount', 'mount the apps in one app (a router), or run one tsgi per app'],
  ['manage-script-name', 'the web server in front sets SCRIPT_NAME (uwsgi_param SCRIPT_NAME)'],
  ['touch-chain-reload', 'use --touch-reload with --chain-reload'],
  ['reload-on-as', 'use --reload-on-rss'],
  ['evil-reload-on-rss', 'use --reload-on-rss'],
  ['max-fd', 'raise the open files limit of the service (ulimit -n, LimitNOFILE=)'],
  ['http-timeout', 'use --socket-timeout, --http-keepalive-timeout and --http-request-timeout'],
  ['https', 'terminate TLS in the web server or load balancer in front'],
  ['https-socket', 'terminate TLS in the web server or load balancer in front'],
  ['ssl-socket', 'terminate TLS in the web server or load balancer in front'],
  ['spooler', 'run background work as a service of its own, or in a queue (BullMQ, a database)'],
  ['mule', 'run background work as a service of its own'],
  ['cron', 'use a systemd timer or cron'],
  ['attach-daemon', 'run it as a service of its own (systemd)'],
  ['smart-attach-daemon', 'run it as a service of its own (systemd)'],
  ['cache2', 'keep the cache in the app, or in Redis or memcached'],
  ['emperor', 'run one tsgi per app, each a service of its own'],
  ['for-glob', "tsgi's INI files have for, not for-glob"],
  ['for-readline', "tsgi's INI files have for, not for-readline"],
  ['for-times', "tsgi's INI files have for, not for-times"],
]);

/** Why a plugin's options do not apply, by uWSGI's plugin (the folder that defines them). */
const PLUGIN_REASONS: Readonly<Record<string, string>> = {
  python: 'tsgi serves JavaScript',
  psgi: 'tsgi serves JavaScript, not Perl',
  rack: 'tsgi serves JavaScript, not Ruby',
  php: 'tsgi serves JavaScript, not PHP',
  lua: 'tsgi serves JavaScript, not Lua',
  jvm: 'tsgi serves JavaScript, not Java',
  mono: 'tsgi serves JavaScript, not .NET',
};

/** uWSGI's option names, and the plugin (or `core`) that defines each. */
const UWSGI_OPTIONS = new Map<string, string>(
  Object.entries(UWSGI_OPTION_NAMES).flatMap(([source, pieces]) =>
    pieces
      .join(' ')
      .split(' ')
      .map((name) => [name, source] as const),
  ),
);

/** Whether `name` is one of uWSGI's options. */
export function isUwsgiOption(name: string): boolean {
  return UWSGI_OPTIONS.has(name) || UWSGI_ONLY_OPTIONS.has(name);
}

/** The section whose uWSGI-only options are ignored rather than refused. */
export const UWSGI_SECTION = 'uwsgi';

/**
 * The refusal of a uWSGI option tsgi does not have, or undefined for a name that is none
 * of uWSGI's (a typo, a key of your own) or that tsgi has (`max-requests` given to code,
 * which spells it maxRequests). `where` starts the message (`--enable-threads`,
 * `app.ini:3: lazy-apps`).
 */
export function uwsgiRefusal(name: string, where: string): string | undefined {
  if (optionNamed(name)) return undefined;
  const ignored = UWSGI_ONLY_OPTIONS.get(name);
  if (ignored !== undefined)
    return `${where}: a uWSGI option tsgi does not have (${ignored}); it is ignored only in a [${UWSGI_SECTION}] section, for uwsgi.ini files`;
  const source = UWSGI_OPTIONS.get(name);
  if (source === undefined) return undefined;
  const advice = UWSGI_ADVICE.get(name);
  if (advice !== undefined) return `${where}: a uWSGI option tsgi does not have: ${advice}`;
  if (source !== 'core')
    return `${where}: an option of uWSGI's ${source} plugin, which tsgi does not have${PLUGIN_REASONS[source] ? ` (${PLUGIN_REASONS[source]})` : ''}; remove it`;
  return `${where}: a uWSGI option tsgi does not have; remove it (tsgi --help lists what tsgi has)`;
}
