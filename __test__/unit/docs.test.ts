/** The README (and docs/operations.md, for running tsgi live) is the user's reference: its
 * tables must list what the code has. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ErrorCodes } from '../../src/errors.js';
import { OPTIONS, UWSGI_ADVICE, UWSGI_ONLY_OPTIONS, type OptionSpec } from '../../src/config/index.js';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
const operations = readFileSync(new URL('../../docs/operations.md', import.meta.url), 'utf8');

/** The option tables (README's, and operations.md's for live operation): `| `--name ARG` | `-s` | default | meaning |`. */
const optionRows = `${readme}\n${operations}`
  .split('\n')
  .filter((line) => line.startsWith('| `--'))
  .map((line) => {
    const [, option, short, defaultCell] = line.split('|').map((cell) => cell.trim());
    const [, name, arg] = /^`--([a-z0-9-]+)(?: ([^`]+))?`$/.exec(option!) ?? [];
    return { name: name!, arg, short: short ? /^`-([A-Za-z])`$/.exec(short)?.[1] : undefined, defaultCell: defaultCell! };
  });

describe('the README', () => {
  it('documents every error code, and no other', () => {
    const documented = [...readme.matchAll(/^\| `(TSGI_ERR_[A-Z_]+)` \|/gm)].map((m) => m[1]).sort();
    expect(documented).toEqual(Object.values(ErrorCodes).sort());
  });

  it('documents every command-line option, and no other', () => {
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

  it('lists the uWSGI options a [uwsgi] section may carry, each with the reason its warning gives', () => {
    const listed = new Map<string, string>();
    for (const line of readme.split('\n')) {
      const [, names, reason] = /^\| (`[a-z-]+`(?:, `[a-z-]+`)*) \| ignored: (.*) \|$/.exec(line) ?? [];
      for (const name of names?.match(/[a-z-]+/g) ?? []) listed.set(name, reason!.replace(/`/g, ''));
    }
    expect(new Map([...listed].sort())).toEqual(new Map([...UWSGI_ONLY_OPTIONS].sort()));
  });

  it('lists the uWSGI options refused with what to do instead, each with the advice its refusal gives', () => {
    const table = readme.slice(readme.indexOf('| uWSGI option | instead |'));
    const listed = new Map<string, string>();
    for (const line of table.slice(0, table.indexOf('\n\n')).split('\n').slice(2)) {
      const [, names, advice] = /^\| (`[a-z0-9-]+`(?:, `[a-z0-9-]+`)*) \| (.*) \|$/.exec(line) ?? [];
      for (const name of names?.match(/[a-z0-9-]+/g) ?? []) listed.set(name, advice!.replace(/`/g, ''));
    }
    expect(new Map([...listed].sort())).toEqual(new Map([...UWSGI_ADVICE].sort()));
  });
});
