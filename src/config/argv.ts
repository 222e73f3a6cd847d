/**
 * The command line as settings: `--name value`, `--name=value`, `-p 4`, bare switches
 * (`--vacuum`, or followed by true/false), and one argument on its own: the app module
 * (`tsgi app.mjs`, the shape of `node app.mjs`) or a config file (`tsgi app.ini`).
 */
import { optionNamed, optionOfShortFlag, OPTION_NAMES, type OptionSpec } from './options.js';
import type { Problems, Setting } from './origin.js';
import { didYouMean } from './suggest.js';
import { uwsgiRefusal } from './uwsgi-only.js';
import { isBooleanWord } from './values.js';

export interface CommandLine {
  readonly settings: Setting[];
  /** `tsgi app.ini`: a config file, its format told by its extension. */
  readonly configFile?: string;
}

/** A JavaScript or TypeScript module, by its extension (with an optional `:export`). */
const MODULE_FILE = /\.[cm]?[jt]sx?(?::[A-Za-z_$][\w$]*)?$/;

/** The command line's settings; what it cannot read is noted in `problems`, and the rest read. */
export function readArgv(argv: readonly string[], problems: Problems): CommandLine {
  const settings: Setting[] = [];
  let configFile: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const match = /^(?:--([^=]+)|-([A-Za-z]))(?:=(.*))?$/.exec(arg);
    if (!match) {
      if (MODULE_FILE.test(arg)) {
        settings.push({ name: 'module', raw: arg, origin: { kind: 'flag', flag: arg } });
        continue;
      }
      if (configFile === undefined && !arg.startsWith('-')) {
        configFile = arg;
        continue;
      }
      problems.add(
        `unexpected argument ${JSON.stringify(arg)}; options start with --, and the app module (tsgi app.mjs) or one config file (tsgi app.ini) may be named alone`,
      );
      continue;
    }
    const flag = arg.split('=')[0]!;
    const spec: OptionSpec | undefined = match[1] !== undefined ? optionNamed(match[1]) : optionOfShortFlag(match[2]!);
    if (!spec) {
      const name = match[1] ?? '';
      problems.add(uwsgiRefusal(name, flag) ?? `unknown option ${flag}${name ? didYouMean(name, OPTION_NAMES, (known) => `--${known}`) : ''}`);
      // Its value, if it has one, is not taken for a config file.
      if (match[3] === undefined && argv[i + 1] !== undefined && !argv[i + 1]!.startsWith('-')) i++;
      continue;
    }
    const origin = { kind: 'flag', flag } as const;
    let raw: string | undefined = match[3];
    if (spec.type === 'flag') {
      if (raw !== undefined) {
        problems.add(`${flag} takes no value`);
        continue;
      }
      settings.push({ name: spec.name, raw: true, origin });
      continue;
    }
    if (raw === undefined && spec.type === 'boolean') {
      // uWSGI's switches are bare (`--vacuum`); a following true/false is their value.
      raw = isBooleanWord(argv[i + 1] ?? '') ? argv[++i] : 'true';
    }
    if (raw === undefined) {
      raw = argv[++i];
      if (raw === undefined) {
        problems.add(`${flag} needs a value`);
        continue;
      }
    }
    settings.push({ name: spec.name, raw, origin });
  }
  return configFile === undefined ? { settings } : { settings, configFile };
}
