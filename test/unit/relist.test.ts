// Issue 19, lean: a relist (and the first list) turns each item into its compact record as it
// is read, page by page and item by item, in place: never a second cache, never a page
// held whole. A plain HTTP server on loopback plays the API server (it honours `limit` and
// `continue`, and can hold a response open halfway); client-node's ListWatch and Watch, the
// Kube client and its list function are the real ones.
import * as http from 'node:http';
import { afterAll, beforeAll, beforeEach, describe, expect, test } from '@jest/globals';
import { closeLoopback, listenLoopback } from './loopback.js';
import { KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import { Informer, type InformerEvent } from '../../lib/reconciler/runtime/informer.js';
import { Kube } from '../../lib/reconciler/runtime/kube.js';
import { ListItemSplitter } from '../../lib/reconciler/runtime/listItems.js';
import { ReconcilerMetrics } from '../../lib/reconciler/runtime/metrics.js';
import { VerifiedContent, contentDigestOf, digestOfContent, trimOwned } from '../../lib/reconciler/runtime/trim.js';
import { ownerUids } from '../../lib/reconciler/runtime/cacheIndex.js';
import { Applier, withHash } from '../../lib/reconciler/worlds/apply.js';
import { worldOwner } from '../../lib/reconciler/worlds/reconcile.js';
import type { WorldInstance } from '../../lib/api/schema.js';

/** What the fake API server holds, what it was asked, and its open watches. */
const state = {
  objects: [] as KubernetesObject[],
  lists: [] as { limit: number; cont: string | null }[],
  watches: [] as { res: http.ServerResponse; open: boolean }[],
  /** When set, a list response is sent up to the end of its first item and held until this resolves. */
  hold: undefined as Promise<void> | undefined,
};

const deployment = (name: string, rv: string, image = 'img:1'): KubernetesObject =>
  ({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {
      name,
      namespace: 'n',
      uid: `uid-${name}`,
      resourceVersion: rv,
      labels: { 'app.kubernetes.io/managed-by': 'anvil' },
      ownerReferences: [{ apiVersion: 'anvil.dev/v1alpha1', kind: 'WorldInstance', name: 'w', uid: 'uid-w' }],
      managedFields: [{ manager: 'anvil-reconciler', operation: 'Apply', fieldsV1: { 'f:spec': {} } }],
    },
    spec: { replicas: 1, template: { spec: { containers: [{ name: 'c', image, env: [{ name: 'BIG', value: 'x'.repeat(2000) }] }] } } },
    status: { replicas: 1, observedGeneration: 1, conditions: [{ type: 'Progressing' }] },
  }) as KubernetesObject;

let server: http.Server;
let kc: KubeConfig;

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.searchParams.get('watch') === 'true') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.flushHeaders();
      const w = { res, open: true };
      res.on('close', () => (w.open = false));
      state.watches.push(w);
      return;
    }
    // Pages of `limit` items, the continue token being the offset of the next one.
    const limit = Number(url.searchParams.get('limit') ?? '0') || state.objects.length;
    const from = Number(url.searchParams.get('continue') ?? '0');
    state.lists.push({ limit, cont: url.searchParams.get('continue') });
    const items = state.objects.slice(from, from + limit);
    const next = from + limit < state.objects.length ? String(from + limit) : undefined;
    const body = JSON.stringify({ apiVersion: 'apps/v1', kind: 'DeploymentList', metadata: { resourceVersion: '100', ...(next ? { continue: next } : {}) }, items });
    res.writeHead(200, { 'content-type': 'application/json' });
    const hold = state.hold;
    if (!hold || items.length === 0) {
      res.end(body);
      return;
    }
    // The first item whole, then nothing until the test lets the rest go.
    const cut = body.indexOf(JSON.stringify(items[0])) + JSON.stringify(items[0]).length;
    res.write(body.slice(0, cut));
    void hold.then(() => res.end(body.slice(cut)));
  });
  kc = await listenLoopback(server);
});

afterAll(() => closeLoopback(server));

beforeEach(() => {
  state.objects = [];
  state.lists = [];
  state.watches = [];
  state.hold = undefined;
});

/** Waits for a condition (never for a time): polls until it holds. */
async function until(cond: () => boolean): Promise<void> {
  while (!cond()) await new Promise((r) => setTimeout(r, 10));
}

