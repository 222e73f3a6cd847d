/**
 * Where a value came from, so that every error and `--print-config` can say so: the
 * command line, an environment variable, a config file and line, code, or the default.
 */
import { ErrorCodes, TsgiError } from '../errors.js';

export type Origin =
  | { readonly kind: 'default' }
  /** `flag`: as written, `--processes` or `-p`. */
  | { readonly kind: 'flag'; readonly flag: string }
  | { readonly kind: 'env'; readonly variable: string }
  /** `line` is missing when the file's format cannot tell it. */
  | { readonly kind: 'file'; readonly file: string; readonly section: string; readonly key: string; readonly line?: number }
  /** `caller`: `serve()` or `defineConfig()`; `key` as written (camelCase). */
  | { readonly kind: 'code'; readonly caller: string; readonly key: string };

/** A value as its source gave it: a string, number, boolean or null, not yet checked. */
export type Raw = string | number | boolean | null;

/** One value for one option, from one place. */
export interface Setting {
  readonly name: string;
  readonly raw: Raw;
  readonly origin: Origin;
}

/** `app.ini:4` (or `app.ini` when the line is unknown). */
export function fileAndLine(origin: { file: string; line?: number }): string {
  return origin.line === undefined ? origin.file : `${origin.file}:${origin.line}`;
}

/** The option as its source spelled it, with the place: `--processes`, `TSGI_PROCESSES`,
 * `app.ini:4: processes`, `serve(): maxRequests`. Error messages start with it. */
export function subject(origin: Origin, name: string): string {
  switch (origin.kind) {
    case 'default':
      return `the default of ${name}`;
    case 'flag':
      return origin.flag;
    case 'env':
      return origin.variable;
    case 'file':
      return `${fileAndLine(origin)}: ${origin.key}`;
    case 'code':
      return `${origin.caller}: ${origin.key}`;
  }
}

/** For `--print-config`: `--processes`, `TSGI_PROCESSES`, `app.ini:4 [uwsgi]`, `default`. */
export function describeOrigin(origin: Origin): string {
  switch (origin.kind) {
    case 'default':
      return 'default';
    case 'flag':
      return origin.flag;
    case 'env':
      return origin.variable;
    case 'file':
      return `${fileAndLine(origin)} [${origin.section}]`;
    case 'code':
      return `${origin.caller} ${origin.key}`;
  }
}

export function invalidOption(message: string): TsgiError {
  return new TsgiError(ErrorCodes.INVALID_OPTION, message);
}

/**
 * The mistakes of one reading of the configuration, reported together: a file with five
 * refused keys names all five, each with its place, rather than one per run. Each is one
 * line of the final error's message.
 */
export class Problems {
  private readonly found: string[] = [];

  /** Runs `work`; if it refuses an option, the refusal is noted and `fallback` returned. */
  attempt<T>(work: () => T, fallback: T): T {
    try {
      return work();
    } catch (error) {
      if (!(error instanceof TsgiError) || error.code !== ErrorCodes.INVALID_OPTION) throw error;
      this.found.push(...error.message.split('\n'));
      return fallback;
    }
  }

  add(message: string): void {
    this.found.push(message);
  }

  /** Throws one error carrying every problem noted, a line each, if there is any. */
  throwIfAny(): void {
    if (this.found.length > 0) throw invalidOption(this.found.join('\n'));
  }
}
