/**
 * The claim controller: binds WorldClaims to ready pool worlds, apart from everything else
 * the reconciler does. Its own queue (keys: namespaces; a pass plans every waiting claim of
 * the namespace, FIFO), its own workers and its own connections to the API server, so a
 * claim never waits behind world reconciles or pool refills. A pass only reads the caches
 * and decides (plan.ts); the writes run as tasks (up to `maxInFlight` at once), and what
 * they wrote is seen by the next passes through overlays until the caches catch up.
 *
 * Exactly once: a binding writes the world with its resourceVersion as precondition (two
 * claims can never both win a world), then the claim's status with the claim's
 * resourceVersion as precondition (a claim can never be Bound twice). What a crash or a
 * lost race leaves half done is finished or undone by the next pass from the cluster's
 * state (plan.ts `repairs`), never from memory.
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import { API_VERSION, type GameDefinition, type WorldClaim, type WorldClaimStatus, type WorldPool } from '../../api/schema.js';
import { ANNOTATION_CLAIM_UID, ANNOTATION_POOL_TEMPLATE, ANNOTATION_REVISION, LABEL_CLAIM, LABEL_POOL } from '../../render/labels.js';
import {
  alreadyWaiting,
  boundStatus,
  failedStatus,
  planClaims,
  settleRepair,
  waitingStatus,
  type ClaimAction,
  type ClaimView,
  type PoolInfo,
  type WorldView,
} from './plan.js';
import { objectEvent } from '../runtime/events.js';
import type { Informer } from '../runtime/informer.js';
import { errorMessage, isConflict, isNotFound, statusCode, type Kube } from '../runtime/kube.js';
import type { ReconcilerMetrics } from '../runtime/metrics.js';
import { WriteOverlay } from '../runtime/overlay.js';
import { poolSpec, templateHash } from '../shared/poolTemplate.js';
import { WorkQueue, runWorkers } from '../runtime/queue.js';
import { timestamp } from '../runtime/time.js';

export interface ClaimControllerOptions {
  /** Connections of the claim path alone. */
  kube: Kube;
  worlds: Informer<KubernetesObject>;
  claims: Informer<KubernetesObject>;
  pools: Informer<KubernetesObject>;
  /** GameDefinitions: their rollout status says which worlds a rollout is moving (not to be bound). */
  games?: Informer<KubernetesObject>;
  metrics: ReconcilerMetrics;
  log: (msg: string) => void;
  /** False once this replica is no longer the leader: no write is started then. */
  canWrite: () => boolean;
  /** Claims waiting per pool of a namespace, after each pass (the pools size for them). */
  onPending: (namespace: string, pending: ReadonlyMap<string, number>) => void;
  maxInFlight?: number;
}

type Obj = KubernetesObject & { spec?: any; status?: any };

const ownerOf = (o: KubernetesObject, kind: string) => o.metadata?.ownerReferences?.find((r) => r.controller && r.kind === kind);

export class ClaimController {
  readonly queue = new WorkQueue({ baseDelayMs: 50, maxDelayMs: 10_000 });
  private readonly worldWrites = new WriteOverlay();
  private readonly claimWrites = new WriteOverlay();
  /** Claims with a write in flight (uid), and the worlds taken by in-flight bindings (uid -> claim uid). */
  private readonly busyClaims = new Set<string>();
  private readonly reserved = new Map<string, string>();
  /** When this process first saw each claim (creationTimestamp has only seconds). */
  private readonly firstSeen = new Map<string, number>();
  private readonly tasks = new Set<Promise<void>>();
  private readonly maxInFlight: number;

  constructor(private readonly o: ClaimControllerOptions) {
    this.maxInFlight = o.maxInFlight ?? 64;
  }

  enqueue(namespace: string): void {
    this.queue.add(namespace);
  }

  onClaim(event: 'add' | 'update' | 'delete', c: KubernetesObject): void {
    const uid = c.metadata?.uid ?? '';
    if (event === 'add' && !this.firstSeen.has(uid)) this.firstSeen.set(uid, Date.now());
    if (event === 'delete') this.firstSeen.delete(uid);
    this.enqueue(c.metadata?.namespace ?? 'default');
  }

  onWorld(w: KubernetesObject): void {
    if (w.metadata?.labels?.[LABEL_POOL] || w.metadata?.annotations?.[ANNOTATION_CLAIM_UID]) this.enqueue(w.metadata?.namespace ?? 'default');
  }

  /** A world as this process knows it: the cache, or what it has just written. */
  viewWorld<T extends KubernetesObject>(w: T): T {
    return this.worldWrites.view(w) as T;
  }

