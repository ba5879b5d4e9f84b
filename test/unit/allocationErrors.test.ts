import { describe, expect, test } from '@jest/globals';
import { allocationError, allocationReason } from '../../lib/client/allocationErrors.js';
import { claimAcrossClusters, FAILOVER_REASONS, type ClusterSet } from '../../lib/client/clusterSet.js';

describe("the allocation endpoint's errors as the cluster set's outcomes", () => {
  test('each status of the contract maps to its reason; the failover ones pass the claim on', () => {
    const cases: [number, unknown, string, boolean][] = [
      [404, { reason: 'PoolNotFound', message: 'no pool' }, 'PoolNotFound', true],
      [429, { reason: 'PoolExhausted', message: 'no ready world' }, 'PoolExhausted', true],
      [503, { reason: 'NotLeader', message: 'not the leader' }, 'NotLeader', true],
      [401, { reason: 'Unauthorized', message: 'bad token' }, 'Unauthorized', false],
      [403, { reason: 'Forbidden', message: 'no' }, 'Forbidden', false],
      [502, 'bad gateway', 'Unreachable', true],
      [400, { reason: 'Invalid', message: 'requestId is required' }, 'Invalid', false],
      [409, {}, 'HTTP409', false],
    ];
    for (const [status, body, reason, failover] of cases) {
      expect({ status, reason: allocationReason(status, body), failover: FAILOVER_REASONS.includes(allocationReason(status, body)) }).toEqual({ status, reason, failover });
    }
    const e = allocationError('eu-1', 'games', 429, { reason: 'PoolExhausted', message: 'no ready world in pool arena' });
    expect(e).toMatchObject({ reason: 'PoolExhausted', namespace: 'games', message: 'PoolExhausted: cluster eu-1: allocation endpoint answered 429: no ready world in pool arena' });
  });

  test('a claim function on the endpoint: 503 NotLeader on eu-1 fails over to ap-1; 400 ends the claim', async () => {
    const clusterSet: ClusterSet = { clusters: [{ name: 'eu-1', priority: 1, allocationURL: 'https://eu-1.example' }, { name: 'ap-1', priority: 2, allocationURL: 'https://ap-1.example' }] };
    const world = { claim: 'c', namespace: 'games', world: 'w', endpoints: [], latencyMs: 1 };
    const got = await claimAcrossClusters({
      clusterSet, namespace: 'games', selector: { game: 'arena' },
      claim: async (c) => { if (c.name === 'eu-1') throw allocationError('eu-1', 'games', 503, { reason: 'NotLeader', message: 'x' }); return world; },
    });
    expect(got.attempts).toEqual([{ cluster: 'eu-1', outcome: 'NotLeader' }, { cluster: 'ap-1', outcome: 'Bound' }]);
    const bad = await claimAcrossClusters({ clusterSet, namespace: 'games', selector: { game: 'arena' }, claim: async () => { throw allocationError('eu-1', 'games', 400, { reason: 'Invalid', message: 'requestId is required' }); } }).catch((e: unknown) => e);
    expect(bad).toMatchObject({ reason: 'Invalid' });
  });
});
