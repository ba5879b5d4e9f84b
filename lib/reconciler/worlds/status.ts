/**
 * A world's status, computed (pure) from what the reconciler knows: whether its plan
 * resolved, how many of its workloads exist and are available. Phases move only where it
 * makes sense:
 *
 *   Pending -> Provisioning -> Running <-> Degraded        (any) -> Failed -> (recovers)
 *   (any) -> Terminating once deletionTimestamp is set
 *
 * Degraded is for a world that was Running with the same spec; after a spec change it is
 * Provisioning again. Condition lastTransitionTime changes only when the condition's status
 * changes, so a no-op pass computes the very same status and writes nothing.
 */
import type { Condition, Endpoint, WorldInstance, WorldInstanceStatus, WorldPhase } from '../../api/schema.js';
import { timestamp } from '../runtime/time.js';

export interface Resolution {
  ok: boolean;
  /** For Resolved=False: GameNotFound, ModuleNotFound, Unresolved, Invalid, … */
  reason: string;
  message: string;
}

export interface WorkloadState {
  managedBy: 'synth' | 'reconciler';
  bindings: number;
  /** Workloads (Deployments) the world should run. */
  modules: number;
  /** Of those, how many exist, and how many are available. */
  existing: number;
  readyModules: number;
  /** Names of the workloads that are not available yet, for the message. */
  notReady: string[];
  /** A static world's Deployments that hold a newer template for their rollout batch (shared/staticGate.ts); they still serve. */
  held?: string[];
  /** The root modules' Services; absent when the plan did not resolve (the last ones stay). */
  endpoints?: Endpoint[];
}

/**
 * What went wrong applying the plan, for the Ready condition: `Conflict` (an object of the
 * plan is someone else's: the world is Failed), `ReconcileFailed` (the API server refused
 * a write, or a request failed), `Drift` (an edit that may not be repaired).
 */
export interface Failure {
  reason: 'Conflict' | 'ReconcileFailed' | 'Drift' | 'NamespaceNotForWorlds';
  message: string;
}

/** metav1.Condition's reason pattern (also in the CRD schema: lib/api/schema.ts). */
export const CONDITION_REASON = /^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$/;

export interface StatusChange {
  status: WorldInstanceStatus;
  from?: WorldPhase;
  to: WorldPhase;
  /** True when status differs from the live one (a write is needed). */
  changed: boolean;
  /** True when the world reached Running for the first time in this pass. */
  firstRunning: boolean;
}


function condition(prev: readonly Condition[] | undefined, next: Omit<Condition, 'lastTransitionTime'>, now: string): Condition {
  const old = prev?.find((c) => c.type === next.type);
  return { ...next, lastTransitionTime: old && old.status === next.status ? old.lastTransitionTime : now };
}

export function phaseOf(world: WorldInstance, res: Resolution, w: WorkloadState, failure?: Failure, revision?: string): WorldPhase {
  if (world.metadata.deletionTimestamp) return 'Terminating';
  if (!res.ok || failure?.reason === 'Conflict') return 'Failed';
  const prev = world.status;
  // A new revision is like a new spec: the world is Provisioning it, not Degraded.
  const sameRevision = !prev?.revision || !revision || prev.revision === revision;
  const sameSpec = prev?.observedGeneration === world.metadata.generation && sameRevision;
  if (!failure && (w.modules > 0 ? w.readyModules >= w.modules : w.existing >= w.modules)) return 'Running';
  if (sameSpec && (prev?.phase === 'Running' || prev?.phase === 'Degraded')) return 'Degraded';
  return w.existing === 0 ? 'Pending' : 'Provisioning';
}

const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;
const heldNote = (w: WorkloadState): string =>
  w.held?.length ? `; ${w.held.length} on the previous template until their rollout batch: ${w.held.slice(0, 20).join(', ')}${w.held.length > 20 ? ', …' : ''}` : '';

