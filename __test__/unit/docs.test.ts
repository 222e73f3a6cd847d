/** The user's reference pages (docs/) must list what the code has, in their tables. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ErrorCodes } from '../../src/errors.js';
import { OPTIONS, UWSGI_ADVICE, UWSGI_ONLY_OPTIONS, type OptionSpec } from '../../src/config/index.js';

const page = (file: string): string => readFileSync(new URL(`../../${file}`, import.meta.url), 'utf8');
const options = page('docs/options.md');
const errors = page('docs/errors.md');
const configuration = page('docs/configuration.md');

/** docs/options.md's table: `| `--name ARG` | `-s` | default | meaning |`. */
const optionRows = options
  .split('\n')
  .filter((line) => line.startsWith('| `--'))
  .map((line) => {
    const [, option, short, defaultCell] = line.split('|').map((cell) => cell.trim());
    const [, name, arg] = /^`--([a-z0-9-]+)(?: ([^`]+))?`$/.exec(option!) ?? [];
    return { name: name!, arg, short: short ? /^`-([A-Za-z])`$/.exec(short)?.[1] : undefined, defaultCell: defaultCell! };
  });

describe('the reference pages', () => {
  it('document every error code, and no other (docs/errors.md)', () => {
    const documented = [...errors.matchAll(/^\| `(TSGI_ERR_[A-Z_]+)` \|/gm)].map((m) => m[1]).sort();
    expect(documented).toEqual(Object.values(ErrorCodes).sort());
  });

  it('document every command-line option, and no other (docs/options.md)', () => {
    expect(optionRows.map((row) => row.name).sort()).toEqual(OPTIONS.map((o) => o.name).sort());
  });

  it("gives each option the table's value name, short flag and default", () => {
    for (const spec of OPTIONS as readonly OptionSpec[]) {
      const row = optionRows.find((r) => r.name === spec.name)!;
      expect({ name: spec.name, arg: row.arg, short: row.short }).toEqual({ name: spec.name, arg: spec.arg, short: spec.short });
      if (spec.default !== undefined) {
        const shown = spec.type === 'octal' ? (spec.default as number).toString(8) : String(spec.default);
        expect(row.defaultCell, `--${spec.name}'s default`).toMatch(new RegExp(`^\`${shown.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\``));
      }
    }
  });

  it('list the uWSGI options a [uwsgi] section may carry, each with the reason its warning gives', () => {
    const listed = new Map<string, string>();
    for (const line of configuration.split('\n')) {
      const [, names, reason] = /^\| (`[a-z-]+`(?:, `[a-z-]+`)*) \| ignored: (.*) \|$/.exec(line) ?? [];
      for (const name of names?.match(/[a-z-]+/g) ?? []) listed.set(name, reason!.replace(/`/g, ''));
    }
    expect(new Map([...listed].sort())).toEqual(new Map([...UWSGI_ONLY_OPTIONS].sort()));
  });

  it('list the uWSGI options refused with what to do instead, each with the advice its refusal gives', () => {
    const table = configuration.slice(configuration.indexOf('| uWSGI option | instead |'));
    const listed = new Map<string, string>();
    for (const line of table.slice(0, table.indexOf('\n\n')).split('\n').slice(2)) {
      const [, names, advice] = /^\| (`[a-z0-9-]+`(?:, `[a-z0-9-]+`)*) \| (.*) \|$/.exec(line) ?? [];
      for (const name of names?.match(/[a-z0-9-]+/g) ?? []) listed.set(name, advice!.replace(/`/g, ''));
    }
    expect(new Map([...listed].sort())).toEqual(new Map([...UWSGI_ADVICE].sort()));
  });
});
