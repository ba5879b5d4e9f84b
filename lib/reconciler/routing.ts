/**
 * Which keys an informer event queues: the reconciler's event routing, in one place. Every
 * handler only enqueues (level-based: the pass reads the caches, never the event), and each
 * says why a kind of change concerns which keys. The informers and controllers it routes to
 * are created after it (they take its handlers), so they are attached with `attach`.
 */
import { createHash } from 'node:crypto';
import type { KubernetesObject } from '@kubernetes/client-node';
import type { GameDefinition, WorldInstance } from '../api/schema.js';
import { PLATFORM_NAMESPACE } from '../resolve/resolve.js';
import { ANNOTATION_REVISION, LABEL_GAME, LABEL_MODULE, LABEL_POOL, LABEL_STATIC, LABEL_WORLD } from '../render/labels.js';
import type { ClaimController } from './claims/controller.js';
import type { DefinitionsCache } from './shared/definitions.js';
import type { Informer, InformerEvent } from './runtime/informer.js';
import type { PoolController } from './pools/controller.js';
import type { WorkQueue } from './runtime/queue.js';
import { PLATFORM_KEY, worldKey } from './worlds/reconcile.js';
import { rolloutKey } from './rollouts/controller.js';

export interface Routed {
  worlds: Informer<KubernetesObject>;
  games: Informer<KubernetesObject>;
  pools: Informer<KubernetesObject>;
  poolCtl: PoolController;
  claimCtl: ClaimController;
}

/** What a world pass reads of the world itself (see onWorld). */
const fingerprint = (w: KubernetesObject) =>
  createHash('sha1')
    .update(JSON.stringify([w.metadata?.uid, w.metadata?.generation, w.metadata?.deletionTimestamp, w.metadata?.labels?.[LABEL_STATIC], w.metadata?.annotations?.[ANNOTATION_REVISION], (w as WorldInstance).status]))
    .digest('base64');

const gameOf = (o: KubernetesObject): string | undefined => (o as WorldInstance).spec?.gameRef?.name;

export class EventRouter {
  private r!: Routed;
  /** Last generation seen per game: a status-only update (its rollout) re-resolves nothing. */
  private readonly gameGenerations = new Map<string, number | undefined>();
  /** Each world's placement (game/region) and how many worlds share each one. */
  private readonly lastPlacement = new Map<string, string>();
  private readonly placements = new Map<string, number>();
  private readonly lastSeen = new Map<string, string>();

  constructor(
    private readonly queue: WorkQueue,
    private readonly definitions: DefinitionsCache,
  ) {}

  attach(routed: Routed): void {
    this.r = routed;
  }

  private enqueue(key: string): void {
    this.queue.add(key);
  }

  private enqueueWorldsOf(games: ReadonlySet<string | undefined>): void {
    for (const w of this.r.worlds.list()) if (games.has(gameOf(w))) this.enqueue(worldKey(w));
  }

  /**
   * A definition changed: every world whose game is (or lists) it re-resolves, and the
   * platform. A game's status (its rollout, written by this reconciler) changes nothing its
   * worlds resolve from: only a new generation (spec) re-resolves them.
   */
  readonly onGame = (e: InformerEvent, g: KubernetesObject): void => {
    const name = g.metadata?.name ?? '';
    this.enqueue(rolloutKey(name));
    if (e === 'update' && this.gameGenerations.has(name) && this.gameGenerations.get(name) === g.metadata?.generation) return;
    if (e === 'delete') this.gameGenerations.delete(name);
    else this.gameGenerations.set(name, g.metadata?.generation);
    this.definitions.invalidate();
    this.enqueue(PLATFORM_KEY);
    for (const p of this.r.pools.list()) if (gameOf(p) === name) this.r.poolCtl.enqueue(worldKey(p));
    this.enqueueWorldsOf(new Set([name]));
  };

