// Issue 19: nothing lost. Claims outlive a plan change unless their retention policy says
// otherwise; the platform deletes nothing while a definition it depends on is invalid; every
// delete carries uid and resourceVersion preconditions.
import * as http from 'node:http';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import { resolveWorld } from '../../lib/resolve/resolve.js';
import { renderWorld } from '../../lib/render/world.js';
import { DEFAULT_SETTINGS } from '../../lib/render/settings.js';
import { Applier, withHash } from '../../lib/reconciler/worlds/apply.js';
import { cleanupBlockers } from '../../lib/reconciler/worlds/platform.js';
import { platformStatusData } from '../../lib/reconciler/worlds/platformStatus.js';
import { worldOwner } from '../../lib/reconciler/worlds/reconcile.js';
import { Kube } from '../../lib/reconciler/runtime/kube.js';
import { ReconcilerMetrics } from '../../lib/reconciler/runtime/metrics.js';
import { trimOwned } from '../../lib/reconciler/runtime/trim.js';
import { CacheIndex, ownerUids } from '../../lib/reconciler/runtime/cacheIndex.js';
import { catalogOf, game, mod, world } from './fixtures.js';
import type { WorldInstance } from '../../lib/api/schema.js';

const claimsOf = (retention?: Record<string, string>) => {
  const catalog = catalogOf([mod('store', { storage: { size: '1Gi', mountPath: '/data', ...(retention ? { retention } : {}) } as never }), game('g', ['store']), world('w1', 'g')]);
  const w = catalog.worlds[0]!;
  const objects = renderWorld(resolveWorld(catalog, w), DEFAULT_SETTINGS, { uid: 'uid-w1' }) as KubernetesObject[];
  return objects.filter((o) => o.kind === 'PersistentVolumeClaim');
};

describe('storage.retention is rendered onto the claim', () => {
  test('by default: Retain when the module is removed, deleted with its world (owner reference)', () => {
    const [pvc] = claimsOf();
    expect(pvc!.metadata?.annotations).toMatchObject({ 'anvil.dev/when-module-removed': 'Retain' });
    expect(pvc!.metadata?.annotations?.['anvil.dev/when-world-deleted']).toBeUndefined();
    expect(pvc!.metadata?.ownerReferences).toEqual([expect.objectContaining({ kind: 'WorldInstance', uid: 'uid-w1' })]);
  });

  test('whenWorldDeleted: Retain: no owner reference (the garbage collector leaves it), the world uid in an annotation, indexed under it', () => {
    const [pvc] = claimsOf({ whenModuleRemoved: 'Delete', whenWorldDeleted: 'Retain' });
    expect(pvc!.metadata?.ownerReferences).toBeUndefined();
    expect(pvc!.metadata?.annotations).toMatchObject({ 'anvil.dev/when-module-removed': 'Delete', 'anvil.dev/when-world-deleted': 'Retain', 'anvil.dev/world-uid': 'uid-w1' });
    expect(ownerUids(pvc!)).toEqual(['uid-w1']);
    const w = { apiVersion: 'anvil.dev/v1alpha1', kind: 'WorldInstance', metadata: { name: 'w1', namespace: 'games', uid: 'uid-w1' }, spec: { gameRef: { name: 'g' } } } as WorldInstance;
    expect(worldOwner(w, 'uid-w1').classify(pvc!)).toBe('ours');
    // A new world of the same name adopts what the deleted one kept.
    expect(worldOwner({ ...w, metadata: { ...w.metadata, uid: 'uid-new' } }, 'uid-new').classify(pvc!)).toBe('ours');
    // Another world's kept claim is not its own.
    expect(worldOwner({ ...w, metadata: { ...w.metadata, name: 'w2', uid: 'uid-2' } }, 'uid-2').classify(pvc!)).toBe('foreign');
  });
});

