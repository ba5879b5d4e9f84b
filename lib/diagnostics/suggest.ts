/**
 * "Did you mean …?" for names that are nearly right: a misspelt field, capability id or
 * module name. Damerau-Levenshtein distance (a swap of two neighbours counts as one edit,
 * the most common typo: `multiplicty`), over candidates that are at most a third off.
 */

/** Edits (insert, delete, substitute, swap neighbours) that turn `a` into `b`. */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, d[i - 2]![j - 2]! + 1);
      d[i]![j] = best;
    }
  }
  return d[a.length]![b.length]!;
}

/** The candidates closest to `name` (ties kept, sorted), if any is close enough to be a typo. */
export function closest(name: string, candidates: Iterable<string>): string[] {
  const limit = Math.max(1, Math.floor(name.length / 3));
  let best = Infinity;
  let found: string[] = [];
  for (const c of new Set(candidates)) {
    if (c === name) continue;
    const dist = editDistance(name.toLowerCase(), c.toLowerCase());
    if (dist > limit || dist > best) continue;
    if (dist < best) found = [];
    best = dist;
    found.push(c);
  }
  return found.sort();
}

/** ` (did you mean x?)`, or nothing. */
export function didYouMean(name: string, candidates: Iterable<string>): string {
  const found = closest(name, candidates);
  return found.length === 0 ? '' : ` (did you mean ${found.join(' or ')}?)`;
}
