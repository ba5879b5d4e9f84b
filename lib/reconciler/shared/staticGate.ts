/**
 * The rollout gate of static worlds (issue 10). Static worlds are synth's: `kubectl apply -f
 * dist/` writes their Deployments, and a new dist would roll every one of them at once. The
 * reconciler owns exactly one field of them, `spec.paused`, which dist never sets, under its
 * own field manager (GATE_MANAGER), by server-side apply of that field alone: kubectl leaves
 * it alone (client-side apply: it is not in last-applied; --server-side: not kubectl's).
 *
 * - armed: a Deployment that is rolled out (every replica on its template, available) is
 *   paused. A paused Deployment still scales but does not roll a new template: the
 *   Deployment controller then reports `updatedReplicas < replicas` with `observedGeneration
 *   == generation` — held: that world has a pending revision, its old pods still serve.
 * - released: the game's rollout controller unpauses the held Deployments of the worlds of
 *   its batch; once rolled out they are armed again by the world reconciler.
 *
 * Every write carries the cached resourceVersion as a precondition: a Deployment changed
 * since (a new template from kubectl) is looked at again, never paused or released blindly.
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import { LABEL_WORLD } from '../../render/labels.js';
import type { Informer } from '../runtime/informer.js';
import { isConflict, isNotFound, type Kube } from '../runtime/kube.js';
import { deploymentAvailable } from './readiness.js';

export const GATE_MANAGER = 'anvil-rollout';

interface DeploymentView extends KubernetesObject {
  spec?: { replicas?: number; paused?: boolean };
  status?: { observedGeneration?: number; availableReplicas?: number; updatedReplicas?: number; replicas?: number };
}

const view = (d: KubernetesObject) => d as DeploymentView;

/** Synth's (a static world's): no WorldInstance owns it — the reconciler's own Deployments carry their world's owner reference. */
export const isSynthDeployment = (d: KubernetesObject): boolean => !(d.metadata?.ownerReferences ?? []).some((r) => r.kind === 'WorldInstance');

export const isPaused = (d: KubernetesObject): boolean => view(d).spec?.paused === true;

/** Paused, seen by its controller, with a template not rolled out: a pending revision the gate holds. */
export function isHeld(d: KubernetesObject): boolean {
  const { metadata, status } = view(d);
  return isPaused(d) && (status?.observedGeneration ?? 0) >= (metadata?.generation ?? 0) && !deploymentAvailable(d);
}

/** Serves players: rolled out, or paused (nothing rolls) with every replica available on the template it had. */
export function isServing(d: KubernetesObject): boolean {
  const { spec, status } = view(d);
  return deploymentAvailable(d) || (isPaused(d) && (status?.availableReplicas ?? 0) >= (spec?.replicas ?? 1));
}

/** A static world's Deployments, from the cache (by the world label: they carry no owner reference). */
export function staticDeployments(namespace: string, world: string, deployments: Informer<KubernetesObject>): KubernetesObject[] {
  return deployments.list(namespace).filter((d) => d.metadata?.labels?.[LABEL_WORLD] === world && isSynthDeployment(d));
}

/** Where a static world's gate stands, for the rollout planner. */
export function gateState(deps: readonly KubernetesObject[]): { held: boolean; rolledOut: boolean } {
  return { held: deps.some(isHeld), rolledOut: deps.length > 0 && deps.every(deploymentAvailable) };
}

/**
 * Sets spec.paused of one Deployment, if it is still the version that was read. False when
 * it changed meanwhile or is gone: the caller looks again from a fresher cache.
 */
export async function setPaused(kube: Kube, d: KubernetesObject, paused: boolean): Promise<boolean> {
  try {
    await kube.applyAs(
      {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: d.metadata?.name, namespace: d.metadata?.namespace, ...(d.metadata?.resourceVersion ? { resourceVersion: d.metadata.resourceVersion } : {}) },
        spec: { paused },
      } as KubernetesObject,
      GATE_MANAGER,
    );
    return true;
  } catch (e) {
    if (isConflict(e) || isNotFound(e)) return false;
    throw e;
  }
}

/** Arms the gate: pauses every Deployment that is rolled out and not paused yet. False when one changed meanwhile. */
export async function arm(deps: readonly KubernetesObject[], kube: Kube): Promise<boolean> {
  const todo = deps.filter((d) => isSynthDeployment(d) && !isPaused(d) && deploymentAvailable(d));
  const done = await Promise.all(todo.map((d) => setPaused(kube, d, true)));
  return done.every(Boolean);
}

/** Releases the gate: unpauses the held Deployments, which then roll their new template. False when one changed meanwhile. */
export async function release(deps: readonly KubernetesObject[], kube: Kube): Promise<boolean> {
  const done = await Promise.all(deps.filter(isHeld).map((d) => setPaused(kube, d, false)));
  return done.every(Boolean);
}
