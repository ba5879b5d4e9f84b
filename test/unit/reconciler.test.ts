// The reconciler's pure parts: the work queue, no-op detection and the phase machine.
import { ListWatch, type KubernetesObject } from '@kubernetes/client-node';
import { Applier, covers, inParallel, upToDate, withHash } from '../../lib/reconciler/worlds/apply.js';
import { CacheIndex, ownerUids } from '../../lib/reconciler/runtime/cacheIndex.js';
import { deploymentAvailable } from '../../lib/reconciler/shared/readiness.js';
import { SERVER_DEFAULTS, internStrings, trimOwned } from '../../lib/reconciler/runtime/trim.js';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { WorkQueue, runWorkers } from '../../lib/reconciler/runtime/queue.js';
import { computeStatus, type Resolution, type WorkloadState } from '../../lib/reconciler/worlds/status.js';
import type { WorldInstance } from '../../lib/api/schema.js';

describe('WorkQueue', () => {
  test('deduplicates, never hands a key to two workers, and requeues a key added while it was processed', async () => {
    const q = new WorkQueue();
    q.add('a');
    q.add('a');
    q.add('b');
    expect(q.depth).toBe(2);
    const k = await q.get();
    expect(k).toBe('a');
    q.add('a'); // while processing: not handed out again yet
    expect(await q.get()).toBe('b');
    expect(q.depth).toBe(0);
    q.done('a');
    expect(await q.get()).toBe('a');
    q.shutdown();
    expect(await q.get()).toBeUndefined();
  });

  test('keys added with `first` go before the others, move ahead when already queued, and come back ahead when added while processed', async () => {
    const q = new WorkQueue();
    for (const k of ['new-1', 'new-2', 'new-3']) q.add(k);
    q.add('ready-1', { first: true });
    q.add('new-3', { first: true }); // already queued: moves ahead, after the earlier first ones
    q.add('new-3', { first: true }); // once
    expect(q.depth).toBe(4);
    expect(await q.get()).toBe('ready-1');
    q.add('ready-1', { first: true }); // while processing: back ahead once done
    q.add('ready-2', { first: true });
    q.done('ready-1');
    expect([await q.get(), await q.get(), await q.get()]).toEqual(['new-3', 'ready-2', 'ready-1']);
    expect([await q.get(), await q.get()]).toEqual(['new-1', 'new-2']);
    expect(q.depth).toBe(0);
    q.shutdown();
  });

  test('backs off exponentially per key and forgets on success', () => {
    const q = new WorkQueue({ baseDelayMs: 10 });
    q.addRateLimited('x');
    q.addRateLimited('x');
    expect(q.retries('x')).toBe(2);
    q.forget('x');
    expect(q.retries('x')).toBe(0);
    q.shutdown();
  });

  test('workers whose passes do no I/O still let I/O in between keys: a queue of them is not one chain of microtasks', async () => {
    const q = new WorkQueue();
    for (let i = 0; i < 100; i++) q.add(`k${i}`);
    let passes = 0;
    let passesBeforeIO: number | undefined;
    // An I/O-phase callback (what a socket's data, a watch event or an HTTP request is).
    setImmediate(() => (passesBeforeIO = passes));
    const workers = runWorkers(q, 2, async () => {
      passes++;
      if (passes === 100) q.shutdown();
    });
    await workers;
    expect(passes).toBe(100);
    expect(passesBeforeIO).toBeLessThanOrEqual(2);
  });
});

describe('no-op detection', () => {
  const desired = withHash({ apiVersion: 'v1', kind: 'Service', metadata: { name: 's', namespace: 'n', labels: { a: '1' } }, spec: { ports: [{ name: 'p', port: 80 }], selector: { a: '1' } } } as never);
  const live = (spec: unknown, annotations = desired.metadata!.annotations) => ({ metadata: { name: 's', namespace: 'n', labels: { a: '1', extra: 'x' }, annotations, resourceVersion: '5' }, spec });

  test('a live object holding everything desired (plus server defaults) is up to date', () => {
    expect(upToDate(live({ ports: [{ name: 'p', port: 80, protocol: 'TCP' }], selector: { a: '1' }, clusterIP: '10.0.0.1' }) as never, desired)).toBe(true);
  });
  test('an edited field, a missing object or another hash is not', () => {
    expect(upToDate(live({ ports: [{ name: 'p', port: 81 }], selector: { a: '1' } }) as never, desired)).toBe(false);
    expect(upToDate(undefined, desired)).toBe(false);
    expect(upToDate(live({ ports: [{ name: 'p', port: 80 }], selector: { a: '1' } }, { 'anvil.dev/applied-hash': 'old' }) as never, desired)).toBe(false);
  });
  test('empty lists match absent ones; numbers match their string form', () => {
    expect(covers(undefined, [])).toBe(true);
    expect(covers('1', 1)).toBe(true);
    expect(covers([1, 2], [1])).toBe(false);
  });
});

