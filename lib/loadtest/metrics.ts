/**
 * Reading the reconciler's /metrics: a parser for the Prometheus text exposition format
 * (0.0.4, what prom-client writes) and the sums the load test needs. Only samples matter
 * here; HELP/TYPE lines and timestamps are skipped.
 */

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const UNESCAPE: Record<string, string> = { '\\\\': '\\', '\\"': '"', '\\n': '\n' };

/** Parses `name{a="1",b="x\"y"} 12.5 [timestamp]` lines; malformed lines are skipped, not fatal. */
export function parseMetrics(text: string): Sample[] {
  const out: Sample[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+-?\d+)?$/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    if (m[3] !== undefined) {
      const labelRe = /\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*,?/gy;
      let lm: RegExpExecArray | null;
      let consumed = 0;
      while ((lm = labelRe.exec(m[3])) !== null) {
        labels[lm[1]!] = lm[2]!.replace(/\\[\\"n]/g, (e) => UNESCAPE[e]!);
        consumed = labelRe.lastIndex;
      }
      if (m[3].slice(consumed).trim() !== '') continue; // a label set we could not read
    }
    const value = parseValue(m[4]!);
    if (value === undefined) continue;
    out.push({ name: m[1]!, labels, value });
  }
  return out;
}

function parseValue(s: string): number | undefined {
  if (s === '+Inf' || s === 'Inf') return Number.POSITIVE_INFINITY;
  if (s === '-Inf') return Number.NEGATIVE_INFINITY;
  if (s === 'NaN') return Number.NaN;
  const v = Number(s);
  return Number.isNaN(v) ? undefined : v;
}

/** Sum of every sample named `name` whose labels include all of `match`. */
export function sumOf(samples: readonly Sample[], name: string, match: Record<string, string> = {}): number {
  let total = 0;
  for (const s of samples) {
    if (s.name !== name) continue;
    if (Object.entries(match).every(([k, v]) => s.labels[k] === v)) total += s.value;
  }
  return total;
}

/** Whether any sample named `name` exists (a counter never incremented may be absent). */
export const has = (samples: readonly Sample[], name: string): boolean => samples.some((s) => s.name === name);

/** Sums of `name` by the value of one label: `{get: 10, patch: 4}`; of several, joined by a space: `{'create Event': 100}`. */
export function byLabel(samples: readonly Sample[], name: string, label: string | readonly string[]): Record<string, number> {
  const out: Record<string, number> = {};
  const labels = typeof label === 'string' ? [label] : label;
  for (const s of samples) {
    if (s.name !== name) continue;
    const key = labels.map((l) => s.labels[l] ?? '').join(' ');
    out[key] = (out[key] ?? 0) + s.value;
  }
  return out;
}

/** `after - before` per key (keys of either side), for counters read at two times. */
export function deltaByKey(before: Record<string, number>, after: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of [...new Set([...Object.keys(before), ...Object.keys(after)])].sort()) out[k] = (after[k] ?? 0) - (before[k] ?? 0);
  return out;
}

/** Fetches and parses a /metrics page; throws with the URL when it cannot. */
export async function scrape(url: string, timeoutMs = 5000): Promise<Sample[]> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  if (!res.ok) throw new Error(`GET ${url}: HTTP ${res.status}`);
  return parseMetrics(await res.text());
}

export interface HistogramFigures {
  count: number;
  mean: number;
  p50: number;
  p95: number;
  p99: number;
}

/**
 * A Prometheus histogram's observations between two scrapes (summed over every label set
 * but `le`): count, mean and quantiles as histogram_quantile computes them (linear within
 * the bucket; the highest finite bound when the quantile falls in +Inf). Null when the
 * histogram is absent or nothing was observed in between.
 */
export function histogramFigures(before: readonly Sample[], after: readonly Sample[], name: string): HistogramFigures | null {
  const buckets = (samples: readonly Sample[]) => byLabel(samples, `${name}_bucket`, 'le');
  if (!has(after, `${name}_count`)) return null;
  const count = sumOf(after, `${name}_count`) - sumOf(before, `${name}_count`);
  if (count <= 0) return null;
  const sum = sumOf(after, `${name}_sum`) - sumOf(before, `${name}_sum`);
  const delta = deltaByKey(buckets(before), buckets(after));
  const bounds = Object.keys(delta)
    .map((le) => ({ le: le === '+Inf' ? Number.POSITIVE_INFINITY : Number(le), n: delta[le]! }))
    .filter((b) => !Number.isNaN(b.le))
    .sort((a, b) => a.le - b.le);
  const quantile = (q: number): number => {
    const rank = q * count;
    let lower = 0;
    let below = 0;
    for (const b of bounds) {
      if (b.n >= rank) {
        if (b.le === Number.POSITIVE_INFINITY) return lower;
        return lower + ((b.le - lower) * (rank - below)) / Math.max(b.n - below, Number.MIN_VALUE);
      }
      lower = b.le;
      below = b.n;
    }
    return lower;
  };
  return { count, mean: sum / count, p50: quantile(0.5), p95: quantile(0.95), p99: quantile(0.99) };
}

export interface HistogramDelta {
  /** Observations between the two scrapes. */
  count: number;
  /** Quantiles as Prometheus' histogram_quantile estimates them (linear within a bucket), seconds. */
  p50: number | null;
  p99: number | null;
  /** Upper bound of the highest bucket that gained an observation (Infinity: above the last bound). */
  maxBucket: number | null;
}

/** The q-quantile of cumulative bucket counts [le, count], sorted by le (histogram_quantile). */
function bucketQuantile(buckets: readonly [number, number][], q: number): number | null {
  const total = buckets.at(-1)?.[1] ?? 0;
  if (total <= 0) return null;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const [le, count] of buckets) {
    if (count >= rank) {
      if (le === Number.POSITIVE_INFINITY) return prevLe;
      return prevLe + ((le - prevLe) * (rank - prevCount)) / Math.max(count - prevCount, Number.MIN_VALUE);
    }
    prevLe = le;
    prevCount = count;
  }
  return prevLe;
}

/** What a histogram `name` (matching `match`) observed between two scrapes. */
export function histogramDelta(before: readonly Sample[], after: readonly Sample[], name: string, match: Record<string, string> = {}): HistogramDelta {
  const buckets = (samples: readonly Sample[]) => {
    const out = new Map<number, number>();
    for (const s of samples) {
      if (s.name !== `${name}_bucket` || !Object.entries(match).every(([k, v]) => s.labels[k] === v)) continue;
      const le = s.labels.le === '+Inf' ? Number.POSITIVE_INFINITY : Number(s.labels.le);
      out.set(le, (out.get(le) ?? 0) + s.value);
    }
    return out;
  };
  const b0 = buckets(before);
  const delta = [...buckets(after)].map(([le, c]) => [le, c - (b0.get(le) ?? 0)] as [number, number]).sort((a, b) => a[0] - b[0]);
  const count = delta.at(-1)?.[1] ?? 0;
  let maxBucket: number | null = null;
  for (let i = 0; i < delta.length; i++) if (delta[i]![1] > (i > 0 ? delta[i - 1]![1] : 0)) maxBucket = delta[i]![0];
  return { count, p50: bucketQuantile(delta, 0.5), p99: bucketQuantile(delta, 0.99), maxBucket };
}
