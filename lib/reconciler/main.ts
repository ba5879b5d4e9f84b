/**
 * The reconciler process: informers on the definitions, the worlds and every kind it owns;
 * a work queue fed by their events; workers that run reconcile() once this replica leads;
 * a periodic resync; the HTTP endpoints; and a graceful shutdown that hands the lease over.
 */
import { hostname } from 'node:os';
import type { KubeConfig, KubernetesObject } from '@kubernetes/client-node';
import { PLATFORM_NAMESPACE } from '../resolve/resolve.js';
import { ANNOTATION_ALLOCATION, LABEL_CLAIM, MANAGED_BY } from '../render/labels.js';
import { DEFAULT_SETTINGS, type RenderSettings } from '../render/settings.js';
import { RECONCILER_NAME } from '../render/platform.js';
import { APPLY_PARALLELISM, Applier, OPTIONAL_KINDS, OWNED_KINDS } from './worlds/apply.js';
import { DefinitionsCache } from './shared/definitions.js';
import { EventRecorder } from './runtime/events.js';
import { StatusMemory } from './worlds/statusMemory.js';
import { Informer, type InformerEvent, type InformerOptions } from './runtime/informer.js';
import { Kube, METADATA_LIST_ACCEPT, errorMessage, loadKubeConfig } from './runtime/kube.js';
import { LeaderElector } from './runtime/leader.js';
import { namespaceTerminating } from './runtime/namespaces.js';
import { ReconcilerMetrics } from './runtime/metrics.js';
import { WorkQueue, runWorkers } from './runtime/queue.js';
import { PLATFORM_KEY, reconcileWorld, worldKey, type ReconcileContext } from './worlds/reconcile.js';
import { reconcilePlatform } from './worlds/platform.js';
import { startServer } from './runtime/server.js';
import { VerifiedContent, trimOwned, trimToRecord } from './runtime/trim.js';
import { ownerUids } from './runtime/cacheIndex.js';
import { ClaimController } from './claims/controller.js';
import { Allocations } from './claims/allocations.js';
import { startAllocationServer } from './claims/endpoint.js';
import { TakeoverGuard } from './claims/takeover.js';
import { selfSignedEndpointCert } from './claims/endpointTls.js';
import { Authorizer } from './runtime/auth.js';
import { CREATE_BATCH, PoolController } from './pools/controller.js';
import type { WorldPool } from '../api/schema.js';
import { REVISIONS_PATH, Revisions } from './shared/revisions.js';
import { ROLLOUT_PREFIX, RolloutMemory, reconcileRollout, rolloutKey, type RolloutContext } from './rollouts/controller.js';
import { EventRouter } from './routing.js';
import { trimMetadata } from './runtime/trim.js';
import { trace } from './runtime/trace.js';

export interface ReconcilerOptions {
  kubeconfig?: string;
  leaderElect?: boolean;
  leaseNamespace?: string;
  identity?: string;
  port?: number;
  concurrency?: number;
  resyncSeconds?: number;
  settings?: Partial<RenderSettings>;
  /** Workers planning claims (one namespace each at a time) and claim writes in flight at once. */
  claimWorkers?: number;
  claimWritesInFlight?: number;
  /**
   * The allocation endpoint (issue 20): HTTPS on its own port, with the given certificate
   * and key (PEM), or without them a self-signed one kept in `namespace` (the reconciler's;
   * claims/endpointTls.ts); off when not given. `cluster`: the name its replies carry.
   */
  allocation?: { port: number; cert?: string | Buffer; key?: string | Buffer; namespace?: string; cluster?: string };
  log?: (msg: string) => void;
}

export interface RunningReconciler {
  /** Resolves when the reconciler has stopped (after shutdown() or a lost lease). */
  done: Promise<void>;
  shutdown(): Promise<void>;
  /**
   * A resync now, on request (SIGHUP, e.g. after an outage): a fresh list of every cache
   * (a watch may have silently missed events), then every key. The periodic resync reads
   * the caches only.
   */
  resyncNow(): Promise<void>;
  port: number;
  /** The allocation endpoint's port, when it is served. */
  allocationPort?: number;
}

