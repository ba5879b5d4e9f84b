/**
 * The pool controller: keeps each WorldPool at its buffer (plan.ts decides), reports its
 * status, gauges and Events. Its own queue (keys: `namespace/pool`) and workers. Worlds it
 * creates or deletes are remembered until the cache shows them (client-go's
 * "expectations"), so a pass that runs before the watch catches up neither creates twice
 * nor counts a deleted world. Deletions are conditional on the world's uid and
 * resourceVersion: a world bound meanwhile is never removed.
 *
 * Refills yield to claims (issue 20). Profiled, a claim's time was almost all its commit
 * PATCH waiting on an API server busy with the refill that the claims before it had
 * triggered: each claim made one pool pass (a status write and one world create), and each
 * new world a render, an apply and the kube-controller-manager's Deployment, ReplicaSet and
 * Pod writes, on the same cores. So while claims are arriving (one within REFILL_QUIET_MS) a pool's
 * pass is deferred, for at most REFILL_MAX_DEFER_MS, and then refills everything it lacks at once
 * (batched, like a fleet autoscaler's periodic scale-up rather than one world per claim).
 * The buffer is what absorbs a burst; a pool with claims waiting for a world never defers.
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import { API_VERSION, type WorldPool } from '../../api/schema.js';
import { ANNOTATION_ALLOCATION, ANNOTATION_CLAIM_UID, ANNOTATION_POOL_TEMPLATE, LABEL_POOL } from '../../render/labels.js';
import type { DefinitionsCache } from '../shared/definitions.js';
import { copyOf } from '../shared/definitions.js';
import { objectEvent } from '../runtime/events.js';
import type { Informer } from '../runtime/informer.js';
import { errorMessage, type Kube } from '../runtime/kube.js';
import type { ReconcilerMetrics } from '../runtime/metrics.js';
import { planPool, refillDeferral, statusChanged, poolWorldObject, type PoolWorld } from './plan.js';
import { templateHash } from '../shared/poolTemplate.js';
import { WorkQueue, runWorkers } from '../runtime/queue.js';
import { trace } from '../runtime/trace.js';

export interface PoolControllerOptions {
  kube: Kube;
  worlds: Informer<KubernetesObject>;
  pools: Informer<KubernetesObject>;
  definitions: DefinitionsCache;
  metrics: ReconcilerMetrics;
  log: (msg: string) => void;
  canWrite: () => boolean;
  /** The claim path's view of a world (its just-written bindings) and its reservations. */
  viewWorld: <T extends KubernetesObject>(w: T) => T;
  isReserved: (worldUid: string) => boolean;
  /** True while no claim is waiting to be planned or being written. */
  claimsIdle: () => boolean;
  /** A namespace being deleted: no refill (the API server would refuse it), no Event. */
  terminating?: (namespace: string) => boolean;
  /** Milliseconds since the last claim or allocation request arrived (Infinity: none yet). */
  sinceLastClaim: () => number;
}

type Obj = KubernetesObject & { status?: { phase?: string } };

/** Worlds created at once; between batches, refills yield to claims (at most YIELD_MS). */
export const CREATE_BATCH = 8;
const YIELD_MS = 2_000;
const EXPECTATION_TTL_MS = 60_000;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref());

/** The pool's next world, without a name: the API server generates it from generateName. */
function newWorld(pool: WorldPool): KubernetesObject {
  const w = poolWorldObject(pool);
  const { name: _unset, ...metadata } = w.metadata;
  return { ...w, metadata } as KubernetesObject;
}

export class PoolController {
  readonly queue = new WorkQueue({ baseDelayMs: 200, maxDelayMs: 60_000 });
  /** Per pool key: names created and uids deleted that the cache does not reflect yet, with when. */
  private readonly created = new Map<string, Map<string, number>>();
  private readonly deleted = new Map<string, Map<string, number>>();
  private readonly pending = new Map<string, number>();
  /** Per pool key: when its pass was first deferred for arriving claims (cleared by a pass that runs). */
  private readonly deferredSince = new Map<string, number>();

