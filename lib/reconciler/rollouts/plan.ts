/**
 * The rollout planner (issue 10), pure: given a game's target revision, its worlds and
 * where the rollout stands (the GameDefinition's status.rollout), which worlds move to the
 * target now, and what the rollout's status is. controller.ts feeds it the caches
 * and carries out what it returns: first the status (the batch, as intent), then the
 * worlds' revision annotations, so a reconciler killed between the two finishes the same
 * batch when it restarts instead of skipping or repeating one.
 *
 * The rules:
 * - a world is updated by setting its revision annotation; it is done when it is Running
 *   and its status says it runs the target;
 * - static worlds are synth's (dist/): `kubectl apply` brings their new revision, and the
 *   gate (shared/staticGate.ts: spec.paused on their Deployments) holds the new template; such a
 *   world is pending while it is held, moved by releasing the gate, done when its
 *   Deployments are rolled out and available again. Claimed worlds move only when the
 *   policy's claimedWorlds is Rolling (OnRelease: their pool's replacement is current);
 * - one batch at a time: the next starts when every world of the current one is done;
 *   Rolling: per group of worlds (a pool, or the game's other worlds) no more than
 *   maxUnavailableWorlds are not Running at once, counting those already down; Immediate:
 *   one batch of everything;
 * - a batch not done within progressDeadlineSeconds pauses the rollout (it goes on by
 *   itself if that batch recovers, or with a new target: a fix or an undo);
 *   spec.rollout.paused starts no new batch.
 */
import type { ClaimedWorldsPolicy, GameRollout, PoolRollout, RolloutStatus, RolloutStrategy } from '../../api/schema.js';
import { timestamp } from '../runtime/time.js';

export interface RolloutPolicy {
  strategy: RolloutStrategy;
  maxUnavailableWorlds: number | string;
  claimedWorlds: ClaimedWorldsPolicy;
  progressDeadlineSeconds: number;
  paused: boolean;
}

export const DEFAULT_MAX_UNAVAILABLE = '25%';
export const DEFAULT_PROGRESS_DEADLINE_SECONDS = 600;

/** The game's policy with defaults, a pool's override on top. */
export function rolloutPolicy(game: GameRollout | undefined, pool?: PoolRollout): RolloutPolicy {
  return {
    strategy: pool?.strategy ?? game?.strategy ?? 'Rolling',
    maxUnavailableWorlds: pool?.maxUnavailableWorlds ?? game?.maxUnavailableWorlds ?? DEFAULT_MAX_UNAVAILABLE,
    claimedWorlds: pool?.claimedWorlds ?? game?.claimedWorlds ?? 'OnRelease',
    progressDeadlineSeconds: game?.progressDeadlineSeconds ?? DEFAULT_PROGRESS_DEADLINE_SECONDS,
    paused: game?.paused ?? false,
  };
}

/** What is wrong with a maxUnavailableWorlds value, or undefined. */
export function maxUnavailableProblem(v: number | string): string | undefined {
  if (typeof v === 'number') return Number.isInteger(v) && v >= 0 ? undefined : `maxUnavailableWorlds ${v} must be a whole number ≥ 0`;
  return /^(100|[1-9]?[0-9])%$/.test(v) ? undefined : `maxUnavailableWorlds "${v}" must be a count or a percent from 0% to 100%`;
}

/** A count, or a percent of `total` rounded down; at least 1, or no rollout could progress. */
export function maxUnavailable(v: number | string, total: number): number {
  const n = typeof v === 'number' ? v : Math.floor((total * Number.parseInt(v, 10)) / 100);
  return Math.max(1, Number.isFinite(n) ? n : 1);
}

/** What the planner knows of one world of the game. */
export interface RolloutWorld {
  /** `namespace/name`. */
  key: string;
  /** Worlds whose unavailability is counted together: `namespace/pool` for a pool's worlds, '' for the others. */
  group: string;
  static: boolean;
  /** A static world whose Deployments hold a template not rolled out yet (the gate, spec.paused). */
  held?: boolean;
  /** A static world whose Deployments all run their current template, available. */
  rolledOut?: boolean;
  claimed: boolean;
  /** The revision assigned (the world's annotation). */
  revision?: string;
  /** The revision its status says it was rendered from. */
  renderedRevision?: string;
  running: boolean;
}

export interface RolloutInput {
  target: string;
  previous?: RolloutStatus;
  worlds: readonly RolloutWorld[];
  /** The policy of a group (the game's, or the game's with its pool's override). */
  policy: (group: string) => RolloutPolicy;
  now: Date;
}

export interface RolloutDecision {
  status: RolloutStatus;
  /** Worlds to move to the target now. */
  assign: string[];
  paused?: { reason: 'Paused' | 'ProgressDeadlineExceeded'; message: string };
  complete: boolean;
  /** Why no batch starts, when none does and worlds are still to move. */
  blocked?: string;
  requeueAfterMs?: number;
}

/** A batch world is done: on the target and Running; a static one: its gate has nothing left to roll. */
const settled = (w: RolloutWorld, target: string) => (w.static ? !w.held && w.rolledOut === true : isDone(w, target));
const isDone = (w: RolloutWorld, target: string) => w.revision === target && w.renderedRevision === target && w.running && (!w.static || (!w.held && w.rolledOut === true));
/** Still to be moved: a static world the gate holds; another on an older revision (one without a revision yet is new: the world reconciler starts it on the target itself). */
const isPending = (w: RolloutWorld, target: string) => (w.static ? w.held === true : w.revision !== undefined && w.revision !== target);

