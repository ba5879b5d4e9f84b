/**
 * The claim controller's decisions, pure: given the claims, the worlds and the pools of one
 * namespace (as the caches and the in-flight writes show them), which claim gets which
 * world, which claims wait or fail, and which half-done bindings to finish or undo.
 * controller.ts carries them out with optimistic concurrency.
 *
 * A binding is two writes: the world (claim label and uid, the claim as its controller
 * owner; conditional on the world's resourceVersion, so two claims can never both win it),
 * then the claim's status (Bound, worldRef; conditional on the claim's resourceVersion).
 * The claim's status is the truth. A crash or a lost race between the two writes leaves a
 * world stamped for a claim that does not name it; the next pass finds it in the cluster:
 * if that claim still waits, the binding is completed with that world; if the claim names
 * another world, has failed or is gone (deleted with `--cascade=orphan`, which leaves the
 * world without its owner), the stamped world belongs to nobody and is removed. The cache
 * may be stale, so a repair never acts on it: it reads the claim from the server first
 * (`settleRepair`), so the world a claim is really bound to is never removed.
 * A Bound claim whose world is gone goes Failed (WorldLost) once a read of the world
 * confirms it.
 */
import type { ClaimPhase, Condition, Endpoint, WorldClaimSpec, WorldClaimStatus } from '../../api/schema.js';

export interface ClaimView {
  name: string;
  uid: string;
  resourceVersion: string;
  creationTimestamp: string;
  generation?: number;
  spec: WorldClaimSpec;
  status?: WorldClaimStatus;
}

export interface WorldView {
  name: string;
  uid: string;
  resourceVersion: string;
  creationTimestamp: string;
  /** `anvil.dev/pool` label. */
  pool?: string;
  /** uid of its controller owner when that is a WorldPool (a spare world). */
  poolUid?: string;
  /** `anvil.dev/claim-uid` annotation: the claim it is bound (or being bound) to. */
  claimUid?: string;
  /** `anvil.dev/claim` label: that claim's name. */
  claimName?: string;
  /** Its controller owner is the claim of `claimUid` (a claim deleted with `--cascade=orphan` leaves it without). */
  ownedByClaim?: boolean;
  /** A write of this process on it is in flight (or its outcome is not known yet): not planned meanwhile. */
  busy?: boolean;
  /** Running, made from its pool's current spec, not being deleted. */
  ready: boolean;
  /** The revision it is assigned (`anvil.dev/revision`) and the one its status says it runs (issue 10). */
  revision?: string;
  renderedRevision?: string;
  endpoints: Endpoint[];
}

export interface PoolInfo {
  name: string;
  uid: string;
  game: string;
  /** Where its game's rollout stands (GameDefinition status.rollout): worlds it is moving are not bound. */
  rollout?: { targetRevision?: string; batchWorlds?: readonly string[] };
  region: string;
  worldLabels: Record<string, string>;
}

export type ClaimAction =
  | { type: 'bind'; claim: ClaimView; world: WorldView; pool: string }
  | { type: 'repair'; claimUid: string; claimName: string; worlds: WorldView[] }
  | { type: 'lost'; claim: ClaimView; world: string }
  | { type: 'wait'; claim: ClaimView; pools: string[]; message: string }
  | { type: 'fail'; claim: ClaimView; reason: 'PoolExhausted' | 'PoolNotFound'; message: string };

/** What a repair does once the claim is read from the server. */
export type RepairStep = { type: 'complete'; claim: ClaimView; world: WorldView } | { type: 'release'; world: WorldView; why: string };

export interface ClaimPlan {
  actions: ClaimAction[];
  /** Claims waiting, by pool they wait for (a selector claim counts for each pool it matches). */
  pending: Map<string, number>;
  /** Epoch ms of the earliest deadline of a waiting claim, to come back then. */
  nextDeadline?: number;
}

export const DEFAULT_CLAIM_TIMEOUT_SECONDS = 30;

export const fifo = (a: { creationTimestamp: string; name: string }, b: { creationTimestamp: string; name: string }) =>
  a.creationTimestamp.localeCompare(b.creationTimestamp) || a.name.localeCompare(b.name);

export const isSettled = (c: ClaimView): boolean => c.status?.phase === 'Failed' || (c.status?.phase === 'Bound' && !!c.status.worldRef);

export const deadlineOf = (c: ClaimView): number => Date.parse(c.creationTimestamp) + (c.spec.timeoutSeconds ?? DEFAULT_CLAIM_TIMEOUT_SECONDS) * 1000;

/** The pools a claim may take a world from, in the order it tries them. */
export function candidatePools(claim: ClaimView, pools: readonly PoolInfo[]): PoolInfo[] {
  if (claim.spec.poolRef) return pools.filter((p) => p.name === claim.spec.poolRef!.name);
  const sel = claim.spec.selector;
  if (!sel) return [];
  return pools
    .filter((p) => p.game === sel.gameRef.name && (!sel.region || p.region === sel.region))
    .filter((p) => Object.entries(sel.matchLabels ?? {}).every(([k, v]) => p.worldLabels[k] === v))
    .sort((a, b) => a.name.localeCompare(b.name));
}

