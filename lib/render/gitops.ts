/**
 * GitOps for an app synthesized per cluster (`AnvilApp({clusters, gitops})`): the objects
 * that make Argo CD or Flux apply `dist/<cluster>/` to each cluster from Git. Plain objects,
 * written as YAML to `dist/gitops/`; Anvil runs neither engine.
 *
 * CRDs first. Argo CD: one Application per cluster, from one ApplicationSet; within a sync
 * Argo CD applies CustomResourceDefinitions before any custom resource (its kind order), the
 * first sync skips the dry run of resources whose CRD does not exist yet
 * (`SkipDryRunOnMissingResource`), and a retry covers a CRD that is not established yet.
 * Flux: kustomize-controller applies CRDs and Namespaces in a stage of their own and waits
 * for them before the rest — so neither needs a second Application or sync waves, and
 * dist/<cluster>/ stays exactly what `kubectl apply -f` takes.
 */
import type { ClusterProps } from '../resolve/clusters.js';

export interface ArgoCDProps {
  /** The Git repository holding dist/ (as Argo CD knows it). */
  repoURL: string;
  /** A branch, tag or commit. */
  targetRevision: string;
  /** Where dist/ is in that repository: each cluster's source is `<path>/<cluster>`. */
  path: string;
  /** Argo CD project. Default `default`. */
  project?: string;
  /** Where Argo CD runs (the ApplicationSet's namespace). Default `argocd`. */
  namespace?: string;
}

export interface FluxProps {
  /** Where dist/ is in the source: each cluster's path is `./<path>/<cluster>`. Default: argocd.path. */
  path?: string;
  /** The Flux source holding dist/. Default: the GitRepository `anvil` in `flux-system`. */
  sourceRef?: { kind?: 'GitRepository' | 'OCIRepository' | 'Bucket'; name: string; namespace?: string };
  /** How often Flux reconciles. Default `10m`. */
  interval?: string;
}

export interface GitOpsProps {
  argocd?: ArgoCDProps;
  flux?: FluxProps;
}

/** One file of dist/gitops/: its name and the objects in it. */
export interface GitOpsFile {
  name: string;
  objects: object[];
}

const join = (base: string, cluster: string): string => `${base.replace(/\/+$/, '')}/${cluster}`;

/**
 * An ApplicationSet with a list generator, one element per cluster: Argo CD must know each
 * cluster under the same name (`argocd cluster add <context> --name <cluster>`).
 */
export function applicationSet(clusters: Readonly<Record<string, ClusterProps>>, argo: ArgoCDProps): object {
  return {
    apiVersion: 'argoproj.io/v1alpha1',
    kind: 'ApplicationSet',
    metadata: { name: 'anvil', namespace: argo.namespace ?? 'argocd' },
    spec: {
      goTemplate: true,
      goTemplateOptions: ['missingkey=error'],
      generators: [{ list: { elements: Object.keys(clusters).map((cluster) => ({ cluster, path: join(argo.path, cluster) })) } }],
      template: {
        metadata: { name: 'anvil-{{.cluster}}', labels: { 'app.kubernetes.io/part-of': 'anvil', 'anvil.dev/cluster': '{{.cluster}}' } },
        spec: {
          project: argo.project ?? 'default',
          source: { repoURL: argo.repoURL, targetRevision: argo.targetRevision, path: '{{.path}}', directory: { recurse: false } },
          destination: { name: '{{.cluster}}' },
          syncPolicy: {
            automated: { prune: true, selfHeal: true },
            syncOptions: ['ServerSideApply=true', 'SkipDryRunOnMissingResource=true'],
            retry: { limit: 5, backoff: { duration: '10s', factor: 2, maxDuration: '3m' } },
          },
        },
      },
    },
  };
}

/** One Kustomization per cluster, for the Flux running in (or targeting) that cluster. */
export function fluxKustomization(cluster: string, flux: FluxProps, path: string): object {
  const source = flux.sourceRef ?? { name: 'anvil' };
  return {
    apiVersion: 'kustomize.toolkit.fluxcd.io/v1',
    kind: 'Kustomization',
    metadata: { name: `anvil-${cluster}`, namespace: 'flux-system', labels: { 'app.kubernetes.io/part-of': 'anvil', 'anvil.dev/cluster': cluster } },
    spec: {
      interval: flux.interval ?? '10m',
      path: `./${join(path.replace(/^\.\//, ''), cluster)}`,
      prune: true,
      wait: true,
      timeout: '5m',
      sourceRef: { kind: source.kind ?? 'GitRepository', name: source.name, namespace: source.namespace ?? 'flux-system' },
    },
  };
}

/** The files of dist/gitops/: `argocd-applicationset.yaml` and `flux-<cluster>.yaml`. */
export function gitopsFiles(clusters: Readonly<Record<string, ClusterProps>>, props: GitOpsProps): GitOpsFile[] {
  const files: GitOpsFile[] = [];
  if (props.argocd) files.push({ name: 'argocd-applicationset.yaml', objects: [applicationSet(clusters, props.argocd)] });
  const fluxPath = props.flux?.path ?? props.argocd?.path;
  if (fluxPath !== undefined) {
    for (const cluster of Object.keys(clusters)) files.push({ name: `flux-${cluster}.yaml`, objects: [fluxKustomization(cluster, props.flux ?? {}, fluxPath)] });
  }
  return files;
}