  constructor(private readonly o: PoolControllerOptions) {}

  enqueue(key: string): void {
    this.queue.add(key);
  }

  /** Claims waiting per pool of a namespace (from the claim controller): the pools size for them. */
  setPending(namespace: string, pending: ReadonlyMap<string, number>): void {
    for (const p of this.o.pools.list(namespace)) {
      const key = `${namespace}/${p.metadata?.name}`;
      const n = pending.get(p.metadata?.name ?? '') ?? 0;
      if ((this.pending.get(key) ?? 0) !== n) this.enqueue(key);
      if (n > 0) this.pending.set(key, n);
      else this.pending.delete(key);
    }
  }

  run(workers: number): Promise<void> {
    return runWorkers(this.queue, workers, async (key) => {
      try {
        await this.pass(key);
        this.queue.forget(key);
      } catch (e) {
        this.o.log(`pool ${key}: ${errorMessage(e)}`);
        this.queue.addRateLimited(key);
      }
    });
  }

  async pass(key: string): Promise<void> {
    const [namespace, name] = key.split('/') as [string, string];
    const cached = this.o.pools.get(name, namespace);
    if (!cached || cached.metadata?.deletionTimestamp || this.o.terminating?.(namespace)) return this.forget(key, namespace, name);
    const wait = this.deferral(key, Date.now());
    if (wait > 0) return this.queue.addAfter(key, wait);
    const pool = copyOf<WorldPool>(cached, 'WorldPool');
    const worlds = this.worldsOf(key, pool);
    const gameExists = this.o.definitions.get().catalog.games.has(pool.spec.gameRef.name);
    const d = planPool(pool, worlds, this.pending.get(key) ?? 0, gameExists);
    for (const state of ['ready', 'claimed', 'starting'] as const) this.o.metrics.poolWorlds.set({ namespace, pool: name, state }, d.counts[state]);
    if (!this.o.canWrite()) return;
    if (statusChanged(pool.status, d.status)) {
      await this.o.kube.applyStatus({ apiVersion: API_VERSION, kind: 'WorldPool', metadata: { name, namespace }, status: d.status } as KubernetesObject);
    }
    if (d.problem) {
      this.o.log(`pool ${key}: ${d.problem.reason}: ${d.problem.message}`);
      await this.event(pool, d.problem.reason, d.problem.message, 'Warning');
    }
    await this.remove(key, namespace, d.remove);
    await this.create(key, pool, d.create);
  }

  /** How long this pool's pass waits for arriving claims (plan.ts `refillDeferral`; 0: run now). */
  private deferral(key: string, now: number): number {
    const d = refillDeferral(this.o.sinceLastClaim(), this.pending.get(key) ?? 0, this.deferredSince.get(key), now);
    if (d.deferredSince === undefined) this.deferredSince.delete(key);
    else this.deferredSince.set(key, d.deferredSince);
    return d.wait;
  }