/** A claim holds exactly the world it names (or, waiting, none): nothing to repair. */
const consistent = (claim: ClaimView, ws: readonly WorldView[]): boolean =>
  claim.status?.phase === 'Bound' && ws.length === 1 && ws[0]!.name === claim.status.worldRef?.name;

/**
 * Half-done bindings (worlds stamped for a claim that does not name them, or for a claim the
 * cache does not show and that no longer owns them): one repair per claim, decided only once
 * the claim is read from the server (`settleRepair`). A world with a write in flight is
 * left alone; so is one still owned by a claim the cache does not show (a claim just
 * created, or deleted: the garbage collector removes the worlds of a deleted owner).
 */
function repairs(claims: readonly ClaimView[], worlds: readonly WorldView[]): { actions: ClaimAction[]; handled: Set<string> } {
  const byUid = new Map(claims.map((c) => [c.uid, c]));
  const stamped = new Map<string, WorldView[]>();
  for (const w of worlds) if (w.claimUid && !w.busy) stamped.set(w.claimUid, [...(stamped.get(w.claimUid) ?? []), w]);
  const actions: ClaimAction[] = [];
  const handled = new Set<string>();
  for (const [uid, ws] of stamped) {
    const claim = byUid.get(uid);
    if (claim ? consistent(claim, ws) : ws.some((w) => w.ownedByClaim)) continue;
    const sorted = [...ws].sort((a, b) => a.name.localeCompare(b.name));
    const claimName = claim?.name ?? sorted.find((w) => w.claimName)?.claimName;
    if (!claimName) continue; // no claim to read: nothing is removed on the cache's word
    actions.push({ type: 'repair', claimUid: uid, claimName, worlds: sorted });
    handled.add(uid);
  }
  return { actions, handled };
}

/**
 * A repair's steps from the claim as the server has it (`fresh`: undefined when it is gone):
 * the world the claim names is kept; a waiting claim is completed with the first stamped
 * world; every other stamped world, and all of them when the claim failed or is gone (or is
 * another claim of the same name), is released.
 */
export function settleRepair(claimUid: string, fresh: (ClaimView & { deleting?: boolean }) | undefined, worlds: readonly WorldView[]): RepairStep[] {
  if (fresh?.uid === claimUid && fresh.deleting) return []; // the garbage collector takes its worlds
  const sorted = [...worlds].sort((a, b) => a.name.localeCompare(b.name));
  if (!fresh || fresh.uid !== claimUid) return sorted.map((world) => ({ type: 'release', world, why: `its claim (uid ${claimUid}) no longer exists` }));
  const failed = fresh.status?.phase === 'Failed';
  const keep = failed ? undefined : fresh.status?.worldRef?.name ?? sorted[0]?.name;
  const steps: RepairStep[] = sorted
    .filter((w) => w.name !== keep)
    .map((world) => ({ type: 'release', world, why: keep ? `claim ${fresh.name} is bound to ${keep}` : `claim ${fresh.name} has failed` }));
  const kept = sorted.find((w) => w.name === keep);
  if (kept && !isSettled(fresh)) steps.push({ type: 'complete', claim: fresh, world: kept });
  return steps;
}

/** Bound claims whose world the cache no longer shows: to be confirmed by a read, then Failed (WorldLost). */
function lostWorlds(claims: readonly ClaimView[], worlds: readonly WorldView[], handled: ReadonlySet<string>): ClaimAction[] {
  const names = new Set(worlds.map((w) => w.name));
  return claims
    .filter((c) => c.status?.phase === 'Bound' && c.status.worldRef && !handled.has(c.uid) && !names.has(c.status.worldRef.name))
    .map((claim) => ({ type: 'lost', claim, world: claim.status!.worldRef!.name }));
}

/**
 * A world its game's rollout is moving (issue 10): assigned a revision it does not run yet,
 * or in the rollout's current batch and not yet Running on the target. Binding it would put
 * players in a world about to restart.
 */
export function movedByRollout(w: WorldView, namespace: string, rollout: PoolInfo['rollout']): boolean {
  if (w.revision !== undefined && w.renderedRevision !== undefined && w.revision !== w.renderedRevision) return true;
  const target = rollout?.targetRevision;
  if (!target || !rollout?.batchWorlds?.includes(`${namespace}/${w.name}`)) return false;
  return !(w.ready && w.renderedRevision === target);
}

/**
 * The one rule for a world that may be given to a claim (the namespace pass and the
 * allocator's hot path both ask it): a spare of this very pool (not an earlier namesake's),
 * unclaimed, with no write in flight, Running on the pool's current spec, and not moved by
 * its game's rollout.
 */
export function isSpare(w: WorldView, pool: PoolInfo, namespace: string): boolean {
  return w.pool === pool.name && !w.claimUid && !w.busy && w.ready && w.poolUid === pool.uid && !movedByRollout(w, namespace, pool.rollout);
}