/** Worlds reconciled at once (the queue never hands one world to two workers). */
export const DEFAULT_CONCURRENCY = 16;
const POOL_WORKERS = 2;

const defaultLog = (msg: string) => process.stderr.write(`${new Date().toISOString()} ${msg}\n`);

export async function runReconciler(opts: ReconcilerOptions = {}): Promise<RunningReconciler> {
  const log = opts.log ?? defaultLog;
  const identity = opts.identity ?? process.env.POD_NAME ?? `${hostname()}-${process.pid}`;
  const kc = loadKubeConfig(opts.kubeconfig);
  const metrics = new ReconcilerMetrics();
  const concurrency = opts.concurrency ?? DEFAULT_CONCURRENCY;
  // Each worker has up to APPLY_PARALLELISM requests in flight; a few more for status and events,
  // and the pool workers' batches of world creations. Requests must never queue for a socket
  // (node-fetch's keep-alive bug #1767 fails queued requests with a false "Premature close").
  const kube = new Kube(kc, metrics, { maxSockets: concurrency * APPLY_PARALLELISM + 8 + POOL_WORKERS * (CREATE_BATCH + 2) });
  // Aborted when the lease is lost: from then on every write is refused before it is sent.
  const fence = new AbortController();
  let elector: LeaderElector | undefined;
  // With leader election, writes stop at the renew deadline even before a renewal fails.
  const writeDeadline = opts.leaderElect ? () => elector?.writeDeadline() ?? -Infinity : () => Infinity;
  kube.fence(fence.signal, writeDeadline);
  const queue = new WorkQueue({ onDepth: (d) => metrics.queueDepth.set(d) });

  const caches = makeCaches(kc, kube, queue, log, opts.settings?.monitoring?.podMonitors === true);
  const { worlds, games, modules, pools } = caches;
  metrics.countWorlds(() => worlds.list().map((w) => (w as { status?: { phase?: string } }).status?.phase));
  const canWrite = () => !opts.leaderElect || elector?.isLeader === true;
  const { claimCtl, poolCtl, claimKube } = makePoolsAndClaims(kc, kube, metrics, caches, canWrite, { signal: fence.signal, deadline: writeDeadline }, opts, log);
  caches.router.attach({ worlds, games, pools, poolCtl, claimCtl });

  const { ctx, rolloutCtx } = contexts(kube, metrics, caches, opts, log);

  // ---- HTTP, then the caches ------------------------------------------------------------
  let ready = false;
  const server = await startServer({ port: opts.port ?? 8080, registry: metrics.registry, ready: () => ready });
  const port = (server.address() as { port: number }).port;
  log(`reconciler ${identity}: serving /healthz /readyz /metrics on :${port}`);
  await Promise.all(caches.all.map((i) => i.start()));
  ready = true;
  // Served once the caches are synced (a retried request id is found in them); a standby answers NotLeader.
  const takeover = takeoverGuard(claimKube, log);
  const allocationServer = opts.allocation ? await serveAllocations(opts.allocation, claimCtl, claimKube, takeover, metrics, canWrite, log) : undefined;
  const allocationPort = allocationServer ? (allocationServer.address() as { port: number }).port : undefined;
  log(`reconciler ${identity}: caches synced (${worlds.list().length} worlds, ${games.list().length} games, ${modules.list().length} modules)`);

  // ---- workers and resyncs, once this replica leads ----------------------------------------
  const resyncs = new Resyncs(queue, metrics, caches, poolCtl, claimCtl);
  const worker = keyWorker(ctx, rolloutCtx, queue, metrics, log, (key) => resyncs.processed(key));
  const loop = workerLoop({ queue, claimCtl, poolCtl, metrics, resyncs, worker, concurrency, claimWorkers: opts.claimWorkers ?? 2, resyncMs: (opts.resyncSeconds ?? 300) * 1000 });
  const startWorkers = () => {
    // Its List is the endpoint's alone: without the endpoint there is nothing to guard.
    if (allocationServer) takeover.begin(elector?.fenceMarginMs ?? 0, elector ? performance.now() : 0);
    loop.start();
    log(`reconciler ${identity}: workers started (concurrency ${concurrency}, resync ${opts.resyncSeconds ?? 300}s)`);
  };

  let resolveDone!: () => void;
  const done = new Promise<void>((r) => (resolveDone = r));
  let shuttingDown = false;
  const shutdown = async () => {
    if (shuttingDown) return done;
    shuttingDown = true;
    log(`reconciler ${identity}: shutting down`);
    // Let in-flight reconciles finish (bounded), then hand the lease over.
    await Promise.race([loop.stop(), new Promise((r) => setTimeout(r, 10_000).unref())]);
    await elector?.release();
    metrics.isLeader.set(0);
    await Promise.all(caches.all.map((i) => i.stop()));
    await Promise.all([closeServer(server), closeServer(allocationServer)]);
    const fenced = (await metrics.writesFenced.get()).values[0]?.value ?? 0;
    log(`reconciler ${identity}: stopped; writes sent: ${await metrics.writesSent()}, refused by the fence: ${fenced}`);
    resolveDone();
    return done;
  };

  if (opts.leaderElect) {
    elector = elect(kube, opts.leaseNamespace ?? PLATFORM_NAMESPACE, identity, log, startWorkers, () => {
      fence.abort();
      void shutdown();
    });
  } else {
    startWorkers();
  }
  return { done, shutdown, port, ...(allocationPort !== undefined ? { allocationPort } : {}), resyncNow: () => resyncs.relistAndResync(log) };
}

