/**
 * The pure parts of claiming (issue 12): the WorldClaim claimWorld creates, how a claim's
 * status is read, the load test's exactly-once bookkeeping and the server-side histogram.
 */
import { describe, expect, test } from '@jest/globals';
import fc from 'fast-check';
import { claimBody, claimOutcome } from '../../lib/client/claims.js';
import { validateObject } from '../../lib/api/validate.js';
import { formatClaimed } from '../../lib/cli/allocate.js';
import { BindingLedger, readyUnclaimed } from '../../lib/loadtest/bindings.js';
import { histogramFigures, parseMetrics } from '../../lib/loadtest/metrics.js';

describe('claimBody', () => {
  test('a pool claim: poolRef, timeout, world labels and annotations; named from its request id (annotated with it); valid against the CRD schema', () => {
    const body = claimBody({ pool: 'crypt', namespace: 'roguelike', labels: { 'match-id': '42' }, annotations: { note: 'x y' }, timeoutSeconds: 5, requestId: 'req-1' });
    expect(body).toEqual({
      apiVersion: 'anvil.dev/v1alpha1',
      kind: 'WorldClaim',
      metadata: { name: expect.stringMatching(/^crypt-[0-9a-f]{12}$/), namespace: 'roguelike', annotations: { 'anvil.dev/request-id': 'req-1' } },
      spec: { poolRef: { name: 'crypt' }, timeoutSeconds: 5, worldLabels: { 'match-id': '42' }, worldAnnotations: { note: 'x y' } },
    });
    expect(validateObject(body, 'claim')).toEqual([]);
  });

  test('the same request id names the same claim (a retry finds it); another id another claim', () => {
    const name = (requestId: string) => claimBody({ pool: 'crypt', namespace: 'rl', requestId }).metadata!.name;
    expect(name('a')).toBe(name('a'));
    expect(name('a')).not.toBe(name('b'));
  });

  test('a selector claim: gameRef, region and matchLabels; the default timeout; nothing empty', () => {
    const body = claimBody({ selector: { game: 'roguelike', region: 'eu-west', matchLabels: { mode: 'ranked' } }, namespace: 'rl', labels: {}, requestId: 'r' });
    expect(body.spec).toEqual({ selector: { gameRef: { name: 'roguelike' }, region: 'eu-west', matchLabels: { mode: 'ranked' } }, timeoutSeconds: 30 });
    expect(body.metadata!.name).toMatch(/^roguelike-/);
    expect(validateObject(body, 'claim')).toEqual([]);
  });

  test('the name stays a DNS label for the longest pool name', () => {
    const body = claimBody({ pool: 'p'.repeat(63), namespace: 'rl', requestId: 'r' });
    expect(body.metadata!.name!.length).toBeLessThanOrEqual(63);
    expect(body.metadata!.name).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
  });
});

describe('claimOutcome', () => {
  test('Bound with its world and endpoints; Failed with the Bound condition reason; Pending otherwise', () => {
    const endpoints = [{ module: 'gw', host: 'w-gw.ns.svc', ports: [{ name: 'ws', port: 4000, protocol: 'TCP' as const }] }];
    expect(claimOutcome({ status: { phase: 'Bound', worldRef: { name: 'w' }, endpoints, boundAt: '2026-01-01T00:00:00Z' } })).toEqual({ state: 'Bound', world: 'w', endpoints, boundAt: '2026-01-01T00:00:00Z' });
    const failed = { status: { phase: 'Failed' as const, conditions: [{ type: 'Bound', status: 'False' as const, reason: 'PoolExhausted', message: 'no ready world in 5 s', lastTransitionTime: '2026-01-01T00:00:00Z' }] } };
    expect(claimOutcome(failed as never)).toEqual({ state: 'Failed', reason: 'PoolExhausted', message: 'no ready world in 5 s' });
    expect(claimOutcome({ status: { phase: 'Pending' } })).toEqual({ state: 'Pending' });
    expect(claimOutcome({})).toEqual({ state: 'Pending' });
    // Bound without a world is not a binding a client can use.
    expect(claimOutcome({ status: { phase: 'Bound' } })).toEqual({ state: 'Pending' });
  });
});

