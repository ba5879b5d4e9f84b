// The pure rollout planner (issue 10): batches, claimed worlds, Immediate, deadlines,
// pause, restarts and revisions.
import fc from 'fast-check';
import type { GameDefinition, RolloutStatus, WorldInstance } from '../../lib/api/schema.js';
import { formatRolloutStatus } from '../../lib/cli/rolloutFormat.js';
import { maxUnavailable, maxUnavailableProblem, planRollout, rolloutPolicy, type RolloutInput, type RolloutWorld } from '../../lib/reconciler/rollouts/plan.js';
import { canonicalJson, revisionName, snapshotGame } from '../../lib/resolve/revision.js';
import { DEFAULT_REVISION_HISTORY_LIMIT, revisionsToPrune } from '../../lib/reconciler/shared/revisionHistory.js';
import { buildCatalog } from '../../lib/resolve/catalog.js';

const T0 = new Date('2026-01-01T00:00:00Z');
const world = (i: number, extra: Partial<RolloutWorld> = {}): RolloutWorld => ({
  key: `ns/w${String(i).padStart(3, '0')}`,
  group: '',
  static: false,
  claimed: false,
  revision: 'g-a',
  renderedRevision: 'g-a',
  running: true,
  ...extra,
});
const input = (worlds: RolloutWorld[], extra: Partial<RolloutInput> = {}, policy = rolloutPolicy({ maxUnavailableWorlds: 3 })): RolloutInput => ({
  target: 'g-b',
  worlds,
  policy: () => policy,
  now: T0,
  ...extra,
});

/** Carries out a decision: assigned worlds go down, then come up on the target (as the world reconciler would). */
function step(worlds: RolloutWorld[], assign: string[], target: string): RolloutWorld[] {
  return worlds.map((w) => (assign.includes(w.key) ? { ...w, revision: target, running: false } : w));
}
const finish = (worlds: RolloutWorld[], target: string) => worlds.map((w) => (w.revision === target ? { ...w, renderedRevision: target, running: true } : w));

describe('rolling batches', () => {
  test('a new revision reaches every world in batches of maxUnavailableWorlds, one batch at a time', () => {
    let worlds = Array.from({ length: 10 }, (_, i) => world(i));
    let status: RolloutStatus | undefined;
    const batches: string[][] = [];
    for (let pass = 0; pass < 50; pass++) {
      const d = planRollout(input(worlds, status ? { previous: status } : {}));
      status = d.status;
      if (d.complete) break;
      if (d.assign.length) batches.push(d.assign);
      worlds = step(worlds, d.assign, 'g-b');
      expect(worlds.filter((w) => !w.running).length).toBeLessThanOrEqual(3);
      // Nothing new while the batch is in flight.
      expect(planRollout(input(worlds, { previous: status })).assign).toEqual([]);
      worlds = finish(worlds, 'g-b');
    }
    expect(batches.map((b) => b.length)).toEqual([3, 3, 3, 1]);
    expect(new Set(batches.flat()).size).toBe(10);
    expect(status).toMatchObject({ targetRevision: 'g-b', batch: 4, updatedWorlds: 10, totalWorlds: 10 });
  });

  test('property: never more than maxUnavailableWorlds worlds down at once, whatever was down before', () => {
    fc.assert(
      fc.property(fc.array(fc.boolean(), { minLength: 1, maxLength: 40 }), fc.integer({ min: 1, max: 8 }), (downAtStart, max) => {
        let worlds = downAtStart.map((down, i) => world(i, { running: !down }));
        const allowed = Math.max(max, downAtStart.filter(Boolean).length);
        let status: RolloutStatus | undefined;
        for (let pass = 0; pass < 200; pass++) {
          const d = planRollout(input(worlds, status ? { previous: status } : {}, rolloutPolicy({ maxUnavailableWorlds: max })));
          status = d.status;
          if (d.complete) return worlds.every((w) => w.revision === 'g-b');
          worlds = step(worlds, d.assign, 'g-b');
          if (worlds.filter((w) => !w.running).length > allowed) return false;
          worlds = finish(worlds, 'g-b');
        }
        return false;
      }),
    );
  });

  test('worlds already down are moved first, within the budget (an undo of a failed batch)', () => {
    const worlds = [world(0), world(1), world(2, { revision: 'g-a', running: false }), world(3, { revision: 'g-a', running: false })];
    const d = planRollout(input(worlds, {}, rolloutPolicy({ maxUnavailableWorlds: 2 })));
    expect(d.assign).toEqual(['ns/w002', 'ns/w003']);
  });

  test('Immediate moves every world in one batch', () => {
    const worlds = Array.from({ length: 10 }, (_, i) => world(i));
    const d = planRollout(input(worlds, {}, rolloutPolicy({ strategy: 'Immediate', maxUnavailableWorlds: 1 })));
    expect(d.assign).toHaveLength(10);
    expect(d.status.batch).toBe(1);
  });

  test('a new world (no revision yet) is left to the world reconciler, which starts it on the target', () => {
    const d = planRollout(input([world(0, { revision: undefined, renderedRevision: undefined, running: false }), world(1)]));
    expect(d.assign).toEqual(['ns/w001']);
  });

  test('a static world is moved only when its gate holds a newer template (dist brought one): never by its revision alone', () => {
    const d = planRollout(input([world(0, { static: true, rolledOut: true }), world(1)]));
    expect(d.assign).toEqual(['ns/w001']);
    expect(d.status.totalWorlds).toBe(2);
  });
});

