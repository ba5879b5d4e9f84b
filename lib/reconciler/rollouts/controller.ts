/**
 * The rollout controller (issue 10): one pass for one game (queue key `rollout:<game>`).
 * Level-based: it reads the caches, asks the pure planner (plan.ts) what to do, writes
 * the GameDefinition's status (the batch first: that is the rollout's memory across
 * restarts), then moves the batch's worlds by setting their revision annotation — each with
 * the world's resourceVersion as precondition, so a world claimed meanwhile is never moved
 * on the strength of a stale cache. The world reconciler then renders them from the new
 * revision. Static worlds are moved by releasing their rollout gate (shared/staticGate.ts). Last,
 * revisions beyond the game's revisionHistoryLimit that nothing uses are deleted.
 */
import { createHash } from 'node:crypto';
import type { KubernetesObject } from '@kubernetes/client-node';
import type { Condition, GameDefinition, GameDefinitionStatus, WorldInstance, WorldPool } from '../../api/schema.js';
import { ANNOTATION_REVISION, LABEL_CLAIM, LABEL_POOL, LABEL_STATIC } from '../../render/labels.js';
import type { DefinitionsCache } from '../shared/definitions.js';
import type { Informer } from '../runtime/informer.js';
import { errorMessage, isConflict, isNotFound, type Kube } from '../runtime/kube.js';
import { maxUnavailableProblem, planRollout, rolloutPolicy, type RolloutDecision, type RolloutWorld } from './plan.js';
import type { Revisions } from '../shared/revisions.js';
import { assignedRevision } from '../shared/assignedRevision.js';
import { DEFAULT_REVISION_HISTORY_LIMIT } from '../shared/revisionHistory.js';
import { gateState, release, staticDeployments } from '../shared/staticGate.js';
import { timestamp } from '../runtime/time.js';

export const ROLLOUT_PREFIX = 'rollout:';
export const rolloutKey = (game: string): string => `${ROLLOUT_PREFIX}${game}`;

export interface RolloutContext {
  kube: Kube;
  definitions: DefinitionsCache;
  games: Informer<KubernetesObject>;
  worlds: Informer<KubernetesObject>;
  /** Deployments (the owned-objects cache): the static worlds' gates. */
  deployments: Informer<KubernetesObject>;
  revisions: Revisions;
  /** A WorldPool from the cache, for its rollout override (undefined: none, or pools not watched). */
  pool: (namespace: string, name: string) => WorldPool | undefined;
  memory: RolloutMemory;
  log: (msg: string) => void;
}

/**
 * What this process last wrote, newer than the caches until their watch events arrive: a
 * pass right after another must not read the batch it just started as not started (and
 * start another beside it). Only this controller writes status.rollout and moves worlds'
 * annotations, and a replica that loses the lease exits, so its own writes are the newest.
 */
export class RolloutMemory {
  readonly status = new Map<string, GameDefinitionStatus>();
  readonly assigned = new Map<string, string>();

  revisionOf(w: RolloutWorld): RolloutWorld {
    const mine = this.assigned.get(w.key);
    if (mine === undefined) return w;
    if (mine === w.revision) this.assigned.delete(w.key); // the cache has caught up
    return { ...w, revision: mine };
  }
}

/** What the planner needs of a world. */
export function rolloutWorld(w: WorldInstance): RolloutWorld {
  const ns = w.metadata.namespace ?? 'default';
  const pool = w.metadata.labels?.[LABEL_POOL];
  return {
    key: `${ns}/${w.metadata.name}`,
    group: pool ? `${ns}/${pool}` : '',
    static: w.metadata.labels?.[LABEL_STATIC] === 'true',
    claimed: Boolean(w.metadata.labels?.[LABEL_CLAIM]),
    ...(assignedRevision(w) ? { revision: assignedRevision(w) } : {}),
    ...(w.status?.revision ? { renderedRevision: w.status.revision } : {}),
    running: w.status?.phase === 'Running',
  };
}

