/**
 * One pass over one queue key: `namespace/name` of a WorldInstance, or PLATFORM_KEY for the
 * global services. Level-based: it reads only the caches, resolves with the library's
 * resolveWorld, renders with renderWorld (the objects synth would write, owned by the
 * world), applies what differs, deletes what left the plan and reports status.
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import type { WorldInstance, WorldPhase } from '../../api/schema.js';
import { objectRef, validateObject } from '../../api/validate.js';
import { checkRegions } from '../../resolve/regions.js';
import { formatDiagnostic, hasErrors } from '../../diagnostics/diagnostics.js';
import { resolveWorld, type WorldPlan } from '../../resolve/resolve.js';
import { ANNOTATION_REVISION, ANNOTATION_WHEN_WORLD_DELETED, LABEL_STATIC, LABEL_WORLD, LABEL_WORLDS_NAMESPACE, MANAGED_BY, USES_PREFIX } from '../../render/labels.js';
import type { RenderSettings } from '../../render/settings.js';
import { renderWorld } from '../../render/world.js';
import { withExternal, worldEndpoints, type LiveService } from '../../render/endpoints.js';
import { ConflictError, objectKey, type Applier, type Owner, type SyncResult } from './apply.js';
import { copyOf, type DefinitionsCache } from '../shared/definitions.js';
import type { EventRecorder } from '../runtime/events.js';
import type { StatusMemory } from './statusMemory.js';
import type { Informer } from '../runtime/informer.js';
import { namespaceTerminating } from '../runtime/namespaces.js';
import { errorMessage, isNotFound, type Kube } from '../runtime/kube.js';
import type { ReconcilerMetrics } from '../runtime/metrics.js';
import { computeStatus, phaseEvent, type Failure, type Resolution, type WorkloadState } from './status.js';
import type { Revisions } from '../shared/revisions.js';
import { recordRevision, revisionStatus, worldRevision, type WorldRevision } from './revision.js';
import type { Endpoint, WorldInstanceStatus } from '../../api/schema.js';
import { arm, isHeld, isServing, isSynthDeployment } from '../shared/staticGate.js';
import { deploymentAvailable } from '../shared/readiness.js';

export const PLATFORM_KEY = '__platform__';

export interface ReconcileContext {
  kube: Kube;
  metrics: ReconcilerMetrics;
  settings: RenderSettings;
  worlds: Informer<KubernetesObject>;
  deployments: Informer<KubernetesObject>;
  /** The owned Services: the exposed ones say what the cluster assigned (withExternal). */
  services: Informer<KubernetesObject>;
  definitions: DefinitionsCache;
  /** The namespaces (labels only): is a world's namespace labelled for worlds? Unchecked without. */
  namespaces?: Informer<KubernetesObject>;
  applier: Applier;
  events: EventRecorder;
  /** What this reconciler last wrote to each world's status (one write per observable change). */
  statuses: StatusMemory;
  revisions: Revisions;
  log: (msg: string) => void;
}

export interface ReconcileResult {
  requeueAfter?: number;
}

/** Look again after the sooner of these (ms), if any. */
const after = (...ms: (number | undefined)[]): ReconcileResult => {
  const soonest = Math.min(...ms.filter((m): m is number => m !== undefined));
  return Number.isFinite(soonest) ? { requeueAfter: soonest } : {};
};

export const worldKey = (o: KubernetesObject): string => `${o.metadata?.namespace ?? 'default'}/${o.metadata?.name}`;