/** An Applier over in-memory caches that records what it was asked to write. */
function applierOver(objects: KubernetesObject[]) {
  const index = new CacheIndex(ownerUids);
  for (const o of objects) index.set(o);
  const cacheOf = (kind: string) => ({
    list: (ns?: string) => objects.filter((o) => o.kind === kind && (!ns || o.metadata?.namespace === ns)),
    byIndex: (uid: string) => index.get(uid).filter((o) => o.kind === kind),
    get: (name: string, ns?: string) => objects.find((o) => o.kind === kind && o.metadata?.name === name && o.metadata?.namespace === ns),
  });
  const calls = { deleted: [] as KubernetesObject[], patched: [] as KubernetesObject[] };
  const kube = {
    apply: async (o: unknown) => o,
    read: async () => undefined,
    delete: async (o: KubernetesObject) => void calls.deleted.push(o),
    mergePatch: async (o: KubernetesObject) => (calls.patched.push(o), o),
  };
  const caches = new Map(['PersistentVolumeClaim', 'ConfigMap'].map((k) => [k, cacheOf(k)]));
  return { applier: new Applier(kube as never, caches as never), calls };
}

describe('stale cleanup never deletes a claim its policy keeps', () => {
  const owned = (kind: string, name: string, annotations: Record<string, string> = {}, labels: Record<string, string> = {}) =>
    trimOwned(kind)({
      apiVersion: 'v1',
      kind,
      metadata: { name, namespace: 'games', uid: `uid-of-${name}`, resourceVersion: '7', annotations, labels, ownerReferences: [{ apiVersion: 'anvil.dev/v1alpha1', kind: 'WorldInstance', name: 'w1', uid: 'uid-w1' }] },
    } as KubernetesObject);
  const owner = { describe: 'world w1', ownerUid: 'uid-w1', classify: () => 'ours' as const };

  test('a module dropped from the game: its claim (Retain by default, or without any annotation) is labelled orphaned and reported, never deleted; Delete deletes it; other stale objects are deleted', async () => {
    const kept = owned('PersistentVolumeClaim', 'w1-store-data', { 'anvil.dev/when-module-removed': 'Retain' });
    const unannotated = owned('PersistentVolumeClaim', 'w1-old-data');
    const doomed = owned('PersistentVolumeClaim', 'w1-cache-data', { 'anvil.dev/when-module-removed': 'Delete' });
    const cm = owned('ConfigMap', 'w1-old-routes');
    const { applier, calls } = applierOver([kept, unannotated, doomed, cm]);
    const r = await applier.sync([], 'games', owner);
    expect(calls.deleted.map((o) => o.metadata?.name).sort()).toEqual(['w1-cache-data', 'w1-old-routes']);
    // Each delete carries what its preconditions need: the cached uid and resourceVersion.
    for (const o of calls.deleted) expect(o.metadata).toMatchObject({ uid: `uid-of-${o.metadata?.name}`, resourceVersion: '7' });
    expect(r.orphaned).toEqual(['w1-old-data', 'w1-store-data']);
    expect(calls.patched.map((o) => [o.metadata?.name, o.metadata?.resourceVersion, o.metadata?.labels])).toEqual(
      expect.arrayContaining([
        ['w1-store-data', '7', { 'anvil.dev/orphaned': 'true' }],
        ['w1-old-data', '7', { 'anvil.dev/orphaned': 'true' }],
      ]),
    );
  });

  test('an orphaned claim is labelled once, and unlabelled when its module is back', async () => {
    const orphan = owned('PersistentVolumeClaim', 'w1-store-data', { 'anvil.dev/when-module-removed': 'Retain' }, { 'anvil.dev/orphaned': 'true' });
    const { applier, calls } = applierOver([orphan]);
    expect((await applier.sync([], 'games', owner)).orphaned).toEqual(['w1-store-data']);
    expect(calls.patched).toEqual([]);
    const back = { apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: 'w1-store-data', namespace: 'games' }, spec: {} };
    const r = await applier.sync([back], 'games', owner);
    expect(r.orphaned).toEqual([]);
    expect(calls.patched.map((o) => o.metadata?.labels)).toEqual([{ 'anvil.dev/orphaned': null }]);
  });

  test('with skipDeletions nothing is deleted or newly orphaned, and what would have been is reported', async () => {
    const cm = owned('ConfigMap', 'w1-old-routes');
    const pvc = owned('PersistentVolumeClaim', 'w1-store-data');
    const { applier, calls } = applierOver([cm, pvc]);
    const r = await applier.sync([], 'games', owner, { skipDeletions: 'invalid definitions: ModuleManifest/x' });
    expect(calls.deleted).toEqual([]);
    expect(calls.patched).toEqual([]);
    expect(r.skipped).toEqual(['ConfigMap/games/w1-old-routes', 'PersistentVolumeClaim/games/w1-store-data']);
  });
});

