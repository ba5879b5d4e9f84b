// The pool and claim controllers' pure decisions (lib/reconciler/pools/plan.ts, claim.ts), the
// write overlay, and world endpoints: example-based and, for the safety rules, properties.
import fc from 'fast-check';
import { workloadName } from '../../lib/render/topology.js';
import type { WorldPool } from '../../lib/api/schema.js';
import { candidatePools, movedByRollout, planClaims, settleRepair, type ClaimView, type PoolInfo, type WorldView } from '../../lib/reconciler/claims/plan.js';
import { WriteOverlay } from '../../lib/reconciler/runtime/overlay.js';
import { REFILL_MAX_DEFER_MS, REFILL_QUIET_MS, planPool, poolWorldObject, refillDeferral, type PoolWorld } from '../../lib/reconciler/pools/plan.js';
import { templateHash } from '../../lib/reconciler/shared/poolTemplate.js';
import { withExternal, worldEndpoints, type LiveService } from '../../lib/render/endpoints.js';
import { computeStatus } from '../../lib/reconciler/worlds/status.js';
import { resolveWorld } from '../../lib/resolve/resolve.js';
import { buildCatalog } from '../../lib/resolve/catalog.js';

const pool = (spec: Partial<WorldPool['spec']> = {}, status?: WorldPool['status']): WorldPool => ({
  apiVersion: 'anvil.dev/v1alpha1',
  kind: 'WorldPool',
  metadata: { name: 'p', namespace: 'ns', uid: 'pool-uid', generation: 3 },
  spec: { gameRef: { name: 'g' }, buffer: { ready: 2 }, minWorlds: 0, maxWorlds: 10, ...spec },
  ...(status ? { status } : {}),
});

let seq = 0;
const pw = (o: Partial<PoolWorld> = {}): PoolWorld => {
  seq++;
  return { name: `w${seq}`, uid: `u${seq}`, resourceVersion: '1', creationTimestamp: `2026-01-01T00:00:${String(seq % 60).padStart(2, '0')}Z`, claimed: false, running: true, failed: false, current: true, ...o };
};