/** Why a plan cannot be applied, as the Resolved condition says it. */
export function resolutionOf(plan: WorldPlan, definitionProblems: ReadonlyMap<string, readonly { message: string }[]>): Resolution {
  const errors = plan.diagnostics.filter((d) => d.severity === 'error');
  if (errors.length === 0) {
    const warnings = plan.diagnostics.filter((d) => d.severity === 'warning');
    return {
      ok: true,
      reason: 'Resolved',
      message: `${plan.bindings.length} binding(s) for ${plan.modules.length} module(s)${warnings.length ? `; ${warnings.map((w) => w.message).join('; ')}` : ''}`,
    };
  }
  // A definition that exists but is malformed is named with its own problems.
  const gameRef = `GameDefinition/${plan.world.spec.gameRef.name}`;
  const invalid = [gameRef, ...(plan.game?.spec.modules ?? []).map((m) => `ModuleManifest/${m.name}`)]
    .flatMap((ref) => (definitionProblems.get(ref) ?? []).map((d) => `${ref}: ${d.message}`));
  const reason = errors[0]?.reason ?? 'Unresolved';
  const missing = plan.unresolved.filter((u) => !u.optional).map((u) => `${u.capabilityId} ${u.versionConstraint} (${u.scope}, required by ${u.module})`);
  const message = [
    ...(reason === 'Unresolved' && missing.length ? [`missing capabilities: ${missing.join(', ')}`] : []),
    ...errors.map((d) => d.message),
    ...(invalid.length ? [`invalid definitions: ${invalid.join('; ')}`] : []),
  ].join('; ');
  return { ok: false, reason, message: message.slice(0, 30000) };
}


/** `written`: objects this pass just applied, newer than the cache (see SyncResult.written). */
function workloadState(
  objects: readonly KubernetesObject[],
  ctx: ReconcileContext,
  managedBy: WorkloadState['managedBy'],
  written: ReadonlyMap<string, KubernetesObject> = new Map(),
  ready: (d: KubernetesObject) => boolean = deploymentAvailable,
): WorkloadState {
  const deployments = objects.filter((o) => o.kind === 'Deployment');
  const live = deployments.map((d) => ({
    name: d.metadata?.name ?? '',
    obj: written.get(objectKey(d)) ?? ctx.deployments.get(d.metadata?.name ?? '', d.metadata?.namespace),
  }));
  const notReady = live.filter((d) => !(d.obj && ready(d.obj))).map((d) => d.name);
  return {
    managedBy,
    bindings: objects.filter((o) => o.kind === 'CapabilityBinding').length,
    modules: deployments.length,
    existing: live.filter((d) => d.obj).length,
    readyModules: deployments.length - notReady.length,
    notReady,
  };
}

/**
 * Writes the world's status when it changed (one write per observable change: see
 * statusMemory.ts), with an Event for the phase changes an operator needs. Returns when to look
 * again if a change was held back (ms), else undefined.
 */
export async function writeStatus(world: WorldInstance, res: Resolution, state: WorkloadState, ctx: StatusContext, failure?: Failure, extra: Partial<WorldInstanceStatus> = {}): Promise<number | undefined> {
  const change = computeStatus(world, res, state, new Date(), failure, extra);
  const key = worldKey(world as KubernetesObject);
  if (!change.changed) {
    ctx.statuses.upToDate(key);
    return undefined;
  }
  const decision = ctx.statuses.decide(key, world.metadata.resourceVersion, world.status, change.status);
  if (!decision.write) return decision.retryAfterMs;
  let answer: KubernetesObject;
  try {
    answer = await ctx.kube.applyStatus({
      apiVersion: world.apiVersion,
      kind: 'WorldInstance',
      metadata: { name: world.metadata.name, namespace: world.metadata.namespace },
      status: change.status,
    } as KubernetesObject);
  } catch (e) {
    if (isNotFound(e)) return undefined; // deleted meanwhile
    throw e;
  }
  ctx.statuses.wrote(key, world.metadata.resourceVersion, answer?.metadata?.resourceVersion);
  if (change.firstRunning && world.metadata.creationTimestamp) {
    ctx.metrics.worldStartup.observe(Math.max(0, (Date.now() - Date.parse(world.metadata.creationTimestamp)) / 1000));
  }
  if (change.from !== change.to) {
    const ready = change.status.conditions?.find((c) => c.type === (change.to === 'Failed' && !failure ? 'Resolved' : 'Ready'));
    ctx.log(`world ${key}: ${change.from ?? '(new)'} -> ${change.to}${ready ? `: ${ready.message}` : ''}`);
    await recordEvent(world, ctx, change.from, change.to, ready?.message ?? change.to);
  }
  return undefined;
}

/** What writing a world's status needs of the reconcile context. */
export type StatusContext = Pick<ReconcileContext, 'kube' | 'metrics' | 'events' | 'statuses' | 'log'>;

