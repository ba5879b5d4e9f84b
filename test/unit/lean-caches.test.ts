// Issue 19, lean: caches keep only what the reconciler reads, and a new object costs no GET.
// A plain HTTP server on loopback plays the API server for the informers: client-node's
// ListWatch and Watch, the Kube client and its list function are the real ones.
import * as http from 'node:http';
import { afterAll, beforeAll, beforeEach, describe, expect, test } from '@jest/globals';
import { closeLoopback, listenLoopback } from './loopback.js';
import { KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import { Informer, type InformerEvent } from '../../lib/reconciler/runtime/informer.js';
import { Kube, METADATA_LIST_ACCEPT, METADATA_WATCH_ACCEPT } from '../../lib/reconciler/runtime/kube.js';
import { ReconcilerMetrics } from '../../lib/reconciler/runtime/metrics.js';
import { VerifiedContent, contentDigestOf, trimOwned, trimToRecord } from '../../lib/reconciler/runtime/trim.js';
import { ownerUids } from '../../lib/reconciler/runtime/cacheIndex.js';
import { Applier, ConflictError, withHash } from '../../lib/reconciler/worlds/apply.js';
import { worldOwner } from '../../lib/reconciler/worlds/reconcile.js';
import type { WorldInstance } from '../../lib/api/schema.js';

/** What the fake API server holds and what it was asked. */
const state = {
  objects: new Map<string, KubernetesObject>(),
  requests: [] as { url: string; accept: string }[],
  watches: [] as http.ServerResponse[],
  rv: 100,
};

const cm = (name: string, rv: string): KubernetesObject =>
  ({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name,
      namespace: 'n',
      uid: `uid-${name}`,
      resourceVersion: rv,
      labels: { app: name },
      annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{"a":"long string"}', 'anvil.dev/applied-hash': 'h' },
      managedFields: [{ manager: 'kubectl', operation: 'Update', fieldsV1: { 'f:data': {} } }],
      ownerReferences: [{ apiVersion: 'anvil.dev/v1alpha1', kind: 'WorldInstance', name: 'w', uid: 'uid-w' }],
    },
    data: { big: 'x'.repeat(1000) },
  }) as KubernetesObject;

/** The object as PartialObjectMetadata (what the API server sends for the metadata Accept headers). */
const partial = (o: KubernetesObject) => ({ apiVersion: 'meta.k8s.io/v1', kind: 'PartialObjectMetadata', metadata: o.metadata });

let server: http.Server;
let kc: KubeConfig;

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const accept = String(req.headers.accept ?? '');
    state.requests.push({ url: req.url ?? '', accept });
    const meta = accept.includes('as=PartialObjectMetadata');
    if (req.url?.includes('watch=true')) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.flushHeaders();
      state.watches.push(res);
      return;
    }
    const items = [...state.objects.values()].map((o) => (meta ? partial(o) : o));
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ apiVersion: meta ? 'meta.k8s.io/v1' : 'v1', kind: meta ? 'PartialObjectMetadataList' : 'ConfigMapList', metadata: { resourceVersion: String(state.rv) }, items }));
  });
  kc = await listenLoopback(server);
});

afterAll(() => closeLoopback(server));

beforeEach(() => {
  state.objects.clear();
  state.requests = [];
  state.watches = [];
});

/** Waits for a condition (never for a time): polls until it holds. */
async function until(cond: () => boolean): Promise<void> {
  while (!cond()) await new Promise((r) => setTimeout(r, 10));
}

function informer(more: { metadataOnly?: boolean; trim?: <T extends KubernetesObject>(o: T) => T } = {}) {
  const events: [InformerEvent, string][] = [];
  const kube = new Kube(kc, new ReconcilerMetrics(), { maxSockets: 4 });
  const inf = new Informer<KubernetesObject>(kc, kube, { path: '/api/v1/configmaps', onEvent: (e, o) => events.push([e, o.metadata?.name ?? '']), log: () => {}, indexBy: ownerUids, ...more });
  return { inf, events };
}