describe('planPool', () => {
  test('fills an empty pool to its buffer and reports Filling', () => {
    const d = planPool(pool(), [], 0, true);
    expect(d.create).toBe(2);
    expect(d.remove).toEqual([]);
    expect(d.status).toMatchObject({ ready: 0, claimed: 0, starting: 0, total: 0, selector: 'anvil.dev/pool=p', observedGeneration: 3 });
    expect(d.status.conditions![0]).toMatchObject({ type: 'Ready', status: 'False', reason: 'Filling' });
  });

  test('claimed worlds do not count towards the buffer: a bound world is replaced', () => {
    const d = planPool(pool(), [pw({ claimed: true }), pw()], 0, true);
    expect(d.create).toBe(1);
    expect(d.counts).toEqual({ ready: 1, claimed: 1, starting: 0, total: 2 });
  });

  test('waiting claims add to the target, up to maxWorlds', () => {
    expect(planPool(pool(), [pw(), pw()], 3, true).create).toBe(3);
    const full = planPool(pool({ maxWorlds: 4 }), [pw({ claimed: true }), pw({ claimed: true }), pw(), pw()], 5, true);
    expect(full.create).toBe(0);
    expect(full.status.conditions![0]).toMatchObject({ status: 'True', reason: 'BufferReady' });
    const starved = planPool(pool({ maxWorlds: 3 }), [pw({ claimed: true }), pw({ claimed: true }), pw({ claimed: true })], 2, true);
    expect(starved.create).toBe(0);
    expect(starved.status.conditions![0]).toMatchObject({ status: 'False', reason: 'MaxWorldsReached' });
  });

  test('minWorlds keeps worlds even with a buffer of 0', () => {
    expect(planPool(pool({ buffer: { ready: 0 }, minWorlds: 3 }), [pw({ claimed: true })], 0, true).create).toBe(2);
  });

  test('scale-down removes spare worlds only, those not Running first, then the newest', () => {
    const starting = pw({ running: false });
    const old = pw();
    const newer = pw();
    const claimed = [pw({ claimed: true }), pw({ claimed: true })];
    const d = planPool(pool({ buffer: { ready: 1 } }), [old, ...claimed, starting, newer], 0, true);
    expect(d.remove.map((w) => w.name)).toEqual([starting.name, newer.name]);
    expect(d.create).toBe(0);
  });

  test('a spec change replaces out-of-date spare worlds and keeps out-of-date claimed ones', () => {
    const outdated = pw({ current: false });
    const outdatedClaimed = pw({ current: false, claimed: true });
    const d = planPool(pool(), [outdated, outdatedClaimed, pw()], 0, true);
    expect(d.remove.map((w) => w.name)).toEqual([outdated.name]);
    expect(d.create).toBe(1);
  });

  test('a pool whose game does not exist creates nothing and says why, once', () => {
    const d = planPool(pool(), [], 1, false);
    expect(d.create).toBe(0);
    expect(d.status.conditions![0]).toMatchObject({ status: 'False', reason: 'GameNotFound' });
    expect(d.status.conditions![0]!.message).toContain('no GameDefinition named g');
    expect(d.problem?.reason).toBe('GameNotFound');
    const again = planPool(pool({}, d.status), [], 1, false);
    expect(again.problem).toBeUndefined();
    expect(again.status.conditions![0]!.lastTransitionTime).toBe(d.status.conditions![0]!.lastTransitionTime);
  });

  test('property: never removes a claimed world, never plans more than maxWorlds, never fewer than minWorlds when it may create', () => {
    const world = fc.record({ claimed: fc.boolean(), running: fc.boolean(), current: fc.boolean() });
    fc.assert(
      fc.property(fc.array(world, { maxLength: 30 }), fc.nat(20), fc.nat(20), fc.nat(30), fc.nat(10), (ws, buffer, min, extra, pending) => {
        const max = min + extra;
        const worlds = ws.map((w) => pw(w));
        const d = planPool(pool({ buffer: { ready: buffer }, minWorlds: min, maxWorlds: max }), worlds, pending, true);
        expect(d.remove.every((w) => !w.claimed)).toBe(true);
        const claimed = worlds.filter((w) => w.claimed).length;
        const keptSpare = worlds.filter((w) => !w.claimed && !d.remove.includes(w)).length;
        const after = claimed + keptSpare + d.create;
        if (d.create > 0) expect(after).toBeLessThanOrEqual(max);
        expect(after).toBeGreaterThanOrEqual(Math.min(max, Math.max(min, claimed)));
        expect(after - claimed).toBeGreaterThanOrEqual(Math.min(buffer + pending, Math.max(0, max - claimed)));
      }),
    );
  });
});

describe('pool worlds', () => {
  test('a new world: generated name, the pool as controller owner, the pool label and labels, the spec from the pool', () => {
    const w = poolWorldObject(pool({ region: 'eu', shards: 2, worldLabels: { tier: 'gold' } }));
    expect(w.metadata).toMatchObject({
      generateName: 'p-',
      namespace: 'ns',
      labels: { tier: 'gold', 'anvil.dev/pool': 'p' },
      ownerReferences: [{ apiVersion: 'anvil.dev/v1alpha1', kind: 'WorldPool', name: 'p', uid: 'pool-uid', controller: true }],
    });
    expect(w.spec).toEqual({ gameRef: { name: 'g' }, region: 'eu', shards: 2 });
  });

  test('the template hash changes with what worlds are made of, not with the buffer', () => {
    expect(templateHash(pool({ buffer: { ready: 9 } }))).toBe(templateHash(pool()));
    expect(templateHash(pool({ region: 'eu' }))).not.toBe(templateHash(pool()));
    expect(templateHash(pool({ worldLabels: { a: '1' } }))).not.toBe(templateHash(pool()));
  });
});

// ---- claims ---------------------------------------------------------------------------

const P: PoolInfo = { name: 'p', uid: 'pool-uid', game: 'g', region: 'default', worldLabels: { tier: 'gold' } };
const claim = (name: string, t: number, o: Partial<ClaimView> = {}): ClaimView => ({
  name,
  uid: `c-${name}`,
  resourceVersion: '1',
  creationTimestamp: new Date(Date.UTC(2026, 0, 1, 0, 0, t)).toISOString().replace('.000', ''),
  spec: { poolRef: { name: 'p' }, timeoutSeconds: 30 },
  ...o,
});
const world = (name: string, o: Partial<WorldView> = {}): WorldView => ({
  name,
  uid: `w-${name}`,
  resourceVersion: '1',
  creationTimestamp: '2026-01-01T00:00:00Z',
  pool: 'p',
  poolUid: 'pool-uid',
  ready: true,
  endpoints: [],
  ...o,
});
const T0 = Date.UTC(2026, 0, 1, 0, 0, 10);
const binds = (actions: ReturnType<typeof planClaims>['actions']) => actions.filter((a) => a.type === 'bind').map((a) => a.type === 'bind' && `${a.claim.name}->${a.world.name}`);