/** Events are best effort: a world must not fail to reconcile because an Event could not be written. */
export async function recordEvent(world: WorldInstance, ctx: Pick<ReconcileContext, 'events' | 'log'>, from: WorldPhase | undefined, to: WorldPhase, message: string): Promise<void> {
  const event = phaseEvent(from, to, message);
  if (!event) return;
  try {
    await ctx.events.record(world, event.type, event.reason, event.message);
  } catch (e) {
    ctx.log(`world ${worldKey(world as KubernetesObject)}: could not record event: ${errorMessage(e)}`);
  }
}

export async function reconcileWorld(key: string, ctx: ReconcileContext): Promise<ReconcileResult> {
  const [namespace, name] = key.split('/') as [string, string];
  const cached = ctx.worlds.get(name, namespace);
  // Gone: what it owned carries its ownerReference, and the garbage collector removes it;
  // the claims it keeps (whenWorldDeleted: Retain) carry none: they are labelled orphaned.
  if (!cached) {
    ctx.statuses.forget(key);
    return ctx.applier.orphanWorldClaims(namespace, name).then(() => ({}));
  }
  // Its namespace is being deleted, and the world with it: nothing may be created there now.
  if (namespaceTerminating(ctx.namespaces, namespace)) return {};
  const world = copyOf<WorldInstance>(cached, 'WorldInstance');
  const isStatic = world.metadata.labels?.[LABEL_STATIC] === 'true';
  const none: WorkloadState = { managedBy: isStatic ? 'synth' : 'reconciler', bindings: 0, modules: 0, existing: 0, readyModules: 0, notReady: [] };

  // A world in a region synth did not declare would run on any node: refused, as synth refuses it.
  const problems = [...validateObject(world, objectRef(world)), ...checkRegions([world], ctx.settings.regions)];
  if (hasErrors(problems)) {
    return after(await writeStatus(world, { ok: false, reason: 'Invalid', message: problems.map(formatDiagnostic).join('; ') }, none, ctx));
  }
  const planned = await planWorld(world, ctx);
  if (world.metadata.deletionTimestamp || !planned.res.ok) {
    // Failed: what was deployed stays as it was until the plan resolves again.
    return after(await writeStatus(world, planned.res, none, ctx, undefined, planned.revStatus));
  }
  // Static and dynamic worlds alike: what the live exposed Services say (node ports, LB addresses).
  const endpoints = withExternal(worldEndpoints(planned.plan), (n, ns) => ctx.services.get(n, ns) as LiveService | undefined);
  return isStatic ? reportStatic(world, planned, endpoints, ctx) : applyWorld(key, world, planned, endpoints, ctx);
}

/** A world's plan: resolved from the revision it runs (issue 10), or the live definitions when it has none. */
interface PlannedWorld {
  rev: WorldRevision;
  revStatus: Partial<WorldInstanceStatus>;
  plan: WorldPlan;
  res: Resolution;
  renderOpts: { progressDeadlineSeconds?: number };
}

async function planWorld(world: WorldInstance, ctx: ReconcileContext): Promise<PlannedWorld> {
  // The revision it runs (issue 10): rendered from that snapshot, not the live definitions.
  const rev = await worldRevision(world, ctx.definitions, ctx.revisions);
  const t0 = performance.now();
  const plan = resolveWorld(rev.entry ? { ...rev.entry.catalog, worlds: [world] } : ctx.definitions.forWorld(world), world);
  ctx.metrics.resolution.observe((performance.now() - t0) / 1000);
  const progressDeadlineSeconds = ctx.definitions.get().catalog.games.get(world.spec.gameRef.name)?.spec.rollout?.progressDeadlineSeconds;
  return {
    rev,
    revStatus: revisionStatus(rev),
    plan,
    res: rev.problem ?? resolutionOf(plan, ctx.definitions.get().problems),
    renderOpts: progressDeadlineSeconds !== undefined ? { progressDeadlineSeconds } : {},
  };
}

/**
 * A static world: synth rendered it and kubectl applied it, so only report how its
 * workloads are doing — a Deployment the rollout gate holds (shared/staticGate.ts) still serves on
 * its old template: the world stays Running, not current, until its batch — and arm the gate
 * on what is rolled out.
 */