describe('a metadata-only informer', () => {
  test('lists and watches PartialObjectMetadata (the Accept headers), and keeps compact records', async () => {
    state.objects.set('a', cm('a', '1'));
    const { inf } = informer({ metadataOnly: true, trim: trimToRecord('ConfigMap') });
    await inf.start();
    await until(() => state.watches.length === 1);
    const list = state.requests.find((r) => !r.url.includes('watch=true'));
    const watch = state.requests.find((r) => r.url.includes('watch=true'));
    expect(list?.accept).toBe(METADATA_LIST_ACCEPT);
    expect(watch?.accept).toBe(METADATA_WATCH_ACCEPT);

    // The record: the object's kind, identity, labels, owners, Anvil's annotations and its managers; nothing else.
    expect(inf.get('a', 'n')).toEqual({
      kind: 'ConfigMap',
      metadata: {
        name: 'a',
        namespace: 'n',
        uid: 'uid-a',
        resourceVersion: '1',
        labels: { app: 'a' },
        annotations: { 'anvil.dev/applied-hash': 'h' },
        ownerReferences: [{ apiVersion: 'anvil.dev/v1alpha1', kind: 'WorldInstance', name: 'w', uid: 'uid-w' }],
        managedFields: [{ manager: 'kubectl', operation: 'Update' }],
        deletionTimestamp: undefined,
      },
    });

    // A watch event arrives as PartialObjectMetadata too, and is cut down the same way.
    state.watches[0]!.write(`${JSON.stringify({ type: 'ADDED', object: { ...partial(cm('b', '2')), metadata: { ...cm('b', '2').metadata, resourceVersion: '101' } } })}\n`);
    await until(() => inf.get('b', 'n') !== undefined);
    expect(inf.get('b', 'n')).toMatchObject({ kind: 'ConfigMap', metadata: { name: 'b', resourceVersion: '101', annotations: { 'anvil.dev/applied-hash': 'h' } } });
    expect(Object.keys(inf.get('b', 'n')!)).toEqual(['kind', 'metadata']);
    await inf.stop();
  });
});

describe('a relist', () => {
  test('swaps in a fresh cache that shares every unchanged object with the old one, and reports what is gone', async () => {
    for (const o of [cm('same', '1'), cm('changed', '2'), cm('gone', '3')]) state.objects.set(o.metadata!.name!, o);
    const { inf, events } = informer();
    await inf.start();
    const before = { same: inf.get('same', 'n'), changed: inf.get('changed', 'n') };
    expect(before.same).toBeDefined();

    state.objects.set('changed', cm('changed', '20'));
    state.objects.delete('gone');
    state.objects.set('new', cm('new', '4'));
    await inf.relist();

    // Not a copy: the very object the old cache held (no second copy while the relist runs).
    expect(inf.get('same', 'n')).toBe(before.same);
    expect(inf.get('changed', 'n')).not.toBe(before.changed);
    expect(inf.get('changed', 'n')?.metadata?.resourceVersion).toBe('20');
    expect(inf.get('gone', 'n')).toBeUndefined();
    expect(inf.get('new', 'n')).toBeDefined();
    expect(events).toContainEqual(['delete', 'gone']);
    // The index was swapped with the cache.
    expect(inf.byIndex('uid-w').map((o) => o.metadata?.name).sort()).toEqual(['changed', 'new', 'same']);
    await inf.stop();
  });
});

