/**
 * uWSGI options tsgi deliberately does not have: Python's, and those whose purpose tsgi
 * serves by default. A `[uwsgi]` section may carry them, so an existing uwsgi.ini runs
 * unchanged: each is ignored with one warning that says why. Anywhere else (a `[tsgi]`
 * section, the environment, the command line, code) they are errors like any unknown
 * option, since nobody writes them there by habit.
 */

/** Why each is ignored, as the warning says it. */
export const UWSGI_ONLY_OPTIONS: ReadonlyMap<string, string> = new Map([
  // Python's.
  ['virtualenv', "a Python virtualenv; Node finds the app's packages in node_modules"],
  ['venv', "a Python virtualenv; Node finds the app's packages in node_modules"],
  ['home', "a Python virtualenv; Node finds the app's packages in node_modules"],
  ['pythonpath', 'the Python module path; --module takes a file path'],
  ['python-path', 'the Python module path; --module takes a file path'],
  ['enable-threads', "Python's GIL switch; a Node app needs none"],
  ['single-interpreter', 'each worker runs one Node isolate'],
  ['wsgi-disable-file-wrapper', "Python's file wrapper switch; tsgi.file_wrapper streams files and works with any file"],
  ['py-autoreload', 'Python module reloading; use --touch-reload'],
  ['plugins', 'tsgi has no plugins; uwsgi, FastCGI and HTTP are built in'],
  ['plugin', 'tsgi has no plugins; uwsgi, FastCGI and HTTP are built in'],
  // What tsgi always does.
  ['die-on-term', 'SIGTERM is a graceful shutdown already'],
  ['hook-master-start', 'tsgi runs no hooks; the usual one (unix_signal:15 gracefully_kill_them_all) is the default behaviour'],
  ['lazy-apps', 'each worker loads the app itself, after it starts, always'],
  ['lazy', 'each worker loads the app itself, after it starts, always'],
  ['thunder-lock', 'the kernel spreads connections over the workers; no accept lock is needed'],
  ['strict', 'tsgi is always strict: an unknown option is an error'],
  ['auto-procname', "worker processes keep Node's process title"],
  // Adaptive worker counts: tsgi runs --processes workers, all the time.
  ['cheaper', 'tsgi runs a fixed number of workers (--processes)'],
  ['cheaper-algo', 'tsgi runs a fixed number of workers (--processes)'],
  ['cheaper-initial', 'tsgi runs a fixed number of workers (--processes)'],
  ['cheaper-step', 'tsgi runs a fixed number of workers (--processes)'],
  ['cheaper-overload', 'tsgi runs a fixed number of workers (--processes)'],
]);

/** The section whose uWSGI-only options are ignored rather than refused. */
export const UWSGI_SECTION = 'uwsgi';

/** The refusal of a uWSGI-only option outside a [uwsgi] section, or undefined for a name
 * that is not one. `where` starts the message (`--enable-threads`, `app.ini:3: lazy-apps`). */
export function uwsgiOnlyRefusal(name: string, where: string): string | undefined {
  const why = UWSGI_ONLY_OPTIONS.get(name);
  return why === undefined
    ? undefined
    : `${where}: a uWSGI option tsgi does not have (${why}); it is ignored only in a [${UWSGI_SECTION}] section, for uwsgi.ini files`;
}
