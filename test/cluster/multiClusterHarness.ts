// Two clusters of one Anvil app for the failover test (issue 21): a small two-cluster app
// synthesized into dist/eu-1 and dist/ap-1, and per cluster a control plane of its own (kwok
// nodes), its dist applied with the real kubectl, and a reconciler as its own process.
import * as path from 'node:path';
import type { ClusterTarget } from '../../lib/client/clusterSet.js';
import { startControlPlane, type ControlPlane } from './controlPlane.js';
import { kubectlOk } from './kubectl.js';
import { startReconciler, type ReconcilerProcess } from './reconcilerHarness.js';
import type { ClusterName } from './multiClusterApp.js';

export { CLUSTERS, GAME, NAMESPACE, synthTwoClusters, type ClusterName } from './multiClusterApp.js';

export interface RunningCluster {
  name: ClusterName;
  cp: ControlPlane;
  reconciler: ReconcilerProcess;
  pool: string;
  /** This cluster as an entry of a cluster set (its own kubeconfig file). */
  target: (extra?: Partial<ClusterTarget>) => ClusterTarget;
}

/** A control plane with nodes, `dist/<name>` applied the README's way, and a reconciler on it. */
export async function startCluster(name: ClusterName, dist: string): Promise<RunningCluster> {
  const cp = await startControlPlane({ withNodes: true, nodes: 1 });
  const kc = { kubeconfig: cp.kubeconfig };
  const dir = path.join(dist, name);
  await kubectlOk(['apply', '-f', path.join(dir, '0000-crds.k8s.yaml')], kc);
  await kubectlOk(['wait', '--for=condition=established', '--timeout=60s', 'crd', '-l', 'app.kubernetes.io/part-of=anvil'], kc);
  await kubectlOk(['apply', '-f', dir], kc);
  const reconciler = await startReconciler({ kubeconfig: cp.kubeconfig, identity: `multicluster-${name}-${process.pid}` });
  return {
    name,
    cp,
    reconciler,
    pool: name === 'eu-1' ? 'duel-eu' : 'duel-ap',
    target: (extra = {}) => ({ name, kubeconfig: cp.kubeconfig, ...extra }),
  };
}