describe('platform cleanup waits for valid definitions', () => {
  test('an invalid definition, a plan error or an unreadable world blocks every deletion, and the status says why', () => {
    const err = (message: string) => ({ severity: 'error' as const, message, source: 'x', reason: 'Invalid' });
    expect(cleanupBlockers(new Map(), [], [])).toEqual([]);
    expect(cleanupBlockers(new Map([['ModuleManifest/bus', [{ ...err('spec.image: required'), source: 'ModuleManifest/bus' }]]]), [], [])).toEqual(['ModuleManifest/bus: spec.image: required']);
    expect(cleanupBlockers(new Map([['ModuleManifest/bus', [{ ...err('old'), severity: 'warning' as never }]]]), [], [])).toEqual([]);
    expect(cleanupBlockers(new Map(), [err('two providers')] as never, ['WorldInstance games/w: bad region'])).toEqual(['WorldInstance games/w: bad region', 'two providers']);
    const data = platformStatusData({ orphaned: ['lb-data'], skipped: ['Deployment/anvil-system/bus'] }, 'invalid definitions: ModuleManifest/bus: spec.image: required');
    expect(data.cleanup).toContain('ModuleManifest/bus: spec.image: required');
    expect(data.cleanup).toContain('Deployment/anvil-system/bus');
    expect(data.orphanedClaims).toBe('lb-data');
  });
});