  /** The pool's live worlds as plan.ts sees them, with this process's expectations applied. */
  private worldsOf(key: string, pool: WorldPool): PoolWorld[] {
    const { name, namespace, uid } = pool.metadata;
    const hash = templateHash(pool);
    const created = this.created.get(key) ?? new Map<string, number>();
    const deleted = this.deleted.get(key) ?? new Map<string, number>();
    const now = Date.now();
    for (const m of [created, deleted]) for (const [k, at] of m) if (now - at > EXPECTATION_TTL_MS) m.delete(k);
    const out: PoolWorld[] = [];
    const inCache = new Set<string>();
    for (const raw of this.o.worlds.list(namespace)) {
      const w = this.o.viewWorld(raw) as Obj;
      const m = w.metadata!;
      if (m.labels?.[LABEL_POOL] !== name) continue;
      inCache.add(m.name!);
      created.delete(m.name!);
      if (m.deletionTimestamp || deleted.has(m.uid!)) continue;
      // Claimed: bound to a WorldClaim, allocated through the endpoint, or a commit in flight.
      const claimed = !!m.annotations?.[ANNOTATION_CLAIM_UID] || !!m.annotations?.[ANNOTATION_ALLOCATION] || this.o.isReserved(m.uid!);
      // An unclaimed world is the pool's only if the pool (this one, not an earlier namesake) controls it.
      const owned = m.ownerReferences?.some((r) => r.controller && r.kind === 'WorldPool' && r.uid === uid);
      if (!claimed && !owned) continue;
      out.push({
        name: m.name!,
        uid: m.uid!,
        resourceVersion: m.resourceVersion!,
        creationTimestamp: String(m.creationTimestamp ?? ''),
        claimed,
        running: w.status?.phase === 'Running',
        failed: w.status?.phase === 'Failed',
        current: m.annotations?.[ANNOTATION_POOL_TEMPLATE] === hash,
      });
    }
    for (const [uid] of deleted) if (!this.o.worlds.list(namespace).some((w) => w.metadata?.uid === uid)) deleted.delete(uid);
    // Created, not in the cache yet: starting worlds of the current spec.
    for (const [n] of created) if (!inCache.has(n)) out.push({ name: n, uid: '', resourceVersion: '', creationTimestamp: new Date().toISOString(), claimed: false, running: false, failed: false, current: true });
    this.created.set(key, created);
    this.deleted.set(key, deleted);
    return out;
  }

  private async remove(key: string, namespace: string, worlds: readonly PoolWorld[]): Promise<void> {
    const deleted = this.deleted.get(key)!;
    for (const w of worlds) {
      if (!w.uid || !this.o.canWrite()) continue; // not in the cache yet: the next pass decides
      await this.o.kube.deleteExactly({ apiVersion: API_VERSION, kind: 'WorldInstance', metadata: { name: w.name, namespace, uid: w.uid, resourceVersion: w.resourceVersion } }).then(
        () => deleted.set(w.uid, Date.now()),
        // Changed meanwhile (bound, most likely): it stays; the next pass looks again.
        (e: unknown) => this.o.log(`pool ${key}: world ${w.name} not removed: ${errorMessage(e)}`),
      );
    }
    if (worlds.length) this.o.log(`pool ${key}: removed ${worlds.length} spare world(s)`);
  }

  private async create(key: string, pool: WorldPool, n: number): Promise<void> {
    const created = this.created.get(key)!;
    for (let done = 0; done < n; done += CREATE_BATCH) {
      // Claims first: wait (a little) while claim writes are in flight.
      for (let waited = 0; !this.o.claimsIdle() && waited < YIELD_MS; waited += 20) await sleep(20);
      if (!this.o.canWrite()) return;
      trace('pool-create', { n: Math.min(CREATE_BATCH, n - done) });
      const batch = Array.from({ length: Math.min(CREATE_BATCH, n - done) }, () => this.o.kube.create(newWorld(pool)));
      const results = await Promise.allSettled(batch);
      for (const r of results) if (r.status === 'fulfilled' && r.value.metadata?.name) created.set(r.value.metadata.name, Date.now());
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) {
        await this.event(pool, 'CreateFailed', `could not create a world: ${errorMessage(failed.reason)}`, 'Warning');
        throw failed.reason;
      }
    }
    if (n > 0) this.o.log(`pool ${key}: created ${n} world(s)`);
  }

  private forget(key: string, namespace: string, name: string): void {
    this.created.delete(key);
    this.deleted.delete(key);
    this.pending.delete(key);
    this.deferredSince.delete(key);
    for (const state of ['ready', 'claimed', 'starting']) this.o.metrics.poolWorlds.remove({ namespace, pool: name, state });
    this.o.metrics.claimsPending.remove({ namespace, pool: name });
  }

  private async event(pool: WorldPool, reason: string, message: string, type: 'Normal' | 'Warning'): Promise<void> {
    try {
      await this.o.kube.create(objectEvent(pool as unknown as KubernetesObject, reason, message, type));
    } catch (e) {
      this.o.log(`pool ${pool.metadata.namespace}/${pool.metadata.name}: could not record event: ${errorMessage(e)}`);
    }
  }
}
