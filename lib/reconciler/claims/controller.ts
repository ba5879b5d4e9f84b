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
import { ANNOTATION_ALLOCATION, ANNOTATION_CLAIM_UID, ANNOTATION_POOL_TEMPLATE, LABEL_CLAIM, LABEL_POOL } from '../../render/labels.js';
import { Allocator } from './allocator.js';
import {
  alreadyWaiting,
  boundStatus,
  candidatePools,
  currentFirst,
  fifo,
  isSettled,
  isSpare,
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
import { assignedRevision } from '../shared/assignedRevision.js';
import { WorkQueue, runWorkers } from '../runtime/queue.js';
import { timestamp } from '../runtime/time.js';
import { trace } from '../runtime/trace.js';

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
  /** A namespace being deleted: its claims go with it; nothing is bound or recorded there. */
  terminating?: (namespace: string) => boolean;
}

type Obj = KubernetesObject & { spec?: any; status?: any };

/**
 * Binding Events (Bound, Allocated) wait until no claim has arrived for EVENT_QUIET_MS (at
 * most EVENT_MAX_DEFER_MS), then go EVENT_BATCH at a time: during a burst the API server's
 * writes go to the commits, and an Event is a write as costly as the commit itself.
 */
const EVENT_QUIET_MS = 500;
const EVENT_MAX_DEFER_MS = 5_000;
const EVENT_BATCH = 8;

const ownerOf = (o: KubernetesObject, kind: string) => o.metadata?.ownerReferences?.find((r) => r.controller && r.kind === kind);

export class ClaimController {
  readonly queue = new WorkQueue({ baseDelayMs: 50, maxDelayMs: 10_000 });
  private readonly worldWrites = new WriteOverlay();
  private readonly claimWrites = new WriteOverlay();
  /** Claims with a write in flight (uid); the worlds taken by in-flight bindings are the allocator's reservations. */
  private readonly busyClaims = new Set<string>();
  /** Per pool, the spare candidates the informers show, and the reservations (allocator.ts). */
  readonly allocator = new Allocator();
  /** Claims this process has stamped a world for (until the claim is deleted): never bound again from a stale plan. */
  private readonly stamped = new Set<string>();
  /** The writes that follow a commit (claim status, Event): off the commit's slot, awaited by drain(). */
  private readonly followUps = new Set<Promise<void>>();
  /** When this process first saw each claim (creationTimestamp has only seconds). */
  private readonly firstSeen = new Map<string, number>();
  private readonly tasks = new Set<Promise<void>>();
  private readonly maxInFlight: number;
  /** When the last claim or allocation request arrived (performance.now()): pools defer refills meanwhile. */
  private lastArrival = -Infinity;
  /** Binding Events held until claims stop arriving (afterBurst), and since when the oldest waits. */
  private readonly lateEvents: (() => Promise<void>)[] = [];
  private lateSince = 0;
  private lateTimer: NodeJS.Timeout | undefined;

  constructor(private readonly o: ClaimControllerOptions) {
    this.maxInFlight = o.maxInFlight ?? 64;
  }

  enqueue(namespace: string): void {
    this.queue.add(namespace);
  }

  /** A claim or an allocation request has arrived: the pools hold their refills back a little (pools/controller.ts). */
  noteArrival(): void {
    this.lastArrival = performance.now();
  }

  /** Milliseconds since the last claim or allocation request arrived. */
  sinceLastArrival(): number {
    return performance.now() - this.lastArrival;
  }

  /**
   * A claim's event. A new claim is handled at once (the hot path: the allocator hands it a
   * spare world and its one commit write starts); a claim that gets no world that way waits
   * for the namespace pass, which makes it wait, fails it at its deadline or repairs it.
   */
  onClaim(event: 'add' | 'update' | 'delete', c: KubernetesObject): void {
    const uid = c.metadata?.uid ?? '';
    if (event === 'add' && !this.firstSeen.has(uid)) {
      this.firstSeen.set(uid, Date.now());
      this.noteArrival();
    }
    if (event === 'delete') {
      this.firstSeen.delete(uid);
      this.stamped.delete(uid);
    }
    if (event === 'add') trace('claim-add', { name: c.metadata?.name ?? '' });
    if (event === 'add' && this.allocateNow(c as Obj)) return;
    this.enqueue(c.metadata?.namespace ?? 'default');
  }