describe('informer cache trimming', () => {
  const managedFields = [{ manager: 'anvil-reconciler', operation: 'Apply', fieldsV1: { 'f:spec': {} } }];
  const service = () => withHash({ apiVersion: 'v1', kind: 'Service', metadata: { name: 's', namespace: 'n' }, spec: { ports: [{ name: 'p', port: 80 }] } } as never);

  test('owned objects keep only their managers of managedFields, lose status, and stay up to date', () => {
    const desired = service();
    const live = { ...structuredClone(desired), metadata: { ...structuredClone(desired.metadata), managedFields, resourceVersion: '3' }, status: { loadBalancer: {} } };
    const trimmed = trimOwned('Service')(live);
    expect(trimmed.metadata?.managedFields).toEqual([{ manager: 'anvil-reconciler', operation: 'Apply' }]);
    expect((trimmed as { status?: unknown }).status).toBeUndefined();
    expect(upToDate(trimmed, desired)).toBe(true);
    // Drift is still seen on what is kept.
    (trimmed as unknown as { spec: { ports: { port: number }[] } }).spec.ports[0]!.port = 81;
    expect(upToDate(trimmed, desired)).toBe(false);
  });

  test('Services keep status.loadBalancer when it has addresses (the world endpoints publish them)', () => {
    const svc = { ...service(), metadata: { name: 's', namespace: 'n', managedFields }, status: { loadBalancer: { ingress: [{ ip: '203.0.113.7', ipMode: 'VIP' }] }, conditions: [{ type: 'x' }] } };
    expect((trimOwned('Service')(svc as never) as { status?: unknown }).status).toEqual({ loadBalancer: { ingress: [{ ip: '203.0.113.7', ipMode: 'VIP' }] } });
  });

  test('owned objects lose the metadata nothing reads (creationTimestamp) and keep every value, uid and resourceVersion included (delete preconditions)', () => {
    const desired = service();
    const live = { ...structuredClone(desired), metadata: { ...structuredClone(desired.metadata), uid: 'u-1', creationTimestamp: '2026-01-01T00:00:00Z', resourceVersion: '42', generation: 3, ownerReferences: [{ apiVersion: 'anvil.dev/v1alpha1', kind: 'WorldInstance', name: 'w', uid: 'owner-uid' }] } };
    const expected = structuredClone(live) as unknown as KubernetesObject;
    delete expected.metadata!.creationTimestamp;
    const trimmed = trimOwned('Service')(live as unknown as KubernetesObject);
    expect(trimmed).toEqual(expected);
    expect(trimmed.metadata?.ownerReferences?.[0]?.uid).toBe('owner-uid');
    expect(upToDate(trimmed, desired)).toBe(true);
  });

  // What the renderer writes (dist/ is its output, checked against `npm run synth` elsewhere).
  const rendered = readdirSync('dist')
    .filter((f) => f.endsWith('.k8s.yaml'))
    .flatMap((f) => parseAllDocuments(readFileSync(join('dist', f), 'utf8')).map((d) => d.toJS() as KubernetesObject));

  test('no rendered object sets a field the caches drop as a server default (covers would never match it)', () => {
    const found: string[] = [];
    const has = (o: object | undefined, keys: readonly string[], where: string) => {
      for (const k of keys) if (o && k in o) found.push(`${where}.${k}`);
    };
    for (const o of rendered) {
      const ref = `${o.kind}/${o.metadata?.name}`;
      const spec = (o as { spec?: Record<string, unknown> & { template?: { metadata?: object; spec?: Record<string, unknown> & { containers?: object[]; initContainers?: object[] } } } }).spec;
      if (o.kind === 'Service') has(spec, SERVER_DEFAULTS.serviceSpec, `${ref} spec`);
      const pod = spec?.template?.spec;
      has(spec?.template?.metadata, ['creationTimestamp'], `${ref} template.metadata`);
      has(pod, SERVER_DEFAULTS.podSpec, `${ref} pod spec`);
      for (const c of [...(pod?.containers ?? []), ...(pod?.initContainers ?? [])]) has(c, SERVER_DEFAULTS.container, `${ref} container`);
    }
    expect(rendered.filter((o) => o.kind === 'Deployment').length).toBeGreaterThan(0);
    expect(found).toEqual([]);
  });

  test('a rendered Deployment and Service as the server returns them (defaults, status) are trimmed and still up to date; drift is still seen', () => {
    for (const kind of ['Deployment', 'Service'] as const) {
      const desired = withHash(rendered.find((o) => o.kind === kind)!);
      const live = structuredClone(desired) as KubernetesObject & { spec: Record<string, any>; status?: unknown };
      Object.assign(live.metadata!, { uid: 'u', creationTimestamp: '2026-01-01T00:00:00Z', resourceVersion: '9', generation: 2, managedFields: [{ manager: 'anvil-reconciler', operation: 'Apply', fieldsV1: {} }] });
      if (kind === 'Service') Object.assign(live.spec, { clusterIP: '10.96.0.7', clusterIPs: ['10.96.0.7'], ipFamilies: ['IPv4'], ipFamilyPolicy: 'SingleStack', sessionAffinity: 'None', internalTrafficPolicy: 'Cluster' });
      if (kind === 'Deployment') {
        const pod = live.spec.template.spec;
        Object.assign(pod, { dnsPolicy: 'ClusterFirst', schedulerName: 'default-scheduler', restartPolicy: 'Always' });
        for (const c of [...pod.containers, ...(pod.initContainers ?? [])]) Object.assign(c, { terminationMessagePath: '/dev/termination-log', terminationMessagePolicy: 'File', imagePullPolicy: 'IfNotPresent' });
        live.status = { observedGeneration: 2, replicas: 1, conditions: [] };
      }
      const trimmed = trimOwned(kind)(live) as KubernetesObject & { spec: Record<string, any> };
      expect(JSON.stringify(trimmed)).not.toMatch(/clusterIP|ipFamil|sessionAffinity|internalTrafficPolicy|dnsPolicy|schedulerName|restartPolicy|terminationMessage|imagePullPolicy|creationTimestamp/);
      expect(trimmed.metadata).toMatchObject({ name: desired.metadata?.name, resourceVersion: '9', generation: 2 });
      expect(upToDate(trimmed, desired)).toBe(true);
      const edited = structuredClone(trimmed) as typeof trimmed;
      if (kind === 'Service') edited.spec.ports[0].port += 1;
      else edited.spec.template.spec.containers[0].image = 'someone/else:1';
      expect(upToDate(edited, desired)).toBe(false);
    }
  });

  test('internStrings keeps every value (strings in objects and arrays, numbers, booleans, nulls) and changes no key', () => {
    const o = { a: 'x', b: ['y', 1, true, null, { c: 'z', d: ['x'] }], long: 'l'.repeat(1000), metadata: { resourceVersion: '7' } };
    expect(internStrings(structuredClone(o))).toEqual(o);
  });

  test('cached objects get their kind (list items come without it)', () => {
    const item = () => ({ metadata: { name: 's', namespace: 'n' } });
    expect(trimOwned('Service')(item() as KubernetesObject).kind).toBe('Service');
    expect(trimOwned('Deployment')({ ...item(), status: {} } as KubernetesObject).kind).toBe('Deployment');
  });

  test('Deployments keep the status fields readiness reads', () => {
    const d = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'd', namespace: 'n', generation: 2, managedFields },
      spec: { replicas: 1 },
      status: { observedGeneration: 2, availableReplicas: 1, updatedReplicas: 1, replicas: 1, conditions: [{ type: 'Available', status: 'True' }] },
    };
    const trimmed = trimOwned('Deployment')(d);
    expect((trimmed as { status?: unknown }).status).toEqual({ observedGeneration: 2, availableReplicas: 1, updatedReplicas: 1, replicas: 1 });
    expect(trimmed.metadata?.managedFields).toEqual([{ manager: 'anvil-reconciler', operation: 'Apply' }]);
    expect(deploymentAvailable(trimmed)).toBe(true);
  });

  test('a Deployment whose new pod is not Ready while the old one still serves is not available', () => {
    const d = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'd', namespace: 'n', generation: 3 }, spec: { replicas: 1 } };
    // Rolling update, maxSurge 1: the old pod is available, the new one is not.
    expect(deploymentAvailable({ ...d, status: { observedGeneration: 3, replicas: 2, updatedReplicas: 1, availableReplicas: 1 } } as never)).toBe(false);
    expect(deploymentAvailable({ ...d, status: { observedGeneration: 3, replicas: 1, updatedReplicas: 1, availableReplicas: 1 } } as never)).toBe(true);
  });
});