/**
 * Leader election: `onLead` starts the workers once this replica leads. Like controller-runtime,
 * a replica that lost the lease stops (`onLost`: it fences every write at once, so in-flight
 * reconciles fail at their next write) and is restarted as a candidate.
 */
function elect(kube: Kube, namespace: string, identity: string, log: (msg: string) => void, onLead: () => void, onLost: () => void): LeaderElector {
  const elector = new LeaderElector({ kube, namespace, name: RECONCILER_NAME, identity, log });
  elector.run(onLead, onLost).catch((e: unknown) => log(`leader election failed: ${errorMessage(e)}`));
  return elector;
}

/** Stops accepting, drops idle keep-alive connections and resolves once the server is closed. */
async function closeServer(server: { closeIdleConnections(): void; close(cb: () => void): unknown } | undefined): Promise<void> {
  if (!server) return;
  server.closeIdleConnections();
  await new Promise<void>((r) => server.close(() => r()));
}

/**
 * The allocation endpoint's takeover guard (claims/takeover.ts): its consistent read is a
 * List of the claimed worlds' metadata (the stamp is an annotation), from the API server.
 */
function takeoverGuard(kube: Kube, log: (msg: string) => void): TakeoverGuard {
  const listStamped = async () => {
    const list = await kube.listRaw<KubernetesObject>('/apis/anvil.dev/v1alpha1/worldinstances', LABEL_CLAIM, undefined, METADATA_LIST_ACCEPT);
    return list.items.flatMap((w) => {
      const requestId = w.metadata?.annotations?.[ANNOTATION_ALLOCATION];
      return requestId && !w.metadata?.deletionTimestamp ? [{ namespace: w.metadata?.namespace ?? 'default', name: w.metadata?.name ?? '', requestId }] : [];
    });
  };
  return new TakeoverGuard({ now: () => performance.now(), sleep: (ms) => new Promise((r) => setTimeout(r, ms).unref()), listStamped, log });
}