async function reportStatic(world: WorldInstance, p: PlannedWorld, endpoints: Endpoint[], ctx: ReconcileContext): Promise<ReconcileResult> {
  const objects = renderWorld(p.plan, ctx.settings, undefined, p.renderOpts) as KubernetesObject[];
  const live = objects
    .filter((o) => o.kind === 'Deployment')
    .map((d) => ctx.deployments.get(d.metadata?.name ?? '', d.metadata?.namespace))
    .filter((d): d is KubernetesObject => d !== undefined && isSynthDeployment(d));
  const held = live.filter(isHeld).map((d) => d.metadata?.name ?? '');
  const state = { ...workloadState(objects, ctx, 'synth', new Map(), isServing), endpoints, ...(held.length ? { held } : {}) };
  // It runs the revision dist names once that reached every Deployment (synth marks them with
  // it too: kubectl applies the world first) and all are rolled out on it; until then (on its
  // way, held by the gate, rolling) it still runs the one it ran.
  const assigned = world.metadata.annotations?.[ANNOTATION_REVISION];
  const rolled = live.length === state.modules && live.every((d) => deploymentAvailable(d) && (d.metadata?.annotations?.[ANNOTATION_REVISION] ?? assigned) === assigned);
  const prev = world.status;
  const extra: Partial<WorldInstanceStatus> =
    held.length || !rolled
      ? { ...p.revStatus, ...(prev?.revision ? { revision: prev.revision } : {}), ...(prev?.moduleVersions ? { moduleVersions: prev.moduleVersions } : {}), upToDate: false, ...(held.length ? { heldModules: held.length } : {}) }
      : p.revStatus;
  const heldBack = await writeStatus(world, p.res, state, ctx, undefined, extra);
  // A Deployment changed since the cache saw it: look again soon, from the fresher cache.
  return after(heldBack, (await arm(live, ctx.kube)) ? undefined : 1000);
}

/** A world the reconciler renders: record its revision, apply its objects, report. */
async function applyWorld(key: string, world: WorldInstance, p: PlannedWorld, endpoints: Endpoint[], ctx: ReconcileContext): Promise<ReconcileResult> {
  const { rev, res } = p;
  let { revStatus } = p;
  // A new world's revision is recorded by its status write (status.revision), not a PATCH of its own.
  if (rev.record && rev.entry) await recordRevision(world, rev.entry.name, ctx.kube);
  const uid = world.metadata.uid;
  if (!uid) throw new Error(`world ${key} has no uid`);
  const t1 = performance.now();
  let objects: KubernetesObject[] = [];
  let result: SyncResult;
  try {
    objects = renderWorld(p.plan, ctx.settings, { uid }, p.renderOpts) as KubernetesObject[];
    const unlabelled = namespaceProblem(world, objects, ctx);
    if (unlabelled) {
      // Nothing applied (what runs stays as it is): its pods could not reach the providers.
      await reportFailure(world, res, { ...workloadState(objects, ctx, 'reconciler'), endpoints }, ctx, { reason: 'NamespaceNotForWorlds', message: unlabelled }, revStatus);
      return {};
    }
    result = await ctx.applier.sync(objects, world.metadata.namespace ?? 'default', worldOwner(world, uid));
  } catch (e) {
    // Every failure shows on the world: Ready=False (Failed for a conflict) and a Warning
    // Event counted up on every retry; then the queue retries with backoff.
    const failure: Failure = e instanceof ConflictError ? { reason: 'Conflict', message: e.message } : { reason: 'ReconcileFailed', message: errorMessage(e) };
    await reportFailure(world, res, { ...workloadState(objects, ctx, 'reconciler'), endpoints }, ctx, failure, revStatus);
    throw e;
  }
  const { applied, deleted, written, drift, orphaned } = result;
  if (orphaned.length > 0) revStatus = { ...revStatus, orphanedClaims: orphaned };
  if (applied + deleted > 0) {
    ctx.metrics.deployment.observe((performance.now() - t1) / 1000);
    ctx.log(`world ${key}: applied ${applied}, deleted ${deleted}`);
  }
  const state = { ...workloadState(objects, ctx, 'reconciler', written), endpoints };
  let held: number | undefined;
  if (drift.length > 0) {
    const message = `not repaired (never deleted to repair drift): ${drift.map((d) => `${d.object} field ${d.field}: ${d.message}`).join('; ')}`;
    await reportFailure(world, res, state, ctx, { reason: 'Drift', message }, revStatus);
  } else held = await writeStatus(world, res, state, ctx, undefined, revStatus);
  return after(held, result.waiting ? 2000 : undefined);
}

