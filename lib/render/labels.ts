/** The labels every Anvil object carries, and the smaller set that selects a workload's pods. */
import type { ModuleManifest } from '../api/schema.js';
import { scopeOf } from '../resolve/resolve.js';

export const LABEL_WORLD = 'anvil.dev/world';
export const LABEL_MODULE = 'anvil.dev/module';
export const LABEL_SHARD = 'anvil.dev/shard';
export const LABEL_REGION = 'anvil.dev/region';
export const LABEL_BOOKLET = 'anvil.dev/booklet';
/** On the Services that expose a module to players: their type (LoadBalancer, NodePort). */
export const LABEL_EXPOSE = 'anvil.dev/expose';
/** On static worlds: rendered by synth, so the reconciler only reports their status. */
export const LABEL_STATIC = 'anvil.dev/static';
/** On every world of a WorldPool: the pool's name. */
export const LABEL_POOL = 'anvil.dev/pool';
/** On a world bound to a WorldClaim: the claim's name (`kubectl get worlds` shows it). */
export const LABEL_CLAIM = 'anvil.dev/claim';
/** On a world bound to a WorldClaim: the claim's uid, so a recreated claim of the same name is not confused with it. */
export const ANNOTATION_CLAIM_UID = 'anvil.dev/claim-uid';
/** On a world allocated through the allocation endpoint (issue 20): the request id it was given for (its durable record; no WorldClaim). */
export const ANNOTATION_ALLOCATION = 'anvil.dev/allocation';
/**
 * On a world: the ControllerRevision (in anvil-system) it is rendered from. Written when the
 * world is first reconciled and when a rollout reaches it; synth writes it on static worlds,
 * and on their Deployments (the reconciler tells from them when a new dist has reached them).
 */
export const ANNOTATION_REVISION = 'anvil.dev/revision';
/** On a ControllerRevision: the game it is a revision of. */
export const LABEL_GAME = 'anvil.dev/game';
/** On every world of a WorldPool: a hash of the pool spec it was made from (older ones are replaced while unclaimed). */
export const ANNOTATION_POOL_TEMPLATE = 'anvil.dev/pool-template';
/** `uses.anvil.dev/<provider>: "true"` on a consumer's pods lets a global provider admit them. */
export const USES_PREFIX = 'uses.anvil.dev/';
export const MANAGED_BY = 'app.kubernetes.io/managed-by';
/**
 * `anvil.dev/worlds: "true"` on a namespace that hosts worlds: global providers admit
 * consumers only from such namespaces. Synth puts it on its static worlds' namespaces; a
 * namespace for worlds created at runtime gets it from whoever creates the namespace.
 */
export const LABEL_WORLDS_NAMESPACE = 'anvil.dev/worlds';

/** Where one workload of a module runs: a world (and shard), or the platform (and region). */
export interface Placement {
  namespace: string;
  world?: string;
  shard?: number;
  region?: string;
  /** The game of the world, for app.kubernetes.io/part-of. */
  game?: string;
}

export function selectorLabels(module: ModuleManifest, at: Placement): Record<string, string> {
  return {
    [LABEL_MODULE]: module.metadata.name,
    ...(at.world ? { [LABEL_WORLD]: at.world } : {}),
    ...(at.shard !== undefined ? { [LABEL_SHARD]: String(at.shard) } : {}),
    ...(at.region && !at.world ? { [LABEL_REGION]: at.region } : {}),
  };
}

export function workloadLabels(module: ModuleManifest, at: Placement, instance: string): Record<string, string> {
  return {
    'app.kubernetes.io/name': module.metadata.name,
    'app.kubernetes.io/instance': instance,
    'app.kubernetes.io/version': module.spec.version.replace(/\+/g, '_').slice(0, 63),
    'app.kubernetes.io/component': scopeOf(module),
    'app.kubernetes.io/part-of': at.game ?? 'anvil',
    [MANAGED_BY]: 'anvil',
    ...selectorLabels(module, at),
  };
}

/** Labels for objects that belong to a world as a whole (bindings, route tables). */
export const worldLabels = (world: string, game?: string): Record<string, string> => ({
  'app.kubernetes.io/part-of': game ?? 'anvil',
  [MANAGED_BY]: 'anvil',
  [LABEL_WORLD]: world,
});

/** Labels for objects of the platform as a whole (bindings between global modules). */
export const PLATFORM_LABELS: Readonly<Record<string, string>> = {
  'app.kubernetes.io/part-of': 'anvil',
  [MANAGED_BY]: 'anvil',
};

/** The hash of what the reconciler last applied to an object: equal hashes mean no write. */
export const APPLIED_HASH = 'anvil.dev/applied-hash';

/**
 * On a module's PersistentVolumeClaim: its retention policy (storage.retention), carried by
 * the claim itself so that cleanup decides from the live object alone, even once the module
 * that asked for it has left the catalog. Without the annotation: Retain (nothing is lost).
 */
export const ANNOTATION_WHEN_MODULE_REMOVED = 'anvil.dev/when-module-removed';
/** On a world's PersistentVolumeClaim kept when the world is deleted: Retain (and no owner reference). */
export const ANNOTATION_WHEN_WORLD_DELETED = 'anvil.dev/when-world-deleted';
/** On such a claim, instead of an owner reference: the uid of the world that uses it (its cleanup index). */
export const ANNOTATION_WORLD_UID = 'anvil.dev/world-uid';
/** `anvil.dev/orphaned: "true"` on a claim no plan has any more, kept by its retention policy. */
export const LABEL_ORPHANED = 'anvil.dev/orphaned';
