// Two clusters of one Anvil app for the failover test (issue 21): a small two-cluster app
// synthesized into dist/eu-1 and dist/ap-1, and per cluster a control plane of its own (kwok
// nodes), its dist applied with the real kubectl, and a reconciler as its own process.
import * as path from 'node:path';
import { AnvilApp } from '../../lib/app.js';
import { Game, Module, WorldPool } from '../../lib/definitions.js';
import type { ClusterTarget } from '../../lib/client/clusterSet.js';
import { startControlPlane, type ControlPlane } from './controlPlane.js';
import { kubectlOk } from './kubectl.js';
import { startReconciler, type ReconcilerProcess } from './reconcilerHarness.js';

export const GAME = 'duel';
export const NAMESPACE = 'duel';
export const CLUSTERS = { 'eu-1': { region: 'eu-west' }, 'ap-1': { region: 'ap-south' } } as const;
export type ClusterName = keyof typeof CLUSTERS;

/**
 * A one-module game and a pool per cluster: `duel-eu` in eu-west (eu-1), `duel-ap` in
 * ap-south (ap-1), both in namespace duel, so a claim by game finds each cluster's own pool.
 * Each pool is full at `size` worlds, all kept ready: its `size + 1`-th claim is exhausted.
 */
export function synthTwoClusters(outdir: string, sizes: Record<ClusterName, number>): void {
  const app = new AnvilApp({
    outdir,
    clusters: { 'eu-1': { regions: [CLUSTERS['eu-1'].region] }, 'ap-1': { regions: [CLUSTERS['ap-1'].region] } },
    onDiagnostic: () => {},
  });
  const server = new Module(app.definitions, 'duel-server', {
    version: '1.0.0',
    image: 'example.invalid/duel-server:1.0.0',
    ports: [{ name: 'game', port: 7777, protocol: 'TCP' }],
  });
  const game = new Game(app.definitions, GAME, { modules: [server] });
  new WorldPool(app.definitions, 'duel-eu', { game, namespace: NAMESPACE, region: CLUSTERS['eu-1'].region, buffer: sizes['eu-1'], maxWorlds: sizes['eu-1'] });
  new WorldPool(app.definitions, 'duel-ap', { game, namespace: NAMESPACE, region: CLUSTERS['ap-1'].region, buffer: sizes['ap-1'], maxWorlds: sizes['ap-1'] });
  app.synth();
}

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
