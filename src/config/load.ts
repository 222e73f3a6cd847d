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
 */
import { readArgv } from './argv.js';
import { readEnvironment } from './environment.js';
import { formatOf, readConfigFile, type ConfigFile } from './files.js';
import { camelCase, FILE_OPTIONS, kebabCase, optionNamed, OPTIONS, OPTION_NAMES, type Config, type FileFormat, type OptionSpec } from './options.js';
import { fileAndLine, invalidOption, subject, type Origin, type Setting } from './origin.js';
import { expand, referencedKeys, type PlaceholderScope } from './placeholders.js';
import { didYouMean } from './suggest.js';
import { UWSGI_ONLY_OPTIONS, UWSGI_SECTION, uwsgiOnlyRefusal } from './uwsgi-only.js';
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
  const commandLine = readArgv(argv);
  // --help and --version print and exit: nothing else needs to be read (or be right).
  if (commandLine.settings.some((s) => s.name === 'help' || s.name === 'version')) return merge([commandLine.settings], []);
  const environment = readEnvironment(env);
  const warnings = [...environment.warnings];
  let named = filesNamed(commandLine.settings);
  if (commandLine.configFile !== undefined) named.unshift({ spec: commandLine.configFile, format: formatOf(commandLine.configFile), namedBy: 'config file' });
  if (named.length === 0) named = filesNamed(environment.settings);
  const files = named.map((file) => fileSettings(readConfigFile(file.spec, file.format, file.namedBy), env, warnings));
  return merge([...files, environment.settings, commandLine.settings], warnings);
}

/** `serve()` and `defineConfig()`: camelCase options over the files they name. */
export function configFromCode(options: Readonly<Record<string, unknown>>, caller: string, env: NodeJS.ProcessEnv): LoadedConfig {
  const settings = codeSettings(options, caller);
  const warnings: string[] = [];
  const files = filesNamed(settings).map((file) => fileSettings(readConfigFile(file.spec, file.format, file.namedBy), env, warnings));
  return merge([...files, settings], warnings);
}

function filesNamed(settings: readonly Setting[]): Array<{ spec: string; format: FileFormat; namedBy: string }> {
  return settings.flatMap((setting) => {
    const format = FILE_OPTIONS.find((name) => name === setting.name);
    if (format === undefined) return [];
    return [{ spec: convert(optionNamed(format)!, setting) as string, format, namedBy: subject(setting.origin, setting.name) }];
  });
}

// ---- config files -------------------------------------------------------------------

/** A section's keys as settings: options checked by name, uWSGI-only ones skipped with a
 * warning in a [uwsgi] section, keys of your own kept for placeholders, placeholders
 * expanded. */
function fileSettings({ file, section, entries }: ConfigFile, env: NodeJS.ProcessEnv, warnings: string[]): Setting[] {
  const at = (line: number | undefined) => fileAndLine({ file, line });
  const referenced = new Set(entries.flatMap((entry) => listOf(entry.value).flatMap((item) => (typeof item === 'string' ? referencedKeys(item) : []))));
  const keys = new Map<string, string>();
  for (const entry of entries) {
    const last = listOf(entry.value).at(-1);
    if (last !== undefined && last !== null && typeof last !== 'object') keys.set(entry.key, String(last));
  }
  const scope: PlaceholderScope = { file, keys, env };
  const settings: Setting[] = [];
  const firstLine = new Map<string, number | undefined>();
  const warned = new Set<string>();
  for (const entry of entries) {
    const where = `${at(entry.line)}: ${entry.key}`;
    const spec = optionNamed(entry.key);
    if (!spec) {
      const why = UWSGI_ONLY_OPTIONS.get(entry.key);
      const refusal = uwsgiOnlyRefusal(entry.key, where);
      if (why !== undefined && section === UWSGI_SECTION) {
        if (!warned.has(entry.key)) warnings.push(`${where}: a uWSGI option tsgi does not have, ignored: ${why}`);
        warned.add(entry.key);
      } else if (refusal !== undefined) {
        throw invalidOption(refusal);
      } else if (!referenced.has(entry.key)) {
        throw invalidOption(`${where}: unknown option${didYouMean(entry.key, OPTION_NAMES)} (a key of your own must be used as %(${entry.key}))`);
      }
      continue;
    }
    if (spec.type === 'flag') throw invalidOption(`${where}: --${spec.name} is for the command line only`);
    if ((FILE_OPTIONS as readonly string[]).includes(spec.name))
      throw invalidOption(`${where}: a config file cannot name another one; name them all on the command line`);
    if (!spec.repeatable) {
      if (firstLine.has(spec.name)) throw invalidOption(`${where}: set again (first at ${at(firstLine.get(spec.name))}); ${spec.name} takes one value`);
      firstLine.set(spec.name, entry.line);
    }
    rawValues(spec, entry.value, (i) => `${at(entry.itemLines?.[i] ?? entry.line)}: ${entry.key}`).forEach((raw, i) => {
      const line = entry.itemLines?.[i] ?? entry.line;
      const origin: Origin = line === undefined ? { kind: 'file', file, section, key: entry.key } : { kind: 'file', file, section, key: entry.key, line };
      const value = typeof raw === 'string' ? expand(raw, scope, `${at(line)}: ${entry.key}`, spec.name === 'log-format', [entry.key]) : raw;
      settings.push({ name: spec.name, raw: value, origin });
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

function codeSettings(options: Readonly<Record<string, unknown>>, caller: string): Setting[] {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) throw invalidOption(`${caller}: expected an object of options`);
  const settings: Setting[] = [];
  for (const [key, value] of Object.entries(options)) {
    const spec = byCamelCase.get(key);
    if (!spec)
      throw invalidOption(uwsgiOnlyRefusal(kebabCase(key), `${caller}: ${key}`) ?? `${caller}: ${key}: unknown option${didYouMean(key, byCamelCase.keys())}`);
    if (spec.type === 'flag') throw invalidOption(`${caller}: ${key}: --${spec.name} is for the command line only`);
    if (value === undefined) continue;
    const origin = { kind: 'code', caller, key } as const;
    for (const raw of rawValues(spec, value, () => `${caller}: ${key}`)) settings.push({ name: spec.name, raw, origin });
  }
  return settings;
}

// ---- merging ------------------------------------------------------------------------------

interface Checked {
  readonly value: Value;
  readonly origin: Origin;
}

function merge(layers: ReadonlyArray<readonly Setting[]>, warnings: readonly string[]): LoadedConfig {
  const checked = layers.map((layer) =>
    layer.map((setting): Checked & { name: string } => ({ name: setting.name, value: convert(optionNamed(setting.name)!, setting), origin: setting.origin })),
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
