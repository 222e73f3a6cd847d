/**
 * uWSGI's placeholders in config files: `%(name)` for another key of the same section
 * (an option, or a key of your own that some value refers to), `$(NAME)` for an
 * environment variable, and the magic `%d` (the file's directory, with a trailing `/`, as
 * uWSGI has it), `%n` (the file's name without its extension), `%k` (CPU count) and `%h`
 * (host name). Nothing else: no `@(file)`, no `exec://`, no remote include.
 */
import os from 'node:os';
import path from 'node:path';
import { invalidOption } from './origin.js';
import { didYouMean } from './suggest.js';

export interface PlaceholderScope {
  /** The config file, as named (for %d and %n). */
  readonly file: string;
  /** The section's keys and their values (the last one for a key given several times). */
  readonly keys: ReadonlyMap<string, string>;
  readonly env: NodeJS.ProcessEnv;
}

const PLACEHOLDER = /%\(([^)\s]+)\)|\$\(([^)\s]+)\)|%([dnkh])/g;

function magic(letter: string, file: string): string {
  const absolute = path.resolve(file);
  switch (letter) {
    case 'd':
      return `${path.dirname(absolute)}/`;
    case 'n':
      return path.basename(absolute, path.extname(absolute));
    case 'k':
      return String(os.availableParallelism());
    default:
      return os.hostname();
  }
}

/**
 * `text` with its placeholders replaced; `where` starts error messages. With
 * `keepUnknownKeys`, a `%(name)` naming no key stays as it is: the request log's template
 * (`log-format`) has its own `%(uri)`, `%(status)`... which uWSGI leaves alone too.
 */
export function expand(text: string, scope: PlaceholderScope, where: string, keepUnknownKeys = false, resolving: readonly string[] = []): string {
  return text.replace(PLACEHOLDER, (whole, key: string | undefined, variable: string | undefined, letter: string | undefined) => {
    if (letter !== undefined) return magic(letter, scope.file);
    if (variable !== undefined) {
      const value = scope.env[variable];
      if (value === undefined) throw invalidOption(`${where}: $(${variable}): no such environment variable`);
      return value;
    }
    const value = scope.keys.get(key!);
    if (value === undefined) {
      if (keepUnknownKeys) return whole;
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