/** The allocation endpoint: TokenReview/SubjectAccessReview through the claim path's connections, allocations through its allocator. */
async function serveAllocations(a: NonNullable<ReconcilerOptions['allocation']>, claims: ClaimController, kube: Kube, takeover: TakeoverGuard, metrics: ReconcilerMetrics, canWrite: () => boolean, log: (msg: string) => void) {
  const allocations = new Allocations({ claims, kube, canWrite, takeover, log, observe: (s) => metrics.claimDuration.observe(s), ...(a.cluster ? { cluster: a.cluster } : {}) });
  const tls = a.cert && a.key ? { cert: a.cert, key: a.key } : await selfSigned(kube, a.namespace ?? PLATFORM_NAMESPACE, log);
  if (!tls) return undefined;
  const server = await startAllocationServer({ port: a.port, cert: tls.cert, key: tls.key, allocations, auth: new Authorizer(kube), log });
  log(`reconciler: serving the allocation endpoint (HTTPS) on :${(server.address() as { port: number }).port}`);
  return server;
}

/**
 * The self-signed certificate, tried a few times (the API server may be busy at start); when
 * it cannot be had the endpoint is off and the reconciler runs on (the WorldClaim resource
 * works without it), as it did before there was a self-signed certificate.
 */
async function selfSigned(kube: Kube, namespace: string, log: (msg: string) => void): Promise<{ cert: string; key: string } | undefined> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await selfSignedEndpointCert(kube, namespace, log);
    } catch (e) {
      if (attempt >= 3) {
        log(`reconciler: allocation endpoint off: no certificate: ${errorMessage(e)} (give the Secret anvil-allocator-tls, or let the reconciler get and create Secrets in ${namespace}: dist's Role anvil-reconciler-allocator-cert)`);
        return undefined;
      }
      await new Promise((r) => setTimeout(r, 500 * attempt));
    }
  }
}

type Caches = ReturnType<typeof makeCaches>;

interface WorkerParts {
  queue: WorkQueue;
  claimCtl: ClaimController;
  poolCtl: PoolController;
  metrics: ReconcilerMetrics;
  resyncs: Resyncs;
  worker: (key: string) => Promise<void>;
  concurrency: number;
  claimWorkers: number;
  resyncMs: number;
}

/** The workers and the periodic resync: started once this replica leads, stopped at shutdown. */
function workerLoop(p: WorkerParts) {
  let timer: NodeJS.Timeout | undefined;
  let workersDone: Promise<void> = Promise.resolve();
  const tick = () => {
    timer = setTimeout(() => {
      p.resyncs.resync();
      tick();
    }, p.resyncMs);
    timer.unref();
  };
  return {
    start() {
      p.metrics.isLeader.set(1);
      p.resyncs.resync(); // the first pass over everything counts as a resync
      workersDone = Promise.all([runWorkers(p.queue, p.concurrency, p.worker), p.claimCtl.run(p.claimWorkers), p.poolCtl.run(POOL_WORKERS)]).then(() => p.claimCtl.drain());
      tick();
    },
    /** Stops taking work; resolves when the workers in flight are done. */
    stop(): Promise<void> {
      clearTimeout(timer);
      for (const q of [p.queue, p.claimCtl.queue, p.poolCtl.queue]) q.shutdown();
      return workersDone;
    },
  };
}