describe('Applier: no GET per new object', () => {
  const world = { apiVersion: 'anvil.dev/v1alpha1', kind: 'WorldInstance', metadata: { name: 'w1', namespace: 'n', uid: 'uid-w1' }, spec: { gameRef: { name: 'g' } } } as WorldInstance;
  const owner = worldOwner(world, 'uid-w1');
  const mine = (name: string) =>
    ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'n', labels: { 'app.kubernetes.io/managed-by': 'anvil', 'anvil.dev/world': 'w1' }, ownerReferences: [{ apiVersion: 'anvil.dev/v1alpha1', kind: 'WorldInstance', name: 'w1', uid: 'uid-w1' }] }, data: { k: name } }) as KubernetesObject;
  const emptyCache = { get: () => undefined, list: () => [], byIndex: () => [] };

  function applierWith(foreignObjects: KubernetesObject[], create: (o: KubernetesObject) => Promise<KubernetesObject> = async (o) => ({ ...o, metadata: { ...o.metadata, uid: `uid-${o.metadata?.name}`, resourceVersion: '1' } })) {
    const calls = { read: [] as string[], create: [] as string[], apply: [] as string[] };
    const foreign = { get: (name: string, ns?: string) => foreignObjects.find((o) => o.metadata?.name === name && o.metadata?.namespace === ns), list: () => foreignObjects, byIndex: () => [] };
    const kube = {
      read: async (_v: string, _k: string, name: string): Promise<KubernetesObject | undefined> => {
        calls.read.push(name);
        return undefined;
      },
      create: async (o: KubernetesObject) => (calls.create.push(o.metadata?.name ?? ''), create(o)),
      apply: async (o: KubernetesObject) => (calls.apply.push(o.metadata?.name ?? ''), o),
      delete: async () => {},
      mergePatch: async (o: KubernetesObject) => o,
    };
    const applier = new Applier(kube as never, new Map([['ConfigMap', emptyCache]]) as never, new Map([['ConfigMap', foreign]]) as never);
    return { applier, calls, kube };
  }

  test('a foreign object (known from the metadata-only cache) is a conflict reported with no request at all', async () => {
    const theirs = trimToRecord('ConfigMap')({ ...partial(cm('w1-routes', '5')), metadata: { name: 'w1-routes', namespace: 'n', uid: 'uid-theirs', resourceVersion: '5' } } as KubernetesObject);
    const { applier, calls } = applierWith([theirs]);
    await expect(applier.sync([mine('w1-routes'), mine('w1-other')], 'n', owner)).rejects.toThrow(ConflictError);
    expect(calls).toEqual({ read: [], create: [], apply: [] });
  });

  test('new objects are created with POST and no GET; the next pass, before the cache shows them, sends nothing', async () => {
    const { applier, calls } = applierWith([]);
    const desired = [mine('w1-a'), mine('w1-b')];
    await applier.sync(desired, 'n', owner);
    expect(calls.read).toEqual([]);
    expect(calls.create.sort()).toEqual(['w1-a', 'w1-b']);
    await applier.sync(desired, 'n', owner);
    expect(calls).toEqual({ read: [], create: ['w1-a', 'w1-b'], apply: [] });
  });

  test('POST answered 409: an object of ours created by an earlier pass is read and left alone when up to date; someone else\'s is a conflict', async () => {
    const exists = Object.assign(new Error('AlreadyExists'), { code: 409 });
    const ours = withHash(mine('w1-a'));
    const { applier, calls, kube } = applierWith([], async () => {
      throw exists;
    });
    kube.read = async (_v, _k, name) => (calls.read.push(name), { ...ours, metadata: { ...ours.metadata, uid: 'uid-a', resourceVersion: '3' } });
    const r = await applier.sync([mine('w1-a')], 'n', owner);
    expect(r.applied).toBe(0);
    expect(calls).toEqual({ read: ['w1-a'], create: ['w1-a'], apply: [] });

    kube.read = async (_v, _k, name) => (calls.read.push(name), { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'n', uid: 'uid-x', resourceVersion: '9' } });
    await expect(applier.sync([mine('w1-b')], 'n', owner)).rejects.toThrow(ConflictError);
  });
});

describe('Applier: a conflict found only by POST', () => {
  test('what the pass created is deleted again (exactly that version) and the workloads are not written', async () => {
    const world = { apiVersion: 'anvil.dev/v1alpha1', kind: 'WorldInstance', metadata: { name: 'w1', namespace: 'n', uid: 'uid-w1' }, spec: { gameRef: { name: 'g' } } } as WorldInstance;
    const obj = (kind: string, name: string) =>
      ({ apiVersion: kind === 'Deployment' ? 'apps/v1' : 'v1', kind, metadata: { name, namespace: 'n', labels: { 'app.kubernetes.io/managed-by': 'anvil', 'anvil.dev/world': 'w1' }, ownerReferences: [{ apiVersion: 'anvil.dev/v1alpha1', kind: 'WorldInstance', name: 'w1', uid: 'uid-w1' }] } }) as KubernetesObject;
    const calls = { created: [] as string[], deleted: [] as unknown[] };
    const kube = {
      create: async (o: KubernetesObject) => {
        if (o.metadata?.name === 'w1-theirs') throw Object.assign(new Error('AlreadyExists'), { code: 409 });
        calls.created.push(o.metadata?.name ?? '');
        return { ...o, metadata: { ...o.metadata, uid: `uid-${o.metadata?.name}`, resourceVersion: '7' } };
      },
      read: async (_v: string, kind: string, name: string) => ({ apiVersion: 'v1', kind, metadata: { name, namespace: 'n', uid: 'uid-x', resourceVersion: '9' } }),
      delete: async (o: KubernetesObject) => void calls.deleted.push([o.kind, o.metadata?.name, o.metadata?.uid, o.metadata?.resourceVersion]),
      apply: async (o: KubernetesObject) => o,
      mergePatch: async (o: KubernetesObject) => o,
    };
    const empty = { get: () => undefined, list: () => [], byIndex: () => [] };
    const caches = new Map(['ConfigMap', 'Deployment'].map((k) => [k, empty]));
    const applier = new Applier(kube as never, caches as never, caches as never);
    const err = await applier.sync([obj('ConfigMap', 'w1-mine'), obj('ConfigMap', 'w1-theirs'), obj('Deployment', 'w1-game')], 'n', worldOwner(world, 'uid-w1')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConflictError);
    expect((err as ConflictError).objects).toEqual(['ConfigMap/n/w1-theirs']);
    expect(calls.created).toEqual(['w1-mine']);
    expect(calls.deleted).toEqual([['ConfigMap', 'w1-mine', 'uid-w1-mine', '7']]);
  });
});