describe('planClaims', () => {
  test('binds FIFO (creationTimestamp, then name) to ready spare worlds; the rest wait and are counted as pending', () => {
    const claims = [claim('c', 2), claim('b', 1), claim('a', 2)];
    const plan = planClaims(claims, [world('w1'), world('w2'), world('w3', { ready: false })], [P], T0);
    expect(binds(plan.actions)).toEqual(['b->w1', 'a->w2']);
    expect(plan.actions.find((a) => a.type === 'wait')).toMatchObject({ claim: { name: 'c' }, pools: ['p'] });
    expect(plan.pending.get('p')).toBe(1);
    expect(plan.nextDeadline).toBe(Date.parse(claims[0]!.creationTimestamp) + 30_000);
  });

  test('never takes a claimed world, a world of another pool instance, or one not ready', () => {
    const plan = planClaims(
      [claim('a', 1)],
      [world('taken', { claimUid: 'c-x' }), world('stranger', { poolUid: 'old-pool' }), world('cold', { ready: false })],
      [P],
      T0,
    );
    expect(binds(plan.actions)).toEqual([]);
  });

  test('past its timeout a waiting claim fails: PoolExhausted, or PoolNotFound when nothing matches', () => {
    const late = T0 + 60_000;
    const plan = planClaims([claim('a', 1), claim('b', 1, { spec: { poolRef: { name: 'nope' }, timeoutSeconds: 5 } })], [], [P], late);
    expect(plan.actions).toEqual([
      expect.objectContaining({ type: 'fail', reason: 'PoolExhausted', claim: expect.objectContaining({ name: 'a' }) }),
      expect.objectContaining({ type: 'fail', reason: 'PoolNotFound', claim: expect.objectContaining({ name: 'b' }) }),
    ]);
  });

  test('settled claims are left alone', () => {
    const bound = claim('a', 1, { status: { phase: 'Bound', worldRef: { name: 'w9' } } });
    const failed = claim('b', 1, { status: { phase: 'Failed' } });
    expect(planClaims([bound, failed], [world('w1'), world('w9', { claimUid: 'c-a', ownedByClaim: true })], [P], T0).actions).toEqual([]);
  });

  test('a Bound claim whose world the cache no longer shows is checked for a lost world (issue 20, finding 3)', () => {
    const bound = claim('a', 1, { status: { phase: 'Bound', worldRef: { name: 'w9' } } });
    expect(planClaims([bound], [world('w1')], [P], T0).actions).toEqual([{ type: 'lost', claim: bound, world: 'w9' }]);
  });

  test('a selector matches pools by game, region and labels', () => {
    const other: PoolInfo = { name: 'q', uid: 'q', game: 'g', region: 'eu', worldLabels: {} };
    const sel = (s: ClaimView['spec']['selector']) => candidatePools(claim('a', 1, { spec: { selector: s! } }), [other, P]).map((p) => p.name);
    expect(sel({ gameRef: { name: 'g' } })).toEqual(['p', 'q']);
    expect(sel({ gameRef: { name: 'g' }, region: 'eu' })).toEqual(['q']);
    expect(sel({ gameRef: { name: 'g' }, matchLabels: { tier: 'gold' } })).toEqual(['p']);
    expect(sel({ gameRef: { name: 'h' } })).toEqual([]);
  });

  test('a world stamped for a waiting claim is repaired (after a crash between the two writes), never taken by another claim', () => {
    const plan = planClaims([claim('a', 1), claim('b', 2)], [world('w1', { claimUid: 'c-a', claimName: 'a', ownedByClaim: true }), world('w2')], [P], T0);
    expect(plan.actions).toEqual([
      expect.objectContaining({ type: 'repair', claimUid: 'c-a', claimName: 'a', worlds: [expect.objectContaining({ name: 'w1' })] }),
      expect.objectContaining({ type: 'bind', claim: expect.objectContaining({ name: 'b' }), world: expect.objectContaining({ name: 'w2' }) }),
    ]);
  });

  test('finding 1: a repair never releases a world from the cache alone; it is one action per claim, settled from the claim read from the server', () => {
    const a = claim('a', 1, { status: { phase: 'Bound', worldRef: { name: 'w1' } } });
    const f = claim('f', 1, { status: { phase: 'Failed' } });
    const b = claim('b', 1);
    const stale = claim('s', 1); // the cache says waiting; the server says Bound to w7
    const ws = [world('w1', { claimUid: 'c-a' }), world('w2', { claimUid: 'c-a' }), world('w3', { claimUid: 'c-f' }), world('w4', { claimUid: 'c-b' }), world('w5', { claimUid: 'c-b' }), world('w6', { claimUid: 'c-s' }), world('w7', { claimUid: 'c-s' })];
    const plan = planClaims([a, f, b, stale], ws, [P], T0);
    expect(plan.actions.map((x) => x.type)).toEqual(['repair', 'repair', 'repair', 'repair']);
    const repairOf = (uid: string) => plan.actions.find((x) => x.type === 'repair' && x.claimUid === uid) as Extract<(typeof plan.actions)[number], { type: 'repair' }>;
    const steps = (fresh: ClaimView | undefined, uid: string) => settleRepair(uid, fresh, repairOf(uid).worlds).map((x) => `${x.type}:${x.type === 'complete' ? x.claim.name : ''}:${x.world.name}`);
    expect(steps(a, 'c-a')).toEqual(['release::w2']);
    expect(steps(f, 'c-f')).toEqual(['release::w3']);
    expect(steps(b, 'c-b')).toEqual(['release::w5', 'complete:b:w4']);
    // The cache would keep w6 (the first by name) and remove w7, the world the claim is really bound to.
    expect(steps({ ...stale, status: { phase: 'Bound', worldRef: { name: 'w7' } } }, 'c-s')).toEqual(['release::w6']);
    // Gone, or another claim of the same name: all its worlds go; a claim being deleted: the garbage collector's.
    expect(steps(undefined, 'c-s')).toEqual(['release::w6', 'release::w7']);
    expect(steps({ ...stale, uid: 'other' }, 'c-s')).toEqual(['release::w6', 'release::w7']);
    expect(settleRepair('c-s', { ...stale, deleting: true }, repairOf('c-s').worlds)).toEqual([]);
  });

  test('property: whatever the cache showed, a repair never releases the world the claim (read from the server) names, and completes at most one', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.nat(20), { minLength: 1, maxLength: 6 }), fc.option(fc.nat(20), { nil: undefined }), fc.constantFrom('Pending', 'Bound', 'Failed'), (ids, named, phase) => {
        const ws = ids.map((i) => world(`w${i}`, { claimUid: 'c-a' }));
        const fresh = claim('a', 1, { status: { phase: phase as 'Pending', ...(named !== undefined && phase === 'Bound' ? { worldRef: { name: `w${named}` } } : {}) } });
        const steps = settleRepair('c-a', fresh, ws);
        const released = steps.filter((x) => x.type === 'release').map((x) => x.world.name);
        if (phase === 'Bound' && named !== undefined) expect(released).not.toContain(`w${named}`);
        expect(steps.filter((x) => x.type === 'complete').length).toBeLessThanOrEqual(1);
        // Every stamped world is kept (named or completed) or released, never both.
        const kept = steps.filter((x) => x.type === 'complete').map((x) => x.world.name);
        for (const k of kept) expect(released).not.toContain(k);
      }),
    );
  });

  test('finding 4: a world stamped for a claim the cache does not show is repaired only once its claim no longer owns it (orphaned)', () => {
    const orphan = world('w1', { claimUid: 'c-gone', claimName: 'gone' });
    const owned = world('w2', { claimUid: 'c-new', claimName: 'new', ownedByClaim: true });
    expect(planClaims([], [orphan, owned], [P], T0).actions).toEqual([{ type: 'repair', claimUid: 'c-gone', claimName: 'gone', worlds: [orphan] }]);
    // Without the claim's name there is nothing to read: nothing is removed on the cache's word.
    expect(planClaims([], [world('w3', { claimUid: 'c-anon' })], [P], T0).actions).toEqual([]);
  });

  test('worlds with a write in flight (or of unknown outcome) are neither repaired nor bound', () => {
    const plan = planClaims([claim('a', 1)], [world('w1', { claimUid: 'c-x', busy: true }), world('w2', { busy: true })], [P], T0);
    expect(plan.actions.map((x) => x.type)).toEqual(['wait']);
  });

  test('property: one pass never gives a world to two claims nor a claim two worlds, and binds in FIFO order', () => {
    const arb = fc.record({
      claims: fc.uniqueArray(fc.record({ id: fc.nat(50), t: fc.nat(20) }), { selector: (c) => c.id, maxLength: 40 }),
      worlds: fc.uniqueArray(fc.record({ id: fc.nat(50), ready: fc.boolean(), stampedFor: fc.option(fc.nat(50), { nil: undefined }) }), { selector: (w) => w.id, maxLength: 40 }),
    });
    fc.assert(
      fc.property(arb, ({ claims, worlds }) => {
        const cs = claims.map((c) => claim(`c${c.id}`, c.t));
        const ws = worlds.map((w) => world(`w${w.id}`, { ready: w.ready, ...(w.stampedFor !== undefined ? { claimUid: `c-c${w.stampedFor}` } : {}) }));
        const plan = planClaims(cs, ws, [P], T0);
        const worldsTaken = plan.actions.flatMap((a) => (a.type === 'bind' ? [a.world.name] : a.type === 'repair' ? a.worlds.map((w) => w.name) : []));
        const claimsServed = plan.actions.flatMap((a) => (a.type === 'bind' ? [a.claim.uid] : a.type === 'repair' ? [a.claimUid] : []));
        expect(new Set(worldsTaken).size).toBe(worldsTaken.length);
        expect(new Set(claimsServed).size).toBe(claimsServed.length);
        for (const a of plan.actions) if (a.type === 'bind') expect(a.world.claimUid).toBeUndefined();
        // FIFO: every waiting claim is later than every freshly bound one.
        const bound = plan.actions.filter((a) => a.type === 'bind').map((a) => a.type === 'bind' && a.claim);
        const waiting = plan.actions.filter((a) => a.type === 'wait').map((a) => a.type === 'wait' && a.claim);
        for (const b of bound) for (const w of waiting) if (b && w) expect(`${b.creationTimestamp}/${b.name}` < `${w.creationTimestamp}/${w.name}`).toBe(true);
      }),
    );
  });

  describe('a rollout moving worlds (issue 10)', () => {
    const R: PoolInfo = { ...P, rollout: { targetRevision: 'g-b', batchWorlds: ['ns/w2'] } };

    test('never binds a world assigned a revision it does not run yet, nor one of the current batch not Running on the target', () => {
      const worlds = [
        world('w1', { revision: 'g-b', renderedRevision: 'g-a' }), // moved, not rendered yet (its status lags)
        world('w2', { revision: 'g-b', renderedRevision: 'g-b', ready: false }), // in the batch, coming up
        world('w3', { revision: 'g-b', renderedRevision: 'g-b' }), // done
      ];
      const plan = planClaims([claim('a', 1), claim('b', 2)], worlds, [R], T0, 'ns');
      expect(binds(plan.actions)).toEqual(['a->w3']);
      expect(movedByRollout(worlds[0]!, 'ns', R.rollout)).toBe(true);
      expect(movedByRollout(world('w2', { revision: 'g-b', renderedRevision: 'g-a' }), 'ns', R.rollout)).toBe(true);
      // The batch world once Running on the target may be bound.
      expect(movedByRollout(world('w2', { revision: 'g-b', renderedRevision: 'g-b' }), 'ns', R.rollout)).toBe(false);
      // The same name in another namespace is not in the batch.
      expect(movedByRollout(world('w2', { revision: 'g-a', renderedRevision: 'g-a' }), 'other', R.rollout)).toBe(false);
    });

    test('worlds on the target go first; one the rollout has not reached yet is bound only when no current one is ready', () => {
      const worlds = [world('w0', { revision: 'g-a', renderedRevision: 'g-a' }), world('w3', { revision: 'g-b', renderedRevision: 'g-b' })];
      expect(binds(planClaims([claim('a', 1)], worlds, [R], T0, 'ns').actions)).toEqual(['a->w3']);
      expect(binds(planClaims([claim('a', 1), claim('b', 2)], worlds, [R], T0, 'ns').actions)).toEqual(['a->w3', 'b->w0']);
    });

    test('property: no bound world is one the rollout is moving', () => {
      const revs = ['g-a', 'g-b'];
      fc.assert(
        fc.property(
          fc.array(fc.record({ rev: fc.constantFrom(...revs), rendered: fc.constantFrom(...revs, undefined), ready: fc.boolean(), batch: fc.boolean() }), { maxLength: 12 }),
          fc.integer({ min: 0, max: 12 }),
          (spec, n) => {
            const ws = spec.map((s, i) => world(`w${i}`, { revision: s.rev, ...(s.rendered ? { renderedRevision: s.rendered } : {}), ready: s.ready }));
            const rollout = { targetRevision: 'g-b', batchWorlds: spec.flatMap((s, i) => (s.batch ? [`ns/w${i}`] : [])) };
            const plan = planClaims(Array.from({ length: n }, (_, i) => claim(`c${i}`, i)), ws, [{ ...P, rollout }], T0, 'ns');
            for (const a of plan.actions) if (a.type === 'bind') expect(movedByRollout(a.world, 'ns', rollout)).toBe(false);
          },
        ),
      );
    });
  });
});

