// What one world's life (created -> Running) costs the API server beyond its own objects
// (issue 19, lean): one status write per observable change, an Event only for what an operator
// needs (Running, Degraded, Failed; repeats counted on one Event), and no PATCH of the revision
// annotation (the first status write records the revision). The status path is the
// reconciler's own (writeStatus, computeStatus, EventRecorder); only the API server is a fake
// that counts requests by verb, and the world cache is the object it answered.
import { describe, expect, test } from '@jest/globals';
import type { KubernetesObject } from '@kubernetes/client-node';
import type { WorldInstance, WorldInstanceStatus } from '../../lib/api/schema.js';
import { EventRecorder } from '../../lib/reconciler/runtime/events.js';
import { ReconcilerMetrics } from '../../lib/reconciler/runtime/metrics.js';
import type { Kube } from '../../lib/reconciler/runtime/kube.js';
import { writeStatus, type StatusContext } from '../../lib/reconciler/worlds/reconcile.js';
import { worldRevision } from '../../lib/reconciler/worlds/revision.js';
import { ECHO_WAIT_MS, PROGRESS_WINDOW_MS, StatusMemory } from '../../lib/reconciler/worlds/statusMemory.js';
import type { Resolution, WorkloadState } from '../../lib/reconciler/worlds/status.js';
import { ANNOTATION_REVISION } from '../../lib/render/labels.js';

const RESOLVED: Resolution = { ok: true, reason: 'Resolved', message: '5 binding(s) for 4 module(s)' };
const REVISION = { revision: 'g-1', upToDate: true };
const MODULES = ['a', 'b', 'c', 'd'];

/** The world's workloads: all four exist (the pass just created them), `ready` of them available. */
const workloads = (ready: number): WorkloadState => ({
  managedBy: 'reconciler',
  bindings: 5,
  modules: MODULES.length,
  existing: MODULES.length,
  readyModules: ready,
  notReady: MODULES.slice(ready),
});

/** An API server that answers status writes with a new resourceVersion, Events like the real one, and counts every request. */
function apiServer() {
  const requests: { verb: string; kind?: string; body: KubernetesObject }[] = [];
  const events = new Map<string, KubernetesObject & { count?: number }>();
  let rv = 100;
  const kube = {
    applyStatus: async (o: KubernetesObject) => {
      requests.push({ verb: 'apply-status', kind: o.kind, body: o });
      return { ...o, metadata: { ...o.metadata, resourceVersion: String(++rv) } };
    },
    create: async (o: KubernetesObject) => {
      requests.push({ verb: 'create', kind: o.kind, body: o });
      if (events.has(o.metadata!.name!)) throw Object.assign(new Error('exists'), { code: 409 });
      events.set(o.metadata!.name!, o);
      return o;
    },
    mergePatch: async (o: KubernetesObject) => {
      requests.push({ verb: 'merge-patch', kind: o.kind, body: o });
      const e = events.get(o.metadata!.name!);
      if (o.kind === 'Event' && e) Object.assign(e, { count: (o as { count?: number }).count });
      return o;
    },
    read: async () => undefined,
  };
  const count = (verb: string, kind?: string) => requests.filter((r) => r.verb === verb && (kind === undefined || r.kind === kind)).length;
  return { kube: kube as unknown as Kube, requests, events, count };
}

/** One world as the reconciler sees it through its cache, with a clock the test moves. */
function life() {
  const api = apiServer();
  let now = 0;
  const ctx: StatusContext = {
    kube: api.kube,
    metrics: new ReconcilerMetrics(),
    events: new EventRecorder(api.kube),
    statuses: new StatusMemory(() => now),
    log: () => {},
  };
  ctx.metrics.countHeldStatuses(() => ctx.statuses.heldBack);
  let cached: WorldInstance = {
    apiVersion: 'anvil.dev/v1alpha1',
    kind: 'WorldInstance',
    metadata: { name: 'w', namespace: 'games', uid: 'uid-w', generation: 1, resourceVersion: '1', creationTimestamp: new Date().toISOString() },
    spec: { gameRef: { name: 'g' } },
  } as WorldInstance;
  return {
    api,
    at: (ms: number) => void (now = ms),
    /** A pass with the cache as it is: what writeStatus does and whether it asks to look again. */
    pass: (ready: number, res: Resolution = RESOLVED) => writeStatus(structuredClone(cached), res, workloads(ready), ctx, undefined, REVISION),
    /** The watch brings the last status write into the cache. */
    echo: () => {
      const last = [...api.requests].reverse().find((r) => r.verb === 'apply-status');
      if (!last) return;
      cached = { ...cached, metadata: { ...cached.metadata, resourceVersion: `${Number(cached.metadata.resourceVersion) + 1000}` }, status: (last.body as { status: WorldInstanceStatus }).status };
    },
    cached: () => cached,
    metrics: ctx.metrics,
  };
}

