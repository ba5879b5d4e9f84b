/**
 * Small statistics for latency samples: percentiles by linear interpolation between the two
 * nearest ranks (the same rule as numpy's default and Prometheus' histogram_quantile within a
 * bucket), so that p50 of [1, 2] is 1.5 and a single sample is every percentile.
 */

export interface Summary {
  count: number;
  min: number;
  mean: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

/** The p-th percentile (0 ≤ p ≤ 100) of values already sorted ascending; NaN when empty. */
export function percentileSorted(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  if (p <= 0) return sorted[0]!;
  if (p >= 100) return sorted[sorted.length - 1]!;
  const rank = (p / 100) * (sorted.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (rank - lo);
}

/** The p-th percentile of values in any order. */
export const percentile = (values: readonly number[], p: number): number =>
  percentileSorted([...values].sort((a, b) => a - b), p);

/** Count, min, mean, p50/p95/p99 and max; null when there is no sample (nothing to summarise). */
export function summarize(values: readonly number[]): Summary | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return {
    count: sorted.length,
    min: sorted[0]!,
    mean: sorted.reduce((s, v) => s + v, 0) / sorted.length,
    p50: percentileSorted(sorted, 50),
    p95: percentileSorted(sorted, 95),
    p99: percentileSorted(sorted, 99),
    max: sorted[sorted.length - 1]!,
  };
}

/** The median: what the bench reports for repeated runs of one case. */
export const median = (values: readonly number[]): number => percentile(values, 50);

/** Rounds to `digits` decimals, for output that stays readable and diffs small. */
export const round = (v: number, digits = 3): number => {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
};

/** A summary with every figure rounded to `digits` decimals (null stays null). */
export const roundSummary = (s: Summary | null, digits = 3): Summary | null =>
  s && { count: s.count, min: round(s.min, digits), mean: round(s.mean, digits), p50: round(s.p50, digits), p95: round(s.p95, digits), p99: round(s.p99, digits), max: round(s.max, digits) };