describe('static worlds (the gate: spec.paused on their Deployments)', () => {
  /** dist applied: every static world names the target and holds the new template, still Running on the old one. */
  const held = (i: number) => world(i, { static: true, revision: 'g-b', renderedRevision: 'g-b', held: true, rolledOut: false, running: true });
  /** Released worlds roll (not Running), then are rolled out and Running. */
  const release = (ws: RolloutWorld[], keys: string[]) => ws.map((w) => (keys.includes(w.key) ? { ...w, held: false, running: false } : w));
  const rollOut = (ws: RolloutWorld[]) => ws.map((w) => (w.static && !w.held ? { ...w, rolledOut: true, running: true } : w));

  test('held static worlds are released in batches of maxUnavailableWorlds, the next when the last is rolled out', () => {
    let worlds = Array.from({ length: 7 }, (_, i) => held(i));
    let status: RolloutStatus | undefined;
    const batches: string[][] = [];
    for (let pass = 0; pass < 30; pass++) {
      const d = planRollout(input(worlds, status ? { previous: status } : {}));
      status = d.status;
      if (d.complete) break;
      batches.push(d.assign);
      worlds = release(worlds, d.assign);
      expect(worlds.filter((w) => !w.running).length).toBeLessThanOrEqual(3);
      // Released but not rolled out yet: the batch is in flight, nothing new starts.
      expect(planRollout(input(worlds, { previous: status })).assign).toEqual([]);
      worlds = rollOut(worlds);
    }
    expect(batches.map((b) => b.length)).toEqual([3, 3, 1]);
    expect(new Set(batches.flat()).size).toBe(7);
    expect(status).toMatchObject({ batch: 3, updatedWorlds: 7, totalWorlds: 7 });
  });

  test('static and unclaimed dynamic worlds share one budget; Immediate releases every held world at once', () => {
    const mixed = [held(0), held(1), world(2), world(3)];
    expect(planRollout(input(mixed, {}, rolloutPolicy({ maxUnavailableWorlds: 2 }))).assign).toHaveLength(2);
    expect(planRollout(input(mixed, {}, rolloutPolicy({ strategy: 'Immediate' }))).assign).toEqual(mixed.map((w) => w.key));
  });

  test('a released batch not rolled out within the deadline pauses the rollout, naming it; the rest stay held', () => {
    const worlds = [held(0), held(1), held(2)];
    const first = planRollout(input(worlds, {}, rolloutPolicy({ maxUnavailableWorlds: 1, progressDeadlineSeconds: 10 })));
    expect(first.assign).toEqual(['ns/w000']);
    const later = planRollout(
      input(release(worlds, first.assign), { previous: first.status, now: new Date(T0.getTime() + 11_000) }, rolloutPolicy({ maxUnavailableWorlds: 1, progressDeadlineSeconds: 10 })),
    );
    expect(later.paused).toMatchObject({ reason: 'ProgressDeadlineExceeded' });
    expect(later.paused?.message).toContain('ns/w000');
    expect(later.assign).toEqual([]);
    expect(later.status.batch).toBe(1);
  });

  test('after a restart between the status write and the release, the same batch is released again, not a new one', () => {
    const worlds = [held(0), held(1), held(2)];
    const first = planRollout(input(worlds, {}, rolloutPolicy({ maxUnavailableWorlds: 2 })));
    const again = planRollout(input(worlds, { previous: first.status }, rolloutPolicy({ maxUnavailableWorlds: 2 })));
    expect(again.assign).toEqual(first.assign);
    expect(again.status.batch).toBe(first.status.batch);
  });

  test('spec.rollout.paused keeps every held world held', () => {
    const d = planRollout(input([held(0), held(1)], {}, rolloutPolicy({ paused: true })));
    expect(d.assign).toEqual([]);
    expect(d.paused?.reason).toBe('Paused');
  });
});