  /** A world's event: the allocator's candidates and request ids follow it; claims waiting may now get it. */
  onWorld(w: KubernetesObject, event: 'add' | 'update' | 'delete' = 'update'): void {
    const ns = w.metadata?.namespace ?? 'default';
    const name = w.metadata?.name ?? '';
    const m = w.metadata;
    const candidate = event !== 'delete' && !m?.deletionTimestamp && !m?.annotations?.[ANNOTATION_CLAIM_UID] && !m?.annotations?.[ANNOTATION_ALLOCATION];
    const live = event !== 'delete';
    this.allocator.observe(ns, name, candidate ? m?.labels?.[LABEL_POOL] : undefined, live ? m?.annotations?.[ANNOTATION_ALLOCATION] : undefined, live ? m?.annotations?.[ANNOTATION_CLAIM_UID] : undefined);
    // A stamped world gone before its claim said Bound: the claim may be bound again.
    if (event === 'delete' && m?.annotations?.[ANNOTATION_CLAIM_UID]) this.stamped.delete(m.annotations[ANNOTATION_CLAIM_UID]);
    if (m?.labels?.[LABEL_POOL] || m?.annotations?.[ANNOTATION_CLAIM_UID]) this.enqueue(ns);
  }

  /** The pools of a namespace as the planner sees them. */
  poolInfos(namespace: string): PoolInfo[] {
    const rollout = (game: string) => (this.o.games?.get(game) as GameDefinition | undefined)?.status?.rollout;
    return this.o.pools
      .list(namespace)
      .filter((p) => !p.metadata?.deletionTimestamp)
      .map((p) => poolInfo(p as WorldPool, rollout));
  }

  /**
   * Takes a spare world for `holder` from the first of `pools` that has one, from the
   * allocator's candidates checked against the cache with the planner's rule; reserved
   * until `allocator.release`.
   */
  takeWorld(namespace: string, pools: readonly PoolInfo[], holder: string): { world: WorldView; pool: string } | undefined {
    const byName = new Map(pools.map((p) => [p.name, p]));
    const hashes = new Map<string, string>();
    for (const p of pools) hashes.set(p.name, templateHash(this.o.pools.get(p.name, namespace) as WorldPool));
    const view = (name: string) => {
      const raw = this.o.worlds.get(name, namespace);
      return raw && !raw.metadata?.deletionTimestamp ? this.worldView(this.worldWrites.view(raw) as Obj, hashes) : undefined;
    };
    const better = (pool: string) => (a: WorldView, b: WorldView) => currentFirst(byName.get(pool)!)(a, b) || fifo(a, b);
    return this.allocator.take(namespace, pools.map((p) => p.name), holder, view, (w, pool) => isSpare(w, byName.get(pool)!, namespace), better);
  }

  /** The hot path for a new claim: true when its binding has started. */
  private allocateNow(raw: Obj): boolean {
    const namespace = raw.metadata?.namespace ?? 'default';
    if (!this.o.canWrite() || raw.metadata?.deletionTimestamp || this.o.terminating?.(namespace)) return false;
    const claim = claimView(this.claimWrites.view(raw) as Obj);
    if (isSettled(claim) || this.busyClaims.has(claim.uid) || this.stamped.has(claim.uid) || this.allocator.hasWorld(claim.uid)) return false;
    const got = this.takeWorld(namespace, candidatePools(claim, this.poolInfos(namespace)), claim.uid);
    if (!got) return false;
    void this.start(namespace, { type: 'bind', claim, world: got.world, pool: got.pool });
    return true;
  }

  /** A world as this process knows it: the cache, or what it has just written. */
  viewWorld<T extends KubernetesObject>(w: T): T {
    return this.worldWrites.view(w) as T;
  }

  /** What this process has just written to a world, seen by its passes until the cache catches up. */
  recordWorld(uid: string, resourceVersion: string, written: KubernetesObject): void {
    this.worldWrites.record(uid, resourceVersion, written);
  }