  /** A world taken by a binding in flight, not yet written. */
  isReserved(worldUid: string): boolean {
    return this.reserved.has(worldUid);
  }

  /** No claim is waiting to be planned and no claim write is in flight: refills may go. */
  get idle(): boolean {
    return this.queue.depth === 0 && this.tasks.size === 0;
  }

  run(workers: number): Promise<void> {
    return runWorkers(this.queue, workers, async (ns) => {
      try {
        await this.pass(ns);
        this.queue.forget(ns);
      } catch (e) {
        this.o.log(`claims in ${ns}: ${errorMessage(e)}`);
        this.queue.addRateLimited(ns);
      }
    });
  }

  /** Resolves when the writes in flight are done (for a graceful shutdown). */
  async drain(): Promise<void> {
    await Promise.allSettled([...this.tasks]);
  }

  /** Plans one namespace from the caches and starts the writes. */
  async pass(namespace: string): Promise<void> {
    const now = Date.now();
    this.worldWrites.prune(now);
    this.claimWrites.prune(now);
    const pools = this.o.pools.list(namespace).filter((p) => !p.metadata?.deletionTimestamp).map((p) => p as WorldPool);
    const hashes = new Map(pools.map((p) => [p.metadata.name, templateHash(p)]));
    const claims = this.o.claims
      .list(namespace)
      .map((c) => this.claimWrites.view(c) as Obj)
      .filter((c) => !c.metadata?.deletionTimestamp && !this.busyClaims.has(c.metadata?.uid ?? ''))
      .map(claimView);
    const worlds = this.o.worlds
      .list(namespace)
      .map((w) => this.worldWrites.view(w) as Obj)
      .filter((w) => !w.metadata?.deletionTimestamp && (w.metadata?.labels?.[LABEL_POOL] || w.metadata?.annotations?.[ANNOTATION_CLAIM_UID]))
      .map((w) => this.worldView(w, hashes));
    const rollout = (game: string) => (this.o.games?.get(game) as GameDefinition | undefined)?.status?.rollout;
    const plan = planClaims(claims, worlds, pools.map((p) => poolInfo(p, rollout)), now, namespace);
    this.o.onPending(namespace, plan.pending);
    for (const [pool, n] of plan.pending) this.o.metrics.claimsPending.set({ namespace, pool }, n);
    for (const p of pools) if (!plan.pending.has(p.metadata.name)) this.o.metrics.claimsPending.set({ namespace, pool: p.metadata.name }, 0);
    for (const a of plan.actions) await this.start(namespace, a);
    if (plan.nextDeadline !== undefined) this.queue.addAfter(namespace, Math.max(10, plan.nextDeadline - now + 50));
  }

  private worldView(w: Obj, hashes: ReadonlyMap<string, string>): WorldView {
    const pool = w.metadata?.labels?.[LABEL_POOL];
    const owner = ownerOf(w, 'WorldPool');
    const claimUid = w.metadata?.annotations?.[ANNOTATION_CLAIM_UID] ?? this.reserved.get(w.metadata?.uid ?? '');
    const claimName = w.metadata?.labels?.[LABEL_CLAIM];
    const claimOwner = ownerOf(w, 'WorldClaim');
    const running = w.status?.phase === 'Running' && (w.status?.observedGeneration ?? 0) >= (w.metadata?.generation ?? 0);
    return {
      name: w.metadata?.name ?? '',
      uid: w.metadata?.uid ?? '',
      resourceVersion: w.metadata?.resourceVersion ?? '',
      creationTimestamp: String(w.metadata?.creationTimestamp ?? ''),
      ...(pool ? { pool } : {}),
      ...(owner ? { poolUid: owner.uid } : {}),
      ...(claimUid ? { claimUid } : {}),
      ...(claimName ? { claimName } : {}),
      ...(claimOwner && claimOwner.uid === claimUid ? { ownedByClaim: true } : {}),
      ...(this.reserved.has(w.metadata?.uid ?? '') ? { busy: true } : {}),
      ready: running && !!pool && w.metadata?.annotations?.[ANNOTATION_POOL_TEMPLATE] === hashes.get(pool),
      ...(w.metadata?.annotations?.[ANNOTATION_REVISION] ? { revision: w.metadata.annotations[ANNOTATION_REVISION] } : {}),
      ...(w.status?.revision ? { renderedRevision: w.status.revision } : {}),
      endpoints: w.status?.endpoints ?? [],
    };
  }