export function planRollout(input: RolloutInput): RolloutDecision {
  const { target, worlds, now } = input;
  const eligible = (w: RolloutWorld) => w.static || !w.claimed || input.policy(w.group).claimedWorlds === 'Rolling';
  const pending = worlds.filter((w) => eligible(w) && isPending(w, target));
  const counts: RolloutStatus = {
    targetRevision: target,
    updatedWorlds: worlds.filter((w) => isDone(w, target)).length,
    totalWorlds: worlds.length,
    waitingClaimedWorlds: worlds.filter((w) => !w.static && w.claimed && !eligible(w) && w.revision !== target).length,
  };
  const prev = input.previous?.targetRevision === target ? input.previous : undefined;
  const batchNo = prev?.batch ?? 0;
  const current: RolloutStatus = {
    ...counts,
    batch: batchNo,
    ...(prev?.batchWorlds ? { batchWorlds: prev.batchWorlds } : {}),
    ...(prev?.batchStartedAt ? { batchStartedAt: prev.batchStartedAt } : {}),
  };

  const inFlight = inFlightWorlds(prev, worlds, target, eligible);
  if (inFlight.length > 0) return batchInFlight(input, current, inFlight);

  if (pending.length === 0) return { status: current, assign: [], complete: true };
  const gamePolicy = input.policy('');
  if (gamePolicy.paused) {
    return { status: current, assign: [], complete: false, paused: { reason: 'Paused', message: `paused (spec.rollout.paused): ${pending.length} world(s) wait for the next batch` } };
  }
  const chosen = nextBatch(input, pending, eligible);
  if (chosen.length === 0) {
    return { status: current, assign: [], complete: false, blocked: 'waiting for worlds that are not Running: maxUnavailableWorlds is reached', requeueAfterMs: 5000 };
  }
  const status: RolloutStatus = { ...counts, batch: batchNo + 1, batchWorlds: chosen, batchStartedAt: timestamp(now) };
  return { status, assign: chosen, complete: false, requeueAfterMs: Math.min(30_000, gamePolicy.progressDeadlineSeconds * 1000 + 500) };
}

/** Worlds of the recorded batch not done yet (deleted worlds, and those claimed before they were moved, are left out). */
function inFlightWorlds(prev: RolloutStatus | undefined, worlds: readonly RolloutWorld[], target: string, eligible: (w: RolloutWorld) => boolean): RolloutWorld[] {
  const byKey = new Map(worlds.map((w) => [w.key, w]));
  return (prev?.batchWorlds ?? [])
    .map((k) => byKey.get(k))
    .filter((w): w is RolloutWorld => w !== undefined && !settled(w, target) && (w.revision === target || eligible(w)));
}

function batchInFlight(input: RolloutInput, status: RolloutStatus, inFlight: RolloutWorld[]): RolloutDecision {
  const { target, now } = input;
  // Moved again if it was not (a restart between the status write and the move): idempotent.
  const assign = inFlight.filter((w) => (w.static ? w.held : w.revision !== target)).map((w) => w.key);
  const deadlineMs = Date.parse(status.batchStartedAt ?? timestamp(now)) + input.policy('').progressDeadlineSeconds * 1000;
  if (now.getTime() > deadlineMs) {
    const names = inFlight.map((w) => w.key);
    const message = `batch ${status.batch} did not become Running within ${input.policy('').progressDeadlineSeconds}s: ${names.slice(0, 20).join(', ')}${names.length > 20 ? ', …' : ''}; fix forward (a new revision) or anvil rollout undo`;
    return { status, assign, complete: false, paused: { reason: 'ProgressDeadlineExceeded', message }, requeueAfterMs: 5000 };
  }
  return { status, assign, complete: false, requeueAfterMs: Math.min(30_000, Math.max(500, deadlineMs - now.getTime() + 500)) };
}

/** The next batch: everything (Immediate), or per group up to its budget of unavailable worlds, those already down first. */
function nextBatch(input: RolloutInput, pending: RolloutWorld[], eligible: (w: RolloutWorld) => boolean): string[] {
  const groups = new Map<string, RolloutWorld[]>();
  for (const w of input.worlds.filter(eligible)) groups.set(w.group, [...(groups.get(w.group) ?? []), w]);
  const pendingKeys = new Set(pending.map((w) => w.key));
  const chosen: string[] = [];
  for (const [group, members] of [...groups].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const policy = input.policy(group);
    const todo = members.filter((w) => pendingKeys.has(w.key)).sort((a, b) => Number(a.running) - Number(b.running) || (a.key < b.key ? -1 : 1));
    if (policy.strategy === 'Immediate') {
      chosen.push(...todo.map((w) => w.key));
      continue;
    }
    const downElsewhere = members.filter((w) => !w.running && !pendingKeys.has(w.key)).length;
    const budget = maxUnavailable(policy.maxUnavailableWorlds, members.length) - downElsewhere;
    chosen.push(...todo.slice(0, Math.max(0, budget)).map((w) => w.key));
  }
  return chosen.sort();
}
