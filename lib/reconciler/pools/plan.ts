/**
 * The pool controller's decisions, pure: which worlds a WorldPool has and in which state,
 * how many to create, which to remove, and the pool's status. No I/O: controller.ts
 * feeds it views of the caches and carries out what it returns.
 *
 * The rules (issue 12): keep `buffer.ready` unclaimed worlds (plus one per claim waiting
 * for this pool), never more than `maxWorlds` worlds in all, never fewer than `minWorlds`;
 * only unclaimed worlds are ever removed (scale-down, spec change), not-yet-Running ones
 * first; a pool whose game does not exist creates nothing and says so.
 */
import { API_VERSION, type Condition, type WorldInstance, type WorldPool, type WorldPoolStatus } from '../../api/schema.js';
import { ANNOTATION_POOL_TEMPLATE, LABEL_POOL } from '../../render/labels.js';
import { timestamp } from '../runtime/time.js';
import { poolSelector, poolSpec, templateHash } from '../shared/poolTemplate.js';


export type PoolWorldState = 'ready' | 'claimed' | 'starting';

/** What the pool controller needs to know of one world of the pool. */
export interface PoolWorld {
  name: string;
  uid: string;
  resourceVersion: string;
  creationTimestamp: string;
  /** Bound to a claim (or being bound: the claim controller's in-flight reservations count). */
  claimed: boolean;
  running: boolean;
  failed: boolean;
  /** Made from the pool's current spec (its template hash matches). */
  current: boolean;
}

export interface PoolCounts {
  ready: number;
  claimed: number;
  starting: number;
  total: number;
}

export interface PoolDecision {
  create: number;
  remove: PoolWorld[];
  counts: PoolCounts;
  status: WorldPoolStatus;
  /** The Ready condition's reason changed to a problem: worth an Event. */
  problem?: { reason: string; message: string };
}

/** A new world of the pool: a generated name, the pool as its controller, the pool's labels. */
export function poolWorldObject(pool: WorldPool): WorldInstance {
  const s = poolSpec(pool);
  const { name, namespace, uid } = pool.metadata;
  if (!uid) throw new Error(`pool ${namespace}/${name} has no uid`);
  return {
    apiVersion: API_VERSION,
    kind: 'WorldInstance',
    metadata: {
      name: '',
      generateName: `${name.slice(0, 57)}-`,
      ...(namespace ? { namespace } : {}),
      labels: { ...s.worldLabels, [LABEL_POOL]: name },
      annotations: { [ANNOTATION_POOL_TEMPLATE]: templateHash(pool) },
      ownerReferences: [{ apiVersion: API_VERSION, kind: 'WorldPool', name, uid, controller: true }],
    },
    spec: { gameRef: { name: s.game }, region: s.region, shards: s.shards },
  };
}

export function stateOf(w: PoolWorld): PoolWorldState {
  return w.claimed ? 'claimed' : w.running && w.current ? 'ready' : 'starting';
}

export function countWorlds(worlds: readonly PoolWorld[]): PoolCounts {
  const c: PoolCounts = { ready: 0, claimed: 0, starting: 0, total: worlds.length };
  for (const w of worlds) c[stateOf(w)]++;
  return c;
}

/** Removal order among unclaimed worlds: not Running first, then the newest. */
function removalOrder(a: PoolWorld, b: PoolWorld): number {
  if (a.running !== b.running) return a.running ? 1 : -1;
  return b.creationTimestamp.localeCompare(a.creationTimestamp) || b.name.localeCompare(a.name);
}

/**
 * What to do for one pool. `worlds`: its live (not deleting) worlds; `pendingClaims`:
 * claims waiting for a world of this pool; `gameExists`: its GameDefinition is known.
 */
