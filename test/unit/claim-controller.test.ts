// The claim controller against an in-memory API server (optimistic concurrency, merge
// patches, preconditioned deletes) whose caches the test holds back: what it does when the
// caches are stale or a write's outcome is unknown (issue 20, findings 1-4).
import { describe, expect, test } from '@jest/globals';
import type { KubernetesObject } from '@kubernetes/client-node';
import { ClaimController } from '../../lib/reconciler/claims/controller.js';
import { ReconcilerMetrics } from '../../lib/reconciler/runtime/metrics.js';
import type { Kube } from '../../lib/reconciler/runtime/kube.js';
import type { Informer } from '../../lib/reconciler/runtime/informer.js';

import { FakeApi, FakeCache, NS, claimObj, clone, pool, worldObj, type Obj } from './claimFakes.js';

function setup() {
  const api = new FakeApi();
  const caches = { worlds: new FakeCache(), claims: new FakeCache(), pools: new FakeCache() };
  const log: string[] = [];
  const ctl = new ClaimController({
    kube: api.kube as unknown as Kube,
    worlds: caches.worlds as unknown as Informer<KubernetesObject>,
    claims: caches.claims as unknown as Informer<KubernetesObject>,
    pools: caches.pools as unknown as Informer<KubernetesObject>,
    metrics: new ReconcilerMetrics(),
    log: (m) => log.push(m),
    canWrite: () => true,
    onPending: () => undefined,
  });
  /** The caches catch up with the server (all of them, or only the kinds given). */
  const sync = (...kinds: string[]) => {
    const of = (kind: string) => [...api.objects.values()].filter((o) => o.kind === kind).map(clone);
    if (!kinds.length || kinds.includes('WorldInstance')) caches.worlds.items = of('WorldInstance');
    if (!kinds.length || kinds.includes('WorldClaim')) caches.claims.items = of('WorldClaim');
    caches.pools.items = [clone(pool) as Obj];
  };
  const pass = async () => {
    await ctl.pass(NS);
    await ctl.drain();
  };
  const stampedFor = (claim: string) => [...api.objects.values()].filter((o) => o.kind === 'WorldInstance' && o.metadata.annotations?.['anvil.dev/claim-uid'] === `uid-${claim}`).map((o) => o.metadata.name).sort();
  return { api, caches, ctl, sync, pass, stampedFor, log };
}

describe('the claim controller with stale caches', () => {
  test('finding 1: a repair reads the claim from the server: the world it is really bound to stays, the stray one goes', async () => {
    const { api, sync, pass } = setup();
    const s = { name: 's', uid: 'uid-s' };
    api.put(worldObj('w6', s));
    api.put(worldObj('w7', s));
    api.put(claimObj('s'));
    sync(); // the cache: s waiting, w6 and w7 both stamped for it
    api.put({ ...api.get('WorldClaim', 's')!, status: { phase: 'Bound', worldRef: { name: 'w7' } } }); // the server: Bound to w7
    await pass();
    expect(api.get('WorldInstance', 'w7')).toBeDefined();
    expect(api.get('WorldInstance', 'w6')).toBeUndefined();
    expect(api.get('WorldClaim', 's')!.status.worldRef).toEqual({ name: 'w7' });
  });

  test('finding 2: a world write whose outcome is unknown keeps the world reserved until a read shows it happened: the claim never gets a second world', async () => {
    const { api, caches, sync, pass, stampedFor } = setup();
    for (const w of ['wa', 'wb', 'wc']) api.put(worldObj(w));
    api.put(claimObj('c1'));
    sync();
    // c1's stamp of wa is applied, but the connection resets before the answer.
    api.resetAfter = (p) => p.kind === 'WorldInstance' && p.metadata.name === 'wa';
    await pass();
    expect(stampedFor('c1')).toEqual(['wa']);
    // A claim ahead of c1 arrives (same second, earlier name); the world cache still shows wa unstamped.
    api.put(claimObj('c0'));
    caches.claims.items = [...caches.claims.items, clone(api.get('WorldClaim', 'c0')!)];
    await pass();
    await pass();
    expect(stampedFor('c1')).toEqual(['wa']);
    expect(api.get('WorldClaim', 'c1')!.status).toMatchObject({ phase: 'Bound', worldRef: { name: 'wa' } });
    sync();
    await pass();
    expect(api.get('WorldClaim', 'c0')!.status).toMatchObject({ phase: 'Bound' });
    expect(api.get('WorldClaim', 'c0')!.status.worldRef.name).not.toBe('wa');
    expect(stampedFor('c0')).toEqual([api.get('WorldClaim', 'c0')!.status.worldRef.name]);
  });

  test('finding 3: a Bound claim whose world is gone goes Failed (WorldLost) with a Warning Event; not while a read still shows the world', async () => {
    const { api, caches, sync, pass } = setup();
    const a = { name: 'a', uid: 'uid-a' };
    api.put(worldObj('w9', a));
    api.put(claimObj('a', { phase: 'Bound', worldRef: { name: 'w9' } }));
    sync();
    caches.worlds.items = []; // the cache lags: the world is still there
    await pass();
    expect(api.get('WorldClaim', 'a')!.status.phase).toBe('Bound');
    api.objects.delete('WorldInstance/w9');
    await pass();
    const st = api.get('WorldClaim', 'a')!.status;
    expect(st).toMatchObject({ phase: 'Failed', worldRef: { name: 'w9' }, endpoints: [] });
    expect(st.conditions).toEqual([expect.objectContaining({ type: 'Bound', status: 'False', reason: 'WorldLost', message: 'world w9 no longer exists' })]);
    expect(api.events).toEqual([expect.objectContaining({ reason: 'WorldLost', type: 'Warning', involvedObject: expect.objectContaining({ kind: 'WorldClaim', name: 'a' }) })]);
  });

  test('finding 4: the world of a claim deleted with --cascade=orphan is released; one still owned by a claim the cache does not show yet is not', async () => {
    const { api, sync, pass } = setup();
    api.put(worldObj('w1', { name: 'gone', uid: 'uid-gone', owned: false }));
    api.put(worldObj('w2', { name: 'new', uid: 'uid-new' }));
    sync();
    await pass();
    expect(api.get('WorldInstance', 'w1')).toBeUndefined();
    expect(api.get('WorldInstance', 'w2')).toBeDefined();
  });
});

