/**
 * Readiness of what a world runs, read from the Deployment's own status: shared by the world
 * controller (is the world Running?) and the static gate (is a static Deployment rolled out?).
 */
import type { KubernetesObject } from '@kubernetes/client-node';

/**
 * A Deployment is available when its controller has seen its spec, every replica is up and
 * runs the current template, and no old replica is left (as `kubectl rollout status` says:
 * during a rolling update the old pod still counts as available while the new one is not).
 */
export function deploymentAvailable(d: KubernetesObject | undefined): boolean {
  if (!d) return false;
  const spec = (d as { spec?: { replicas?: number } }).spec;
  const st = (d as { status?: { observedGeneration?: number; availableReplicas?: number; updatedReplicas?: number; replicas?: number } }).status ?? {};
  const want = spec?.replicas ?? 1;
  const oldLeft = (st.replicas ?? 0) > (st.updatedReplicas ?? 0);
  return (st.observedGeneration ?? 0) >= (d.metadata?.generation ?? 0) && (st.availableReplicas ?? 0) >= want && (st.updatedReplicas ?? 0) >= want && !oldLeft;
}