describe('WriteOverlay', () => {
  test('shows what was written until the cache moves past the version it was based on', () => {
    const o = new WriteOverlay();
    const cached = { metadata: { uid: 'u', resourceVersion: '5', labels: {} } };
    o.record('u', '5', { metadata: { uid: 'u', resourceVersion: '6', labels: { claimed: 'yes' } } });
    expect(o.view(cached).metadata?.labels).toEqual({ claimed: 'yes' });
    expect(o.view({ metadata: { uid: 'u', resourceVersion: '6', labels: { claimed: 'yes' } } }).metadata?.resourceVersion).toBe('6');
    expect(o.size).toBe(0);
    expect(o.view(cached)).toBe(cached);
  });
});

describe('worldEndpoints', () => {
  test('one entry per root module with ports: its Service DNS name and ports; global roots in anvil-system', () => {
    const mod = (name: string, extra: Record<string, unknown>) => ({ object: { apiVersion: 'anvil.dev/v1alpha1', kind: 'ModuleManifest', metadata: { name }, spec: { version: '1.0.0', image: 'x', ...extra } }, source: name });
    const { catalog } = buildCatalog([
      mod('gw', { ports: [{ name: 'ws', port: 4000 }, { name: 'udp', port: 5000, protocol: 'UDP' }], requires: [{ capabilityId: 'eng', versionConstraint: '^1', scope: 'world' }] }),
      mod('eng', { ports: [{ name: 'grpc', port: 6000 }], provides: [{ capabilityId: 'eng', version: '1.0.0' }] }),
      mod('lobby', { scope: 'cluster', ports: [{ name: 'http', port: 80 }] }),
      mod('tick', {}),
      { object: { apiVersion: 'anvil.dev/v1alpha1', kind: 'GameDefinition', metadata: { name: 'g' }, spec: { modules: [{ name: 'gw' }, { name: 'eng' }, { name: 'lobby' }, { name: 'tick' }] } }, source: 'g' },
    ]);
    const plan = resolveWorld(catalog, { apiVersion: 'anvil.dev/v1alpha1', kind: 'WorldInstance', metadata: { name: 'w1', namespace: 'ns' }, spec: { gameRef: { name: 'g' } } });
    expect(worldEndpoints(plan)).toEqual([
      { module: 'gw', host: `${workloadName({ metadata: { name: 'gw' }, spec: {} } as never, { namespace: 'ns', world: 'w1' })}.ns.svc`, ports: [{ name: 'ws', port: 4000, protocol: 'TCP' }, { name: 'udp', port: 5000, protocol: 'UDP' }] },
      { module: 'lobby', host: 'lobby.anvil-system.svc', ports: [{ name: 'http', port: 80, protocol: 'TCP' }] },
    ]);
  });
});