/** `extra`: status fields reported beside the phase (the world's revision: worlds/revision.ts). */
export function computeStatus(world: WorldInstance, res: Resolution, w: WorkloadState, now = new Date(), failure?: Failure, extra: Partial<WorldInstanceStatus> = {}): StatusChange {
  const prev = world.status ?? {};
  const at = timestamp(now);
  const generation = world.metadata.generation;
  const phase = phaseOf(world, res, w, failure, extra.revision);
  const gen = generation !== undefined ? { observedGeneration: generation } : {};
  const resolved = condition(
    prev.conditions,
    res.ok
      ? { type: 'Resolved', status: 'True', reason: 'Resolved', message: res.message, ...gen }
      : { type: 'Resolved', status: 'False', reason: res.reason, message: res.message, ...gen },
    at,
  );
  const ready = condition(
    prev.conditions,
    failure && res.ok && phase !== 'Terminating'
      ? { type: 'Ready', status: 'False', reason: failure.reason, message: failure.message.slice(0, 30000), ...gen }
      : phase === 'Running'
      ? { type: 'Ready', status: 'True', reason: 'AllModulesReady', message: `${w.readyModules}/${plural(w.modules, 'module')} available${heldNote(w)}`, ...gen }
      : phase === 'Failed'
        ? { type: 'Ready', status: 'False', reason: 'NotResolved', message: 'the world cannot be planned: see condition Resolved', ...gen }
        : phase === 'Terminating'
          ? { type: 'Ready', status: 'False', reason: 'Terminating', message: 'the world is being deleted', ...gen }
          : {
              type: 'Ready',
              status: 'False',
              reason: w.existing < w.modules ? 'ModulesMissing' : 'ModulesNotReady',
              message: `${w.readyModules}/${plural(w.modules, 'module')} available; waiting for ${w.notReady.slice(0, 20).join(', ')}${w.notReady.length > 20 ? ', …' : ''}`,
              ...gen,
            },
    at,
  );
  const firstRunning = phase === 'Running' && !prev.runningSince;
  const status: WorldInstanceStatus = {
    phase,
    ...gen,
    conditions: [resolved, ready],
    bindings: w.bindings,
    modules: w.modules,
    readyModules: w.readyModules,
    ...(prev.runningSince ? { runningSince: prev.runningSince } : firstRunning ? { runningSince: at } : {}),
    managedBy: w.managedBy,
    ...(w.endpoints ? { endpoints: w.endpoints } : prev.endpoints ? { endpoints: prev.endpoints } : {}),
    ...extra,
  };
  return { status, ...(prev.phase ? { from: prev.phase } : {}), to: phase, changed: !sameStatus(prev, status), firstRunning };
}

/** Endpoints as plain tuples: key order in the objects from the API server does not matter. */
const endpointsKey = (s: WorldInstanceStatus): string =>
  JSON.stringify(
    (s.endpoints ?? []).map((e) => [
      e.module,
      e.host,
      e.ports.map((p) => [p.name, p.port, p.protocol, p.nodePort ?? null]),
      (e.external ?? []).map((x) => [x.type, x.name, x.port, x.ip ?? null, x.hostname ?? null]),
    ]),
  );

function sameStatus(a: WorldInstanceStatus, b: WorldInstanceStatus): boolean {
  if (endpointsKey(a) !== endpointsKey(b)) return false;
  const norm = (s: WorldInstanceStatus) =>
    JSON.stringify({
      ...s,
      conditions: [...(s.conditions ?? [])]
        .sort((x, y) => x.type.localeCompare(y.type))
        .map((c) => [c.type, c.status, c.reason, c.message, c.lastTransitionTime, c.observedGeneration]),
    }, Object.keys({ ...s, conditions: 0 }).sort());
  return norm(a) === norm(b);
}

/**
 * The Event a phase change is worth, if any: what an operator needs — a world becoming Running,
 * or Degraded or Failed (Warnings) — not every step on the way (Pending, Provisioning and
 * Terminating are on the status, and the status is what is watched). Repeats of the same one are
 * counted on one Event (runtime/events.ts).
 */
export function phaseEvent(from: WorldPhase | undefined, to: WorldPhase, message: string): { type: 'Normal' | 'Warning'; reason: WorldPhase; message: string } | undefined {
  if (to !== 'Running' && to !== 'Degraded' && to !== 'Failed') return undefined;
  return { type: to === 'Running' ? 'Normal' : 'Warning', reason: to, message: from ? `${from} -> ${to}: ${message}` : `${to}: ${message}` };
}
