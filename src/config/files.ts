/**
 * Config files: INI, JSON, TOML and YAML, read with their own parsers into one form, the
 * keys of one section with their values and lines.
 *
 * Every format has sections, as uWSGI's do: INI `[tsgi]`, TOML `[tsgi]`, a JSON `"tsgi"`
 * object, a YAML `tsgi:` mapping. tsgi reads `tsgi`, else `uwsgi` (an existing uwsgi.ini),
 * or the section named after the file (`app.ini:staging`).
 *
 * INI is read by uWSGI's rules (ini.ts); lines come from YAML's node positions (JSON is
 * read through it too, once JSON.parse has accepted it), and for INI and TOML, line-based
 * formats, from the key lines of the section.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { Node } from 'yaml';
import { parseIni } from './ini.js';
import type { FileFormat } from './options.js';
import { fileAndLine, invalidOption, type Problems } from './origin.js';

// The parsers load when a file is read, not with tsgi: an app that imports tsgi (for
// validate(), Server...) starts about 50 ms sooner without them.
const load = createRequire(import.meta.url);
const tomlParser = () => load('smol-toml') as typeof import('smol-toml');
const yamlParser = () => load('yaml') as typeof import('yaml');

/** One key of a section, as written. `line`: of the key (INI, TOML) or value (YAML, JSON);
 * `itemLines`: of each item, when the value is a list and the format tells. `file` and
 * `asked`: the file the key is in and the section named after its colon, when it is not
 * the file named (an INI file's `include`). */
export interface FileEntry {
  readonly key: string;
  readonly value: unknown;
  readonly line?: number;
  readonly itemLines?: ReadonlyArray<number | undefined>;
  readonly file?: string;
  readonly asked?: string;
}

export interface ConfigFile {
  /** The path as named. */
  readonly file: string;
  readonly format: FileFormat;
  readonly section: string;
  /** The section named after the colon, if any. */
  readonly asked?: string;
  readonly entries: readonly FileEntry[];
}

const DEFAULT_SECTIONS = ['tsgi', 'uwsgi'];

const EXTENSIONS: Record<string, FileFormat> = { '.ini': 'ini', '.json': 'json', '.toml': 'toml', '.yaml': 'yaml', '.yml': 'yaml' };

/** `app.ini:staging` → the file and the section asked for. */
function splitSection(spec: string): { file: string; section?: string } {
  const match = /^(.+):([A-Za-z0-9_.-]+)$/.exec(spec);
  return match ? { file: match[1]!, section: match[2]! } : { file: spec };
}

/** The format of a file named alone on the command line, by its extension. */
export function formatOf(spec: string): FileFormat {
  const { file } = splitSection(spec);
  const format = EXTENSIONS[path.extname(file).toLowerCase()];
  if (!format)
    throw invalidOption(
      `${file}: cannot tell its format from the extension (.ini, .json, .toml, .yaml or .yml); or name it with --ini, --json, --toml or --yaml`,
    );
  return format;
}

/** Reads `spec` (`FILE[:SECTION]`) as `format`; `namedBy` (`--ini`, `TSGI_INI`) starts
 * the message when the file cannot be read. Lines that are not INI are noted in `problems`,
 * and the rest of the file read. */
export function readConfigFile(spec: string, format: FileFormat, namedBy: string, problems: Problems): ConfigFile {
  const { file, section: asked } = splitSection(spec);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    const why = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message;
    throw invalidOption(`${namedBy} ${file}: cannot read it: ${why}`);
  }
  const sections = READERS[format](text, file, problems);
  const section = asked ?? DEFAULT_SECTIONS.find((name) => sections.has(name));
  const entries = section === undefined ? undefined : sections.get(section);
  if (!entries) {
    const wanted = asked === undefined ? DEFAULT_SECTIONS.map((name) => describeSection(format, name)).join(' or ') : describeSection(format, asked);
    throw invalidOption(`${file}: no ${wanted} section`);
  }
  return { file, format, section: section!, ...(asked !== undefined && { asked }), entries };
}

function describeSection(format: FileFormat, name: string): string {
  return format === 'ini' || format === 'toml' ? `[${name}]` : JSON.stringify(name);
}

type Sections = Map<string, readonly FileEntry[]>;