/** Ready worlds on their game's target revision first (a new player gets the current version), then first come first served. */
export const currentFirst = (pool: PoolInfo) => (a: WorldView, b: WorldView) => {
  const target = pool.rollout?.targetRevision;
  return target ? Number(b.revision === target) - Number(a.revision === target) : 0;
};

/** What to do in one namespace. `now`: epoch ms. */
export function planClaims(claims: readonly ClaimView[], worlds: readonly WorldView[], pools: readonly PoolInfo[], now: number, namespace = ''): ClaimPlan {
  const { actions, handled } = repairs(claims, worlds);
  actions.push(...lostWorlds(claims, worlds, handled));
  const pending = new Map<string, number>();
  let nextDeadline: number | undefined;

  const available = new Map<string, WorldView[]>();
  const poolByName = new Map(pools.map((p) => [p.name, p]));
  for (const w of [...worlds].sort(fifo)) {
    const p = w.pool ? poolByName.get(w.pool) : undefined;
    if (!p || !isSpare(w, p, namespace)) continue;
    available.set(p.name, [...(available.get(p.name) ?? []), w]);
  }
  for (const [name, ws] of available) ws.sort(currentFirst(poolByName.get(name)!)); // stable: fifo within each

  const waiting = claims.filter((c) => !isSettled(c) && !handled.has(c.uid)).sort(fifo);
  for (const claim of waiting) {
    const candidates = candidatePools(claim, pools);
    const pool = candidates.find((p) => (available.get(p.name)?.length ?? 0) > 0);
    if (pool) {
      actions.push({ type: 'bind', claim, world: available.get(pool.name)!.shift()!, pool: pool.name });
      continue;
    }
    const deadline = deadlineOf(claim);
    const what = claim.spec.poolRef ? `pool ${claim.spec.poolRef.name}` : `a pool of game ${claim.spec.selector?.gameRef.name}${claim.spec.selector?.region ? ` in region ${claim.spec.selector.region}` : ''}${Object.keys(claim.spec.selector?.matchLabels ?? {}).length ? ` with labels ${JSON.stringify(claim.spec.selector?.matchLabels)}` : ''}`;
    if (now >= deadline) {
      const timeout = claim.spec.timeoutSeconds ?? DEFAULT_CLAIM_TIMEOUT_SECONDS;
      actions.push(
        candidates.length === 0
          ? { type: 'fail', claim, reason: 'PoolNotFound', message: `no ${what} exists (waited ${timeout}s)` }
          : { type: 'fail', claim, reason: 'PoolExhausted', message: `no ready world in ${candidates.map((p) => `pool ${p.name}`).join(', ')} within ${timeout}s` },
      );
      continue;
    }
    for (const p of candidates) pending.set(p.name, (pending.get(p.name) ?? 0) + 1);
    nextDeadline = Math.min(nextDeadline ?? deadline, deadline);
    const message = candidates.length === 0 ? `waiting for ${what} to exist` : `waiting for a ready world in ${candidates.map((p) => `pool ${p.name}`).join(', ')}`;
    actions.push({ type: 'wait', claim, pools: candidates.map((p) => p.name), message });
  }
  return { actions, pending, ...(nextDeadline !== undefined ? { nextDeadline } : {}) };
}

// ---- what the writes carry ------------------------------------------------------------

const condition = (c: ClaimView, status: Condition['status'], reason: string, message: string, at: string): Condition => {
  const old = c.status?.conditions?.find((x) => x.type === 'Bound');
  return { type: 'Bound', status, reason, message, lastTransitionTime: old && old.status === status ? old.lastTransitionTime : at };
};

function claimStatus(phase: ClaimPhase, cond: Condition, extra: Partial<WorldClaimStatus> = {}): WorldClaimStatus {
  return { phase, ...extra, conditions: [cond] };
}

export function boundStatus(c: ClaimView, world: WorldView, pool: string | undefined, at: string, boundAt: string): WorldClaimStatus {
  const msg = `bound to world ${world.name}${pool ? ` of pool ${pool}` : ''}`;
  return claimStatus('Bound', condition(c, 'True', 'Bound', msg, at), { worldRef: { name: world.name }, endpoints: world.endpoints, boundAt });
}

export const waitingStatus = (c: ClaimView, message: string, at: string): WorldClaimStatus => claimStatus('Pending', condition(c, 'False', 'Waiting', message, at));

export const failedStatus = (c: ClaimView, reason: string, message: string, at: string): WorldClaimStatus => claimStatus('Failed', condition(c, 'False', reason, message, at));

/** True when a waiting claim's status already says this (no write needed). */
export const alreadyWaiting = (c: ClaimView, message: string): boolean => {
  const b = c.status?.conditions?.find((x) => x.type === 'Bound');
  return c.status?.phase === 'Pending' && b?.reason === 'Waiting' && b.message === message;
};