describe('inParallel', () => {
  test('keeps at most `limit` tasks running and returns results in order', async () => {
    let running = 0;
    let peak = 0;
    const out = await inParallel([5, 1, 4, 2, 3, 0, 6], 3, async (n) => {
      running++;
      peak = Math.max(peak, running);
      await new Promise((r) => setTimeout(r, n));
      running--;
      return n * 2;
    });
    expect(out).toEqual([10, 2, 8, 4, 6, 0, 12]);
    expect(peak).toBe(3);
    expect(await inParallel([], 3, async () => 1)).toEqual([]);
  });
});

describe('world status', () => {
  const world = (status?: WorldInstance['status'], generation = 1): WorldInstance => ({
    apiVersion: 'anvil.dev/v1alpha1',
    kind: 'WorldInstance',
    metadata: { name: 'w', namespace: 'n', generation, creationTimestamp: '2026-01-01T00:00:00Z' },
    spec: { gameRef: { name: 'g' } },
    ...(status ? { status } : {}),
  });
  const ok: Resolution = { ok: true, reason: 'Resolved', message: '2 binding(s)' };
  const state = (existing: number, ready: number): WorkloadState => ({ managedBy: 'reconciler', bindings: 2, modules: 2, existing, readyModules: ready, notReady: [] });

  test('Pending -> Provisioning -> Running, with runningSince once and a stable lastTransitionTime', () => {
    const t = new Date('2026-01-01T00:00:10Z');
    const pending = computeStatus(world(), ok, state(0, 0), t);
    expect(pending.to).toBe('Pending');
    const prov = computeStatus(world(pending.status), ok, state(2, 1), t);
    expect(prov.to).toBe('Provisioning');
    const running = computeStatus(world(prov.status), ok, state(2, 2), new Date('2026-01-01T00:00:20Z'));
    expect(running).toMatchObject({ to: 'Running', firstRunning: true });
    expect(running.status.runningSince).toBe('2026-01-01T00:00:20Z');
    const again = computeStatus(world(running.status), ok, state(2, 2), new Date('2026-01-01T00:01:00Z'));
    expect(again.changed).toBe(false);
    const degraded = computeStatus(world(running.status), ok, state(2, 1));
    expect(degraded.to).toBe('Degraded');
    // A new spec while not ready is a rollout, not a degradation.
    expect(computeStatus(world(running.status, 2), ok, state(2, 1)).to).toBe('Provisioning');
  });

  test('Failed with the reason, and Terminating once deleted', () => {
    const failed = computeStatus(world(), { ok: false, reason: 'GameNotFound', message: 'game g is not defined' }, state(0, 0));
    expect(failed.to).toBe('Failed');
    expect(failed.status.conditions?.find((c) => c.type === 'Resolved')).toMatchObject({ status: 'False', reason: 'GameNotFound', observedGeneration: 1 });
    const w = world(failed.status);
    w.metadata.deletionTimestamp = '2026-01-01T00:02:00Z';
    expect(computeStatus(w, ok, state(2, 2)).to).toBe('Terminating');
  });
});