test('anvil rollout status shows static worlds, and those the gate holds', () => {
  const game = { apiVersion: 'anvil.dev/v1alpha1', kind: 'GameDefinition', metadata: { name: 'g' }, spec: { modules: [{ name: 'm' }] }, status: { rollout: { targetRevision: 'g-b' } } } as GameDefinition;
  const w = (name: string, labels: Record<string, string>, status: WorldInstance['status']) =>
    ({ apiVersion: 'anvil.dev/v1alpha1', kind: 'WorldInstance', metadata: { name, namespace: 'ns', labels }, spec: { gameRef: { name: 'g' } }, status }) as WorldInstance;
  const out = formatRolloutStatus(game, [{ name: 'g-a', number: 1, modules: [] }, { name: 'g-b', number: 2, modules: [] }], [
    w('s1', { 'anvil.dev/static': 'true' }, { phase: 'Running', revision: 'g-a', heldModules: 2 }),
    w('s2', { 'anvil.dev/static': 'true' }, { phase: 'Running', revision: 'g-b' }),
    w('d1', {}, { phase: 'Running', revision: 'g-b' }),
  ]);
  expect(out).toContain('ns/s1 Running (static, 2 held)');
  expect(out).toContain('ns/s2 Running (static)');
  expect(out).toMatch(/ns\/d1 Running(,|$)/m);
});

describe('revision history (revisionHistoryLimit)', () => {
  const h = (n: number) => ({ name: `g-${n}`, number: n });
  test('keeps the revisions in use and the newest limit others; deletes the older ones, oldest first', () => {
    const history = [h(3), h(1), h(2), h(5), h(4)];
    expect(revisionsToPrune(history, 3, new Set())).toEqual(['g-1', 'g-2']);
    // In use (a world runs it, the target, the pin): kept, and not counted.
    expect(revisionsToPrune(history, 3, new Set(['g-1']))).toEqual(['g-2']);
    expect(revisionsToPrune(history, 1, new Set(['g-1', 'g-5']))).toEqual(['g-2', 'g-3']);
    expect(revisionsToPrune(history, 10, new Set())).toEqual([]);
    expect(revisionsToPrune(history, 0, new Set(['g-5']))).toEqual(['g-1', 'g-2', 'g-3', 'g-4']);
    expect(DEFAULT_REVISION_HISTORY_LIMIT).toBe(10);
  });

  test('property: never deletes one in use; keeps every one in use plus the newest free ones up to the limit', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 1, max: 50 }), { maxLength: 20 }), fc.integer({ min: 0, max: 12 }), fc.array(fc.integer({ min: 1, max: 50 })), (ns, limit, used) => {
        const history = ns.map(h);
        const inUse = new Set(used.map((n) => `g-${n}`));
        const pruned = new Set(revisionsToPrune(history, limit, inUse));
        for (const name of pruned) expect(inUse.has(name)).toBe(false);
        const free = history.filter((r) => !inUse.has(r.name));
        expect(free.length - pruned.size).toBe(Math.min(limit, free.length));
        const keptFree = free.filter((r) => !pruned.has(r.name)).map((r) => r.number);
        for (const name of pruned) for (const k of keptFree) expect(Number(name.slice(2))).toBeLessThan(k);
      }),
    );
  });
});


describe('claimed worlds', () => {
  test('OnRelease: a claimed world keeps its revision and the rollout completes without it', () => {
    const worlds = [world(0, { claimed: true, group: 'ns/pool' }), world(1, { group: 'ns/pool', revision: 'g-b', renderedRevision: 'g-b' })];
    const d = planRollout(input(worlds));
    expect(d.assign).toEqual([]);
    expect(d.complete).toBe(true);
    expect(d.status.waitingClaimedWorlds).toBe(1);
  });

  test("Rolling (the pool's override): claimed worlds are moved like the others", () => {
    const worlds = [world(0, { claimed: true, group: 'ns/pool' })];
    const d = planRollout({ ...input(worlds), policy: (g) => rolloutPolicy({}, g === 'ns/pool' ? { claimedWorlds: 'Rolling' } : undefined) });
    expect(d.assign).toEqual(['ns/w000']);
  });

  test('a batch world claimed before it was moved is left alone', () => {
    const previous: RolloutStatus = { targetRevision: 'g-b', batch: 1, batchWorlds: ['ns/w000', 'ns/w001'], batchStartedAt: '2026-01-01T00:00:00Z' };
    const d = planRollout(input([world(0, { claimed: true }), world(1)], { previous }));
    expect(d.assign).toEqual(['ns/w001']);
  });
});

