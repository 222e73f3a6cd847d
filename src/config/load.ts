/**
 * Sources merged into one validated `Config`, lowest precedence first: the defaults,
 * config files (in the order named; a later file wins), the environment (`TSGI_*`), the
 * command line. From code (`serve()`), the options given take the command line's place
 * and the environment's `TSGI_*` variables are not read.
 *
 * For each option the highest source that sets it wins whole: its value, or all its
 * values for an option that takes several (`--socket` on the command line replaces a
 * file's sockets), except `env`, whose `KEY=VALUE`s merge by KEY across sources. Every
 * value is checked, including those a higher source overrides: a mistake in a file is
 * reported even while a flag hides it.
 *
 * Every problem is reported in one pass: each source is read whole and each value
 * checked, and the refusal, if any, lists them all, a line each.
 */
import { readArgv } from './argv.js';
import { readSection } from './config-logic.js';
import { readEnvironment } from './environment.js';
import { formatOf, readConfigFile, type FileEntry } from './files.js';
import { INLINE_COMMENT } from './ini.js';
import { camelCase, FILE_OPTIONS, kebabCase, optionNamed, OPTIONS, OPTION_NAMES, type Config, type FileFormat, type OptionSpec } from './options.js';
import { fileAndLine, invalidOption, Problems, subject, type Origin, type Setting } from './origin.js';
import { expand, referencedKeys, type PlaceholderScope } from './placeholders.js';
import { didYouMean } from './suggest.js';
import { UWSGI_ONLY_OPTIONS, UWSGI_SECTION, uwsgiRefusal } from './uwsgi-only.js';
import { assignmentKey, convert, rawValues, type Value } from './values.js';

export interface LoadedConfig {
  readonly config: Config;
  /** Where each option's value came from: one origin per value (per item of a list). */
  readonly origins: ReadonlyMap<string, readonly Origin[]>;
  /** uWSGI-only options ignored, unknown `TSGI_*` variables: one line each. */
  readonly warnings: readonly string[];
}

/** The command line's options, over the environment's, over the files they name. */
export function configFromCommandLine(argv: readonly string[], env: NodeJS.ProcessEnv): LoadedConfig {
  const problems = new Problems();
  const commandLine = readArgv(argv, problems);
  // --help and --version print and exit: nothing else needs to be read (or be right).
  if (commandLine.settings.some((s) => s.name === 'help' || s.name === 'version')) return merge([commandLine.settings], [], problems);
  const environment = readEnvironment(env);
  const warnings = [...environment.warnings];
  let named = filesNamed(commandLine.settings, problems);
  if (commandLine.configFile !== undefined) {
    const format = problems.attempt(() => formatOf(commandLine.configFile!), undefined);
    if (format) named.unshift({ spec: commandLine.configFile, format, namedBy: 'config file' });
  }
  if (named.length === 0) named = filesNamed(environment.settings, problems);
  const files = named.map((file) => fileSettings(file, env, warnings, problems));
  return unlessProblems(merge([...files, environment.settings, commandLine.settings], warnings, problems), problems);
}

/** `serve()` and `defineConfig()`: camelCase options over the files they name. */
export function configFromCode(options: Readonly<Record<string, unknown>>, caller: string, env: NodeJS.ProcessEnv): LoadedConfig {
  const problems = new Problems();
  const settings = codeSettings(options, caller, problems);
  const warnings: string[] = [];
  const files = filesNamed(settings, problems).map((file) => fileSettings(file, env, warnings, problems));
  return unlessProblems(merge([...files, settings], warnings, problems), problems);
}

function unlessProblems(loaded: LoadedConfig, problems: Problems): LoadedConfig {
  problems.throwIfAny();
  return loaded;
}

interface NamedFile {
  readonly spec: string;
  readonly format: FileFormat;
  readonly namedBy: string;
}

function filesNamed(settings: readonly Setting[], problems: Problems): NamedFile[] {
  return settings.flatMap((setting) => {
    const format = FILE_OPTIONS.find((name) => name === setting.name);
    if (format === undefined) return [];
    const spec = problems.attempt(() => convert(optionNamed(format)!, setting) as string, undefined);
    return spec === undefined ? [] : [{ spec, format, namedBy: subject(setting.origin, setting.name) }];
  });
}

