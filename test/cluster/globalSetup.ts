// Jest globalSetup for the cluster tests: one full control plane (etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler, kwok + fake Nodes) for the whole run. Its admin
// kubeconfig path goes to process.env.ANVIL_KUBECONFIG, which the workers inherit.
// Set ANVIL_TEST_KUBECONFIG to use an existing cluster instead.
// Never skips: if the control plane cannot start, this throws and the run fails.
//
// Jest loads this file outside its module sandbox (plain Node ESM: no moduleNameMapper, no
// TypeScript for relative imports), so controlPlane.ts is loaded through tsx's scoped loader.
import { tsImport } from 'tsx/esm/api';
import type { ControlPlane } from './controlPlane.js';

type ControlPlaneModule = typeof import('./controlPlane.js');

export default async function globalSetup(): Promise<void> {
  const t0 = Date.now();
  let cp: ControlPlane;
  try {
    const { startControlPlane } = (await tsImport('./controlPlane.ts', import.meta.url)) as ControlPlaneModule;
    cp = await startControlPlane({ withNodes: true, nodes: Number(process.env.ANVIL_CLUSTER_NODES ?? 2) });
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    throw new Error(`Cluster tests need a local Kubernetes control plane, and it could not start:\n${msg}`, {
      cause: err,
    });
  }
  (globalThis as { __ANVIL_CONTROL_PLANE__?: ControlPlane }).__ANVIL_CONTROL_PLANE__ = cp;
  process.env.ANVIL_KUBECONFIG = cp.kubeconfig;
  process.stderr.write(
    `\n[anvil-cluster] ${cp.external ? 'using' : 'started'} control plane ${cp.server} in ` +
      `${((Date.now() - t0) / 1000).toFixed(1)}s; ANVIL_KUBECONFIG=${cp.kubeconfig}\n`,
  );
}