/**
 * A world whose pods use a global provider needs a namespace labelled anvil.dev/worlds=true:
 * the providers' policies admit only those namespaces. Else why, for its status and an Event.
 */
export function namespaceProblem(world: WorldInstance, objects: readonly KubernetesObject[], ctx: Pick<ReconcileContext, 'namespaces'>): string | undefined {
  const namespace = world.metadata.namespace ?? 'default';
  const ns = ctx.namespaces?.get(namespace);
  if (!ctx.namespaces || !ns || ns.metadata?.labels?.[LABEL_WORLDS_NAMESPACE] === 'true') return undefined;
  const uses = new Set<string>();
  for (const o of objects) {
    const labels = (o as { spec?: { template?: { metadata?: { labels?: Record<string, string> } } } }).spec?.template?.metadata?.labels ?? {};
    for (const k of Object.keys(labels)) if (k.startsWith(USES_PREFIX)) uses.add(k.slice(USES_PREFIX.length));
  }
  if (uses.size === 0) return undefined;
  return `namespace ${namespace} is not labelled ${LABEL_WORLDS_NAMESPACE}=true, so the global providers it uses (${[...uses].sort().join(', ')}) would not admit its pods; label it: kubectl label namespace ${namespace} ${LABEL_WORLDS_NAMESPACE}=true`;
}

/**
 * Objects of a world are its own when they carry its owner reference. One owned by an
 * earlier WorldInstance of the same name is about to be garbage-collected: wait for that.
 */
export function worldOwner(world: WorldInstance, uid: string): Owner {
  const ref = `WorldInstance ${world.metadata.namespace ?? 'default'}/${world.metadata.name} (uid ${uid})`;
  return {
    describe: ref,
    // Every object classify calls ours carries this uid in an ownerReference: sync scans only those.
    ownerUid: uid,
    classify: (o) => {
      const refs = (o.metadata?.ownerReferences ?? []).filter((r) => r.kind === 'WorldInstance');
      if (refs.some((r) => r.uid === uid)) return 'ours';
      if (retainedClaimOf(o, world.metadata.name, refs.length)) return 'ours';
      const previous = refs.length > 0 && refs.every((r) => r.name === world.metadata.name && r.uid !== uid);
      return previous && o.metadata?.labels?.[LABEL_WORLD] === world.metadata.name ? 'previous' : 'foreign';
    },
  };
}

/**
 * A claim kept when its world is deleted (storage.retention.whenWorldDeleted: Retain) has no
 * owner reference: it is this world's when it is Anvil's, of this world's name, and says so
 * (the policy annotation). A new world of the same name adopts it: that is what Retain is for.
 */
function retainedClaimOf(o: KubernetesObject, world: string, worldRefs: number): boolean {
  const m = o.metadata;
  return (
    o.kind === 'PersistentVolumeClaim' &&
    worldRefs === 0 &&
    m?.labels?.[MANAGED_BY] === 'anvil' &&
    m.labels[LABEL_WORLD] === world &&
    m.annotations?.[ANNOTATION_WHEN_WORLD_DELETED] === 'Retain'
  );
}

async function reportFailure(world: WorldInstance, res: Resolution, state: WorkloadState, ctx: ReconcileContext, failure: Failure, extra: Partial<WorldInstanceStatus> = {}): Promise<void> {
  const key = worldKey(world as KubernetesObject);
  try {
    await writeStatus(world, res, state, ctx, failure, extra);
    await ctx.events.warn(world, failure.reason, failure.message);
  } catch (e) {
    ctx.log(`world ${key}: could not report ${failure.reason}: ${errorMessage(e)}`);
  }
}
