/** The option table shown to people: `--help`, and `--print-config`'s merged configuration. */
import type { LoadedConfig } from './load.js';
import { FILE_OPTIONS, OPTIONS, type OptionSpec } from './options.js';
import { describeOrigin } from './origin.js';
import { formatValue, type Value } from './values.js';

/**
 * `--help`'s sections, in order, and the options each shows (in the option table's order).
 * An option that no section names is shown under the last, "other" (a unit test keeps
 * the list whole).
 */
export const HELP_SECTIONS: ReadonlyArray<readonly [title: string, options: readonly string[]]> = [
  [
    'sockets',
    ['socket', 'http-socket', 'fastcgi-socket', 'chmod-socket', 'chown-socket', 'listen', 'defer-accept', 'exclusive-accept', 'worker-sockets', 'vacuum'],
  ],
  ['the app', ['module', 'callable', 'adapter', 'chdir', 'env', 'node-args', 'need-app', 'start-timeout']],
  [
    'processes',
    [
      'master',
      'processes',
      'standby-worker',
      'max-requests',
      'max-requests-delta',
      'max-worker-lifetime',
      'reload-on-rss',
      'worker-reload-mercy',
      'reload-mercy',
      'chain-reload',
      'touch-reload',
      'cheaper',
      'cheaper-initial',
      'cheaper-step',
      'cheaper-overload',
      'cheaper-idle',
      'exit-on-reload',
      'health-path',
      'shutdown-delay',
      'pidfile',
      'uid',
      'gid',
      'allow-root',
      'auto-procname',
      'procname',
      'procname-master',
      'procname-prefix',
      'procname-prefix-spaced',
      'procname-append',
    ],
  ],
  ['live control', ['control-socket', 'master-fifo']],
  [
    'limits and timeouts',
    [
      'harakiri',
      'harakiri-graceful-timeout',
      'harakiri-verbose',
      'uncaught-exception-grace',
      'socket-timeout',
      'buffer-size',
      'max-vars',
      'limit-post',
      'post-buffering',
      'max-conns',
      'tunnel-timeout',
    ],
  ],
  [
    'HTTP and FastCGI',
    [
      'add-header',
      'http-keepalive-timeout',
      'http-request-timeout',
      'http-max-request-line',
      'http-max-head',
      'http-max-headers',
      'http-max-chunk-extension',
      'fastcgi-max-reqs',
      'fastcgi-multiplex',
    ],
  ],
  [
    'logging',
    [
      'disable-logging',
      'log-4xx',
      'log-5xx',
      'log-slow',
      'slowlog-timeout',
      'slowlog',
      'log-format',
      'log-format-strftime',
      'log-date',
      'log-x-forwarded-for',
      'log-json',
      'memory-report',
      'logto',
    ],
  ],
  ['static files', ['static-map', 'static-index', 'static-expires', 'disable-sendfile']],
  ['stats', ['stats', 'stats-http']],
  ['config', ['ini', 'json', 'toml', 'yaml', 'print-config', 'help', 'version']],
];

/** The `--help` text: three examples, then the options by section. */
export function helpText(): string {
  const lines = [
    'usage: tsgi [APP_MODULE | CONFIG_FILE] [options]',
    '       tsgi ctl CONTROL_SOCKET COMMAND [ARGS]        a command to a running tsgi (--control-socket; docs/operations.md)',
    '',
    '  tsgi app.mjs --http-socket :8080                        serve HTTP straight to clients',
    '  tsgi app.mjs --socket /run/app.sock --chown-socket www-data --processes 4   behind nginx (uwsgi_pass)',
    '  tsgi uwsgi.ini                                          an existing uwsgi.ini, its module a JavaScript file',
    '',
    'Every option is also a config file key (name without --) and a TSGI_NAME environment variable.',
  ];
  const shown = new Set<string>();
  const sections = [
    ...HELP_SECTIONS.map(([title, names]) => [title, names] as const),
    ['other', (OPTIONS as readonly OptionSpec[]).map((spec) => spec.name)] as const,
  ];
  for (const [title, names] of sections) {
    const specs = (OPTIONS as readonly OptionSpec[]).filter((spec) => names.includes(spec.name) && !shown.has(spec.name));
    if (specs.length === 0) continue;
    lines.push('', `${title}:`);
    for (const spec of specs) {
      shown.add(spec.name);
      const names = [spec.short ? `-${spec.short}` : null, `--${spec.name}`, ...(spec.aliases ?? []).map((a) => `--${a}`)].filter(Boolean).join(', ');
      const value = spec.arg === undefined ? '' : ` ${spec.arg}`;
      const fallback = spec.default === undefined ? '' : ` (default: ${formatValue(spec, spec.default)})`;
      lines.push(`  ${names}${value}`, `      ${spec.help}${fallback}`);
    }
  }
  return lines.join('\n') + '\n';
}

/**
 * `--print-config`: every option that has a value, with where it came from, as an INI
 * `[tsgi]` section (so the output, saved, is a config file that gives the same values).
 * The config files themselves and the command line's flags are left out. A comment is a
 * line of its own in uWSGI's INI, so the origin is on the line above its value; `%` is
 * written `%%`, so that no value reads as a placeholder.
 */
export function renderConfig({ config, origins }: LoadedConfig): string {
  const lines = ['; the merged configuration; above each value, where it came from', '[tsgi]'];
  for (const spec of OPTIONS as readonly OptionSpec[]) {
    if (spec.type === 'flag' || (FILE_OPTIONS as readonly string[]).includes(spec.name)) continue;
    const value = (config as Record<string, Value | Value[] | undefined>)[spec.name];
    if (value === undefined) continue;
    const values = Array.isArray(value) ? value : [value];
    const from = origins.get(spec.name) ?? [];
    values.forEach((item, i) => lines.push(`; ${describeOrigin(from[i] ?? from[0]!)}`, `${spec.name} = ${formatValue(spec, item).replaceAll('%', '%%')}`));
  }
  return lines.join('\n') + '\n';
}