describe('the allocator (issue 20: a claim is handled when it arrives)', () => {
  test('a new claim is bound on its add event, with no pass: one world write, then its status; a stale pass binds it no second time', async () => {
    const { api, caches, ctl, sync, stampedFor } = setup();
    api.put(worldObj('w1'));
    api.put(worldObj('w2'));
    sync();
    for (const w of caches.worlds.items) ctl.onWorld(w as KubernetesObject, 'add');
    const claim = api.put(claimObj('a'));
    sync('WorldClaim');
    const writes: string[] = [];
    const patch = api.kube.mergePatch;
    api.kube.mergePatch = async (p: Obj, sub?: string) => {
      writes.push(`${p.kind}${sub ? `/${sub}` : ''}`);
      return patch(p, sub);
    };
    ctl.onClaim('add', claim as KubernetesObject);
    await ctl.pass(NS); // planned from caches that show neither the stamp nor the status yet
    await ctl.drain();
    expect(stampedFor('a')).toHaveLength(1);
    expect(api.get('WorldClaim', 'a')!.status.phase).toBe('Bound');
    expect(writes).toEqual(['WorldInstance', 'WorldClaim/status']);
  });

  test('two claims arriving together get two worlds; a third waits for the pass', async () => {
    const { api, caches, ctl, sync, stampedFor } = setup();
    api.put(worldObj('w1'));
    api.put(worldObj('w2'));
    sync();
    for (const w of caches.worlds.items) ctl.onWorld(w as KubernetesObject, 'add');
    const claims = ['a', 'b', 'c'].map((n) => api.put(claimObj(n)));
    for (const c of claims) ctl.onClaim('add', c as KubernetesObject);
    await ctl.drain();
    const [a, b, c] = [stampedFor('a'), stampedFor('b'), stampedFor('c')];
    expect(a).toHaveLength(1);
    expect(b).toHaveLength(1);
    expect(a[0]).not.toBe(b[0]);
    expect(c).toHaveLength(0);
    expect(ctl.queue.depth).toBe(1); // the namespace pass makes c wait
  });

  test('a claim already stamped on a world (a crash before its status) gets no second world on its add event: the pass completes it', async () => {
    const { api, caches, ctl, sync, pass, stampedFor } = setup();
    api.put(worldObj('w1', { name: 'h', uid: 'uid-h' }));
    api.put(worldObj('w2'));
    const claim = api.put(claimObj('h'));
    sync();
    for (const w of caches.worlds.items) ctl.onWorld(w as KubernetesObject, 'add');
    ctl.onClaim('add', claim as KubernetesObject);
    await ctl.drain();
    expect(stampedFor('h')).toEqual(['w1']);
    await pass();
    expect(stampedFor('h')).toEqual(['w1']);
    expect(api.get('WorldClaim', 'h')!.status).toMatchObject({ phase: 'Bound', worldRef: { name: 'w1' } });
  });
});
