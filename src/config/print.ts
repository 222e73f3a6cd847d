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
 * The config files themselves and the command line's flags are left out.
 */
export function renderConfig({ config, origins }: LoadedConfig): string {
  const rows: Array<[string, string]> = [];
  for (const spec of OPTIONS as readonly OptionSpec[]) {
    if (spec.type === 'flag' || (FILE_OPTIONS as readonly string[]).includes(spec.name)) continue;
    const value = (config as Record<string, Value | Value[] | undefined>)[spec.name];
    if (value === undefined) continue;
    const values = Array.isArray(value) ? value : [value];
    const from = origins.get(spec.name) ?? [];
    values.forEach((item, i) => rows.push([`${spec.name} = ${iniValue(formatValue(spec, item))}`, describeOrigin(from[i] ?? from[0]!)]));
  }
  const width = Math.min(48, Math.max(...rows.map(([setting]) => setting.length)));
  const body = rows.map(([setting, origin]) => `${setting.padEnd(width)}  ; ${origin}`);
  return ['; the merged configuration; after each value, where it came from', '[tsgi]', ...body].join('\n') + '\n';
}

/** A value as INI keeps it: quoted where `;`, `#`, a quote or edge spaces would change it. */
function iniValue(text: string): string {
  return /[;#"]|^\s|\s$/.test(text) ? JSON.stringify(text) : text;
}