describe('deadlines, pauses and restarts', () => {
  const previous: RolloutStatus = { targetRevision: 'g-b', batch: 2, batchWorlds: ['ns/w000', 'ns/w001'], batchStartedAt: '2026-01-01T00:00:00Z' };
  const inFlight = [world(0, { revision: 'g-b', running: false }), world(1, { revision: 'g-b', renderedRevision: 'g-b' }), world(2), world(3)];

  test('a batch not Running within progressDeadlineSeconds pauses the rollout, naming its worlds', () => {
    const policy = rolloutPolicy({ maxUnavailableWorlds: 2, progressDeadlineSeconds: 30 });
    expect(planRollout(input(inFlight, { previous, now: new Date(T0.getTime() + 29_000) }, policy)).paused).toBeUndefined();
    const d = planRollout(input(inFlight, { previous, now: new Date(T0.getTime() + 31_000) }, policy));
    expect(d.paused?.reason).toBe('ProgressDeadlineExceeded');
    expect(d.paused?.message).toContain('ns/w000');
    expect(d.paused?.message).not.toContain('ns/w001');
    expect(d.assign).toEqual([]);
    expect(d.status.batch).toBe(2);
  });

  test('a new target (an undo) ends the pause and starts a new rollout at batch 1', () => {
    const d = planRollout(input(inFlight, { previous, target: 'g-a', now: new Date(T0.getTime() + 3_600_000) }, rolloutPolicy({ maxUnavailableWorlds: 2 })));
    expect(d.paused).toBeUndefined();
    expect(d.status.batch).toBe(1);
    expect(d.assign).toEqual(['ns/w000', 'ns/w001']);
  });

  test('spec.rollout.paused starts no new batch', () => {
    const d = planRollout(input([world(0)], {}, rolloutPolicy({ paused: true })));
    expect(d.assign).toEqual([]);
    expect(d.paused?.reason).toBe('Paused');
  });

  test('after a restart between the status write and the annotations, the same batch is finished, not skipped or repeated', () => {
    const d = planRollout(input([world(0), world(1), world(2), world(3)], { previous, now: new Date(T0.getTime() + 1000) }));
    expect(d.assign).toEqual(['ns/w000', 'ns/w001']);
    expect(d.status.batch).toBe(2);
  });
});

describe('policy values', () => {
  test('maxUnavailableWorlds: a count, or a percent rounded down, at least 1', () => {
    expect(maxUnavailable(5, 100)).toBe(5);
    expect(maxUnavailable('25%', 10)).toBe(2);
    expect(maxUnavailable('10%', 5)).toBe(1);
    expect(maxUnavailable(0, 5)).toBe(1);
    expect(maxUnavailableProblem('25%')).toBeUndefined();
    expect(maxUnavailableProblem('120%')).toMatch(/percent/);
    expect(maxUnavailableProblem('abc')).toMatch(/maxUnavailableWorlds "abc"/);
    expect(maxUnavailableProblem(-1)).toMatch(/≥ 0/);
  });

  test("a pool's override wins over its game's policy field by field", () => {
    expect(rolloutPolicy({ strategy: 'Immediate', maxUnavailableWorlds: 4 }, { maxUnavailableWorlds: '50%' })).toMatchObject({ strategy: 'Immediate', maxUnavailableWorlds: '50%', claimedWorlds: 'OnRelease' });
  });
});

describe('revisions', () => {
  const defs = (image: string, rollout?: object) =>
    buildCatalog([
      { source: 'm', object: { apiVersion: 'anvil.dev/v1alpha1', kind: 'ModuleManifest', metadata: { name: 'm' }, spec: { version: '1.0.0', image } } },
      { source: 'g', object: { apiVersion: 'anvil.dev/v1alpha1', kind: 'GameDefinition', metadata: { name: 'g' }, spec: { modules: [{ name: 'm' }], ...(rollout ? { rollout } : {}) } } },
    ]).catalog;

  test('the same definitions name the same revision; a new image a new one; the rollout policy none', () => {
    const a = revisionName(snapshotGame(defs('m:1'), 'g')!);
    expect(a).toMatch(/^g-[0-9a-f]{10}$/);
    expect(revisionName(snapshotGame(defs('m:1'), 'g')!)).toBe(a);
    expect(revisionName(snapshotGame(defs('m:2'), 'g')!)).not.toBe(a);
    expect(revisionName(snapshotGame(defs('m:1', { paused: true, maxUnavailableWorlds: 1 }), 'g')!)).toBe(a);
    expect(snapshotGame(defs('m:1'), 'nope')).toBeUndefined();
  });

  test('canonical JSON does not depend on key order', () => {
    expect(canonicalJson({ b: 1, a: [{ d: 2, c: 3 }] })).toBe(canonicalJson({ a: [{ c: 3, d: 2 }], b: 1 }));
  });
});