describe('Applier.sync: what left the plan', () => {
  // In-memory caches shaped like the informers' (list by namespace, get by name), holding the
  // objects of two worlds in one namespace, as the trimmed caches hold them.
  const cm = (name: string, world: string, extra: Record<string, unknown> = {}) =>
    trimOwned('ConfigMap')({ metadata: { name, namespace: 'n', labels: { 'anvil.dev/world': world }, ...extra } } as never);
  const objects = [cm('a-routes', 'a'), cm('a-old', 'a'), cm('a-going', 'a', { deletionTimestamp: 'x' }), cm('b-routes', 'b'), { metadata: { name: 'a-nokind', namespace: 'n', labels: { 'anvil.dev/world': 'a' } } }];
  const cache = { list: (ns?: string) => objects.filter((o) => !ns || o.metadata?.namespace === ns), get: (name: string) => objects.find((o) => o.metadata?.name === name) };
  const deleted: unknown[] = [];
  const kube = { apply: async (o: unknown) => o, delete: async (o: unknown) => void deleted.push(o) };

  test('deletes only the stale objects of the world being synced, with kind and apiVersion, and never another world\'s', async () => {
    const applier = new Applier(kube as never, new Map([['ConfigMap', cache]]) as never);
    const desired = [{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'a-routes', namespace: 'n', labels: { 'anvil.dev/world': 'a' } } }];
    const owner = { describe: 'world a', classify: (o: { kind?: string; metadata?: { labels?: Record<string, string> } }) => (o.metadata?.labels?.['anvil.dev/world'] === 'a' && o.kind === 'ConfigMap' ? 'ours' : 'foreign') };
    const r = await applier.sync(desired as never, 'n', owner as never);
    expect(r.deleted).toBe(2);
    expect(deleted.map((o) => (o as { metadata: { name: string } }).metadata.name).sort()).toEqual(['a-nokind', 'a-old']);
    for (const o of deleted) expect(o).toMatchObject({ apiVersion: 'v1', kind: 'ConfigMap' });
  });
});

