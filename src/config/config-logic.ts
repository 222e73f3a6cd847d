/**
 * uWSGI's config logic in INI files (ConfigLogic.rst, ParsingOrder.rst; core/config.c):
 * the lines of a section as uWSGI assembles them before it reads any option.
 *
 * - `include = FILE[:SECTION]` (also `ini =`, `json =`, `yaml =`, `toml =`): that file's
 *   section in place of the line ("top-bottom, expand asap");
 * - `inherit = FILE[:SECTION]`: that file's section after every line of this one, where
 *   uWSGI appends a template; an option both set once is then "set again", not silently
 *   taken from the template (uWSGI would take the template's);
 * - `for = a b c` ... `endfor`: each line between, once per word, `%(_)` the word;
 * - `if-env = NAME[=VALUE]`, `if-not-env`, `if-exists = PATH`, `if-not-exists`, `if-file`,
 *   `if-not-file`, `if-dir`, `if-not-dir`, `if-opt = KEY[=VALUE]`, `if-not-opt` ...
 *   [`else` ...] `endif`: the lines between when the condition holds, `%(_)` the
 *   variable's value, the path, or the key's value (`else` is uWSGI 2.1's; `if-directory`
 *   is uWSGI's other name for `if-dir`).
 *
 * `end`, `endif`, `end-if`, `endfor` and `end-for` each close any block, as in uWSGI;
 * blocks do not nest (uWSGI exits on it too); a block left open ends with its section.
 * The argument of a condition or an include takes placeholders (`%d`, `$(HOME)`, the keys
 * read so far). Non-INI files are maps, with no order to their keys: they have no logic.
 */
import { statSync } from 'node:fs';
import path from 'node:path';
import { formatOf, readConfigFile, type ConfigFile, type FileEntry } from './files.js';
import type { FileFormat } from './options.js';
import { fileAndLine, invalidOption, type Problems } from './origin.js';
import { expand } from './placeholders.js';

export interface LogicScope {
  readonly env: NodeJS.ProcessEnv;
  readonly problems: Problems;
}

/** The keys that read another file in place of their line, and its format (undefined: by its extension). */
const INCLUDES: ReadonlyMap<string, FileFormat | undefined> = new Map([
  ['include', undefined],
  ['ini', 'ini'],
  ['json', 'json'],
  ['yaml', 'yaml'],
  ['yml', 'yaml'],
  ['toml', 'toml'],
]);

const BLOCK_ENDS = new Set(['end', 'endif', 'end-if', 'endfor', 'end-for']);

type Kind = 'file' | 'dir' | 'any';

function isA(kind: Kind, name: string): boolean {
  const stat = statSync(name, { throwIfNoEntry: false });
  return stat !== undefined && (kind === 'any' || (kind === 'file' ? stat.isFile() : stat.isDirectory()));
}

/** `NAME=VALUE` or `NAME` against a lookup: the value found, and whether it matches. */
function lookUp(argument: string, find: (name: string) => string | undefined): { value: string | undefined; matches: boolean } {
  const equals = argument.indexOf('=');
  const value = find(equals === -1 ? argument : argument.slice(0, equals));
  return { value, matches: value !== undefined && (equals === -1 || value === argument.slice(equals + 1)) };
}

/** A condition: whether it holds, and what `%(_)` is inside its block. */
type Condition = (argument: string, keys: (name: string) => string | undefined, env: NodeJS.ProcessEnv) => { holds: boolean; data?: string };

const CONDITIONS: ReadonlyMap<string, Condition> = new Map<string, Condition>([
  ['if-env', (arg, _keys, env) => withData(lookUp(arg, (name) => env[name]))],
  ['if-not-env', (arg, _keys, env) => ({ holds: !lookUp(arg, (name) => env[name]).matches })],
  ['if-opt', (arg, keys) => withData(lookUp(arg, keys))],
  ['if-not-opt', (arg, keys) => ({ holds: !lookUp(arg, keys).matches })],
  ...(['file', 'dir', 'any'] as const).flatMap((kind): Array<[string, Condition]> => {
    const name = kind === 'any' ? 'exists' : kind;
    return [
      [`if-${name}`, (arg) => ({ holds: isA(kind, arg), data: arg })],
      [`if-not-${name}`, (arg) => ({ holds: !isA(kind, arg), data: arg })],
    ];
  }),
]);
/** uWSGI's other name for if-dir. */
const ALIASES: ReadonlyMap<string, string> = new Map([['if-directory', 'if-dir']]);

function withData({ value, matches }: { value: string | undefined; matches: boolean }): { holds: boolean; data?: string } {
  return matches ? { holds: true, data: value! } : { holds: false };
}

/** The names of the logic tsgi reads, for the refusal of the rest (`for-glob`, `if-hostname`...). */
const SUPPORTED = ['include', 'inherit', 'for', ...CONDITIONS.keys(), 'else', 'endif', 'endfor'];

