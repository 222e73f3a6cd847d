/**
 * uWSGI's placeholders in config files (Configuration.rst, core/uwsgi.c and utils.c):
 *
 * - `%(name)`: the value of another key of the section: an option, or a key of your own
 *   that some value refers to; its first value, as uWSGI's (uwsgi_get_exported_opt);
 * - `$(NAME)`: an environment variable; `$(NAME:-default)` when unset or empty,
 *   `$(NAME-default)` when unset;
 * - `@(path)`: the contents of a file, one trailing newline dropped; never a command
 *   (`@(exec://...)`) nor a URL: a config file never runs anything nor reaches the network;
 * - the magic variables of the file the value is in: `%d` its directory (absolute, with a
 *   trailing `/`), `%p` its absolute path, `%s` its name, `%n` its name without the
 *   extension, `%e` the extension, `%c` the directory's name, `%0`...`%9` the directory's
 *   components, `%o` the path as named, `%x` the section named after a colon; upper case
 *   (`%D`, `%N`...) the same of the file named on the command line; `%k` the CPU count,
 *   `%h` the host name, `%v` the working directory, `%t` / `%T` the time in seconds /
 *   microseconds, `%u` / `%U` the uid / user name, `%g` the gid;
 * - `%%`: one `%`.
 *
 * A `%` followed by anything else is kept as written (uWSGI would drop it silently).
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { invalidOption } from './origin.js';
import { didYouMean } from './suggest.js';

export interface PlaceholderScope {
  /** The config file the value is in, as named (for %d, %n...), and the section named after its colon (%x). */
  readonly file: string;
  readonly section?: string;
  /** The file named on the command line (for %D, %N...), and its section. */
  readonly topFile: string;
  readonly topSection?: string;
  /** The section's keys and their (first) values. */
  readonly keys: ReadonlyMap<string, string>;
  readonly env: NodeJS.ProcessEnv;
}

const PLACEHOLDER = /%%|%\(([^)]+)\)|\$\(([^)]+)\)|@\(([^)]+)\)|%([A-Za-z0-9[])/g;

/** uWSGI's magic variables that mean nothing here: refused rather than kept or dropped. */
const UNSUPPORTED_MAGIC: Record<string, string> = {
  b: "uWSGI's binary path",
  V: "uWSGI's version",
  j: "a hash of the file's path",
  J: "a hash of the file's path",
  i: "the file's inode",
  I: "the file's inode",
  G: 'the group name',
  '[': 'an escape character',
};

function fileMagic(letter: string, file: string, section: string | undefined): string | undefined {
  const absolute = path.resolve(file);
  const directory = path.dirname(absolute);
  const name = path.basename(absolute);
  const dot = name.lastIndexOf('.');
  switch (letter) {
    case 'd':
      return directory === '/' ? '/' : `${directory}/`;
    case 'p':
      return absolute;
    case 's':
      return name;
    case 'n':
      return dot === -1 ? name : name.slice(0, dot);
    case 'e':
      return dot === -1 ? '' : name.slice(dot + 1);
    case 'c':
      return path.basename(directory);
    case 'o':
      return file;
    case 'x':
      return section ?? '';
  }
  if (/^[0-9]$/.test(letter)) return directory.split('/').filter(Boolean)[Number(letter)] ?? '';
  return undefined;
}

function processMagic(letter: string): string | undefined {
  switch (letter) {
    case 'k':
      return String(os.availableParallelism());
    case 'h':
      return os.hostname();
    case 'v':
      return process.cwd();
    case 't':
      return String(Math.floor(Date.now() / 1000));
    case 'T':
      return String(Math.floor(Date.now() * 1000));
    case 'u':
      return String(os.userInfo().uid);
    case 'U':
      return os.userInfo().username;
    case 'g':
      return String(os.userInfo().gid);
  }
  return undefined;
}

/** `$(NAME)`, `$(NAME:-default)`, `$(NAME-default)`. */
function environmentValue(inside: string, env: NodeJS.ProcessEnv, where: string): string {
  const fallback = /^([^:-]+)(:?-)(.*)$/.exec(inside);
  if (fallback) {
    const [, name, kind, otherwise] = fallback;
    const value = env[name!];
    return value === undefined || (kind === ':-' && value === '') ? otherwise! : value;
  }
  const value = env[inside];
  if (value === undefined) throw invalidOption(`${where}: $(${inside}): no such environment variable (write $(${inside}:-default) for a default)`);
  return value;
}

/** `@(path)`: a file's contents, its one trailing newline dropped (uWSGI's uwsgi_at_file_read). */
function fileContents(name: string, where: string): string {
  if (/^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(name))
    throw invalidOption(`${where}: @(${name}): a config file never runs a command nor reads a URL; put the value in a file and write @(/path/to/it)`);
  try {
    return readFileSync(name, 'utf8').replace(/\r?\n$/, '');
  } catch (error) {
    const why = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message;
    throw invalidOption(`${where}: @(${name}): cannot read it: ${why}`);
  }
}

/**
 * `text` with its placeholders replaced; `where` starts error messages. With
 * `keepUnknownKeys`, a `%(name)` naming no key stays as it is: the request log's template
 * (`log-format`) has its own `%(uri)`, `%(status)`... which uWSGI leaves alone too.
 */
export function expand(text: string, scope: PlaceholderScope, where: string, keepUnknownKeys = false, resolving: readonly string[] = []): string {
  return text.replace(PLACEHOLDER, (whole, key: string | undefined, variable: string | undefined, at: string | undefined, letter: string | undefined) => {
    if (whole === '%%') return '%';
    if (letter !== undefined) {
      const value =
        fileMagic(letter, scope.file, scope.section) ??
        (/^[DPSNECOX]$/.test(letter) ? fileMagic(letter.toLowerCase(), scope.topFile, scope.topSection) : processMagic(letter));
      if (value !== undefined) return value;
      const unsupported = UNSUPPORTED_MAGIC[letter];
      if (unsupported !== undefined)
        throw invalidOption(
          `${where}: %${letter} is uWSGI's magic variable for ${unsupported}, which tsgi does not have; write %%${letter} for the text %${letter}`,
        );
      return whole;
    }
    if (variable !== undefined) return environmentValue(variable, scope.env, where);
    if (at !== undefined) return fileContents(expand(at, scope, where), where);
    const value = scope.keys.get(key!);
    if (value === undefined) {
      if (keepUnknownKeys) return whole;
      if (key === '_') throw invalidOption(`${where}: %(_) has a value only inside a for or if-... block (and if-not-env gives none)`);
      if (/\s/.test(key!)) throw invalidOption(`${where}: %(${key}): uWSGI's placeholder arithmetic is not supported; write the value`);
      throw invalidOption(`${where}: %(${key}) names no key of this section${didYouMean(key!, scope.keys.keys(), (name) => `%(${name})`)}`);
    }
    if (resolving.includes(key!)) throw invalidOption(`${where}: %(${key}) refers to itself (${[...resolving, key].join(' → ')})`);
    return expand(value, scope, where, keepUnknownKeys, [...resolving, key!]);
  });
}

/** The `%(name)` keys a text refers to. */
export function referencedKeys(text: string): string[] {
  return [...text.matchAll(PLACEHOLDER)].flatMap((match) => (match[1] === undefined ? [] : [match[1]]));
}