describe('CacheIndex: the owned caches indexed by owner uid', () => {
  const cm = (name: string, owners: string[], ns = 'n') =>
    ({ kind: 'ConfigMap', metadata: { name, namespace: ns, ownerReferences: owners.map((uid) => ({ apiVersion: 'anvil.dev/v1alpha1', kind: 'WorldInstance', name: 'w', uid })) } }) as KubernetesObject;
  const names = (os: readonly KubernetesObject[]) => os.map((o) => `${o.metadata?.namespace}/${o.metadata?.name}`).sort();

  test('files objects under each owner uid on add, moves them on an update that changes the owner, and drops them on delete', () => {
    const index = new CacheIndex(ownerUids);
    index.set(cm('a1', ['uid-a']));
    index.set(cm('a2', ['uid-a']));
    index.set(cm('b1', ['uid-b']));
    index.set(cm('a1', ['uid-a'], 'other')); // same name, other namespace: another object
    index.set(cm('none', []));
    expect(names(index.get('uid-a'))).toEqual(['n/a1', 'n/a2', 'other/a1']);
    expect(names(index.get('uid-b'))).toEqual(['n/b1']);

    // An update that changes the owner: filed under the new uid only.
    index.set(cm('a2', ['uid-b']));
    expect(names(index.get('uid-a'))).toEqual(['n/a1', 'other/a1']);
    expect(names(index.get('uid-b'))).toEqual(['n/a2', 'n/b1']);
    // Two owners, then one: under both, then under the one left.
    index.set(cm('b1', ['uid-b', 'uid-c']));
    expect(names(index.get('uid-c'))).toEqual(['n/b1']);
    index.set(cm('b1', ['uid-b']));
    expect(index.get('uid-c')).toEqual([]);
    // An update that drops every owner reference unfiles the object.
    index.set(cm('a1', [], 'other'));
    expect(names(index.get('uid-a'))).toEqual(['n/a1']);

    index.delete(cm('a1', ['uid-a']));
    index.delete(cm('a2', ['uid-b']));
    index.delete(cm('b1', ['uid-b']));
    index.delete(cm('never-there', ['uid-x']));
    expect(index.get('uid-a')).toEqual([]);
    expect(index.get('uid-b')).toEqual([]);
    expect(index.size).toBe(0); // emptied keys are not kept
  });

  test('an update replaces the object the index returns (the newest one, as the cache holds)', () => {
    const index = new CacheIndex(ownerUids);
    index.set(cm('a1', ['uid-a']));
    const newer = { ...cm('a1', ['uid-a']), data: { v: '2' } } as KubernetesObject;
    index.set(newer);
    expect(index.get('uid-a')).toEqual([newer]);
    expect(index.get('uid-a')[0]).toBe(newer);
  });

  test('follows a ListWatch through its list, watch events and a relist after 410 Gone (deletions found by the relist included)', async () => {
    // client-node's own ListWatch, fed by a list function and a watch that deliver what a
    // server would: the index is wired to its events as Informer wires it.
    let items: KubernetesObject[] = [cm('a1', ['uid-a']), cm('b1', ['uid-b'])];
    let handler: ((phase: string, o: KubernetesObject) => void) | undefined;
    let done: ((err: unknown) => void) | undefined;
    const watch = {
      watch: async (_path: string, _params: unknown, cb: typeof handler, d: typeof done) => {
        handler = cb;
        done = d;
        return { abort: () => undefined };
      },
    };
    const lw = new ListWatch<KubernetesObject>('/api/v1/configmaps', watch as never, async () => ({ metadata: { resourceVersion: '1' }, items }) as never, false);
    const index = new CacheIndex(ownerUids);
    lw.on('add', (o) => index.set(o));
    lw.on('update', (o) => index.set(o));
    lw.on('delete', (o) => index.delete(o));
    await lw.start();
    expect(names(index.get('uid-a'))).toEqual(['n/a1']);

    handler!('ADDED', { ...cm('a2', ['uid-a']), metadata: { ...cm('a2', ['uid-a']).metadata, resourceVersion: '2' } });
    handler!('MODIFIED', { ...cm('b1', ['uid-a']), metadata: { ...cm('b1', ['uid-a']).metadata, resourceVersion: '3' } });
    expect(names(index.get('uid-a'))).toEqual(['n/a1', 'n/a2', 'n/b1']);
    expect(index.get('uid-b')).toEqual([]);
    handler!('DELETED', { ...cm('a2', ['uid-a']), metadata: { ...cm('a2', ['uid-a']).metadata, resourceVersion: '4' } });
    expect(names(index.get('uid-a'))).toEqual(['n/a1', 'n/b1']);

    // The watch ends with 410 Gone: ListWatch relists; a1 is gone meanwhile, c1 is new, b1 went back to uid-b.
    items = [
      { ...cm('b1', ['uid-b']), metadata: { ...cm('b1', ['uid-b']).metadata, resourceVersion: '6' } },
      { ...cm('c1', ['uid-c']), metadata: { ...cm('c1', ['uid-c']).metadata, resourceVersion: '7' } },
    ];
    await done!({ statusCode: 410 });
    expect(names(lw.list())).toEqual(['n/b1', 'n/c1']);
    expect(index.get('uid-a')).toEqual([]);
    expect(names(index.get('uid-b'))).toEqual(['n/b1']);
    expect(names(index.get('uid-c'))).toEqual(['n/c1']);
  });
});

