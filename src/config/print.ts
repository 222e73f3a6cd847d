/** The option table shown to people: `--help`, and `--print-config`'s merged configuration. */
import type { LoadedConfig } from './load.js';
import { FILE_OPTIONS, OPTIONS, type OptionSpec } from './options.js';
import { describeOrigin } from './origin.js';
import { formatValue, type Value } from './values.js';

/** The `--help` text. */
export function helpText(): string {
  const lines = [
    'usage: tsgi [CONFIG_FILE] [options]',
    '',
    'Every option is also a config file key (name without --) and a TSGI_NAME environment variable.',
    '',
    'options:',
  ];
  for (const spec of OPTIONS as readonly OptionSpec[]) {
    const names = [spec.short ? `-${spec.short}` : null, `--${spec.name}`, ...(spec.aliases ?? []).map((a) => `--${a}`)].filter(Boolean).join(', ');
    const value = spec.arg === undefined ? '' : ` ${spec.arg}`;
    const fallback = spec.default === undefined ? '' : ` (default: ${formatValue(spec, spec.default)})`;
    lines.push(`  ${names}${value}`, `      ${spec.help}${fallback}`);
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