// ---- config files -------------------------------------------------------------------

/** A section's keys as settings: its logic applied (INI's include, if-env...), options
 * checked by name, uWSGI-only ones skipped with a warning in a [uwsgi] section, keys of
 * your own kept for placeholders, placeholders expanded. */
function fileSettings(named: NamedFile, env: NodeJS.ProcessEnv, warnings: string[], problems: Problems): Setting[] {
  const read = problems.attempt(() => readConfigFile(named.spec, named.format, named.namedBy, problems), undefined);
  if (read === undefined) return [];
  const { file, section } = read;
  const { entries, consulted } = readSection(read, { env, problems });
  const at = (entry: FileEntry, line = entry.line) => fileAndLine({ file: entry.file ?? file, line });
  const referenced = new Set([
    ...consulted,
    ...entries.flatMap((entry) => listOf(entry.value).flatMap((item) => (typeof item === 'string' ? referencedKeys(item) : []))),
  ]);
  // A key's first value, as uWSGI's placeholders take it.
  const keys = new Map<string, string>();
  for (const entry of entries) {
    const first = listOf(entry.value)[0];
    if (!keys.has(entry.key) && first !== undefined && first !== null && typeof first !== 'object') keys.set(entry.key, String(first));
  }
  const settings: Setting[] = [];
  const firstSeen = new Map<string, FileEntry>();
  const warned = new Set<string>();
  for (const entry of entries) {
    const where = `${at(entry)}: ${entry.key}`;
    const spec = optionNamed(entry.key);
    if (!spec) {
      const why = UWSGI_ONLY_OPTIONS.get(entry.key);
      const refusal = uwsgiRefusal(entry.key, where);
      if (why !== undefined && section === UWSGI_SECTION) {
        if (!warned.has(entry.key)) warnings.push(`${where}: a uWSGI option tsgi does not have, ignored: ${why}`);
        warned.add(entry.key);
      } else if (refusal !== undefined) {
        problems.add(refusal);
      } else if (!referenced.has(entry.key)) {
        // A typo gets its suggestion; a name close to none may be a key of your own, unused.
        const suggestion = didYouMean(entry.key, OPTION_NAMES);
        problems.add(`${where}: unknown option${suggestion || ` (a key of your own must be used as %(${entry.key}))`}`);
      }
      continue;
    }
    if (spec.type === 'flag') {
      problems.add(`${where}: --${spec.name} is for the command line only`);
      continue;
    }
    if ((FILE_OPTIONS as readonly string[]).includes(spec.name)) {
      problems.add(`${where}: only an INI file reads another one (include = FILE); or name them all on the command line`);
      continue;
    }
    if (!spec.repeatable) {
      const first = firstSeen.get(spec.name);
      if (first) {
        problems.add(`${where}: set again (first at ${at(first)}); ${spec.name} takes one value`);
        continue;
      }
      firstSeen.set(spec.name, entry);
    }
    const raws = problems.attempt(() => rawValues(spec, entry.value, (i) => `${at(entry, entry.itemLines?.[i] ?? entry.line)}: ${entry.key}`), []);
    raws.forEach((raw, i) => {
      const line = entry.itemLines?.[i] ?? entry.line;
      const origin: Origin = { kind: 'file', file: entry.file ?? file, section, key: entry.key, ...(line !== undefined && { line }) };
      const scope: PlaceholderScope = {
        file: entry.file ?? file,
        section: entry.asked,
        topFile: file,
        topSection: read.asked,
        keys,
        env,
      };
      const value =
        typeof raw === 'string'
          ? problems.attempt(() => expand(raw, scope, `${at(entry, line)}: ${entry.key}`, spec.name === 'log-format', [entry.key]), null)
          : raw;
      // A strftime format read with uWSGI's placeholders: %d, %s... became the file's
      // directory, name... (as in uWSGI, whose documentation writes %%d). Said, not hidden.
      if (spec.name === 'log-date' && typeof raw === 'string' && typeof value === 'string' && value !== raw.replace(/%%/g, '%'))
        warnings.push(
          `${at(entry, line)}: ${entry.key} ${JSON.stringify(raw)} reads as ${JSON.stringify(value)}: uWSGI's magic variables (%d the file's directory, %s its name...) were replaced; for strftime's conversions write %%d, %%s...`,
        );
      if (typeof value === 'string' && read.format === 'ini' && INLINE_COMMENT.test(value) && (spec.type === 'string' || spec.type === 'assignment'))
        warnings.push(
          `${at(entry, line)}: ${entry.key} ${JSON.stringify(value)}: the ; or # is part of the value, as in uWSGI (a comment is a line of its own)`,
        );
      if (value !== null || raw === null) settings.push({ name: spec.name, raw: value, origin });
    });
  }
  return settings;
}