  /** A world's current view (the cache, or what this process just wrote), with the pools' template hashes. */
  currentWorld(namespace: string, name: string): KubernetesObject | undefined {
    const raw = this.o.worlds.get(name, namespace);
    return raw && this.worldWrites.view(raw);
  }

  /** A world taken by a binding (or an endpoint allocation) in flight, not yet written. */
  isReserved(worldUid: string): boolean {
    return this.allocator.holderOf(worldUid) !== undefined;
  }

  /** No claim is waiting to be planned and no claim write is in flight: refills may go. */
  get idle(): boolean {
    return this.queue.depth === 0 && this.tasks.size === 0;
  }

  /** Waits for a free write slot of the claim path (the endpoint's commits share them). */
  async slot(): Promise<void> {
    while (this.tasks.size >= this.maxInFlight) await Promise.race(this.tasks);
  }

  /** Runs one write of the claim path in a slot. */
  async inSlot<T>(write: () => Promise<T>): Promise<T> {
    await this.slot();
    const p = write();
    const task = p.then(
      () => undefined,
      () => undefined,
    );
    this.tasks.add(task);
    void task.finally(() => this.tasks.delete(task));
    return p;
  }

  /** What a commit's caller no longer waits for (claim status, Event): tracked for drain(), in no slot. */
  followUp(work: () => Promise<void>): Promise<void> {
    const p = work().finally(() => this.followUps.delete(p));
    this.followUps.add(p);
    return p;
  }

  /** An Event of a binding: sent once claims stop arriving, at most EVENT_MAX_DEFER_MS later (drain() sends it at once). */
  afterBurst(send: () => Promise<void>): void {
    if (this.lateEvents.length === 0) this.lateSince = performance.now();
    this.lateEvents.push(send);
    this.scheduleEvents();
  }

  private scheduleEvents(): void {
    if (this.lateTimer || this.lateEvents.length === 0) return;
    const wait = Math.min(EVENT_QUIET_MS - this.sinceLastArrival(), this.lateSince + EVENT_MAX_DEFER_MS - performance.now());
    this.lateTimer = setTimeout(() => {
      this.lateTimer = undefined;
      if (this.sinceLastArrival() < EVENT_QUIET_MS && performance.now() - this.lateSince < EVENT_MAX_DEFER_MS) this.scheduleEvents();
      else this.sendEvents();
    }, Math.max(0, Math.ceil(wait)));
    this.lateTimer.unref();
  }

  private sendEvents(): void {
    clearTimeout(this.lateTimer);
    this.lateTimer = undefined;
    const batch = this.lateEvents.splice(0);
    if (batch.length === 0) return;
    void this.followUp(async () => {
      for (let i = 0; i < batch.length; i += EVENT_BATCH) await Promise.allSettled(batch.slice(i, i + EVENT_BATCH).map((send) => send()));
    });
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
    await Promise.allSettled([...this.followUps]);
    this.sendEvents();
    await Promise.allSettled([...this.followUps]);
  }

