/** Did-you-mean: the closest known name to a mistyped one. */

/** The closest of `known` to `given`, if close enough to be a typo of it. */
function closest(given: string, known: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const name of known) {
    const d = editDistance(given, name);
    if (d < bestDistance) {
      bestDistance = d;
      best = name;
    }
  }
  return bestDistance <= Math.max(2, Math.floor(given.length / 3)) ? best : undefined;
}

/** `; did you mean X?`, or nothing. */
export function didYouMean(given: string, known: Iterable<string>, spell: (name: string) => string = (name) => name): string {
  const hint = closest(given, known);
  return hint === undefined ? '' : `; did you mean ${spell(hint)}?`;
}

/** Levenshtein distance. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length]!;
}