  readonly onModule = (_e: InformerEvent, m: KubernetesObject): void => {
    this.definitions.invalidate();
    this.enqueue(PLATFORM_KEY);
    const listing = new Set(
      this.r.games.list().filter((g) => (g as GameDefinition).spec?.modules?.some((x) => x.name === m.metadata?.name)).map((g) => g.metadata?.name),
    );
    this.enqueueWorldsOf(listing);
    for (const g of listing) if (g) this.enqueue(rolloutKey(g));
  };

  /**
   * The world itself, its pool, the claims and its game's rollout; and the platform only when
   * the set of placements (game and region pairs: all that globalInstances reads of the
   * worlds) gains or loses one — not on every new world: a platform pass walks every world.
   * An update that changes nothing a world pass reads (a claim stamping labels, annotations
   * and its owner on a pool world) queues no world pass, so a burst of bindings does not
   * queue a burst of renders in front of the claims.
   */
  readonly onWorld = (e: InformerEvent, w: KubernetesObject): void => {
    const key = worldKey(w);
    const fp = e === 'delete' ? undefined : fingerprint(w);
    if (!(e === 'update' && this.lastSeen.get(key) === fp)) this.enqueue(key);
    if (fp) this.lastSeen.set(key, fp);
    else this.lastSeen.delete(key);
    const pool = w.metadata?.labels?.[LABEL_POOL];
    if (pool) this.r.poolCtl.enqueue(`${w.metadata?.namespace ?? 'default'}/${pool}`);
    this.r.claimCtl.onWorld(w, e);
    const game = gameOf(w);
    if (game) this.enqueue(rolloutKey(game)); // its rollout waits on it
    const placement = e === 'delete' ? undefined : `${game}/${(w as WorldInstance).spec?.region ?? 'default'}`;
    const before = this.lastPlacement.get(key);
    if (before === placement) return;
    if (placement) this.lastPlacement.set(key, placement);
    else this.lastPlacement.delete(key);
    const removed = before !== undefined && this.count(before, -1);
    const added = placement !== undefined && this.count(placement, 1);
    if (removed || added) this.enqueue(PLATFORM_KEY);
  };

  /** True when `placement` appeared or disappeared. */
  private count(placement: string, by: number): boolean {
    const n = (this.placements.get(placement) ?? 0) + by;
    if (n > 0) this.placements.set(placement, n);
    else this.placements.delete(placement);
    return (by > 0 && n === 1) || (by < 0 && n === 0);
  }

  /**
   * Owned objects: their world (or the platform), so drift and readiness are noticed. A
   * Deployment's change goes first: it may make its world Running, a cheap pass that should
   * not wait behind a burst of new worlds' first applies.
   */
  readonly onOwned = (_e: InformerEvent, o: KubernetesObject): void => {
    const world = o.metadata?.labels?.[LABEL_WORLD];
    if (world) this.queue.add(`${o.metadata?.namespace ?? 'default'}/${world}`, { first: o.kind === 'Deployment' });
    else if (o.metadata?.namespace === PLATFORM_NAMESPACE && (o.metadata.labels?.[LABEL_MODULE] || o.kind === 'CapabilityBinding')) this.enqueue(PLATFORM_KEY);
  };

  /** A namespace labelled (or not) for worlds: its worlds say whether they can reach global providers. */
  readonly onNamespace = (_e: InformerEvent, ns: KubernetesObject): void => {
    for (const w of this.r.worlds.list(ns.metadata?.name)) this.enqueue(worldKey(w));
  };

  readonly onPool = (_e: InformerEvent, p: KubernetesObject): void => {
    this.r.poolCtl.enqueue(worldKey(p));
    this.r.claimCtl.enqueue(p.metadata?.namespace ?? 'default');
  };

  readonly onClaim = (e: InformerEvent, c: KubernetesObject): void => this.r.claimCtl.onClaim(e, c);

  /** A new game revision (issue 10) may be what a world or a rollout waits for. */
  readonly onRevision = (_e: InformerEvent, rev: KubernetesObject): void => {
    const game = rev.metadata?.labels?.[LABEL_GAME];
    if (!game) return;
    this.enqueue(rolloutKey(game));
    this.enqueueWorldsOf(new Set([game]));
  };
}