describe('withExternal', () => {
  const endpoints = [
    { module: 'gw', host: 'w1-gw.ns.svc', ports: [{ name: 'ws', port: 4000, protocol: 'TCP' as const }, { name: 'rtp', port: 5000, protocol: 'UDP' as const }, { name: 'admin', port: 9000, protocol: 'TCP' as const }] },
    { module: 'lobby', host: 'lobby.anvil-system.svc', ports: [{ name: 'http', port: 80, protocol: 'TCP' as const }] },
  ];
  const live: Record<string, LiveService> = {
    'ns/w1-gw-np': { spec: { ports: [{ name: 'ws', port: 4000, nodePort: 31000 }] } },
    'ns/w1-gw-lb': {
      spec: { ports: [{ name: 'rtp', port: 5000, nodePort: 31001 }] },
      status: { loadBalancer: { ingress: [{ ip: '203.0.113.7' }, { hostname: 'lb.example.com' }] } },
    },
  };
  const lookup = (name: string, namespace: string) => live[`${namespace}/${name}`];

  test("adds each exposed port's assigned nodePort and each load balancer address; leaves the rest as it was", () => {
    expect(withExternal(endpoints, lookup)).toEqual([
      {
        module: 'gw',
        host: 'w1-gw.ns.svc',
        ports: [
          { name: 'ws', port: 4000, protocol: 'TCP', nodePort: 31000 },
          { name: 'rtp', port: 5000, protocol: 'UDP', nodePort: 31001 },
          { name: 'admin', port: 9000, protocol: 'TCP' },
        ],
        external: [
          { type: 'LoadBalancer', name: 'rtp', port: 5000, ip: '203.0.113.7' },
          { type: 'LoadBalancer', name: 'rtp', port: 5000, hostname: 'lb.example.com' },
        ],
      },
      endpoints[1],
    ]);
    // pure: the input is not changed
    expect(endpoints[0]!.ports[0]).toEqual({ name: 'ws', port: 4000, protocol: 'TCP' });
  });

  test('nothing live yet (no Service, no nodePort, LB pending): the endpoints as they were, no external', () => {
    expect(withExternal(endpoints, () => undefined)).toEqual(endpoints);
    const pending = withExternal(endpoints, (n) => (n === 'w1-gw-lb' ? { spec: { ports: [{ name: 'rtp', port: 5000 }] }, status: { loadBalancer: {} } } : undefined));
    expect(pending).toEqual(endpoints);
  });

  test('an assigned nodePort changes the world status (so it is written)', () => {
    const world = { apiVersion: 'anvil.dev/v1alpha1', kind: 'WorldInstance', metadata: { name: 'w1', namespace: 'ns', generation: 1 }, spec: { gameRef: { name: 'g' } } } as never;
    const state = { managedBy: 'reconciler' as const, bindings: 0, modules: 1, existing: 1, readyModules: 1, notReady: [] };
    const res = { ok: true, reason: 'Resolved', message: 'ok' };
    const at = new Date('2026-01-01T00:00:00Z');
    const first = computeStatus(world, res, { ...state, endpoints }, at);
    const again = computeStatus({ ...(world as object), status: first.status } as never, res, { ...state, endpoints }, at);
    expect(again.changed).toBe(false);
    const enriched = computeStatus({ ...(world as object), status: first.status } as never, res, { ...state, endpoints: withExternal(endpoints, lookup) }, at);
    expect(enriched.changed).toBe(true);
  });
});