/** A world whose first status (Provisioning) is written and back in the cache; the clock at 1 s. */
async function converging() {
  const w = life();
  w.at(0);
  await w.pass(0);
  w.echo();
  w.at(1000);
  return w;
}

/** anvil_world_status_held as /metrics reports it. */
async function held(w: ReturnType<typeof life>): Promise<number | undefined> {
  return (await w.metrics.worldStatusHeld.get()).values[0]?.value;
}

test('a held-back change stops counting once a pass finds the status as it should be', async () => {
  const w = await converging();
  expect(await w.pass(1)).toBeGreaterThan(0);
  expect(await held(w)).toBe(1);
  // The Deployment became unavailable again: the status written is right after all.
  w.at(2000);
  expect(await w.pass(0)).toBeUndefined();
  expect(await held(w)).toBe(0);
  expect(w.api.count('apply-status')).toBe(1);
});

describe('one world, created -> Running: the writes it costs', () => {
  test('two status writes, one Event (Running), no PATCH of the revision annotation', async () => {
    const w = life();
    w.at(0);
    expect(await w.pass(0)).toBeUndefined(); // the first pass: Provisioning, written at once
    w.at(100);
    // A Deployment's event came before the status write's own: the cache has not seen it yet.
    expect(await w.pass(0)).toBeGreaterThan(0);
    w.echo();
    w.at(200);
    expect(await w.pass(0)).toBeUndefined(); // the echo: nothing changed
    // The Deployments become available one by one within the window: progress, held back.
    for (const [ready, ms] of [[1, 1000], [2, 2000], [3, 3000]] as const) {
      w.at(ms);
      const retry = await w.pass(ready);
      expect(retry).toBeGreaterThan(0);
      expect(retry).toBeLessThanOrEqual(PROGRESS_WINDOW_MS);
    }
    w.at(4000);
    expect(await w.pass(4)).toBeUndefined(); // Running: a transition, written at once
    w.at(4100);
    await w.pass(4); // before the echo
    w.echo();
    w.at(4200);
    expect(await w.pass(4)).toBeUndefined();

    expect(w.api.count('apply-status')).toBe(2);
    expect(w.api.count('create', 'Event')).toBe(1);
    expect(w.api.count('merge-patch')).toBe(0);
    expect(w.api.requests).toHaveLength(3);
    const event = [...w.api.events.values()][0] as KubernetesObject & { reason?: string; type?: string };
    expect(event).toMatchObject({ reason: 'Running', type: 'Normal' });
    // What users see stays truthful: phase, counts, conditions with observedGeneration, the revision.
    const status = w.cached().status!;
    expect(status).toMatchObject({ phase: 'Running', observedGeneration: 1, readyModules: 4, modules: 4, revision: 'g-1' });
    expect(status.conditions?.map((c) => [c.type, c.status, c.observedGeneration])).toEqual([
      ['Resolved', 'True', 1],
      ['Ready', 'True', 1],
    ]);
  });

  test('progress still shows: a change held back is written once the window has passed', async () => {
    const w = await converging();
    const retry = await w.pass(1);
    expect(retry).toBe(PROGRESS_WINDOW_MS - 1000);
    // Work left to do, as /metrics shows it (a test's "nothing left to do" waits for 0).
    expect(await held(w)).toBe(1);
    w.at(1000 + retry!);
    expect(await w.pass(1)).toBeUndefined();
    expect(await held(w)).toBe(0);
    w.echo();
    expect(w.cached().status).toMatchObject({ phase: 'Provisioning', readyModules: 1 });
    expect(w.api.count('apply-status')).toBe(2);
    expect(w.api.count('create', 'Event')).toBe(0); // Provisioning is on the status, not an Event
  });

  test('a failure is written at once, with a Warning Event, even inside the window', async () => {
    const w = life();
    w.at(0);
    await w.pass(0);
    w.echo();
    w.at(500);
    expect(await w.pass(0, { ok: false, reason: 'GameNotFound', message: 'game g not found' })).toBeUndefined();
    w.echo();
    expect(w.cached().status).toMatchObject({ phase: 'Failed' });
    expect(w.cached().status!.conditions!.find((c) => c.type === 'Resolved')).toMatchObject({ status: 'False', reason: 'GameNotFound', observedGeneration: 1 });
    expect(w.api.count('apply-status')).toBe(2);
    expect([...w.api.events.values()]).toEqual([expect.objectContaining({ reason: 'Failed', type: 'Warning' })]);
  });

  test('a phase reached again counts up its Event (a PATCH) instead of creating another', async () => {
    const w = life();
    let ms = 0;
    const step = async (ready: number) => {
      w.at((ms += 20_000));
      await w.pass(ready);
      w.echo();
    };
    await step(0);
    await step(4); // Provisioning -> Running
    await step(3); // Running -> Degraded
    await step(4); // Degraded -> Running
    await step(3);
    await step(4);
    expect(w.api.count('create', 'Event')).toBe(3); // Running (from Provisioning), Degraded, Running (from Degraded)
    expect(w.api.count('merge-patch', 'Event')).toBe(2);
    expect([...w.api.events.values()].map((e) => [(e as { reason?: string }).reason, (e as { count?: number }).count])).toEqual([
      ['Running', 1],
      ['Degraded', 2],
      ['Running', 2],
    ]);
  });
});

