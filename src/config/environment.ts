/**
 * The environment as settings: `TSGI_<OPTION>` (upper case, `-` → `_`: `TSGI_MAX_REQUESTS`).
 * An option that takes several values takes one per line (`TSGI_SOCKET=$'a.sock\n:3031'`).
 *
 * A `TSGI_` variable that names no option is a warning, not an error: the environment is
 * shared with other programs and inherited by children, so it may hold variables meant
 * for something else; the warning still shows a typo (`TSGI_PROCESES`) at start-up.
 */
import { environmentName, optionNamed, OPTIONS, type OptionSpec } from './options.js';
import type { Setting } from './origin.js';
import { didYouMean } from './suggest.js';

const PREFIX = 'TSGI_';

/** tsgi's variables that are not options: the native loader's (src/native/load.ts), and
 * the handover of an upgrade (src/process/upgrade.ts). */
const OTHER_VARIABLES = new Set(['TSGI_NATIVE', 'TSGI_NATIVE_PATH', 'TSGI_UPGRADE_FD', 'TSGI_UPGRADE_FILES']);

const VARIABLE_NAMES = (OPTIONS as readonly OptionSpec[]).filter((spec) => spec.type !== 'flag').map((spec) => environmentName(spec.name));

export function readEnvironment(env: NodeJS.ProcessEnv): { settings: Setting[]; warnings: string[] } {
  const settings: Setting[] = [];
  const warnings: string[] = [];
  for (const [variable, value] of Object.entries(env)) {
    if (!variable.startsWith(PREFIX) || OTHER_VARIABLES.has(variable) || value === undefined) continue;
    const spec = optionNamed(variable.slice(PREFIX.length).toLowerCase().replace(/_/g, '-'));
    if (!spec || spec.type === 'flag') {
      const why = spec ? `--${spec.name} is for the command line only` : `no option is called that${didYouMean(variable, VARIABLE_NAMES)}`;
      warnings.push(`environment variable ${variable} ignored: ${why}`);
      continue;
    }
    const origin = { kind: 'env', variable } as const;
    const values = spec.repeatable ? value.split('\n').filter((line) => line.trim() !== '') : [value];
    for (const raw of values) settings.push({ name: spec.name, raw, origin });
  }
  return { settings, warnings };
}