describe('compact records of owned objects', () => {
  const world = { apiVersion: 'anvil.dev/v1alpha1', kind: 'WorldInstance', metadata: { name: 'w1', namespace: 'n', uid: 'uid-w1' }, spec: { gameRef: { name: 'g' } } } as WorldInstance;
  const owner = worldOwner(world, 'uid-w1');
  const desired = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'w1-game', namespace: 'n', labels: { 'app.kubernetes.io/managed-by': 'anvil', 'anvil.dev/world': 'w1' }, ownerReferences: [{ apiVersion: 'anvil.dev/v1alpha1', kind: 'WorldInstance', name: 'w1', uid: 'uid-w1' }] },
    spec: { replicas: 1, selector: { matchLabels: { a: 'b' } }, template: { metadata: { labels: { a: 'b' } }, spec: { containers: [{ name: 'c', image: 'img:1', env: [{ name: 'BIG', value: 'x'.repeat(500) }] }] } } },
  } as KubernetesObject;
  /** The object as the API server returns it: our content, its defaults, a status. */
  const served = (rv: string, image = 'img:1') => {
    const o = JSON.parse(JSON.stringify(withHash(desired))) as KubernetesObject & { spec: { template: { spec: { containers: Record<string, unknown>[]; dnsPolicy?: string } } }; status?: unknown };
    o.metadata = { ...o.metadata, uid: 'uid-d', resourceVersion: rv, generation: 1, managedFields: [{ manager: 'anvil-reconciler', operation: 'Apply' }] };
    o.spec.template.spec.containers[0]!.image = image;
    o.spec.template.spec.containers[0]!.imagePullPolicy = 'IfNotPresent';
    o.spec.template.spec.dnsPolicy = 'ClusterFirst';
    o.status = { observedGeneration: 1, replicas: 1, availableReplicas: 1, updatedReplicas: 1, conditions: [{ type: 'Available' }] };
    return o;
  };

  function setup(cached: () => KubernetesObject | undefined) {
    const verified = new VerifiedContent();
    const calls = { apply: 0 };
    const kube = { apply: async () => (calls.apply++, served('2')), read: async () => undefined, create: async () => served('1'), delete: async () => {}, mergePatch: async (o: KubernetesObject) => o };
    const cache = { get: () => cached(), list: () => [], byIndex: () => [] };
    const applier = new Applier(kube as never, new Map([['Deployment', cache]]) as never, new Map(), verified);
    return { verified, calls, applier };
  }

  test('an object the reconciler wrote is cached as a digest (what is read of it stays); an edit by someone else is cached whole and repaired', async () => {
    let cached: KubernetesObject | undefined;
    const { verified, calls, applier } = setup(() => cached);
    const trim = trimOwned('Deployment', verified);
    await applier.sync([desired], 'n', owner); // created: the answer is known good
    expect(verified.get('uid-d')).toBeDefined();

    // Its watch event (a status change later, same content): compact.
    cached = trim(served('3'));
    expect(cached).toMatchObject({ spec: { replicas: 1 }, status: { availableReplicas: 1 }, metadata: { name: 'w1-game', uid: 'uid-d' } });
    expect((cached as { spec: Record<string, unknown> }).spec.template).toBeUndefined();
    expect(contentDigestOf(cached)).toBe(verified.get('uid-d'));
    // A pass over it writes nothing: the digest says the content is what the plan wants.
    expect((await applier.sync([desired], 'n', owner)).applied).toBe(0);
    expect(calls.apply).toBe(0);

    // Someone changes the image: another digest, the object is cached whole, and apply repairs it.
    cached = trim(served('4', 'img:evil'));
    expect((cached as { spec: { template?: unknown } }).spec.template).toBeDefined();
    expect((await applier.sync([desired], 'n', owner)).applied).toBe(1);
    expect(calls.apply).toBe(1);
  });

  test('after a restart (nothing verified yet) a cached whole object found up to date is verified and compacted in place', async () => {
    let cached: KubernetesObject | undefined;
    const { verified, calls, applier } = setup(() => cached);
    cached = trimOwned('Deployment', verified)(served('5'));
    expect((cached as { spec: { template?: unknown } }).spec.template).toBeDefined();
    expect((await applier.sync([desired], 'n', owner)).applied).toBe(0);
    expect(calls.apply).toBe(0);
    expect((cached as { spec: { template?: unknown; replicas?: number } }).spec).toEqual({ replicas: 1 });
    expect(verified.get('uid-d')).toBe(contentDigestOf(cached));
  });
});
