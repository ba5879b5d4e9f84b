/**
 * The reconciler process: informers on the definitions, the worlds and every kind it owns;
 * a work queue fed by their events; workers that run reconcile() once this replica leads;
 * a periodic resync; the HTTP endpoints; and a graceful shutdown that hands the lease over.
 */
import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import type { KubernetesObject } from '@kubernetes/client-node';
import { PLATFORM_NAMESPACE } from '../resolve/resolve.js';
import { LABEL_MODULE, LABEL_POOL, LABEL_STATIC, LABEL_WORLD, MANAGED_BY } from '../render/labels.js';
import { DEFAULT_SETTINGS, type RenderSettings } from '../render/settings.js';
import { RECONCILER_NAME } from '../render/platform.js';
import { APPLY_PARALLELISM, Applier, OWNED_KINDS } from './apply.js';
import { DefinitionsCache } from './definitions.js';
import { EventRecorder } from './events.js';
import { Informer, type InformerEvent } from './informer.js';
import { Kube, errorMessage, loadKubeConfig } from './kube.js';
import { LeaderElector } from './leader.js';
import { ReconcilerMetrics } from './metrics.js';
import { WorkQueue, runWorkers } from './queue.js';
import { PLATFORM_KEY, reconcileWorld, worldKey, type ReconcileContext } from './reconcile.js';
import { reconcilePlatform } from './global.js';
import { startServer } from './server.js';
import { trimOwned } from './trim.js';
import { ownerUids } from './cacheIndex.js';
import { ClaimController } from './claimController.js';
import { CREATE_BATCH, PoolController } from './poolController.js';
import type { GameDefinition, WorldInstance, WorldPool } from '../api/schema.js';
import { ANNOTATION_REVISION, LABEL_GAME } from '../render/labels.js';
import { REVISIONS_PATH, Revisions } from './revisions.js';
import { ROLLOUT_PREFIX, RolloutMemory, reconcileRollout, rolloutKey } from './rolloutController.js';
import { trimMetadata } from './trim.js';

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
  kube.fence(fence.signal);
  const queue = new WorkQueue({ onDepth: (d) => metrics.queueDepth.set(d) });
  const enqueue = (key: string) => queue.add(key);

  // ---- informers ----------------------------------------------------------------------
  const informer = (path: string, onEvent: (e: InformerEvent, o: KubernetesObject) => void, labelSelector?: string, trim?: ReturnType<typeof trimOwned>, indexBy?: typeof ownerUids) =>
    new Informer<KubernetesObject>(kc, kube, { path, onEvent, log, ...(labelSelector ? { labelSelector } : {}), ...(trim ? { trim } : {}), ...(indexBy ? { indexBy } : {}) });

  const definitions = new DefinitionsCache({ modules: () => modules.list(), games: () => games.list() });

  // A definition changed: every world whose game is (or lists) it re-resolves, and the platform.
  // A game's status (its rollout, written by this reconciler) changes nothing its worlds
  // resolve from: only a new generation (spec) re-resolves them.
  const gameGenerations = new Map<string, number | undefined>();
  const onGame = (e: InformerEvent, g: KubernetesObject) => {
    const name = g.metadata?.name ?? '';
    if (e === 'update' && gameGenerations.has(name) && gameGenerations.get(name) === g.metadata?.generation) {
      enqueue(rolloutKey(name));
      return;
    }
    if (e === 'delete') gameGenerations.delete(name);
    else gameGenerations.set(name, g.metadata?.generation);
    definitions.invalidate();
    enqueue(PLATFORM_KEY);
    enqueue(rolloutKey(g.metadata?.name ?? ''));
    for (const p of pools.list()) if ((p as { spec?: { gameRef?: { name?: string } } }).spec?.gameRef?.name === g.metadata?.name) poolCtl.enqueue(worldKey(p));
    for (const w of worlds.list()) if ((w as WorldInstance).spec?.gameRef?.name === g.metadata?.name) enqueue(worldKey(w));
  };
  const onModule = (_e: InformerEvent, m: KubernetesObject) => {
    definitions.invalidate();
    enqueue(PLATFORM_KEY);
    const listing = new Set(
      games.list().filter((g) => (g as GameDefinition).spec?.modules?.some((x) => x.name === m.metadata?.name)).map((g) => g.metadata?.name),
    );
    for (const w of worlds.list()) if (listing.has((w as WorldInstance).spec?.gameRef?.name)) enqueue(worldKey(w));
    for (const g of listing) if (g) enqueue(rolloutKey(g));
  };
  // Worlds: the world itself, and the platform when the set of placements (game and region
  // pairs: all that globalInstances reads of the worlds) gains or loses one. Not on every new
  // world: a platform pass walks every world, so 1,000 new worlds of one game would cost
  // 1,000 passes over up to 1,000 worlds for the same result.
  const lastPlacement = new Map<string, string>();
  const placements = new Map<string, number>();
  const count = (placement: string, by: number): boolean => {
    const n = (placements.get(placement) ?? 0) + by;
    if (n > 0) placements.set(placement, n);
    else placements.delete(placement);
    return (by > 0 && n === 1) || (by < 0 && n === 0);
  };
  // What a world pass reads of the world itself. An update that changes none of it (a claim
  // stamping labels, annotations and its owner on a pool world) needs no world pass: skipping
  // it keeps a burst of bindings from queueing a burst of renders in front of the claims.
  const lastSeen = new Map<string, string>();
  const fingerprint = (w: KubernetesObject) =>
    createHash('sha1')
      .update(JSON.stringify([w.metadata?.uid, w.metadata?.generation, w.metadata?.deletionTimestamp, w.metadata?.labels?.[LABEL_STATIC], w.metadata?.annotations?.[ANNOTATION_REVISION], (w as WorldInstance).status]))
      .digest('base64');
  const onWorld = (e: InformerEvent, w: KubernetesObject) => {
    const key = worldKey(w);
    const fp = e === 'delete' ? undefined : fingerprint(w);
    if (!(e === 'update' && lastSeen.get(key) === fp)) enqueue(key);
    if (fp) lastSeen.set(key, fp);
    else lastSeen.delete(key);
    const pool = w.metadata?.labels?.[LABEL_POOL];
    if (pool) poolCtl.enqueue(`${w.metadata?.namespace ?? 'default'}/${pool}`);
    claimCtl.onWorld(w);
    const spec = (w as WorldInstance).spec;
    if (spec?.gameRef?.name) enqueue(rolloutKey(spec.gameRef.name)); // its rollout waits on it
    const placement = e === 'delete' ? undefined : `${spec?.gameRef?.name}/${spec?.region ?? 'default'}`;
    const before = lastPlacement.get(key);
    if (before === placement) return;
    if (placement) lastPlacement.set(key, placement);
    else lastPlacement.delete(key);
    const removed = before !== undefined && count(before, -1);
    const added = placement !== undefined && count(placement, 1);
    if (removed || added) enqueue(PLATFORM_KEY);
  };
  // Owned objects: their world (or the platform), so drift and readiness are noticed. A
  // Deployment's change goes first: it may make its world Running, a cheap pass that should
  // not wait behind a burst of new worlds' first applies.
  const onOwned = (_e: InformerEvent, o: KubernetesObject) => {
    const world = o.metadata?.labels?.[LABEL_WORLD];
    if (world) queue.add(`${o.metadata?.namespace ?? 'default'}/${world}`, { first: o.kind === 'Deployment' });
    else if (o.metadata?.namespace === PLATFORM_NAMESPACE && (o.metadata.labels?.[LABEL_MODULE] || o.kind === 'CapabilityBinding')) enqueue(PLATFORM_KEY);
  };

  const modules = informer('/apis/anvil.dev/v1alpha1/modulemanifests', onModule);
  const games = informer('/apis/anvil.dev/v1alpha1/gamedefinitions', onGame);
  const worlds = informer('/apis/anvil.dev/v1alpha1/worldinstances', onWorld);
  const pools = informer('/apis/anvil.dev/v1alpha1/worldpools', (_e, p) => {
    poolCtl.enqueue(worldKey(p));
    claimCtl.enqueue(p.metadata?.namespace ?? 'default');
  });
  const claims = informer('/apis/anvil.dev/v1alpha1/worldclaims', (e, c) => claimCtl.onClaim(e, c));
  const owned = new Map(
    // Indexed by owner uid: a world's sync visits only its own objects (Applier.sync, Owner.ownerUid).
    OWNED_KINDS.map(({ kind, path }) => [kind, informer(path, (e, o) => onOwned(e, { ...o, kind }), `${MANAGED_BY}=anvil`, trimOwned(kind), ownerUids)] as const),
  );
  // Game revisions (issue 10): a new one may be what a world or a rollout waits for.
  const revisionCache = informer(REVISIONS_PATH, (_e, r) => {
    const game = r.metadata?.labels?.[LABEL_GAME];
    if (!game) return;
    enqueue(rolloutKey(game));
    for (const w of worlds.list()) if ((w as WorldInstance).spec?.gameRef?.name === game) enqueue(worldKey(w));
  }, `${MANAGED_BY}=anvil`, trimMetadata);
  const all = [modules, games, worlds, pools, claims, revisionCache, ...owned.values()];
  const revisions = new Revisions(kube, revisionCache);
  const rolloutMemory = new RolloutMemory();

  // ---- pools and claims: their own queues and workers; claims their own connections too --
  const canWrite = () => !opts.leaderElect || elector?.isLeader === true;
  const claimWritesInFlight = opts.claimWritesInFlight ?? 64;
  const claimKube = new Kube(kc, metrics, { maxSockets: claimWritesInFlight + 8 });
  claimKube.fence(fence.signal); // a lost lease stops the claim path's writes at once too
  const claimCtl = new ClaimController({
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
  });
  const poolCtl = new PoolController({
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
  });

  const ctx: ReconcileContext = {
    kube,
    metrics,
    settings: { ...DEFAULT_SETTINGS, ...opts.settings },
    worlds,
    deployments: owned.get('Deployment')!,
    services: owned.get('Service')!,
    definitions,
    applier: new Applier(kube, owned),
    events: new EventRecorder(kube),
    revisions,
    log,
  };
  const rolloutCtx = { kube, definitions, games, worlds, deployments: owned.get('Deployment')!, revisions, memory: rolloutMemory, pool: (ns: string, name: string) => pools.get(name, ns) as WorldPool | undefined, log };

  // ---- HTTP -----------------------------------------------------------------------------
  let ready = false;
  const server = await startServer({ port: opts.port ?? 8080, registry: metrics.registry, ready: () => ready });
  const port = (server.address() as { port: number }).port;
  log(`reconciler ${identity}: serving /healthz /readyz /metrics on :${port}`);

  await Promise.all(all.map((i) => i.start()));
  ready = true;
  log(`reconciler ${identity}: caches synced (${worlds.list().length} worlds, ${games.list().length} games, ${modules.list().length} modules)`);

  // ---- workers ----------------------------------------------------------------------------
  // Keys a running resync still waits for; when the last is done, the resync is complete
  // (anvil_resyncs_completed_total: what tests wait on to know "a full pass changed nothing").
  let resyncPending = new Set<string>();
  const processed = (key: string) => {
    if (resyncPending.delete(key) && resyncPending.size === 0) metrics.resyncs.inc();
  };
  const worker = async (key: string) => {
    const endTimer = metrics.reconcileDuration.startTimer({ kind: key === PLATFORM_KEY ? 'platform' : 'world' });
    try {
      const r =
        key === PLATFORM_KEY ? await reconcilePlatform(ctx) : key.startsWith(ROLLOUT_PREFIX) ? await reconcileRollout(key, rolloutCtx) : await reconcileWorld(key, ctx);
      queue.forget(key);
      metrics.reconciles.inc({ result: r.requeueAfter ? 'requeue' : 'success' });
      if (r.requeueAfter) queue.addAfter(key, r.requeueAfter);
    } catch (e) {
      // A world's failure is on its status and Events already (reconcileWorld); retry with backoff.
      metrics.reconciles.inc({ result: 'error' });
      log(`reconcile ${key} failed (retry ${queue.retries(key) + 1}): ${errorMessage(e)}`);
      queue.addRateLimited(key);
    } finally {
      endTimer();
      processed(key);
    }
  };

  const resyncMs = (opts.resyncSeconds ?? 300) * 1000;
  let resyncTimer: NodeJS.Timeout | undefined;
  /**
   * Every key again, from the informer caches: no relist (a second copy of everything) —
   * the informers keep their caches whole themselves: a failed watch resumes from its
   * resourceVersion, and relists when that is too old (410 Gone) or the list failed.
   */
  const resync = () => {
    definitions.invalidate();
    const keys = [PLATFORM_KEY, ...worlds.list().map(worldKey), ...games.list().map((g) => rolloutKey(g.metadata?.name ?? ''))];
    resyncPending = new Set(keys);
    for (const k of keys) enqueue(k);
    enqueuePoolsAndClaims();
  };
  const enqueuePoolsAndClaims = () => {
    for (const p of pools.list()) poolCtl.enqueue(worldKey(p));
    for (const ns of new Set([...pools.list(), ...claims.list()].map((o) => o.metadata?.namespace ?? 'default'))) claimCtl.enqueue(ns);
  };
  let workersDone: Promise<void> = Promise.resolve();
  const startWorkers = () => {
    metrics.isLeader.set(1);
    resync(); // the first pass over everything counts as a resync
    workersDone = Promise.all([
      runWorkers(queue, concurrency, worker),
      claimCtl.run(opts.claimWorkers ?? 2),
      poolCtl.run(POOL_WORKERS),
    ]).then(() => claimCtl.drain());
    const tick = () => {
      resyncTimer = setTimeout(() => {
        resync();
        tick();
      }, resyncMs);
      resyncTimer.unref();
    };
    tick();
    log(`reconciler ${identity}: workers started (concurrency ${concurrency}, resync ${resyncMs / 1000}s)`);
  };

  let resolveDone!: () => void;
  const done = new Promise<void>((r) => (resolveDone = r));
  let elector: LeaderElector | undefined;
  let shuttingDown = false;
  const shutdown = async () => {
    if (shuttingDown) return done;
    shuttingDown = true;
    log(`reconciler ${identity}: shutting down`);
    clearTimeout(resyncTimer);
    queue.shutdown();
    claimCtl.queue.shutdown();
    poolCtl.queue.shutdown();
    // Let in-flight reconciles finish (bounded), then hand the lease over.
    await Promise.race([workersDone, new Promise((r) => setTimeout(r, 10_000).unref())]);
    await elector?.release();
    metrics.isLeader.set(0);
    await Promise.all(all.map((i) => i.stop()));
    await new Promise<void>((r) => server.close(() => r()));
    resolveDone();
    return done;
  };

  if (opts.leaderElect) {
    elector = new LeaderElector({ kube, namespace: opts.leaseNamespace ?? PLATFORM_NAMESPACE, name: RECONCILER_NAME, identity, log });
    elector
      .run(startWorkers, () => {
        // Like controller-runtime: a replica that lost the lease stops; it is restarted as a
        // candidate. It stops writing at once: in-flight reconciles fail at their next write.
        fence.abort();
        void shutdown();
      })
      .catch((e: unknown) => log(`leader election failed: ${errorMessage(e)}`));
  } else {
    startWorkers();
  }
  const resyncNow = async () => {
    // One cache at a time: a relist holds two copies of its cache until it swaps, so relisting
    // all at once would hold two copies of everything (the peak RSS of a resync).
    for (const i of all) await i.relist().catch((e: unknown) => log(`relist failed: ${errorMessage(e)}`));
    resync();
  };
  return { done, shutdown, port, resyncNow };
}