function informer(trim: <T extends KubernetesObject>(o: T) => T) {
  const events: [InformerEvent, string][] = [];
  const kube = new Kube(kc, new ReconcilerMetrics(), { maxSockets: 4 });
  const inf = new Informer<KubernetesObject>(kc, kube, { path: '/apis/apps/v1/deployments', onEvent: (e, o) => events.push([e, o.metadata?.name ?? '']), log: () => {}, trim, indexBy: ownerUids });
  return { inf, events };
}

/** A trim that records which objects it was given, around trimOwned with content known good. */
function recordingTrim(verified: VerifiedContent) {
  const seen: string[] = [];
  const owned = trimOwned('Deployment', verified);
  const trim = <T extends KubernetesObject>(o: T): T => {
    seen.push(o.metadata?.name ?? '');
    return owned(o);
  };
  return { trim, seen };
}

/** Marks every object's content as known good, as the applier does after writing it. */
function verifyAll(verified: VerifiedContent, objects: readonly KubernetesObject[]): void {
  for (const o of objects) verified.set(o.metadata!.uid!, digestOfContent(trimOwned('Deployment')(JSON.parse(JSON.stringify(o)) as KubernetesObject)));
}

describe('a list read item by item', () => {
  test('an item is trimmed to its record as soon as it is read, before the rest of its page has arrived', async () => {
    state.objects = ['a', 'b', 'c'].map((n) => deployment(n, '1'));
    const verified = new VerifiedContent();
    verifyAll(verified, state.objects);
    const { trim, seen } = recordingTrim(verified);
    let release!: () => void;
    state.hold = new Promise<void>((r) => (release = r));
    const { inf } = informer(trim);
    const started = inf.start();
    // The response is still open (b and c not sent): a is already trimmed.
    await until(() => seen.includes('a'));
    expect(seen).toEqual(['a']);
    release();
    await started;
    expect(inf.list().map((o) => o.metadata?.name).sort()).toEqual(['a', 'b', 'c']);
    await inf.stop();
  });

  test('the splitter yields exactly the items of a list cut anywhere (escapes, multi-byte characters), and the envelope without them', () => {
    const items = [
      { metadata: { name: 'a', annotations: { q: 'say "]}[{" \\ ü ß 😀' } } },
      { metadata: { name: 'b' }, data: { list: [1, [2, { x: '}' }]], empty: {} } },
      { metadata: { name: 'c\\' } },
    ];
    const body = Buffer.from(JSON.stringify({ kind: 'ConfigMapList', apiVersion: 'v1', metadata: { resourceVersion: '7', continue: 'tok' }, items }));
    for (const size of [1, 2, 3, 5, 17, body.length]) {
      const got: unknown[] = [];
      const s = new ListItemSplitter((o) => got.push(o));
      for (let i = 0; i < body.length; i += size) s.feed(body.subarray(i, i + size));
      expect(got).toEqual(items);
      expect(s.envelope()).toEqual({ kind: 'ConfigMapList', apiVersion: 'v1', metadata: { resourceVersion: '7', continue: 'tok' }, items: [] });
    }
  });
});