export async function reconcileRollout(key: string, ctx: RolloutContext): Promise<{ requeueAfter?: number }> {
  const name = key.slice(ROLLOUT_PREFIX.length);
  const defs = ctx.definitions.get();
  const game = defs.catalog.games.get(name);
  const live = ctx.games.get(name) as GameDefinition | undefined;
  if (!game || !live) return {};
  const previous = ctx.memory.status.get(name) ?? live.status ?? {};
  const { name: target, problem } = await ctx.revisions.target(game, defs.catalog);
  const policyProblem = maxUnavailableProblem(game.spec.rollout?.maxUnavailableWorlds ?? 0);
  if (!target || policyProblem) {
    await writeStatus(live, previous, { ...previous, conditions: pausedCondition(previous, 'True', target ? 'InvalidPolicy' : 'NoRevision', (problem ?? policyProblem)!) }, ctx.kube);
    return {};
  }
  const worlds = ctx.worlds.list().filter((w) => (w as WorldInstance).spec?.gameRef?.name === name).map((w) => w as WorldInstance);
  const decision = planRollout({
    target,
    ...(previous.rollout ? { previous: previous.rollout } : {}),
    worlds: worlds.map((w) => withGate(ctx.memory.revisionOf(rolloutWorld(w)), ctx)),
    policy: (group) => {
      const [ns, pool] = group.split('/');
      return rolloutPolicy(game.spec.rollout, group ? ctx.pool(ns!, pool!)?.spec.rollout : undefined);
    },
    now: new Date(),
  });
  const next = statusOf(previous, decision, live.metadata.generation);
  await writeStatus(live, previous, next, ctx.kube);
  ctx.memory.status.set(name, next);
  await maybeWarn(live, previous, next, ctx);
  const released = await assign(decision.assign, target, worlds, ctx);
  await pruneHistory(game, target, ctx);
  const requeueAfter = released ? decision.requeueAfterMs : Math.min(decision.requeueAfterMs ?? 1000, 1000);
  return requeueAfter ? { requeueAfter } : {};
}

/** A static world as the planner needs it: whether its gate holds a pending template, and whether it is rolled out. */
function withGate(w: RolloutWorld, ctx: RolloutContext): RolloutWorld {
  if (!w.static) return w;
  const [namespace, name] = w.key.split('/') as [string, string];
  return { ...w, ...gateState(staticDeployments(namespace, name, ctx.deployments)) };
}

/** Deletes the game's revisions beyond its revisionHistoryLimit that no world, target or pin uses. */
async function pruneHistory(game: GameDefinition, target: string, ctx: RolloutContext): Promise<void> {
  const inUse = new Set([target, ...(game.spec.rollout?.revision ? [game.spec.rollout.revision] : [])]);
  // Every world, not only this game's: one moved to another game may still name a revision of this one.
  for (const w of ctx.worlds.list() as WorldInstance[]) {
    const assigned = w.metadata?.annotations?.[ANNOTATION_REVISION];
    if (assigned) inUse.add(assigned);
    if (w.status?.revision) inUse.add(w.status.revision);
  }
  for (const r of ctx.memory.assigned.values()) inUse.add(r);
  const deleted = await ctx.revisions.prune(game.metadata.name, game.spec.rollout?.revisionHistoryLimit ?? DEFAULT_REVISION_HISTORY_LIMIT, inUse);
  if (deleted.length) ctx.log(`game ${game.metadata.name}: deleted ${deleted.length} old revision(s) beyond revisionHistoryLimit: ${deleted.join(', ')}`);
}

function pausedCondition(prev: GameDefinitionStatus, status: 'True' | 'False', reason: string, message: string): Condition[] {
  const now = timestamp(new Date());
  const old = prev.conditions?.find((c) => c.type === 'RolloutPaused');
  const paused: Condition = { type: 'RolloutPaused', status, reason, message: message.slice(0, 30000), lastTransitionTime: old?.status === status ? old.lastTransitionTime : now };
  return [...(prev.conditions ?? []).filter((c) => c.type !== 'RolloutPaused'), paused];
}

function statusOf(prev: GameDefinitionStatus, d: RolloutDecision, generation?: number): GameDefinitionStatus {
  const progress = d.complete
    ? `complete: ${d.status.updatedWorlds}/${d.status.totalWorlds} world(s) on ${d.status.targetRevision}${d.status.waitingClaimedWorlds ? `; ${d.status.waitingClaimedWorlds} claimed world(s) keep their revision until released` : ''}`
    : d.blocked ?? `batch ${d.status.batch}: ${d.status.batchWorlds?.length ?? 0} world(s) moving to ${d.status.targetRevision}`;
  const conditions = pausedCondition(prev, d.paused ? 'True' : 'False', d.paused?.reason ?? (d.complete ? 'Complete' : 'Progressing'), d.paused?.message ?? progress);
  const now = timestamp(new Date());
  const old = prev.conditions?.find((c) => c.type === 'RolloutComplete');
  const status = d.complete ? 'True' : 'False';
  const complete: Condition = { type: 'RolloutComplete', status, reason: d.complete ? 'Complete' : d.paused ? 'Paused' : 'Progressing', message: progress.slice(0, 30000), lastTransitionTime: old?.status === status ? old.lastTransitionTime : now };
  return {
    ...(generation !== undefined ? { observedGeneration: generation } : {}),
    conditions: [...conditions.filter((c) => c.type !== 'RolloutComplete'), complete].map((c) => (generation !== undefined ? { ...c, observedGeneration: generation } : c)),
    rollout: d.status,
  };
}

