// An in-memory API server (optimistic concurrency, merge patches, preconditioned deletes)
// and caches the test fills, for the claim controller's and the allocation endpoint's unit
// tests (issue 20).
import type { KubernetesObject } from '@kubernetes/client-node';
import type { WorldPool } from '../../lib/api/schema.js';
import { templateHash } from '../../lib/reconciler/shared/poolTemplate.js';
import { ClaimController } from '../../lib/reconciler/claims/controller.js';
import { ReconcilerMetrics } from '../../lib/reconciler/runtime/metrics.js';
import type { Kube } from '../../lib/reconciler/runtime/kube.js';
import type { Informer } from '../../lib/reconciler/runtime/informer.js';

export type Obj = { apiVersion?: string; kind?: string; metadata: Record<string, any>; spec?: any; status?: any };
export const NS = 'ns';
export const clone = <T>(o: T): T => structuredClone(o);
export const apiError = (code: number) => Object.assign(new Error(`HTTP ${code}`), { code });

/** Just enough of an API server: resourceVersion preconditions, JSON merge patches, deletes with preconditions. */
export class FakeApi {
  readonly objects = new Map<string, Obj>();
  readonly events: Obj[] = [];
  private rv = 100;
  /** Applies the next write it matches, then fails it as a reset connection would (no status). */
  resetAfter?: (patch: Obj) => boolean;

  /** Called after every stored change (an informer, for tests that want one). */
  onChange?: (type: 'update' | 'delete', o: Obj) => void;

  put(o: Obj): Obj {
    const stored = clone({ ...o, metadata: { ...o.metadata, namespace: NS, resourceVersion: String(++this.rv) } });
    this.objects.set(`${o.kind}/${o.metadata.name}`, stored);
    this.onChange?.('update', clone(stored));
    return clone(stored);
  }
  get(kind: string, name: string): Obj | undefined {
    const o = this.objects.get(`${kind}/${name}`);
    return o && clone(o);
  }

  readonly kube = {
    read: async (_v: string, kind: string, name: string) => this.get(kind, name),
    create: async (o: Obj) => {
      this.events.push(clone(o));
      return o;
    },
    deleteExactly: async (o: Obj) => {
      const cur = this.objects.get(`${o.kind}/${o.metadata.name}`);
      if (!cur) return;
      if (cur.metadata.uid !== o.metadata.uid || cur.metadata.resourceVersion !== o.metadata.resourceVersion) throw apiError(409);
      this.objects.delete(`${o.kind}/${o.metadata.name}`);
      this.onChange?.('delete', clone(cur));
    },
    mergePatch: async (patch: Obj, sub?: string) => {
      const cur = this.objects.get(`${patch.kind}/${patch.metadata.name}`);
      if (!cur) throw apiError(404);
      if (patch.metadata.resourceVersion && patch.metadata.resourceVersion !== cur.metadata.resourceVersion) throw apiError(409);
      const { resourceVersion: _rv, ...meta } = patch.metadata;
      const next: Obj = sub === 'status' ? { ...cur, status: { ...cur.status, ...patch.status } } : { ...cur, metadata: { ...cur.metadata, ...meta, labels: { ...cur.metadata.labels, ...meta.labels }, annotations: { ...cur.metadata.annotations, ...meta.annotations } } };
      const written = this.put(next);
      if (this.resetAfter?.(patch)) {
        this.resetAfter = undefined;
        throw new Error('socket hang up');
      }
      return written;
    },
  };
}

/** A cache the test fills: a snapshot of the server, taken when the test says. */
export class FakeCache {
  items: Obj[] = [];
  list = () => this.items;
  get = (name: string) => this.items.find((o) => o.metadata.name === name);
}

export const pool: WorldPool = { apiVersion: 'anvil.dev/v1alpha1', kind: 'WorldPool', metadata: { name: 'p', namespace: NS, uid: 'pool-uid' }, spec: { gameRef: { name: 'g' }, buffer: { ready: 2 } } };

export const worldObj = (name: string, claim?: { name: string; uid: string; owned?: boolean }): Obj => ({
  apiVersion: 'anvil.dev/v1alpha1',
  kind: 'WorldInstance',
  metadata: {
    name,
    uid: `uid-${name}`,
    generation: 1,
    creationTimestamp: `2026-01-01T00:00:0${name.length % 10}Z`,
    labels: { 'anvil.dev/pool': 'p', ...(claim ? { 'anvil.dev/claim': claim.name } : {}) },
    annotations: { 'anvil.dev/pool-template': templateHash(pool), ...(claim ? { 'anvil.dev/claim-uid': claim.uid } : {}) },
    // Stamped: owned by its claim (the garbage collector drops that owner when the claim is deleted with --cascade=orphan).
    ownerReferences: !claim ? [{ apiVersion: 'anvil.dev/v1alpha1', kind: 'WorldPool', name: 'p', uid: 'pool-uid', controller: true }] : claim.owned === false ? [] : [{ apiVersion: 'anvil.dev/v1alpha1', kind: 'WorldClaim', name: claim.name, uid: claim.uid, controller: true }],
  },
  spec: { gameRef: { name: 'g' } },
  status: { phase: 'Running', observedGeneration: 1, endpoints: [] },
});

export const claimObj = (name: string, status?: Record<string, unknown>): Obj => ({
  apiVersion: 'anvil.dev/v1alpha1',
  kind: 'WorldClaim',
  metadata: { name, uid: `uid-${name}`, generation: 1, creationTimestamp: '2026-01-01T00:00:01Z' },
  spec: { poolRef: { name: 'p' }, timeoutSeconds: 600 },
  ...(status ? { status } : {}),
});


/**
 * A claim controller (leading) over `api`, with pool `p` and a world cache that the API's
 * changes reach like an informer's, while `watch.on` (a test turns it off to hold events back).
 * `canWrite`: whether it may write (a test that takes leadership away passes its own).
 */
export function leadingClaimController(api: FakeApi, worldNames: readonly string[], canWrite: () => boolean = () => true) {
  const worlds = new FakeCache();
  const pools = new FakeCache();
  pools.items = [clone(pool) as Obj];
  const ctl = new ClaimController({
    kube: api.kube as unknown as Kube,
    worlds: worlds as unknown as Informer<KubernetesObject>,
    claims: new FakeCache() as unknown as Informer<KubernetesObject>,
    pools: pools as unknown as Informer<KubernetesObject>,
    metrics: new ReconcilerMetrics(),
    log: () => undefined,
    canWrite,
    onPending: () => undefined,
  });
  const watch = { on: true };
  api.onChange = (type, o) => {
    if (!watch.on || o.kind !== 'WorldInstance') return;
    worlds.items = worlds.items.filter((w) => w.metadata.name !== o.metadata.name);
    if (type === 'update') worlds.items.push(o);
    ctl.onWorld(o as KubernetesObject, type);
  };
  for (const n of worldNames) api.put(worldObj(n));
  return { ctl, watch };
}
