/**
 * Module identity (issue 17): a module that declares `serviceAccount` gets a ServiceAccount
 * per workload and, with `rules`, a RoleBinding in its own namespace to the module's
 * ClusterRole. The ClusterRoles come from synth only (dist/): the reconciler may bind
 * exactly those, by name, and never writes a role itself — so what a module may do is what
 * the reviewed dist says, whatever a ModuleManifest applied later claims.
 */
import { Construct } from 'constructs';
import { k8s } from '../../imports/k8s.js';
import type { ModuleManifest } from '../api/schema.js';
import { MANAGED_BY } from './labels.js';

/** The ClusterRole holding a module's `serviceAccount.rules`: deterministic, so synth and the reconciler agree. */
export const moduleRoleName = (module: string): string => `anvil-module-${module}`;

export const hasRules = (m: ModuleManifest): boolean => (m.spec.serviceAccount?.rules?.length ?? 0) > 0;

/** One ClusterRole per module with rules, in name order: what synth writes and the reconciler may bind. */
export class ModuleRoles extends Construct {
  readonly names: string[];
  constructor(scope: Construct, id: string, modules: readonly ModuleManifest[]) {
    super(scope, id);
    const withRules = [...new Map(modules.filter(hasRules).map((m) => [m.metadata.name, m])).values()].sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
    this.names = withRules.map((m) => moduleRoleName(m.metadata.name));
    for (const m of withRules) {
      new k8s.KubeClusterRole(this, m.metadata.name, {
        metadata: {
          name: moduleRoleName(m.metadata.name),
          labels: { [MANAGED_BY]: 'anvil', 'app.kubernetes.io/part-of': 'anvil', 'app.kubernetes.io/name': m.metadata.name, 'app.kubernetes.io/component': 'module-role' },
        },
        rules: (m.spec.serviceAccount?.rules ?? []).map((r) => ({
          apiGroups: [...r.apiGroups],
          resources: [...r.resources],
          verbs: [...r.verbs],
          ...(r.resourceNames?.length ? { resourceNames: [...r.resourceNames] } : {}),
        })),
      });
    }
  }
}

/** The workload's ServiceAccount and, with rules, its RoleBinding (both named like the workload); the ServiceAccount's name, or none. */
export function workloadIdentity(scope: Construct, module: ModuleManifest, at: { name: string; namespace: string; labels: Record<string, string> }): string | undefined {
  const sa = module.spec.serviceAccount;
  if (!sa) return undefined;
  new k8s.KubeServiceAccount(scope, 'service-account', {
    metadata: { name: at.name, namespace: at.namespace, labels: at.labels, ...(sa.annotations ? { annotations: { ...sa.annotations } } : {}) },
  });
  if (hasRules(module)) {
    new k8s.KubeRoleBinding(scope, 'role-binding', {
      metadata: { name: at.name, namespace: at.namespace, labels: at.labels },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: moduleRoleName(module.metadata.name) },
      subjects: [{ kind: 'ServiceAccount', name: at.name, namespace: at.namespace }],
    });
  }
  return at.name;
}