const canon = (s: GameDefinitionStatus) => JSON.stringify({ ...s, conditions: [...(s.conditions ?? [])].sort((a, b) => a.type.localeCompare(b.type)) });

async function writeStatus(game: GameDefinition, prev: GameDefinitionStatus, status: GameDefinitionStatus, kube: Kube): Promise<void> {
  if (canon(prev) === canon(status)) return;
  try {
    await kube.applyStatus({ apiVersion: game.apiVersion ?? 'anvil.dev/v1alpha1', kind: 'GameDefinition', metadata: { name: game.metadata.name }, status } as KubernetesObject);
  } catch (e) {
    if (!isNotFound(e)) throw e;
  }
}

/** A Warning Event on the game when the rollout pauses on a failing batch; named after what it is about, so a restart does not repeat it. */
async function maybeWarn(game: GameDefinition, prev: GameDefinitionStatus, next: GameDefinitionStatus, ctx: RolloutContext): Promise<void> {
  const was = prev.conditions?.find((c) => c.type === 'RolloutPaused');
  const now = next.conditions?.find((c) => c.type === 'RolloutPaused');
  if (now?.status !== 'True' || now.reason === 'Paused' || (was?.status === 'True' && was.reason === now.reason)) return;
  const at = timestamp(new Date());
  const id = createHash('sha256').update(JSON.stringify([game.metadata.uid, next.rollout?.targetRevision, next.rollout?.batch, now.reason])).digest('hex').slice(0, 16);
  try {
    await ctx.kube.create({
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name: `${game.metadata.name}.${id}`, namespace: 'default' },
      involvedObject: { apiVersion: game.apiVersion, kind: 'GameDefinition', name: game.metadata.name, ...(game.metadata.uid ? { uid: game.metadata.uid } : {}) },
      reason: 'RolloutPaused',
      message: now.message,
      type: 'Warning',
      source: { component: 'anvil-reconciler' },
      firstTimestamp: at,
      lastTimestamp: at,
      count: 1,
    } as KubernetesObject);
  } catch (e) {
    if (!isConflict(e)) ctx.log(`game ${game.metadata.name}: could not record event: ${errorMessage(e)}`);
  }
}

/**
 * Moves the batch's worlds: sets their revision, each only if it is unchanged since it was
 * read (a world claimed meanwhile is left alone); a static world's gate is released. False
 * when a static world's Deployment changed meanwhile (the next pass releases it).
 */
async function assign(keys: readonly string[], target: string, worlds: readonly WorldInstance[], ctx: RolloutContext): Promise<boolean> {
  const byKey = new Map(worlds.map((w) => [`${w.metadata.namespace ?? 'default'}/${w.metadata.name}`, w]));
  const todo = keys.map((k) => byKey.get(k)).filter((w): w is WorldInstance => w !== undefined);
  let all = true;
  const move = async (w: WorldInstance) => {
    if (!rolloutWorld(w).static) return moveWorld(w, target, ctx);
    if (!(await release(staticDeployments(w.metadata.namespace ?? 'default', w.metadata.name, ctx.deployments), ctx.kube))) all = false;
  };
  for (let i = 0; i < todo.length; i += 8) await Promise.all(todo.slice(i, i + 8).map(move));
  return all;
}

async function moveWorld(cached: WorldInstance, target: string, ctx: RolloutContext): Promise<void> {
  let w: WorldInstance | undefined = cached;
  const key = `${cached.metadata.namespace ?? 'default'}/${cached.metadata.name}`;
  const wasClaimed = rolloutWorld(cached).claimed;
  for (let attempt = 0; w && attempt < 4; attempt++) {
    // Claimed since the plan was made: the planner decides again from the fresh cache.
    if (rolloutWorld(w).claimed !== wasClaimed) return;
    try {
      await ctx.kube.mergePatch({
        apiVersion: 'anvil.dev/v1alpha1',
        kind: 'WorldInstance',
        metadata: { name: w.metadata.name, namespace: w.metadata.namespace, resourceVersion: w.metadata.resourceVersion, annotations: { [ANNOTATION_REVISION]: target } },
      } as KubernetesObject);
      ctx.memory.assigned.set(key, target);
      return;
    } catch (e) {
      if (isNotFound(e)) return;
      if (!isConflict(e)) throw e;
      // Changed since read (its status, most often): read it again and look again.
      w = await ctx.kube.read<WorldInstance & KubernetesObject>('anvil.dev/v1alpha1', 'WorldInstance', cached.metadata.name, cached.metadata.namespace);
    }
  }
  if (w) throw new Error(`world ${key} kept changing while being moved to ${target}; retrying`);
}