  /** Starts one action's writes as a task, waiting for a free slot first. */
  private async start(namespace: string, a: ClaimAction): Promise<void> {
    if (a.type === 'wait' && alreadyWaiting(a.claim, a.message)) return;
    while (this.tasks.size >= this.maxInFlight) await Promise.race(this.tasks);
    const claimUid = a.type === 'repair' ? a.claimUid : a.claim.uid;
    this.busyClaims.add(claimUid);
    // A world being bound or repaired is nobody's to take meanwhile.
    const worlds = a.type === 'bind' ? [a.world] : a.type === 'repair' ? a.worlds : [];
    for (const w of worlds) this.reserved.set(w.uid, claimUid);
    const task = this.execute(namespace, a)
      .catch(async (e: unknown) => {
        // The connection broke with the outcome unknown (no status): the world keeps its
        // reservation until a read shows whether the write happened.
        if (a.type === 'bind' && statusCode(e) === undefined) await this.resolveUnknown(namespace, a.world);
        // Lost a race (409), the object is gone (404), or the outcome is known now: plan again
        // at once, from what the cluster shows; else back off.
        if (isConflict(e) || isNotFound(e) || statusCode(e) === undefined) this.enqueue(namespace);
        else {
          this.o.log(`claims in ${namespace}: ${a.type} failed: ${errorMessage(e)}`);
          this.queue.addRateLimited(namespace);
        }
      })
      .finally(() => {
        this.busyClaims.delete(claimUid);
        for (const w of worlds) this.reserved.delete(w.uid);
        this.tasks.delete(task);
      });
    this.tasks.add(task);
  }