function listOf(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [value];
}

// ---- code -----------------------------------------------------------------------------

/** camelCase names (and aliases) → options. */
const byCamelCase = new Map<string, OptionSpec>();
for (const spec of OPTIONS as readonly OptionSpec[]) {
  for (const name of [spec.name, ...(spec.aliases ?? [])]) byCamelCase.set(camelCase(name), spec);
}

function codeSettings(options: Readonly<Record<string, unknown>>, caller: string, problems: Problems): Setting[] {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) throw invalidOption(`${caller}: expected an object of options`);
  const settings: Setting[] = [];
  for (const [key, value] of Object.entries(options)) {
    const spec = byCamelCase.get(key);
    if (!spec) {
      problems.add(uwsgiRefusal(kebabCase(key), `${caller}: ${key}`) ?? `${caller}: ${key}: unknown option${didYouMean(key, byCamelCase.keys())}`);
      continue;
    }
    if (spec.type === 'flag') {
      problems.add(`${caller}: ${key}: --${spec.name} is for the command line only`);
      continue;
    }
    if (value === undefined) continue;
    const origin = { kind: 'code', caller, key } as const;
    for (const raw of problems.attempt(() => rawValues(spec, value, () => `${caller}: ${key}`), [])) settings.push({ name: spec.name, raw, origin });
  }
  return settings;
}

// ---- merging ------------------------------------------------------------------------------

interface Checked {
  readonly value: Value;
  readonly origin: Origin;
}

function merge(layers: ReadonlyArray<readonly Setting[]>, warnings: readonly string[], problems: Problems): LoadedConfig {
  // A value refused is left out: the others are still checked, and merged for nothing.
  const checked = layers.map((layer) =>
    layer.flatMap((setting): Array<Checked & { name: string }> => {
      const value = problems.attempt(() => convert(optionNamed(setting.name)!, setting), undefined);
      return value === undefined ? [] : [{ name: setting.name, value, origin: setting.origin }];
    }),
  );
  const config: Record<string, unknown> = {};
  const origins = new Map<string, Origin[]>();
  for (const spec of OPTIONS as readonly OptionSpec[]) {
    const ofLayers = checked.map((layer) => layer.filter((c) => c.name === spec.name));
    let chosen: Checked[];
    if (spec.name === 'env') {
      chosen = mergeAssignments(ofLayers.flat());
    } else {
      const top = ofLayers.filter((layer) => layer.length > 0).at(-1) ?? [];
      chosen = spec.repeatable ? top : top.slice(-1);
    }
    if (chosen.length > 0) {
      config[spec.name] = spec.repeatable ? chosen.map((c) => c.value) : chosen[0]!.value;
      origins.set(
        spec.name,
        chosen.map((c) => c.origin),
      );
    } else if (spec.repeatable) {
      config[spec.name] = [];
    } else if (spec.type === 'flag') {
      config[spec.name] = false;
    } else if (spec.default !== undefined) {
      config[spec.name] = spec.default;
      origins.set(spec.name, [{ kind: 'default' }]);
    }
  }
  return { config: config as Config, origins, warnings };
}

/** `KEY=VALUE`s from every source, a later KEY replacing an earlier one in place. */
function mergeAssignments(assignments: readonly Checked[]): Checked[] {
  const byKey = new Map<string, Checked>();
  for (const assignment of assignments) {
    byKey.set(assignmentKey(assignment.value as string), assignment);
  }
  return [...byKey.values()];
}
