/**
 * The load test's arithmetic: percentiles and summaries of latency samples, and reading the
 * reconciler's Prometheus text (what `anvil load-test` turns into reconcile errors, API
 * requests per world and peak memory).
 */
import { describe, expect, test } from '@jest/globals';
import { byLabel, deltaByKey, has, histogramDelta, parseMetrics, sumOf } from '../../lib/loadtest/metrics.js';
import { median, percentile, percentileSorted, round, summarize } from '../../lib/loadtest/stats.js';

describe('percentiles', () => {
  test('interpolate linearly between the nearest ranks', () => {
    expect(percentile([1, 2], 50)).toBe(1.5);
    expect(percentile([4, 1, 3, 2], 50)).toBe(2.5);
    const hundred = Array.from({ length: 100 }, (_, i) => i + 1); // 1..100
    expect(percentile(hundred, 0)).toBe(1);
    expect(percentile(hundred, 100)).toBe(100);
    expect(percentile(hundred, 50)).toBeCloseTo(50.5);
    expect(percentile(hundred, 95)).toBeCloseTo(95.05);
    expect(percentile(hundred, 99)).toBeCloseTo(99.01);
  });

  test('a single sample is every percentile; no sample is NaN; input is not reordered', () => {
    expect([0, 50, 99, 100].map((p) => percentile([7], p))).toEqual([7, 7, 7, 7]);
    expect(percentileSorted([], 50)).toBeNaN();
    const values = [3, 1, 2];
    percentile(values, 50);
    expect(values).toEqual([3, 1, 2]);
  });

  test('summarize gives count, min, mean, p50/p95/p99 and max; null for no samples', () => {
    expect(summarize([])).toBeNull();
    const s = summarize([5, 1, 4, 2, 3])!;
    expect(s).toEqual({ count: 5, min: 1, mean: 3, p50: 3, p95: expect.any(Number), p99: expect.any(Number), max: 5 });
    expect(s.p95).toBeCloseTo(4.8);
    expect(s.p99).toBeCloseTo(4.96);
    expect(median([10, 30, 20])).toBe(20);
    expect(round(1.23456, 2)).toBe(1.23);
  });
});

const PROM = `# HELP anvil_reconcile_total Reconciles by result (success, requeue, error)
# TYPE anvil_reconcile_total counter
anvil_reconcile_total{result="success"} 120
anvil_reconcile_total{result="error"} 3
anvil_reconcile_total{result="requeue"} 7
# TYPE anvil_api_requests_total counter
anvil_api_requests_total{verb="apply",code="200"} 390
anvil_api_requests_total{verb="apply",code="409"} 10
anvil_api_requests_total{verb="get",code="200"} 12
anvil_api_requests_total{verb="apply-status",code="200"} 55
# TYPE anvil_workqueue_depth gauge
anvil_workqueue_depth 4
process_resident_memory_bytes 123456789
anvil_world_startup_seconds_bucket{le="0.5"} 1
anvil_world_startup_seconds_bucket{le="+Inf"} 9
anvil_world_startup_seconds_sum 10.5 1700000000000
weird_label{path="a\\"b\\\\c",x="1, 2"} 1
not a metric line
broken{unterminated="x} 5
`;

describe('parseMetrics', () => {
  const samples = parseMetrics(PROM);

  test('reads names, labels and values; skips comments and malformed lines', () => {
    expect(samples).toContainEqual({ name: 'anvil_reconcile_total', labels: { result: 'error' }, value: 3 });
    expect(samples).toContainEqual({ name: 'anvil_workqueue_depth', labels: {}, value: 4 });
    expect(samples).toContainEqual({ name: 'anvil_world_startup_seconds_bucket', labels: { le: '+Inf' }, value: 9 });
    expect(samples).toContainEqual({ name: 'anvil_world_startup_seconds_sum', labels: {}, value: 10.5 });
    expect(samples).toContainEqual({ name: 'weird_label', labels: { path: 'a"b\\c', x: '1, 2' }, value: 1 });
    expect(samples.map((s) => s.name)).not.toContain('broken');
    expect(samples.map((s) => s.name)).not.toContain('not');
    expect(samples).toHaveLength(13);
  });

  test('sums, by label, and deltas between two scrapes', () => {
    expect(sumOf(samples, 'anvil_reconcile_total')).toBe(130);
    expect(sumOf(samples, 'anvil_reconcile_total', { result: 'error' })).toBe(3);
    expect(sumOf(samples, 'process_resident_memory_bytes')).toBe(123456789);
    expect(has(samples, 'anvil_leader')).toBe(false);
    const before = byLabel(samples, 'anvil_api_requests_total', 'verb');
    expect(before).toEqual({ apply: 400, get: 12, 'apply-status': 55 });
    expect(byLabel(samples, 'anvil_api_requests_total', 'code')).toEqual({ '200': 457, '409': 10 });
    const after = byLabel(parseMetrics('anvil_api_requests_total{verb="apply",code="200"} 410\nanvil_api_requests_total{verb="delete",code="200"} 2\n'), 'anvil_api_requests_total', 'verb');
    expect(deltaByKey(before, after)).toEqual({ apply: 10, 'apply-status': -55, delete: 2, get: -12 });
  });
});

describe('histogramDelta', () => {
  const scrape = (counts: number[]) =>
    parseMetrics(
      [0.01, 0.1, 1, '+Inf'].map((le, i) => `anvil_reconcile_duration_seconds_bucket{kind="world",le="${le}"} ${counts[i]}`).join('\n') +
        `\nanvil_reconcile_duration_seconds_bucket{kind="platform",le="+Inf"} 99\n`,
    );

  test('quantiles of what was observed between two scrapes, linear within a bucket', () => {
    // Between the scrapes: 90 passes under 10 ms, 10 between 10 and 100 ms.
    const d = histogramDelta(scrape([5, 5, 5, 5]), scrape([95, 105, 105, 105]), 'anvil_reconcile_duration_seconds', { kind: 'world' });
    expect(d.count).toBe(100);
    expect(d.p50).toBeCloseTo(0.01 * (50 / 90));
    expect(d.p99).toBeCloseTo(0.01 + 0.09 * (9 / 10));
    expect(d.maxBucket).toBe(0.1);
  });

  test('nothing observed gives no quantile; observations above the last bound report that bound', () => {
    expect(histogramDelta(scrape([1, 2, 3, 4]), scrape([1, 2, 3, 4]), 'anvil_reconcile_duration_seconds', { kind: 'world' })).toEqual({ count: 0, p50: null, p99: null, maxBucket: null });
    const d = histogramDelta(scrape([0, 0, 0, 0]), scrape([0, 0, 0, 10]), 'anvil_reconcile_duration_seconds', { kind: 'world' });
    expect(d).toEqual({ count: 10, p50: 1, p99: 1, maxBucket: Number.POSITIVE_INFINITY });
  });
});