describe('every delete carries uid and resourceVersion preconditions', () => {
  let server: http.Server;
  const bodies: { method?: string; url?: string; body: string }[] = [];
  let kube: Kube;
  beforeAll(async () => {
    server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        bodies.push({ method: req.method, url: req.url, body });
        res.setHeader('Content-Type', 'application/json');
        if (req.url?.startsWith('/api/v1') && !req.url.includes('namespaces')) {
          res.end(JSON.stringify({ kind: 'APIResourceList', groupVersion: 'v1', resources: [{ name: 'configmaps', namespaced: true, kind: 'ConfigMap', verbs: ['delete'] }] }));
          return;
        }
        res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Success' }));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'c', server: `http://127.0.0.1:${(server.address() as { port: number }).port}`, skipTLSVerify: true }],
      users: [{ name: 'u', token: 't' }],
      contexts: [{ name: 'c', cluster: 'c', user: 'u' }],
      currentContext: 'c',
    });
    kube = new Kube(kc, new ReconcilerMetrics());
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  test('the DeleteOptions sent name the uid and resourceVersion read; a delete without them is refused unsent', async () => {
    await kube.delete({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', namespace: 'n', uid: 'u-1', resourceVersion: '42' } });
    const del = bodies.find((b) => b.method === 'DELETE');
    expect(del?.url).toBe('/api/v1/namespaces/n/configmaps/c');
    expect(JSON.parse(del!.body)).toMatchObject({ kind: 'DeleteOptions', propagationPolicy: 'Background', preconditions: { uid: 'u-1', resourceVersion: '42' } });
    const before = bodies.length;
    await expect(kube.delete({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', namespace: 'n' } })).rejects.toThrow(/no uid and resourceVersion/);
    expect(bodies.length).toBe(before);
  });

  test('the owned caches keep the uid a delete needs', () => {
    const t = trimOwned('ConfigMap')({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', namespace: 'n', uid: 'u-9', resourceVersion: '3', creationTimestamp: 'x' } } as unknown as KubernetesObject);
    expect(t.metadata).toMatchObject({ uid: 'u-9', resourceVersion: '3' });
  });
});

describe('leader fencing: writes stop at the last renewal + renew deadline, even while a renewal hangs', () => {
  test('a renewal that never returns: the elector stops at its deadline, writes are refused from then on, the hanging call does not extend it', async () => {
    let lease: KubernetesObject & { spec?: Record<string, unknown> } = { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: 'l', namespace: 'n', resourceVersion: '1' }, spec: {} };
    let hang = false;
    const never = new Promise<never>(() => undefined);
    const fakeKube = {
      track: (_verb: string, f: () => Promise<unknown>) => f(),
      objects: {
        read: async () => (hang ? never : lease),
        replace: async (l: typeof lease) => {
          if (hang) return never;
          lease = { ...l, metadata: { ...l.metadata, resourceVersion: String(Number(l.metadata?.resourceVersion) + 1) } };
          return lease;
        },
        create: async () => never,
      },
    };
    const { LeaderElector } = await import('../../lib/reconciler/runtime/leader.js');
    const logs: string[] = [];
    const elector = new LeaderElector({ kube: fakeKube as never, namespace: 'n', name: 'l', identity: 'me', leaseDurationSeconds: 2, renewDeadlineMs: 400, retryPeriodMs: 20, log: (m) => logs.push(m) });
    let started!: () => void;
    const isStarted = new Promise<void>((r) => (started = r));
    let stoppedAt = 0;
    const done = elector.run(started, () => (stoppedAt = performance.now()));
    await isStarted;
    expect(elector.isLeader).toBe(true);
    const before = elector.writeDeadline();
    expect(before).toBeGreaterThan(performance.now());
    hang = true; // every lease call from now on hangs
    await done;
    // Stopped by the timer at the deadline, not by a renewal that returned.
    expect(stoppedAt).toBeGreaterThanOrEqual(elector.writeDeadline() === -Infinity ? before - 400 : 0);
    expect(elector.isLeader).toBe(false);
    expect(elector.writeDeadline()).toBe(-Infinity);
    expect(logs.join('\n')).toMatch(/lost the lease \(its renew deadline passed without a renewal\); writes stopped/);
  });

  test('Kube refuses every write once the deadline has passed, before sending it', async () => {
    const kc = new KubeConfig();
    kc.loadFromOptions({ clusters: [{ name: 'c', server: 'http://127.0.0.1:9', skipTLSVerify: true }], users: [{ name: 'u', token: 't' }], contexts: [{ name: 'c', cluster: 'c', user: 'u' }], currentContext: 'c' });
    const metrics = new ReconcilerMetrics();
    const kube = new Kube(kc, metrics);
    let deadline = performance.now() - 1;
    kube.fence(new AbortController().signal, () => deadline);
    const { WriteFencedError } = await import('../../lib/reconciler/runtime/kube.js');
    const cm = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', namespace: 'n', uid: 'u', resourceVersion: '1' } };
    await expect(kube.apply(cm)).rejects.toBeInstanceOf(WriteFencedError);
    await expect(kube.delete(cm)).rejects.toBeInstanceOf(WriteFencedError);
    await expect(kube.mergePatch(cm)).rejects.toBeInstanceOf(WriteFencedError);
    expect(kube.fenced()).toBe(true);
    deadline = Infinity;
    expect(kube.fenced()).toBe(false);
    expect((await metrics.registry.getSingleMetricAsString('anvil_writes_fenced_total'))).toMatch(/anvil_writes_fenced_total 3/);
  });
});

describe('an object read as absent is created with POST, never taken over by a forced apply', () => {
  const desired = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'w1-routes', namespace: 'games' }, data: { a: 'b' } };
  const owner = { describe: 'WorldInstance games/w1', ownerUid: 'uid-w1', classify: () => 'ours' as const };
  const fake = (create: (o: KubernetesObject) => Promise<KubernetesObject>, cached: KubernetesObject[] = []) => {
    const calls: string[] = [];
    const cache = { list: () => cached, byIndex: () => [], get: (name: string) => cached.find((o) => o.metadata?.name === name) };
    const kube = {
      read: async () => (calls.push('get'), undefined),
      create: async (o: KubernetesObject) => (calls.push('create'), create(o)),
      apply: async (o: KubernetesObject) => (calls.push('apply'), o),
      adoptAsApplied: async () => void calls.push('adopt'),
      delete: async () => void calls.push('delete'),
      mergePatch: async (o: KubernetesObject) => (calls.push('patch'), o),
    };
    return { applier: new Applier(kube as never, new Map([['ConfigMap', cache]]) as never), calls };
  };

  test('absent: POST, no apply', async () => {
    const { applier, calls } = fake(async (o) => o);
    expect((await applier.sync([desired], 'games', owner)).applied).toBe(1);
    expect(calls).toEqual(['get', 'create']);
  });

  test('created by someone else after the GET said 404: 409, a Conflict naming it, nothing applied', async () => {
    const { applier, calls } = fake(async () => Promise.reject(Object.assign(new Error('exists'), { code: 409 })));
    await expect(applier.sync([desired], 'games', owner)).rejects.toThrow(/ConfigMap\/games\/w1-routes already exists and is not managed by WorldInstance games\/w1/);
    expect(calls).not.toContain('apply');
  });

  test('created with POST and changed later: the Update entry is made an Apply first, then applied', async () => {
    const live = trimOwned('ConfigMap')({ ...desired, data: { a: 'old' }, metadata: { ...desired.metadata, uid: 'u', resourceVersion: '3', managedFields: [{ manager: 'anvil-reconciler', operation: 'Update' }] } } as KubernetesObject);
    const { applier, calls } = fake(async (o) => o, [live]);
    await applier.sync([desired], 'games', owner);
    expect(calls).toEqual(['adopt', 'apply']);
  });
});

describe('a region-scoped provider admits only its own region’s consumers (the checker’s br-ap-1 → leaderboard-eu-west)', () => {
  test('in dist: every world pod that uses the leaderboard is admitted by its own region’s policy and by no other', async () => {
    const { readFileSync, readdirSync } = await import('node:fs');
    const { parseAllDocuments } = await import('yaml');
    const all = readdirSync('dist')
      .filter((f) => f.endsWith('.k8s.yaml'))
      .flatMap((f) => parseAllDocuments(readFileSync(`dist/${f}`, 'utf8')).map((d) => d.toJS() as any));
    const matches = (sel: Record<string, string> | undefined, labels: Record<string, string>) => Object.entries(sel ?? {}).every(([k, v]) => labels[k] === v);
    const policies = all.filter((o) => o?.kind === 'NetworkPolicy' && o.metadata.labels?.['anvil.dev/module'] === 'leaderboard');
    expect(policies.length).toBeGreaterThanOrEqual(2);
    const users = all.filter((o) => o?.kind === 'Deployment' && o.spec.template.metadata.labels['uses.anvil.dev/leaderboard'] !== undefined);
    expect(users.length).toBeGreaterThanOrEqual(2);
    const ns = new Map(all.filter((o) => o?.kind === 'Namespace').map((o) => [o.metadata.name, o.metadata.labels ?? {}]));
    for (const d of users) {
      const labels = d.spec.template.metadata.labels;
      const admittedBy = policies
        .filter((p) => p.spec.ingress.some((rule: any) => (rule.from ?? []).some((peer: any) => matches(peer.podSelector?.matchLabels, labels) && (peer.namespaceSelector ? matches(peer.namespaceSelector.matchLabels, ns.get(d.metadata.namespace) ?? {}) : p.metadata.namespace === d.metadata.namespace))))
        .map((p) => p.metadata.labels['anvil.dev/region']);
      const world = all.find((o) => o?.kind === 'WorldInstance' && o.metadata.name === d.metadata.labels['anvil.dev/world']);
      expect(admittedBy).toEqual([world.spec.region]);
    }
  });
});

describe('a world namespace not labelled for worlds', () => {
  test('is a problem only for a world whose pods use a global provider, and the message says how to fix it', async () => {
    const { namespaceProblem } = await import('../../lib/reconciler/worlds/reconcile.js');
    const w = { apiVersion: 'anvil.dev/v1alpha1', kind: 'WorldInstance', metadata: { name: 'w', namespace: 'games' }, spec: { gameRef: { name: 'g' } } } as WorldInstance;
    const dep = (labels: Record<string, string>) => ({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'd' }, spec: { template: { metadata: { labels } } } }) as KubernetesObject;
    const nsCache = (labels: Record<string, string>) => ({ namespaces: { get: () => ({ metadata: { name: 'games', labels } }) } as never });
    expect(namespaceProblem(w, [dep({ 'uses.anvil.dev/bus': 'true' })], nsCache({}))).toBe(
      'namespace games is not labelled anvil.dev/worlds=true, so the global providers it uses (bus) would not admit its pods; label it: kubectl label namespace games anvil.dev/worlds=true',
    );
    expect(namespaceProblem(w, [dep({ 'uses.anvil.dev/bus': 'true' })], nsCache({ 'anvil.dev/worlds': 'true' }))).toBeUndefined();
    expect(namespaceProblem(w, [dep({ app: 'x' })], nsCache({}))).toBeUndefined();
  });
});

describe('a namespace being deleted', () => {
  // The API server refuses new content there (403 "… because it is being terminated"): a pass
  // that created a world's objects, a refill or an Event could only fail and report a failure
  // that is none. Every pass leaves such a namespace alone, without a single request.
  const terminating = { get: (name: string) => ({ metadata: { name, deletionTimestamp: '2026-12-07T00:00:00Z' } }) };
  const noRequests = new Proxy({}, { get: (_t, p) => () => Promise.reject(new Error(`unexpected request: ${String(p)}`)) });

  test('its worlds are not reconciled: no apply, no status, no Event', async () => {
    const { reconcileWorld } = await import('../../lib/reconciler/worlds/reconcile.js');
    const w = { apiVersion: 'anvil.dev/v1alpha1', kind: 'WorldInstance', metadata: { name: 'w', namespace: 'gone', uid: 'u1' }, spec: { gameRef: { name: 'g' } } };
    const ctx = { worlds: { get: () => w }, namespaces: terminating, kube: noRequests, applier: noRequests, events: noRequests } as never;
    await expect(reconcileWorld('gone/w', ctx)).resolves.toEqual({});
  });

  test('its pools are not refilled and its claims not bound', async () => {
    const { PoolController } = await import('../../lib/reconciler/pools/controller.js');
    const { ClaimController } = await import('../../lib/reconciler/claims/controller.js');
    const pool = { apiVersion: 'anvil.dev/v1alpha1', kind: 'WorldPool', metadata: { name: 'p', namespace: 'gone', uid: 'p1' }, spec: { gameRef: { name: 'g' }, buffer: 3 } };
    const cache = (items: KubernetesObject[]) => ({ get: () => items[0], list: () => items }) as never;
    const isTerminating = (ns: string) => terminating.get(ns).metadata.deletionTimestamp !== undefined;
    const pools = new PoolController({ kube: noRequests as never, worlds: cache([]), pools: cache([pool as KubernetesObject]), definitions: { get: () => ({ catalog: { games: new Map([['g', {}]]) } }) } as never, metrics: new ReconcilerMetrics(), log: () => {}, canWrite: () => true, viewWorld: (w) => w, isReserved: () => false, claimsIdle: () => true, sinceLastClaim: () => Infinity, terminating: isTerminating });
    await expect(pools.pass('gone/p')).resolves.toBeUndefined();
    const claim = { apiVersion: 'anvil.dev/v1alpha1', kind: 'WorldClaim', metadata: { name: 'c', namespace: 'gone', uid: 'c1' }, spec: { poolRef: { name: 'p' } } };
    const claims = new ClaimController({ kube: noRequests as never, worlds: cache([]), claims: cache([claim as KubernetesObject]), pools: cache([pool as KubernetesObject]), metrics: new ReconcilerMetrics(), log: () => {}, canWrite: () => true, onPending: () => {}, terminating: isTerminating });
    await expect(claims.pass('gone')).resolves.toBeUndefined();
  });
});

describe('drift that apply cannot take back', () => {
  test('is reported with the same words on every pass (one Warning counted up, not a second one), and applied no more than the repair limit', async () => {
    const desired = { apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: 'w1-vault-data', namespace: 'games' }, spec: { resources: { requests: { storage: '1Gi' } } } };
    // Resized by hand: Anvil's hash annotation is still on it, the size is not.
    const hashed = withHash(desired);
    const live = { ...hashed, metadata: { ...hashed.metadata, uid: 'uid-pvc', resourceVersion: '9' }, spec: { resources: { requests: { storage: '6Gi' } } } };
    const refused = Object.assign(new Error('HTTP'), {
      code: 422,
      body: JSON.stringify({
        message: 'PersistentVolumeClaim "w1-vault-data" is invalid: spec.resources.requests.storage: Forbidden: field can not be less than previous value',
        details: { causes: [{ reason: 'FieldValueForbidden', field: 'spec.resources.requests.storage' }] },
      }),
    });
    let applies = 0;
    const kube = { apply: async () => (applies++, Promise.reject(refused)), read: async () => undefined };
    const cache = { list: () => [live], byIndex: () => [], get: () => live };
    const applier = new Applier(kube as never, new Map([['PersistentVolumeClaim', cache]]) as never);
    const owner = { describe: 'WorldInstance games/w1', ownerUid: 'uid-w1', classify: () => 'ours' as const };
    const reports = [];
    for (let pass = 0; pass < 5; pass++) reports.push((await applier.sync([desired], 'games', owner)).drift);
    expect(reports[0]).toEqual([expect.objectContaining({ object: 'PersistentVolumeClaim/games/w1-vault-data', field: expect.stringContaining('spec.resources.requests.storage') })]);
    for (const r of reports) expect(r).toEqual(reports[0]);
    expect(applies).toBe(2);
  });
});