export function planPool(pool: WorldPool, worlds: readonly PoolWorld[], pendingClaims: number, gameExists: boolean, now = new Date()): PoolDecision {
  const s = poolSpec(pool);
  const claimed = worlds.filter((w) => w.claimed);
  const unclaimed = worlds.filter((w) => !w.claimed);
  // Out-of-date spare worlds are never handed out: replace them.
  const outdated = unclaimed.filter((w) => !w.current);
  const spare = unclaimed.filter((w) => w.current);
  const room = Math.max(0, s.maxWorlds - claimed.length);
  const target = Math.min(room, Math.max(s.buffer + pendingClaims, s.minWorlds - claimed.length, 0));
  const excess = Math.max(0, spare.length - target);
  const remove = [...outdated, ...[...spare].sort(removalOrder).slice(0, excess)];
  const create = gameExists ? Math.max(0, target - spare.length) : 0;
  const counts = countWorlds(worlds);
  const ready = readyCondition(pool, counts, { ...s, pendingClaims, gameExists, atMax: s.buffer + pendingClaims > room, failed: spare.filter((w) => w.failed) });
  const status: WorldPoolStatus = {
    ...counts,
    selector: poolSelector(pool),
    ...(pool.metadata.generation !== undefined ? { observedGeneration: pool.metadata.generation } : {}),
    conditions: [withTransition(pool.status?.conditions, ready, timestamp(now))],
  };
  const before = pool.status?.conditions?.find((c) => c.type === 'Ready');
  const problem = ready.status === 'False' && ready.reason !== 'Filling' && before?.reason !== ready.reason ? { reason: ready.reason, message: ready.message } : undefined;
  return { create, remove, counts, status, ...(problem ? { problem } : {}) };
}

type ReadyInput = ReturnType<typeof poolSpec> & { pendingClaims: number; gameExists: boolean; atMax: boolean; failed: PoolWorld[] };

function readyCondition(pool: WorldPool, c: PoolCounts, i: ReadyInput): Omit<Condition, 'lastTransitionTime'> {
  const gen = pool.metadata.generation !== undefined ? { observedGeneration: pool.metadata.generation } : {};
  const no = (reason: string, message: string) => ({ type: 'Ready', status: 'False' as const, reason, message, ...gen });
  if (!i.gameExists) return no('GameNotFound', `game ${i.game} is not defined (no GameDefinition named ${i.game}); the pool creates no worlds until it is`);
  if (c.ready >= i.buffer) return { type: 'Ready', status: 'True', reason: 'BufferReady', message: `${c.ready} unclaimed world(s) Running (buffer ${i.buffer})`, ...gen };
  if (i.failed.length > 0) return no('WorldsFailed', `${i.failed.length} world(s) of the pool are Failed (e.g. ${i.failed[0]!.name}: see its conditions)`);
  // Not merely full while filling: the buffer (and the waiting claims) do not fit under maxWorlds.
  if (i.atMax) return no('MaxWorldsReached', `${c.claimed} claimed world(s) of maxWorlds ${i.maxWorlds}: ${c.ready}/${i.buffer} ready, ${i.pendingClaims} claim(s) waiting`);
  return no('Filling', `${c.ready}/${i.buffer} ready, ${c.starting} starting`);
}

function withTransition(prev: readonly Condition[] | undefined, next: Omit<Condition, 'lastTransitionTime'>, now: string): Condition {
  const old = prev?.find((c) => c.type === next.type);
  return { ...next, lastTransitionTime: old && old.status === next.status ? old.lastTransitionTime : now };
}

/** True when the status differs from the live one in anything but key order. */
export function statusChanged(prev: WorldPoolStatus | undefined, next: WorldPoolStatus): boolean {
  const norm = (s: WorldPoolStatus | undefined) =>
    JSON.stringify([s?.ready, s?.claimed, s?.starting, s?.total, s?.selector, s?.observedGeneration, (s?.conditions ?? []).map((c) => [c.type, c.status, c.reason, c.message, c.lastTransitionTime, c.observedGeneration])]);
  return norm(prev) !== norm(next);
}

/** A pool's pass waits until no claim has arrived for REFILL_QUIET_MS, but never longer than REFILL_MAX_DEFER_MS. */
export const REFILL_QUIET_MS = 500;
export const REFILL_MAX_DEFER_MS = 5_000;

/**
 * How long a pool's pass should wait for arriving claims (issue 20), and since when it has
 * been waiting: `wait` 0 runs the pass now. Claims first: while one arrived within
 * REFILL_QUIET_MS the refill (and the status write) waits, so that each claim's commit is not
 * slowed by the refills the claims before it triggered; but at most REFILL_MAX_DEFER_MS from
 * the first deferral, and never while claims wait for a world of this pool (`pendingClaims`).
 */
export function refillDeferral(sinceLastClaimMs: number, pendingClaims: number, deferredSince: number | undefined, now: number): { wait: number; deferredSince?: number } {
  const quietIn = REFILL_QUIET_MS - sinceLastClaimMs;
  if (quietIn <= 0 || pendingClaims > 0) return { wait: 0 };
  const since = deferredSince ?? now;
  const left = since + REFILL_MAX_DEFER_MS - now;
  if (left <= 0) return { wait: 0 };
  return { wait: Math.ceil(Math.min(quietIn, left)), deferredSince: since };
}
