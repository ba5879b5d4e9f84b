/**
 * Where each static world and pool runs when the app is synthesized for several clusters
 * (`AnvilApp({clusters})`): a cluster serves a list of regions; a world runs in the one
 * cluster serving its region, a pool in every cluster serving its region (each cluster keeps
 * its own warm worlds, so claims can fail over between them). Pure: no I/O, no cdk8s.
 */
import { error, type Diagnostic } from '../diagnostics/diagnostics.js';
import { didYouMean } from '../diagnostics/suggest.js';
import { DNS_LABEL_PATTERN } from '../api/schema.js';

export interface ClusterProps {
  /** The regions (the `region` of worlds and pools) this cluster runs. */
  regions: string[];
}

/** Names dist/ gives folders of its own beside the clusters' folders. */
export const RESERVED_CLUSTER_NAMES = ['gitops'];

/** A world or pool as the placement needs it: its source (for messages), kind and region. */
export interface Placeable {
  source: string;
  kind: 'WorldInstance' | 'WorldPool';
  namespace: string;
  name: string;
  region: string;
}

export interface Placement {
  /** `kind/namespace/name` → the clusters it is rendered into. */
  clustersOf: Map<string, string[]>;
  diagnostics: Diagnostic[];
}

export const placeKey = (p: { kind: string; namespace: string; name: string }): string => `${p.kind}/${p.namespace}/${p.name}`;

/** Problems of the clusters declaration itself: names, regions. */
export function checkClusterProps(clusters: Readonly<Record<string, ClusterProps>>): Diagnostic[] {
  const out: Diagnostic[] = [];
  const label = new RegExp(DNS_LABEL_PATTERN);
  const names = Object.keys(clusters);
  if (names.length === 0) out.push(error('AnvilApp', 'clusters', 'declares no cluster: name at least one, or leave clusters out for a single dist/'));
  for (const name of names) {
    const source = `AnvilApp clusters.${name}`;
    if (!label.test(name) || name.length > 63) out.push(error(source, undefined, `cluster name ${JSON.stringify(name)} must be a DNS label (lower case letters, digits, '-'): it names dist/${name}/`));
    if (RESERVED_CLUSTER_NAMES.includes(name)) out.push(error(source, undefined, `cluster name ${name} is reserved (dist/${name}/ holds other output): choose another name`));
    const regions = clusters[name]?.regions;
    if (!Array.isArray(regions) || regions.length === 0) {
      out.push(error(source, 'regions', 'must list at least one region (e.g. regions: [\'eu-west\'])'));
      continue;
    }
    regions.forEach((r, i) => {
      if (typeof r !== 'string' || !label.test(r)) out.push(error(source, `regions[${i}]`, `${JSON.stringify(r)} is not a region name (a DNS label, as a world's spec.region)`));
      else if (regions.indexOf(r) !== i) out.push(error(source, `regions[${i}]`, `region ${r} is listed twice`));
    });
  }
  return out;
}

/** Which clusters each world and pool goes to; an error for each one no cluster (or, for a world, more than one) serves. */
export function placeInClusters(clusters: Readonly<Record<string, ClusterProps>>, items: readonly Placeable[]): Placement {
  const servedBy = new Map<string, string[]>();
  for (const [name, c] of Object.entries(clusters)) for (const r of c.regions ?? []) servedBy.set(r, [...(servedBy.get(r) ?? []), name]);
  const clustersOf = new Map<string, string[]>();
  const diagnostics: Diagnostic[] = [];
  for (const item of items) {
    const serving = servedBy.get(item.region) ?? [];
    if (serving.length === 0) {
      const known = [...servedBy.keys()].sort();
      diagnostics.push(
        error(
          item.source,
          'spec.region',
          `region ${item.region} is served by no cluster${didYouMean(item.region, known)}: add it to the regions of a cluster in AnvilApp({clusters}) (served: ${known.join(', ')})`,
          'RegionNotServed',
        ),
      );
      continue;
    }
    if (item.kind === 'WorldInstance' && serving.length > 1) {
      diagnostics.push(
        error(
          item.source,
          'spec.region',
          `region ${item.region} is served by clusters ${serving.join(', ')}, and a static world runs in one cluster only: serve ${item.region} from one cluster, or make the world a WorldPool`,
          'RegionServedTwice',
        ),
      );
      continue;
    }
    clustersOf.set(placeKey(item), serving);
  }
  return { clustersOf, diagnostics };
}

/** What `gitops` needs: clusters to ship, and a repository and path for each engine. */
export function checkGitOps(
  gitops: { argocd?: { repoURL?: unknown; targetRevision?: unknown; path?: unknown }; flux?: { path?: unknown; sourceRef?: { name?: unknown } } },
  hasClusters: boolean,
): Diagnostic[] {
  const out: Diagnostic[] = [];
  const nonEmpty = (v: unknown): boolean => typeof v === 'string' && v.trim() !== '';
  if (!hasClusters) out.push(error('AnvilApp', 'gitops', 'ships dist/<cluster>/ folders: declare clusters too (AnvilApp({clusters: {eu-1: {regions: [...]}}, gitops}))'));
  if (!gitops.argocd && !gitops.flux) out.push(error('AnvilApp', 'gitops', 'names no engine: give argocd: {repoURL, targetRevision, path} and/or flux: {path}'));
  for (const field of ['repoURL', 'targetRevision', 'path'] as const) {
    if (gitops.argocd && !nonEmpty(gitops.argocd[field])) out.push(error('AnvilApp', `gitops.argocd.${field}`, 'is required (a non-empty string)'));
  }
  if (gitops.flux && !nonEmpty(gitops.flux.path ?? gitops.argocd?.path)) out.push(error('AnvilApp', 'gitops.flux.path', 'is required (where dist/ is in the Flux source) unless gitops.argocd.path gives it'));
  if (gitops.flux?.sourceRef && !nonEmpty(gitops.flux.sourceRef.name)) out.push(error('AnvilApp', 'gitops.flux.sourceRef.name', 'is required (the Flux source holding dist/)'));
  return out;
}