describe('Applier.sync with an owner uid: only the indexed objects are visited, classify still decides', () => {
  const cm = (name: string, uid: string, extra: Record<string, unknown> = {}) =>
    trimOwned('ConfigMap')({ metadata: { name, namespace: 'n', ownerReferences: [{ apiVersion: 'anvil.dev/v1alpha1', kind: 'WorldInstance', name: 'w', uid }], ...extra } } as never) as KubernetesObject;
  const index = new CacheIndex(ownerUids);
  const objects = [cm('a-routes', 'uid-a'), cm('a-old', 'uid-a'), cm('a-kept', 'uid-a', { labels: { keep: 'yes' } }), cm('b-old', 'uid-b'), { ...cm('a-elsewhere', 'uid-a'), metadata: { ...cm('a-elsewhere', 'uid-a').metadata, namespace: 'other' } }];
  for (const o of objects) index.set(o);
  const visited: string[] = [];
  const cache = {
    list: () => {
      throw new Error('the namespace was scanned although the owner has a uid');
    },
    byIndex: (uid: string) => index.get(uid),
    get: (name: string, ns?: string) => objects.find((o) => o.metadata?.name === name && o.metadata?.namespace === ns),
  };
  const deleted: string[] = [];
  const kube = { apply: async (o: unknown) => o, delete: async (o: KubernetesObject) => void deleted.push(o.metadata?.name ?? '') };

  test('deletes the stale objects of this uid in this namespace that classify calls ours, nothing else', async () => {
    const applier = new Applier(kube as never, new Map([['ConfigMap', cache]]) as never);
    const desired = [{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'a-routes', namespace: 'n' } }];
    const owner = {
      describe: 'world a',
      ownerUid: 'uid-a',
      classify: (o: KubernetesObject) => {
        visited.push(o.metadata?.name ?? '');
        // An object indexed under the uid that classify does not call ours is left alone.
        return o.metadata?.labels?.keep ? 'foreign' : o.metadata?.ownerReferences?.some((r) => r.uid === 'uid-a') ? 'ours' : 'foreign';
      },
    };
    const r = await applier.sync(desired as never, 'n', owner as never);
    expect(deleted).toEqual(['a-old']);
    expect(r.deleted).toBe(1);
    // Another world's objects and another namespace's were never looked at.
    expect(visited).not.toContain('b-old');
    expect(visited).not.toContain('a-elsewhere');
  });
});