describe('a relist', () => {
  test('happens in place: the watch is ended before the list (never two at once), pages are read with limit/continue, and the cache holds compact records', async () => {
    const names = Array.from({ length: 1200 }, (_, i) => `d${i}`);
    state.objects = names.map((n) => deployment(n, '1'));
    const verified = new VerifiedContent();
    verifyAll(verified, state.objects);
    const { trim, seen } = recordingTrim(verified);
    const { inf, events } = informer(trim);
    await inf.start();
    await until(() => state.watches.length === 1);
    const same = inf.get('d0', 'n');

    // d1 changed (a new version, same content), d2 was edited by someone (other content), d3 is gone, e is new.
    state.objects[1] = deployment('d1', '2');
    state.objects[2] = deployment('d2', '2', 'img:evil');
    state.objects.splice(3, 1);
    state.objects.push(deployment('e', '3'));
    verifyAll(verified, [state.objects.at(-1)!]);
    state.lists = [];
    seen.length = 0;
    const openAtList: number[] = [];
    const listed = new Promise<void>((resolve) => {
      server.prependOnceListener('request', () => {
        openAtList.push(state.watches.filter((w) => w.open).length);
        resolve();
      });
    });
    await inf.relist();
    await listed;

    // The old watch was closed before the list was asked for, and one watch runs after it.
    expect(openAtList).toEqual([0]);
    await until(() => state.watches.filter((w) => w.open).length === 1);
    // Pages of 500: three requests for 1,200 objects, each after the one before.
    expect(state.lists.map((l) => l.cont)).toEqual([null, '500', '1000']);
    expect(state.lists.every((l) => l.limit === 500)).toBe(true);
    // Only the changed and new objects were trimmed; the unchanged ones are the cached objects themselves.
    expect(seen.sort()).toEqual(['d1', 'd2', 'e']);
    expect(inf.get('d0', 'n')).toBe(same);
    // Compact records: a changed object whose content is known good keeps no pod template; an edited one is whole.
    const spec = (n: string) => (inf.get(n, 'n') as { spec?: { template?: unknown } }).spec;
    expect(spec('d1')).toEqual({ replicas: 1 });
    expect(contentDigestOf(inf.get('d1', 'n')!)).toBe(verified.get('uid-d1'));
    expect(spec('e')).toEqual({ replicas: 1 });
    expect(spec('d2')?.template).toBeDefined();
    expect(inf.get('d3', 'n')).toBeUndefined();
    expect(events).toEqual(expect.arrayContaining([['delete', 'd3'], ['update', 'd1'], ['update', 'd2'], ['add', 'e']]));
    // The index followed the cache in place.
    expect(inf.byIndex('uid-w')).toHaveLength(1200);
    await inf.stop();
  });
});

describe('compact records share what objects have in common', () => {
  test("a world's objects share one frozen copy of their labels, owner references and managers; the digest is a flat 20 characters", () => {
    const trim = trimOwned('Deployment', new VerifiedContent());
    const [a, b] = [trim(deployment('a', '1')), trim(deployment('b', '1'))];
    for (const k of ['labels', 'ownerReferences', 'managedFields'] as const) {
      expect(a.metadata?.[k]).toBe(b.metadata?.[k]);
      expect(Object.isFrozen(a.metadata?.[k])).toBe(true);
    }
    expect(a.metadata?.managedFields).toEqual([{ manager: 'anvil-reconciler', operation: 'Apply' }]);
    // What is each object's own stays its own.
    expect(a.metadata?.uid).toBe('uid-a');
    expect(contentDigestOf(a)).toHaveLength(20);
  });
});

describe('an object whose watch event came before our write\'s answer', () => {
  test('is cached whole (nothing to compare it with yet), then compacted by the next pass that finds it up to date, with no request', async () => {
    const world = { apiVersion: 'anvil.dev/v1alpha1', kind: 'WorldInstance', metadata: { name: 'w', namespace: 'n', uid: 'uid-w' }, spec: { gameRef: { name: 'g' } } } as WorldInstance;
    const desired = deployment('d', '1');
    const { uid: _u, resourceVersion: _r, managedFields: _m, ...meta } = desired.metadata!;
    const rendered = { ...desired, metadata: meta, status: undefined } as KubernetesObject;
    const verified = new VerifiedContent();
    // The watch event first: trimmed with nothing verified, so cached whole.
    const served = JSON.parse(JSON.stringify(withHash(rendered))) as KubernetesObject;
    served.metadata = { ...served.metadata, uid: 'uid-d', resourceVersion: '2', managedFields: [{ manager: 'anvil-reconciler', operation: 'Apply' }] };
    const cached = trimOwned('Deployment', verified)(served);
    expect((cached as { spec: { template?: unknown } }).spec.template).toBeDefined();
    // Then the answer to our write: its content is known good (what Applier.wrote records).
    verified.set('uid-d', contentDigestOf(cached)!);

    const calls: string[] = [];
    const kube = new Proxy({}, { get: (_t, verb: string) => async () => void calls.push(verb) });
    const cache = { get: () => cached, list: () => [], byIndex: () => [] };
    const applier = new Applier(kube as never, new Map([['Deployment', cache]]) as never, new Map(), verified);
    expect((await applier.sync([rendered], 'n', worldOwner(world, 'uid-w'))).applied).toBe(0);
    expect(calls).toEqual([]);
    expect((cached as { spec: unknown }).spec).toEqual({ replicas: 1 });
  });
});