/** An open block: the `%(_)` of each pass over its lines (none: its lines are skipped). */
interface Block {
  readonly key: string;
  readonly line: number;
  readonly passes: ReadonlyArray<string | undefined>;
  /** For `else`: whether the condition held. */
  readonly held?: boolean;
}

export interface Section {
  /** The entries uWSGI would read, each with its file. */
  readonly entries: readonly FileEntry[];
  /** The keys a condition looked at (`if-opt = base`): keys of your own are used there too. */
  readonly consulted: ReadonlySet<string>;
}

/** A file's section with its logic applied. */
export function readSection(config: ConfigFile, scope: LogicScope): Section {
  const consulted = new Set<string>();
  return { entries: assemble(config, scope, config, [path.resolve(config.file)], consulted), consulted };
}

function assemble(config: ConfigFile, scope: LogicScope, top: ConfigFile, chain: readonly string[], consulted: Set<string>): FileEntry[] {
  const own = config.entries.map((entry): FileEntry => ({ ...entry, file: config.file, ...(config.asked !== undefined && { asked: config.asked }) }));
  if (config.format !== 'ini') return own;
  const out: FileEntry[] = [];
  const inherited: FileEntry[] = [];
  // The keys read so far, by their first value, as uWSGI's if-opt and placeholders see them.
  const keysSoFar = (): Map<string, string> => {
    const known = new Map<string, string>();
    for (const entry of out) if (!known.has(entry.key)) known.set(entry.key, entry.value === true ? '' : String(entry.value));
    return known;
  };
  const argument = (value: string, where: string): string =>
    expand(value, { file: config.file, section: config.asked, topFile: top.file, topSection: top.asked, keys: keysSoFar(), env: scope.env }, where);
  let block: Block | undefined;
  for (const entry of own) {
    const where = `${fileAndLine({ file: config.file, line: entry.line })}: ${entry.key}`;
    const text = typeof entry.value === 'string' ? entry.value : '';
    if (BLOCK_ENDS.has(entry.key)) {
      block = undefined;
      continue;
    }
    if (entry.key === 'else') {
      if (block?.held === undefined) scope.problems.add(`${where}: else outside an if-... block`);
      else block = { key: 'else', line: entry.line!, passes: block.held ? [] : [undefined] };
      continue;
    }
    const condition = CONDITIONS.get(ALIASES.get(entry.key) ?? entry.key);
    if (condition || entry.key === 'for' || /^(if|for)-/.test(entry.key)) {
      if (block) {
        scope.problems.add(`${where}: inside the ${block.key} block of line ${block.line}: uWSGI's config logic does not nest; close it first`);
        continue;
      }
      block = scope.problems.attempt(() => openBlock(entry, condition, argument(text, where), keysSoFar(), scope.env, where, consulted), {
        key: entry.key,
        line: entry.line!,
        passes: [],
      });
      continue;
    }
    for (const data of block?.passes ?? [undefined]) {
      const value = data === undefined || typeof entry.value !== 'string' ? entry.value : entry.value.replaceAll('%(_)', data);
      const included = INCLUDES.has(entry.key) || entry.key === 'inherit';
      if (!included) {
        out.push({ ...entry, value });
        continue;
      }
      const spec = scope.problems.attempt(() => argument(String(value), where), undefined);
      if (spec === undefined) continue;
      const entries = scope.problems.attempt(() => include(spec, INCLUDES.get(entry.key), where, scope, top, chain, consulted), []);
      (entry.key === 'inherit' ? inherited : out).push(...entries);
    }
  }
  return [...out, ...inherited];
}

function openBlock(
  entry: FileEntry,
  condition: Condition | undefined,
  argument: string,
  keys: ReadonlyMap<string, string>,
  env: NodeJS.ProcessEnv,
  where: string,
  consulted: Set<string>,
): Block {
  const opened = { key: entry.key, line: entry.line! };
  if (entry.key === 'for') return { ...opened, passes: argument.split(' ').filter((word) => word !== '') };
  if (!condition) throw invalidOption(`${where}: uWSGI config logic tsgi does not have; it reads ${SUPPORTED.join(', ')}`);
  if (argument === '') throw invalidOption(`${where}: needs a value`);
  const { holds, data } = condition(argument, (name) => (consulted.add(name), keys.get(name)), env);
  return { ...opened, passes: holds ? [data] : [], held: holds };
}

function include(
  spec: string,
  format: FileFormat | undefined,
  where: string,
  scope: LogicScope,
  top: ConfigFile,
  chain: readonly string[],
  consulted: Set<string>,
): FileEntry[] {
  const config = readConfigFile(spec, format ?? formatOf(spec), where, scope.problems);
  const absolute = path.resolve(config.file);
  if (chain.includes(absolute)) throw invalidOption(`${where}: ${config.file} includes itself (${[...chain, absolute].join(' → ')})`);
  return assemble(config, scope, top, [...chain, absolute], consulted);
}