describe('refillDeferral (claims before refills)', () => {
  test('runs at once when no claim arrived within the quiet time', () => {
    expect(refillDeferral(REFILL_QUIET_MS, 0, undefined, 1000)).toEqual({ wait: 0 });
    expect(refillDeferral(Infinity, 0, 500, 1000)).toEqual({ wait: 0 });
  });
  test('waits out the quiet time while claims arrive, remembering since when', () => {
    expect(refillDeferral(100, 0, undefined, 1000)).toEqual({ wait: REFILL_QUIET_MS - 100, deferredSince: 1000 });
    expect(refillDeferral(0, 0, 1000, 1200)).toEqual({ wait: REFILL_QUIET_MS, deferredSince: 1000 });
  });
  test('never longer than the maximum deferral, however steady the claims', () => {
    expect(refillDeferral(0, 0, 1000, 1000 + REFILL_MAX_DEFER_MS - 100)).toEqual({ wait: 100, deferredSince: 1000 });
    expect(refillDeferral(0, 0, 1000, 1000 + REFILL_MAX_DEFER_MS)).toEqual({ wait: 0 });
  });
  test('never while claims wait for a world of the pool', () => {
    expect(refillDeferral(0, 3, 1000, 1100)).toEqual({ wait: 0 });
  });
});