/** The informers, their event routing and what is derived from them (definitions, revisions). */
function makeCaches(kc: KubeConfig, kube: Kube, queue: WorkQueue, log: (msg: string) => void, podMonitors = false) {
  const informer = (path: string, onEvent: (e: InformerEvent, o: KubernetesObject) => void, more: Partial<InformerOptions<KubernetesObject>> = {}) =>
    new Informer<KubernetesObject>(kc, kube, { path, onEvent, log, ...more });
  const definitions = new DefinitionsCache({ modules: () => modules.list(), games: () => games.list() });
  const router = new EventRouter(queue, definitions);
  const modules = informer('/apis/anvil.dev/v1alpha1/modulemanifests', router.onModule);
  const games = informer('/apis/anvil.dev/v1alpha1/gamedefinitions', router.onGame);
  const worlds = informer('/apis/anvil.dev/v1alpha1/worldinstances', router.onWorld);
  const pools = informer('/apis/anvil.dev/v1alpha1/worldpools', router.onPool);
  const claims = informer('/apis/anvil.dev/v1alpha1/worldclaims', router.onClaim);
  const ownedKinds = OWNED_KINDS.filter(({ kind }) => !OPTIONAL_KINDS.has(kind) || (kind === 'PodMonitor' && podMonitors));
  // Content known to be what the plan wants is cached as a digest only (runtime/trim.ts compact records).
  const verified = new VerifiedContent();
  const onOwned = (kind: string) => (e: InformerEvent, o: KubernetesObject) => {
    if (e === 'delete') verified.forget(o.metadata?.uid);
    router.onOwned(e, { ...o, kind });
  };
  const owned = new Map(
    // Indexed by owner uid: a world's sync visits only its own objects (Applier.sync, Owner.ownerUid).
    ownedKinds.map(({ kind, path }) => [kind, informer(path, onOwned(kind), { labelSelector: `${MANAGED_BY}=anvil`, trim: trimOwned(kind, verified), indexBy: ownerUids })] as const),
  );
  // The rest of those kinds, metadata only: a conflict is found here, not by a GET per new object (worlds/apply.ts).
  const foreign = new Map(ownedKinds.map(({ kind, path }) => [kind, informer(path, () => {}, { labelSelector: `${MANAGED_BY}!=anvil`, trim: trimToRecord(kind), metadataOnly: true })] as const));
  const revisionCache = informer(REVISIONS_PATH, router.onRevision, { labelSelector: `${MANAGED_BY}=anvil`, trim: trimMetadata });
  const namespaces = informer('/api/v1/namespaces', router.onNamespace, { trim: trimToRecord('Namespace'), metadataOnly: true });
  const all = [modules, games, worlds, pools, claims, revisionCache, namespaces, ...owned.values(), ...foreign.values()];
  return { router, definitions, modules, games, worlds, pools, claims, owned, foreign, verified, namespaces, all, revisions: new Revisions(kube, revisionCache) };
}

/** What the world and platform passes and the rollout passes read and write through. */
function contexts(kube: Kube, metrics: ReconcilerMetrics, caches: Caches, opts: ReconcilerOptions, log: (msg: string) => void) {
  const { worlds, games, pools, owned, foreign, verified, definitions, revisions, namespaces } = caches;
  const ctx: ReconcileContext = {
    kube,
    metrics,
    namespaces,
    settings: { ...DEFAULT_SETTINGS, ...opts.settings },
    worlds,
    deployments: owned.get('Deployment')!,
    services: owned.get('Service')!,
    definitions,
    applier: new Applier(kube, owned, foreign, verified),
    events: new EventRecorder(kube),
    statuses: new StatusMemory(),
    revisions,
    log,
  };
  metrics.countHeldStatuses(() => ctx.statuses.heldBack);
  const rolloutCtx: RolloutContext = {
    kube,
    definitions,
    games,
    worlds,
    deployments: owned.get('Deployment')!,
    revisions,
    memory: new RolloutMemory(),
    pool: (ns, name) => pools.get(name, ns) as WorldPool | undefined,
    log,
  };
  return { ctx, rolloutCtx };
}

/** Pools and claims: their own queues and workers; claims their own connections too. */
function makePoolsAndClaims(
  kc: KubeConfig,
  kube: Kube,
  metrics: ReconcilerMetrics,
  caches: Caches,
  canWrite: () => boolean,
  fence: { signal: AbortSignal; deadline: () => number },
  opts: ReconcilerOptions,
  log: (msg: string) => void,
) {
  const claimWritesInFlight = opts.claimWritesInFlight ?? 64;
  // A socket per commit in its slot and one per follow-up (claim status, then Event) out of it.
  const claimKube = new Kube(kc, metrics, { maxSockets: 2 * claimWritesInFlight + 8 });
  claimKube.fence(fence.signal, fence.deadline); // a lost lease stops the claim path's writes at once too
  const { worlds, pools, claims, games, definitions } = caches;
  const terminating = (ns: string) => namespaceTerminating(caches.namespaces, ns);
  const claimCtl: ClaimController = new ClaimController({
    kube: claimKube,
    worlds,
    claims,
    pools,
    games,
    metrics,
    log,
    canWrite,
    onPending: (ns, pending) => poolCtl.setPending(ns, pending),
    maxInFlight: claimWritesInFlight,
    terminating,
  });
  const poolCtl: PoolController = new PoolController({
    kube,
    worlds,
    pools,
    definitions,
    metrics,
    log,
    canWrite,
    viewWorld: (w) => claimCtl.viewWorld(w),
    isReserved: (uid) => claimCtl.isReserved(uid),
    claimsIdle: () => claimCtl.idle,
    terminating,
    sinceLastClaim: () => claimCtl.sinceLastArrival(),
  });
  return { claimCtl, poolCtl, claimKube };
}

