/**
 * Values a worker derives from checked options. A leaf with no imports: the worker loads
 * it without the rest of the configuration room (its parsers), which it never needs.
 */

/** `--add-header`'s values as [name, value] pairs (checked as they were read: values.ts, headerProblem). */
export function headerPairs(values: readonly string[]): Array<[string, string]> {
  return values.map((text) => {
    const colon = text.indexOf(':');
    return [text.slice(0, colon), text.slice(colon + 1).trim()];
  });
}

/** `--memory-report`'s level: 0, 1 or 2 (true reads as 1, which uWSGI's own reader turns
 * into 0 with a warning: the file means on). */
export function memoryReportLevel(value: string): 0 | 1 | 2 {
  if (value === '2') return 2;
  return /^(1|true|yes|on)$/.test(value) ? 1 : 0;
}

/** One `--static-map`: requests under `prefix` are files under `dir`. */
export interface StaticMap {
  readonly prefix: string;
  readonly dir: string;
}

/** One `--static-expires`: files whose real path matches `pattern` are cached `seconds`. */
export interface StaticExpires {
  readonly pattern: RegExp;
  readonly seconds: number;
}

/** `--static-map`'s values, `/PREFIX=DIR`; throws, naming the value, for another form. */
export function staticMaps(values: readonly string[]): StaticMap[] {
  return values.map((value) => {
    const eq = value.indexOf('=');
    const dir = eq < 0 ? '' : value.slice(eq + 1);
    if (eq < 0 || !value.startsWith('/') || dir === '') throw new Error(`--static-map ${value}: expected /PREFIX=DIR, e.g. /static=/srv/app/static`);
    return { prefix: value.slice(0, eq).replace(/\/+$/, ''), dir };
  });
}

/** `--static-expires`'s values, `REGEXP SECONDS` as uWSGI reads them; throws, naming the
 * value, for another form or a bad regular expression. */
export function staticExpires(values: readonly string[]): StaticExpires[] {
  return values.map((value) => {
    const match = /^(.+?)\s+(\d+)$/.exec(value.trim());
    if (!match) throw new Error(`--static-expires ${value}: expected REGEXP SECONDS, e.g. \\.(css|js|png)$ 86400`);
    try {
      return { pattern: new RegExp(match[1]!), seconds: Number(match[2]) };
    } catch (error) {
      throw new Error(`--static-expires ${value}: ${(error as Error).message}`);
    }
  });
}