  /** Plans one namespace from the caches and starts the writes. */
  async pass(namespace: string): Promise<void> {
    if (this.o.terminating?.(namespace)) return;
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
    const claimUid = w.metadata?.annotations?.[ANNOTATION_CLAIM_UID] ?? this.allocator.holderOf(w.metadata?.uid ?? '');
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
      ...(this.isReserved(w.metadata?.uid ?? '') ? { busy: true } : {}),
      ready: running && !!pool && w.metadata?.annotations?.[ANNOTATION_POOL_TEMPLATE] === hashes.get(pool),
      ...(assignedRevision(w) ? { revision: assignedRevision(w) } : {}),
      ...(w.status?.revision ? { renderedRevision: w.status.revision } : {}),
      endpoints: w.status?.endpoints ?? [],
    };
  }

  /**
   * Starts one action's writes as a task, waiting for a free slot first. The claim and its
   * worlds are marked before the wait (the hot path and a pass planned earlier may reach the
   * same claim or world meanwhile: the second one is dropped here, and the claim is planned
   * again from what the cluster shows). A binding's slot is its one commit write, the
   * world's; the claim's status and Event follow out of the slot (`followUp`).
   */
  private async start(namespace: string, a: ClaimAction): Promise<void> {
    if (a.type === 'wait' && alreadyWaiting(a.claim, a.message)) return;
    const claimUid = a.type === 'repair' ? a.claimUid : a.claim.uid;
    const worlds = a.type === 'bind' ? [a.world] : a.type === 'repair' ? a.worlds : [];
    const taken = worlds.some((w) => ![undefined, claimUid].includes(this.allocator.holderOf(w.uid)));
    if (this.busyClaims.has(claimUid) || taken || (a.type === 'bind' && this.stamped.has(claimUid))) {
      if (a.type === 'bind') this.allocator.release(a.world.uid, claimUid);
      return this.enqueue(namespace);
    }
    this.busyClaims.add(claimUid);
    // A world being bound or repaired is nobody's to take meanwhile.
    for (const w of worlds) this.allocator.reserve(w.uid, claimUid);
    let keepBusy = false;
    await this.slot();
    const task = this.execute(namespace, a)
      .then((after) => {
        if (!after) return;
        keepBusy = true;
        void this.followUp(after).catch((e: unknown) => this.failed(namespace, a, e)).finally(() => this.busyClaims.delete(claimUid));
      })
      .catch(async (e: unknown) => {
        // The connection broke with the outcome unknown (no status): the world keeps its
        // reservation until a read shows whether the write happened.
        if (a.type === 'bind' && statusCode(e) === undefined) await this.resolveUnknown(namespace, a.world);
        this.failed(namespace, a, e);
      })
      .finally(() => {
        if (!keepBusy) this.busyClaims.delete(claimUid);
        for (const w of worlds) this.allocator.release(w.uid, claimUid);
        this.tasks.delete(task);
      });
    this.tasks.add(task);
  }

  /** Lost a race (409), the object is gone (404), or the outcome is known now: plan again at once, from what the cluster shows; else back off. */
  private failed(namespace: string, a: ClaimAction, e: unknown): void {
    if (isConflict(e) || isNotFound(e) || statusCode(e) === undefined) this.enqueue(namespace);
    else {
      this.o.log(`claims in ${namespace}: ${a.type} failed: ${errorMessage(e)}`);
      this.queue.addRateLimited(namespace);
    }
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

  /** An action's writes; for a binding, its commit, returning what follows it out of the slot. */
  private async execute(namespace: string, a: ClaimAction): Promise<(() => Promise<void>) | void> {
    if (!this.o.canWrite()) return;
    const at = timestamp(new Date());
    switch (a.type) {
      case 'bind':
        await this.stampWorld(namespace, a.claim, a.world);
        this.stamped.add(a.claim.uid);
        // The next leader completes it from the cluster when this one no longer leads.
        return () => (this.o.canWrite() ? this.bound(namespace, a.claim, a.world, a.pool, at) : Promise.resolve());
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
    const t = performance.now();
    const written = await this.o.kube.mergePatch(patch as KubernetesObject);
    trace('claim-commit', { name: claim.name, patch: performance.now() - t });
    this.worldWrites.record(world.uid, world.resourceVersion, written);
  }

  private async bound(namespace: string, claim: ClaimView, world: WorldView, pool: string | undefined, at: string): Promise<void> {
    const t = performance.now();
    await this.writeStatus(namespace, claim, boundStatus(claim, world, pool, at, new Date().toISOString()));
    trace('claim-status', { name: claim.name, patch: performance.now() - t });
    const since = this.firstSeen.get(claim.uid) ?? Date.parse(claim.creationTimestamp);
    this.o.metrics.claimDuration.observe(Math.max(0, Date.now() - since) / 1000);
    this.afterBurst(() => this.event(namespace, claim, 'Bound', `bound to world ${world.name}${pool ? ` of pool ${pool}` : ''}`, 'Normal'));
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
   * Best effort, after the claim's status is written (so it never delays a binding; a
   * binding's Event once claims stop arriving, afterBurst), in a follow-up: every request of the claim path holds a task slot, so requests never
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
