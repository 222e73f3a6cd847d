/**
 * The way an option reaches the reactor (src/server/reactor-options.ts): set in the config,
 * taken by the worker's server options, turned into the reactor's options. Each limit set to
 * something other than its default must arrive in its own reactor field, in the reactor's
 * unit, and nowhere else; with nothing set, the worker and a server made from code give the
 * reactor the same defaults. And the docs of `ServerOptions`, the public names, name the
 * option each takes its value from. (That the defaults are the binding's own, and that the
 * binding's docs name the same options, is binding-contract.test.ts.)
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { optionNamedInDoc } from '../helpers/doc-comments.js';
import { configFromCode } from '../../src/config/index.js';
import { camelCase, optionNamed } from '../../src/config/options.js';
import { REACTOR_DEFAULTS, REACTOR_OPTIONS, reactorOptions, serverLimits } from '../../src/server/reactor-options.js';

const rows = Object.entries(REACTOR_OPTIONS);

/** The option each `ServerOptions` field's doc names (src/server/server.ts), or null. */
function serverOptionDocs(): Record<string, string | null> {
  const file = path.resolve(import.meta.dirname, '../../src/server/server.ts');
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.ES2022, true);
  const options = source.statements.find((s): s is ts.InterfaceDeclaration => ts.isInterfaceDeclaration(s) && s.name.text === 'ServerOptions')!;
  return Object.fromEntries(options.members.map((member) => [member.name!.getText(), optionNamedInDoc(member)]));
}

describe('the reactor options', () => {
  it('come from options of the table that have a default', () => {
    for (const [, { option }] of rows) expect(optionNamed(option)?.default, option).toBeDefined();
  });

  for (const [key, { option, reactor }] of rows) {
    it(`--${option} reaches the reactor as ${reactor}, through ServerOptions.${key}`, () => {
      const spec = optionNamed(option)!;
      // Not the default: a boolean flipped, a number moved by a half (seconds) or by one.
      const value = typeof spec.default === 'boolean' ? !spec.default : (spec.default as number) + (spec.type === 'seconds' ? 0.5 : 1);
      const { config } = configFromCode({ [camelCase(option)]: value }, 'test', {});
      const limits = serverLimits(config);
      expect(limits[key as keyof typeof limits]).toBe(value);
      const expected = spec.type === 'seconds' ? Math.round((value as number) * 1000) : value;
      expect(reactorOptions(limits)).toEqual({ ...REACTOR_DEFAULTS, [reactor]: expected });
      expect(REACTOR_DEFAULTS[reactor]).not.toBe(expected);
    });
  }

  it('are the options the docs of ServerOptions name', () => {
    const fromTable = Object.fromEntries(rows.map(([key, { option }]) => [key, option]));
    // The dispatch's own options, which never reach the reactor, are named there too.
    expect(serverOptionDocs()).toEqual({
      ...fromTable,
      multiprocess: null,
      healthPath: 'health-path',
      addHeaders: 'add-header',
      postBuffering: 'post-buffering',
      staticFiles: 'static-map',
      sendfile: 'disable-sendfile',
    });
  });

  it('are the same defaults from a default config as from a server made with no options', () => {
    expect(reactorOptions(serverLimits(configFromCode({}, 'test', {}).config))).toEqual(REACTOR_DEFAULTS);
  });
});
