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