test('the memory holds only the worlds written in the last ECHO_WAIT_MS', () => {
  let now = 0;
  const memory = new StatusMemory(() => now);
  for (let i = 0; i < 100; i++) memory.wrote(`ns/w${i}`, '1', '2');
  expect(memory.size).toBe(100);
  now = ECHO_WAIT_MS;
  memory.wrote('ns/late', '1', '2');
  expect(memory.size).toBe(1);
  memory.forget('ns/late');
  expect(memory.size).toBe(0);
});

describe("a new world's revision: recorded by its status, not a PATCH", () => {
  const game = { metadata: { name: 'g' } };
  const definitions = { get: () => ({ catalog: { games: new Map([['g', game]]) }, problems: new Map() }) };
  const revisionsAt = (target: string) => ({
    target: async () => ({ name: target }),
    get: (name: string) => ({ name, number: Number(name.slice(2)), data: { game: { name: 'g' } }, catalog: {}, problems: [] }),
  });
  const world = (more: Partial<WorldInstance['metadata']> = {}, status?: WorldInstanceStatus) =>
    ({ apiVersion: 'anvil.dev/v1alpha1', kind: 'WorldInstance', metadata: { name: 'w', namespace: 'games', ...more }, spec: { gameRef: { name: 'g' } }, ...(status ? { status } : {}) }) as WorldInstance;

  test('a new world starts on the target without writing the annotation', async () => {
    const rev = await worldRevision(world(), definitions as never, revisionsAt('g-1') as never);
    expect(rev).toMatchObject({ record: false, entry: { name: 'g-1' }, target: 'g-1' });
  });

  test('once its status records a revision, it keeps it when the target moves (only a rollout moves it)', async () => {
    const rev = await worldRevision(world({}, { revision: 'g-1' }), definitions as never, revisionsAt('g-2') as never);
    expect(rev).toMatchObject({ record: false, entry: { name: 'g-1' }, target: 'g-2' });
  });

  test('the annotation a rollout set wins over the status', async () => {
    const rev = await worldRevision(world({ annotations: { [ANNOTATION_REVISION]: 'g-2' } }, { revision: 'g-1' }), definitions as never, revisionsAt('g-2') as never);
    expect(rev).toMatchObject({ record: false, entry: { name: 'g-2' } });
  });
});
