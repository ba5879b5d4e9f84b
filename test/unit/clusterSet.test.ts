/**
 * Claims across clusters (lib/client/clusterSet.ts), with injected per-cluster claim and
 * release functions: priority order, weights with a seeded RNG, failover, the cleanup of a
 * claim abandoned on a slow cluster, and the claim's total timeout. No timing is asserted:
 * a slow cluster is one whose claim never settles until the test says so.
 */
import { describe, expect, test } from '@jest/globals';
import {
  ClusterSetMetrics,
  attemptOrder,
  claimAcrossClusters,
  parseClusterSet,
  releaseClusterWorld,
  type ClusterClaimFn,
  type ClusterSet,
  type ClusterTarget,
} from '../../lib/client/clusterSet.js';
import { ClaimError, type ClaimedWorld } from '../../lib/client/claims.js';

/** mulberry32: a seeded RNG, so the weighted test gives the same draws every run. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const world = (cluster: string, n = 1): ClaimedWorld => ({ claim: `c-${cluster}-${n}`, namespace: 'games', world: `w-${cluster}-${n}`, endpoints: [], latencyMs: 1 });

/** A claim function answering per cluster: a world, a ClaimError reason, 'down' (connection refused) or 'hang'. */
function fake(behaviour: Record<string, 'bind' | 'PoolExhausted' | 'PoolNotFound' | 'Forbidden' | 'down' | 'hang'>) {
  const calls: { cluster: string; timeoutSeconds: number; signal: AbortSignal }[] = [];
  const hanging = new Map<string, { resolve: (w: ClaimedWorld) => void; reject: (e: unknown) => void }>();
  const claim: ClusterClaimFn = (cluster, req) => {
    calls.push({ cluster: cluster.name, timeoutSeconds: req.timeoutSeconds, signal: req.signal });
    const b = behaviour[cluster.name];
    if (b === 'bind') return Promise.resolve(world(cluster.name, calls.length));
    if (b === 'down') return Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:6443'));
    if (b === 'hang') return new Promise((resolve, reject) => hanging.set(cluster.name, { resolve, reject }));
    return Promise.reject(new ClaimError(b!, `the pool said ${b}`, `c-${cluster.name}`, 'games'));
  };
  return { claim, calls, hanging };
}

const set = (...clusters: ClusterTarget[]): ClusterSet => ({ clusters });
const base = { namespace: 'games', selector: { game: 'arena' } };

describe('the order of attempts', () => {
  test('lowest priority number first, each cluster once; a cluster not serving the region is skipped', () => {
    const clusters: ClusterTarget[] = [
      { name: 'c', priority: 3 },
      { name: 'a', priority: 1, regions: ['eu-west'] },
      { name: 'b', priority: 2 },
      { name: 'd', priority: 1, regions: ['ap-south'] },
    ];
    expect(attemptOrder(clusters, 'eu-west', seeded(1)).map((c) => c.name)).toEqual(['a', 'b', 'c']);
    expect(attemptOrder(clusters, undefined, seeded(1)).map((c) => c.name).sort()).toEqual(['a', 'b', 'c', 'd']);
  });

  test('equal priorities: first picks in proportion to weight (3:1 within ±3 points over 20000 seeded draws)', () => {
    const clusters: ClusterTarget[] = [{ name: 'heavy', weight: 300 }, { name: 'light', weight: 100 }, { name: 'never-first', weight: 0 }];
    const random = seeded(42);
    const first = new Map<string, number>();
    const n = 20_000;
    let malformed = 0;
    for (let i = 0; i < n; i++) {
      const order = attemptOrder(clusters, undefined, random).map((c) => c.name);
      if (order.length !== 3 || new Set(order).size !== 3 || order[2] !== 'never-first') malformed++;
      first.set(order[0]!, (first.get(order[0]!) ?? 0) + 1);
    }
    expect(malformed).toBe(0);
    expect(Math.abs(first.get('heavy')! / n - 0.75)).toBeLessThan(0.03);
    expect(first.get('never-first')).toBeUndefined();
  });
});