test('formatClaimed: the world, the claim, the latency and one line per endpoint', () => {
  const text = formatClaimed({ claim: 'crypt-x', namespace: 'rl', world: 'crypt-w1', latencyMs: 12.345, endpoints: [{ module: 'rl-runtime', host: 'crypt-w1-rl-runtime.rl.svc', ports: [{ name: 'ws', port: 4000, protocol: 'TCP' }, { name: 'health', port: 4001, protocol: 'TCP' }] }] });
  expect(text).toBe('world crypt-w1 (namespace rl, claim crypt-x) bound in 12.3 ms\n  rl-runtime  crypt-w1-rl-runtime.rl.svc  ws 4000/TCP, health 4001/TCP\n');
});

describe('BindingLedger: exactly once, over the whole history', () => {
  test('distinct bindings are not doubles; a world named by two claims, or a claim naming two worlds, is; a moved label is reported apart', () => {
    const l = new BindingLedger();
    l.claimSaw('c1', undefined);
    l.claimSaw('c1', 'w1');
    l.worldSaw('w1', 'c1');
    l.claimSaw('c2', 'w2');
    l.worldSaw('w2', undefined);
    expect(l.doubleBindings()).toEqual({ worlds: [], claims: [], count: 0 });
    expect(l.worldOf('c1')).toBe('w1');
    l.worldSaw('w1', 'c3'); // a reservation for another claim, which never named w1
    expect(l.doubleBindings().count).toBe(0);
    expect(l.relabelled()).toEqual([{ world: 'w1', claims: ['c1', 'c3'] }]);
    l.claimSaw('c3', 'w1'); // now two claims were handed w1
    l.claimSaw('c2', 'w4'); // the claim moved
    expect(l.doubleBindings()).toEqual({ worlds: [{ world: 'w1', claims: ['c1', 'c3'] }], claims: [{ claim: 'c2', worlds: ['w2', 'w4'] }], count: 2 });
    expect(l.worldOf('c2')).toBeUndefined();
  });

  test('any history of one-to-one bindings, in any order of observation, has no doubles', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 0, max: 500 }), { maxLength: 60 }), fc.integer(), (worlds, seed) => {
        const l = new BindingLedger();
        const events = worlds.flatMap((w, i) => [() => l.claimSaw(`c${i}`, `w${w}`), () => l.worldSaw(`w${w}`, `c${i}`), () => l.claimSaw(`c${i}`, `w${w}`)]);
        const order = fc.sample(fc.shuffledSubarray(events, { minLength: events.length, maxLength: events.length }), { numRuns: 1, seed })[0]!;
        for (const e of order) e();
        return l.doubleBindings().count === 0;
      }),
    );
  });
});

test('readyUnclaimed counts Running, unclaimed worlds that are not being deleted', () => {
  expect(readyUnclaimed([{ phase: 'Running', deleting: false }, { phase: 'Running', claim: 'c', deleting: false }, { phase: 'Provisioning', deleting: false }, { phase: 'Running', deleting: true }])).toBe(1);
});

describe('histogramFigures', () => {
  const page = (buckets: [string, number][], sum: number) =>
    parseMetrics([...buckets.map(([le, n]) => `anvil_claim_duration_seconds_bucket{pool="p",le="${le}"} ${n}`), `anvil_claim_duration_seconds_sum{pool="p"} ${sum}`, `anvil_claim_duration_seconds_count{pool="p"} ${buckets.at(-1)![1]}`].join('\n'));

  test('only what was observed between the scrapes; quantiles interpolated within the bucket', () => {
    const before = page([['0.01', 5], ['0.05', 5], ['0.1', 5], ['+Inf', 5]], 0.02);
    const after = page([['0.01', 5], ['0.05', 55], ['0.1', 105], ['+Inf', 105]], 0.02 + 50 * 0.03 + 50 * 0.07);
    const h = histogramFigures(before, after, 'anvil_claim_duration_seconds')!;
    expect(h.count).toBe(100);
    expect(h.mean).toBeCloseTo(0.05, 6);
    expect(h.p50).toBeCloseTo(0.05, 6); // the 50th observation closes the 0.01..0.05 bucket
    expect(h.p99).toBeCloseTo(0.05 + 0.05 * (49 / 50), 6);
  });

  test('absent or unchanged: null', () => {
    const p = page([['0.1', 3], ['+Inf', 3]], 0.1);
    expect(histogramFigures(p, p, 'anvil_claim_duration_seconds')).toBeNull();
    expect(histogramFigures([], [], 'anvil_claim_duration_seconds')).toBeNull();
  });

  test('a quantile in +Inf is the highest finite bound', () => {
    const h = histogramFigures([], page([['0.1', 0], ['+Inf', 4]], 8), 'anvil_claim_duration_seconds')!;
    expect(h.p99).toBe(0.1);
  });
});