/** One key's pass: the platform, a game's rollout or a world; failures retried with backoff. */
function keyWorker(ctx: ReconcileContext, rolloutCtx: RolloutContext, queue: WorkQueue, metrics: ReconcilerMetrics, log: (msg: string) => void, processed: (key: string) => void) {
  return async (key: string): Promise<void> => {
    const endTimer = metrics.reconcileDuration.startTimer({ kind: key === PLATFORM_KEY ? 'platform' : 'world' });
    try {
      const r = key === PLATFORM_KEY ? await reconcilePlatform(ctx) : key.startsWith(ROLLOUT_PREFIX) ? await reconcileRollout(key, rolloutCtx) : await reconcileWorld(key, ctx);
      queue.forget(key);
      metrics.reconciles.inc({ result: r.requeueAfter ? 'requeue' : 'success' });
      if (r.requeueAfter) queue.addAfter(key, r.requeueAfter);
    } catch (e) {
      // A world's failure is on its status and Events already (reconcileWorld); retry with backoff.
      metrics.reconciles.inc({ result: 'error' });
      log(`reconcile ${key} failed (retry ${queue.retries(key) + 1}): ${errorMessage(e)}`);
      queue.addRateLimited(key);
    } finally {
      trace('world-pass', { ms: endTimer() * 1000 });
      processed(key);
    }
  };
}

/**
 * Every key again, from the informer caches: no relist (a second copy of everything) — the
 * informers keep their caches whole themselves: a failed watch resumes from its
 * resourceVersion, and relists when that is too old (410 Gone) or the list failed. A resync
 * is complete when the last of its keys is processed (anvil_resyncs_completed_total: what
 * tests wait on to know "a full pass changed nothing").
 */
class Resyncs {
  private pending = new Set<string>();

  constructor(
    private readonly queue: WorkQueue,
    private readonly metrics: ReconcilerMetrics,
    private readonly caches: Caches,
    private readonly poolCtl: PoolController,
    private readonly claimCtl: ClaimController,
  ) {}

  resync(): void {
    const { definitions, worlds, games, pools, claims } = this.caches;
    definitions.invalidate();
    const keys = [PLATFORM_KEY, ...worlds.list().map(worldKey), ...games.list().map((g) => rolloutKey(g.metadata?.name ?? ''))];
    this.pending = new Set(keys);
    for (const k of keys) this.queue.add(k);
    for (const p of pools.list()) this.poolCtl.enqueue(worldKey(p));
    for (const ns of new Set([...pools.list(), ...claims.list()].map((o) => o.metadata?.namespace ?? 'default'))) this.claimCtl.enqueue(ns);
  }

  processed(key: string): void {
    if (this.pending.delete(key) && this.pending.size === 0) this.metrics.resyncs.inc();
  }

  /**
   * On request (SIGHUP): a fresh list of every cache, one at a time (each relists in place,
   * item by item: one list in flight at a time keeps what is read beside the caches to one
   * item), then every key.
   */
  async relistAndResync(log: (msg: string) => void): Promise<void> {
    for (const i of this.caches.all) await i.relist().catch((e: unknown) => log(`relist failed: ${errorMessage(e)}`));
    this.resync();
  }
}