describe('claimAcrossClusters', () => {
  test('binds on the first cluster by priority and says which; release goes to that cluster', async () => {
    const { claim, calls } = fake({ 'eu-1': 'bind', 'ap-1': 'bind' });
    const clusterSet = set({ name: 'ap-1', priority: 2 }, { name: 'eu-1', priority: 1 });
    const metrics = new ClusterSetMetrics();
    const w = await claimAcrossClusters({ ...base, clusterSet, claim, metrics });
    expect(w).toEqual(expect.objectContaining({ cluster: 'eu-1', world: 'w-eu-1-1', attempts: [{ cluster: 'eu-1', outcome: 'Bound' }] }));
    expect(calls.map((c) => c.cluster)).toEqual(['eu-1']);
    const released: string[] = [];
    await releaseClusterWorld(clusterSet, w, async (c, x) => void released.push(`${c.name} ${x.namespace}/${x.claim}`));
    expect(released).toEqual(['eu-1 games/c-eu-1-1']);
    expect((await metrics.claims.get()).values).toEqual([{ labels: { cluster: 'eu-1', outcome: 'Bound' }, value: 1 }]);
  });

  test('fails over on PoolExhausted, PoolNotFound and an unreachable cluster, counting each failover', async () => {
    const { claim, calls } = fake({ a: 'PoolExhausted', b: 'PoolNotFound', c: 'down', d: 'bind' });
    const metrics = new ClusterSetMetrics();
    const clusterSet = set({ name: 'a', priority: 1 }, { name: 'b', priority: 2 }, { name: 'c', priority: 3 }, { name: 'd', priority: 4 });
    const w = await claimAcrossClusters({ ...base, clusterSet, claim, metrics });
    expect(w.cluster).toBe('d');
    expect(w.attempts.map((a) => `${a.cluster} ${a.outcome}`)).toEqual(['a PoolExhausted', 'b PoolNotFound', 'c Unreachable', 'd Bound']);
    expect(calls.map((c) => c.cluster)).toEqual(['a', 'b', 'c', 'd']);
    const failovers = (await metrics.failovers.get()).values.map((v) => `${v.labels.cluster} ${v.labels.reason} ${v.value}`);
    expect(failovers.sort()).toEqual(['a PoolExhausted 1', 'b PoolNotFound 1', 'c Unreachable 1']);
  });

  test('a reason that another cluster would not change stops the claim there', async () => {
    const { claim, calls } = fake({ a: 'Forbidden', b: 'bind' });
    const e = await claimAcrossClusters({ ...base, clusterSet: set({ name: 'a', priority: 1 }, { name: 'b', priority: 2 }), claim }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ClaimError);
    expect((e as ClaimError).reason).toBe('Forbidden');
    expect(calls.map((c) => c.cluster)).toEqual(['a']);
  });

  test('every cluster exhausted: a ClaimError listing each attempt', async () => {
    const { claim } = fake({ a: 'PoolExhausted', b: 'PoolExhausted' });
    const e = (await claimAcrossClusters({ ...base, clusterSet: set({ name: 'a' }, { name: 'b' }), claim }).catch((x: unknown) => x)) as ClaimError;
    expect(e.reason).toBe('PoolExhausted');
    expect(e.message).toMatch(/a: PoolExhausted/);
    expect(e.message).toMatch(/b: PoolExhausted/);
  });

  test('no cluster serves the region: PoolNotFound naming the clusters', async () => {
    const { claim, calls } = fake({ a: 'bind' });
    const e = (await claimAcrossClusters({ ...base, selector: { game: 'arena', region: 'mars' }, clusterSet: set({ name: 'a', regions: ['eu-west'] }), claim }).catch((x: unknown) => x)) as ClaimError;
    expect(e.reason).toBe('PoolNotFound');
    expect(e.message).toContain('a (eu-west)');
    expect(calls).toEqual([]);
  });

  test('a slow cluster: given up at its deadline, the claim lands on the next; its late world is released there, retried until the cluster answers', async () => {
    const { claim, calls, hanging } = fake({ slow: 'hang', fast: 'bind' });
    const cleaned: string[] = [];
    let releaseAttempts = 0;
    const released: string[] = [];
    const cleanedUp = new Promise<void>((resolve) => {
      void claimAcrossClusters({
        ...base,
        clusterSet: set({ name: 'slow', priority: 1 }, { name: 'fast', priority: 2 }),
        perClusterTimeoutSeconds: 0.05,
        claim,
        release: async (c, x) => {
          releaseAttempts++;
          if (releaseAttempts === 1) throw new Error('connect ECONNREFUSED'); // still down on the first try
          released.push(`${c.name} ${x.namespace}/${x.claim}`);
        },
        onCleanup: (c, result) => {
          cleaned.push(`${c} ${result}`);
          resolve();
        },
      }).then((w) => {
        expect(w.cluster).toBe('fast');
        expect(w.attempts.map((a) => `${a.cluster} ${a.outcome}`)).toEqual(['slow Timeout', 'fast Bound']);
        // the slow call was told to stop, and asked for a claim no longer than its deadline
        expect(calls[0]!.signal.aborted).toBe(true);
        expect(calls[0]!.timeoutSeconds).toBe(1);
        // the slow cluster binds after all, to nobody
        hanging.get('slow')!.resolve({ claim: 'late-claim', namespace: 'games', world: 'late-world', endpoints: [], latencyMs: 0 });
      });
    });
    await cleanedUp;
    expect(cleaned).toEqual(['slow released']);
    expect(released).toEqual(['slow games/late-claim']);
    expect(releaseAttempts).toBe(2);
  });

  test('an abandoned claim that then fails is deleted by its name; one whose create never answered has nothing to delete', async () => {
    const { claim, hanging } = fake({ a: 'hang', b: 'hang', c: 'bind' });
    const results: string[] = [];
    const released: string[] = [];
    let done!: () => void;
    const both = new Promise<void>((r) => (done = r));
    const w = await claimAcrossClusters({
      ...base,
      clusterSet: set({ name: 'a', priority: 1 }, { name: 'b', priority: 2 }, { name: 'c', priority: 3 }),
      perClusterTimeoutSeconds: 0.02,
      claim,
      release: async (c, x) => void released.push(`${c.name} ${x.claim}`),
      onCleanup: (c, r) => {
        results.push(`${c} ${r}`);
        if (results.length === 2) done();
      },
    });
    expect(w.cluster).toBe('c');
    hanging.get('a')!.reject(new ClaimError('Aborted', 'aborted', 'claim-on-a', 'games'));
    hanging.get('b')!.reject(new ClaimError('CreateFailed', 'socket hang up'));
    await both;
    expect(results.sort()).toEqual(['a released', 'b none']);
    expect(released).toEqual(['a claim-on-a']);
  });

  test('the total timeout bounds all clusters together: a cluster is not tried once it has passed', async () => {
    const { claim, calls } = fake({ a: 'hang', b: 'bind' });
    const e = (await claimAcrossClusters({ ...base, clusterSet: set({ name: 'a', priority: 1 }, { name: 'b', priority: 2 }), perClusterTimeoutSeconds: 10, timeoutSeconds: 0.05, claim, release: async () => {} }).catch((x: unknown) => x)) as ClaimError;
    expect(e.reason).toBe('Timeout');
    expect(e.message).toContain('a: Timeout');
    expect(calls.map((c) => c.cluster)).toEqual(['a']);
  });
});