const READERS: Record<FileFormat, (text: string, file: string, problems: Problems) => Sections> = {
  ini: readIni,
  toml: readToml,
  yaml: readYaml,
  json: readJson,
};

function readIni(text: string, file: string, problems: Problems): Sections {
  const { sections, problems: lines } = parseIni(text);
  for (const { line, message } of lines) problems.add(`${fileAndLine({ file, line })}: ${message}`);
  // One entry per line: a key given twice is two settings, each with its line.
  return new Map(sections);
}

function readToml(text: string, file: string): Sections {
  let data: Record<string, unknown>;
  try {
    data = tomlParser().parse(text);
  } catch (error) {
    throw syntaxError(file, 'TOML', (error as { line?: number }).line, (error as Error).message.replace(/^Invalid TOML document: /, ''));
  }
  const lines = keyLines(text, /^\s*\[\s*([^[\]]+?)\s*\]\s*(?:#.*)?$/, /^\s*["']?([A-Za-z0-9_-]+)["']?\s*=/);
  const sections: Sections = new Map();
  for (const [name, body] of Object.entries(data)) {
    if (!isPlainObject(body)) continue;
    sections.set(
      name,
      Object.entries(body).map(([key, value]) => withLine({ key, value }, lines.get(name)?.get(key)?.[0])),
    );
  }
  return sections;
}

function readJson(text: string, file: string): Sections {
  try {
    JSON.parse(text);
  } catch (error) {
    const position = /at position (\d+)/.exec((error as Error).message)?.[1];
    const line = position === undefined ? undefined : text.slice(0, Number(position)).split('\n').length;
    throw syntaxError(file, 'JSON', line, (error as Error).message.replace(/ in JSON at position \d+.*$/, ''));
  }
  return readYaml(text, file);
}

function readYaml(text: string, file: string): Sections {
  const { isMap, isScalar, isSeq, LineCounter, parseDocument } = yamlParser();
  const lineCounter = new LineCounter();
  const document = parseDocument(text, { lineCounter });
  const [problem] = document.errors;
  if (problem) throw syntaxError(file, 'YAML', problem.linePos?.[0].line, problem.message.replace(/ at line \d+, column \d+:[^]*$/, ''));
  const lineOf = (node: unknown): number | undefined => ((node as Node | null)?.range ? lineCounter.linePos((node as Node).range![0]).line : undefined);
  const data: unknown = document.toJS();
  const sections: Sections = new Map();
  if (!isMap(document.contents) || !isPlainObject(data)) return sections;
  for (const pair of document.contents.items) {
    const name = isScalar(pair.key) ? String(pair.key.value) : undefined;
    const body = name === undefined ? undefined : data[name];
    if (!isMap(pair.value) || !isPlainObject(body)) continue;
    const entries: FileEntry[] = [];
    for (const item of pair.value.items) {
      if (!isScalar(item.key)) continue;
      const key = String(item.key.value);
      const itemLines = isSeq(item.value) ? item.value.items.map(lineOf) : undefined;
      entries.push({ key, value: body[key], line: lineOf(item.value) ?? lineOf(item.key), ...(itemLines && { itemLines }) });
    }
    sections.set(name!, entries);
  }
  return sections;
}

/** For TOML, line-based: section → key → the lines it is on, in order. */
function keyLines(text: string, header: RegExp, keyLine: RegExp): Map<string, Map<string, number[]>> {
  const found = new Map<string, Map<string, number[]>>();
  let section: Map<string, number[]> | undefined;
  text.split(/\r?\n/).forEach((line, i) => {
    if (/^\s*#/.test(line)) return;
    const opened = header.exec(line);
    if (opened) {
      const name = opened[1]!.trim();
      section = found.get(name) ?? new Map<string, number[]>();
      found.set(name, section);
      return;
    }
    const key = keyLine.exec(line)?.[1];
    if (section && key) section.set(key, [...(section.get(key) ?? []), i + 1]);
  });
  return found;
}

function syntaxError(file: string, format: string, line: number | undefined, message: string): Error {
  return invalidOption(`${fileAndLine({ file, line })}: not valid ${format}: ${message.split('\n')[0]}`);
}

function withLine(entry: { key: string; value: unknown }, line: number | undefined): FileEntry {
  return line === undefined ? entry : { ...entry, line };
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date);
}