  /**
   * After a world write with an unknown outcome: reads the world (retrying until the read
   * answers or this replica stops leading) and records what it shows, so the next pass
   * plans from the truth rather than from a cache that may not show the write yet: a world
   * stamped for the claim is completed (a repair), never replaced by a second one.
   */
  private async resolveUnknown(namespace: string, world: WorldView): Promise<void> {
    for (let delay = 50; this.o.canWrite(); delay = Math.min(delay * 2, 2000)) {
      try {
        const fresh = await this.o.kube.read<KubernetesObject>(API_VERSION, 'WorldInstance', world.name, namespace);
        if (fresh && fresh.metadata?.uid === world.uid) this.worldWrites.record(world.uid, world.resourceVersion, fresh);
        return;
      } catch (e) {
        this.o.log(`claims in ${namespace}: reading world ${world.name} after a write of unknown outcome: ${errorMessage(e)}`);
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }

  private async execute(namespace: string, a: ClaimAction): Promise<void> {
    if (!this.o.canWrite()) return;
    const at = timestamp(new Date());
    switch (a.type) {
      case 'bind':
        await this.stampWorld(namespace, a.claim, a.world);
        if (!this.o.canWrite()) return; // the next leader completes it from the cluster
        return this.bound(namespace, a.claim, a.world, a.pool, at);
      case 'repair':
        return this.repair(namespace, a.claimUid, a.claimName, a.worlds, at);
      case 'lost':
        return this.lost(namespace, a.claim, a.world, at);
      case 'wait':
        return this.writeStatus(namespace, a.claim, waitingStatus(a.claim, a.message, at));
      case 'fail':
        await this.writeStatus(namespace, a.claim, failedStatus(a.claim, a.reason, a.message, at));
        this.o.log(`claim ${namespace}/${a.claim.name}: Failed (${a.reason}): ${a.message}`);
        return this.event(namespace, a.claim, a.reason, a.message, 'Warning');
    }
  }

  /** A half-done binding, finished or undone from the claim as the server has it (never from the cache). */
  private async repair(namespace: string, claimUid: string, claimName: string, worlds: WorldView[], at: string): Promise<void> {
    const read = await this.o.kube.read<Obj>(API_VERSION, 'WorldClaim', claimName, namespace);
    const fresh = read ? { ...claimView(read), ...(read.metadata?.deletionTimestamp ? { deleting: true } : {}) } : undefined;
    for (const step of settleRepair(claimUid, fresh, worlds)) {
      if (!this.o.canWrite()) return;
      if (step.type === 'complete') await this.bound(namespace, step.claim, step.world, step.world.pool, at);
      else {
        this.o.log(`claims in ${namespace}: removing world ${step.world.name}, stamped for a claim that does not hold it (${step.why})`);
        await this.o.kube.deleteExactly(worldRef(namespace, step.world));
      }
    }
  }

  /** A Bound claim whose world the cache no longer shows: Failed (WorldLost) once a read confirms the world is gone. */
  private async lost(namespace: string, claim: ClaimView, world: string, at: string): Promise<void> {
    const w = await this.o.kube.read<KubernetesObject>(API_VERSION, 'WorldInstance', world, namespace);
    if (w && !w.metadata?.deletionTimestamp && w.metadata?.annotations?.[ANNOTATION_CLAIM_UID] === claim.uid) return;
    const message = `world ${world} ${w?.metadata?.deletionTimestamp ? 'is being deleted' : 'no longer exists'}`;
    // worldRef keeps naming the world it lost; its endpoints lead nowhere now.
    await this.writeStatus(namespace, claim, { ...failedStatus(claim, 'WorldLost', message, at), worldRef: { name: world }, endpoints: [] });
    this.o.log(`claim ${namespace}/${claim.name}: Failed (WorldLost): ${message}`);
    await this.event(namespace, claim, 'WorldLost', message, 'Warning');
  }

  /** The world's write: conditional on its resourceVersion; moves its controller owner to the claim. */
  private async stampWorld(namespace: string, claim: ClaimView, world: WorldView): Promise<void> {
    const patch = {
      apiVersion: API_VERSION,
      kind: 'WorldInstance',
      metadata: {
        name: world.name,
        namespace,
        resourceVersion: world.resourceVersion,
        labels: { ...claim.spec.worldLabels, [LABEL_CLAIM]: claim.name },
        annotations: { ...claim.spec.worldAnnotations, [ANNOTATION_CLAIM_UID]: claim.uid },
        ownerReferences: [{ apiVersion: API_VERSION, kind: 'WorldClaim', name: claim.name, uid: claim.uid, controller: true }],
      },
    };
    const written = await this.o.kube.mergePatch(patch as KubernetesObject);
    this.worldWrites.record(world.uid, world.resourceVersion, written);
  }

  private async bound(namespace: string, claim: ClaimView, world: WorldView, pool: string | undefined, at: string): Promise<void> {
    await this.writeStatus(namespace, claim, boundStatus(claim, world, pool, at, new Date().toISOString()));
    const since = this.firstSeen.get(claim.uid) ?? Date.parse(claim.creationTimestamp);
    this.o.metrics.claimDuration.observe(Math.max(0, Date.now() - since) / 1000);
    await this.event(namespace, claim, 'Bound', `bound to world ${world.name}${pool ? ` of pool ${pool}` : ''}`, 'Normal');
  }

  /** The claim's status write: conditional on the claim's resourceVersion. */
  private async writeStatus(namespace: string, claim: ClaimView, status: WorldClaimStatus): Promise<void> {
    const patch = {
      apiVersion: API_VERSION,
      kind: 'WorldClaim',
      metadata: { name: claim.name, namespace, resourceVersion: claim.resourceVersion },
      status: { ...status, ...(claim.generation !== undefined ? { observedGeneration: claim.generation } : {}) },
    };
    const written = await this.o.kube.mergePatch(patch as KubernetesObject, 'status');
    this.claimWrites.record(claim.uid, claim.resourceVersion, written);
  }

  /**
   * Best effort, after the claim's status is written (so it never delays a binding), but
   * within the task: every request of the claim path holds a task slot, so requests never
   * queue for a socket (node-fetch's keep-alive bug #1767 turns queued requests into
   * false "Premature close" errors).
   */
  private async event(namespace: string, claim: ClaimView, reason: string, message: string, type: 'Normal' | 'Warning'): Promise<void> {
    const ref = { apiVersion: API_VERSION, kind: 'WorldClaim', metadata: { name: claim.name, namespace, uid: claim.uid } };
    await this.o.kube.create(objectEvent(ref, reason, message, type)).catch((e: unknown) => this.o.log(`claim ${namespace}/${claim.name}: could not record event: ${errorMessage(e)}`));
  }
}

function claimView(c: Obj): ClaimView {
  const claim = c as unknown as WorldClaim;
  return {
    name: claim.metadata.name,
    uid: claim.metadata.uid ?? '',
    resourceVersion: claim.metadata.resourceVersion ?? '',
    creationTimestamp: String(claim.metadata.creationTimestamp ?? ''),
    ...(claim.metadata.generation !== undefined ? { generation: claim.metadata.generation } : {}),
    spec: claim.spec ?? {},
    ...(claim.status ? { status: claim.status } : {}),
  };
}

function poolInfo(p: WorldPool, rolloutOf: (game: string) => PoolInfo['rollout']): PoolInfo {
  const s = poolSpec(p);
  const rollout = rolloutOf(s.game);
  return { name: p.metadata.name, uid: p.metadata.uid ?? '', game: s.game, region: s.region, worldLabels: s.worldLabels, ...(rollout ? { rollout } : {}) };
}

const worldRef = (namespace: string, w: WorldView) =>
  ({ apiVersion: API_VERSION, kind: 'WorldInstance', metadata: { name: w.name, namespace, uid: w.uid, resourceVersion: w.resourceVersion } }) as KubernetesObject & {
    metadata: { uid: string; resourceVersion: string };
  };