describe('clusters.yaml', () => {
  test('a valid set, with defaults left to the router', () => {
    const s = parseClusterSet('perClusterTimeoutSeconds: 3\nclusters:\n  - {name: eu-1, context: kind-eu-1, regions: [eu-west], priority: 1}\n  - {name: ap-1, kubeconfig: /etc/ap.yaml, allocationURL: "https://ap.example:8443", weight: 50}\n');
    expect(s.clusters.map((c) => c.name)).toEqual(['eu-1', 'ap-1']);
    expect(s.perClusterTimeoutSeconds).toBe(3);
  });

  test('every problem at once, with its field', () => {
    let message = '';
    try {
      parseClusterSet('clusters:\n  - {name: EU, priority: -1, wieght: 3}\n  - {name: ok, regions: [Bad_Region]}\n');
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message.split('\n').slice(1).sort()).toEqual([
      'clusters.yaml: clusters.0 must NOT have additional properties (wieght)',
      expect.stringContaining('clusters.yaml: clusters.0.name must match pattern'),
      'clusters.yaml: clusters.0.priority must be >= 0',
      expect.stringContaining('clusters.yaml: clusters.1.regions.0 must match pattern'),
    ]);
    expect(() => parseClusterSet('clusters:\n  - {name: a}\n  - {name: a}\n')).toThrow('clusters.1.name a is listed twice');
  });
});
