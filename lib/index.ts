/**
 * Anvil as a library: what a game repository imports (`import { Module, Game, World, AnvilApp }
 * from '@anvil-dev/anvil'`). Everything here is public API; the rest of build/ is not.
 */
export { AnvilApp, DEFAULT_RECONCILER_IMAGE, type AnvilAppProps } from './app.js';
export { Game, Module, World, type BookletProps, type GameProps, type ModuleProps, type WorldProps } from './definitions.js';
export { AnvilInputError, formatDiagnostic, type Diagnostic, type Severity } from './diagnostics/diagnostics.js';
export { Testing, type GameSynthResult, type KubeObject } from './testing.js';
export { DEFAULT_SETTINGS, type RegionPlacement, type RenderSettings } from './render/settings.js';
export { moduleRoleName } from './render/identity.js';
export { LABEL_MONITORING_NAMESPACE } from './render/traffic.js';
export { resolveAll, type ActionRoute, type GlobalPlan, type WorldPlan } from './resolve/resolve.js';
export { buildCatalog, type Catalog } from './resolve/catalog.js';
export { validateObject } from './api/validate.js';
export * from './api/schema.js';

// Warm pools and claims: a pool in dist/, and a matchmaker's claim of a Running world.
export { WorldPool, type WorldPoolProps } from './definitions.js';
export {
  claimWorld,
  releaseWorld,
  ClaimError,
  DEFAULT_CLAIM_TIMEOUT_SECONDS,
  type ClaimWorldOptions,
  type ClaimedWorld,
  type PoolChoice,
} from './client/claims.js';

// Many clusters: one dist/<cluster>/ per cluster, and the GitOps objects that ship them.
export type { ClusterProps } from './resolve/clusters.js';
export type { ArgoCDProps, FluxProps, GitOpsProps } from './render/gitops.js';
export type { HelmProps } from './render/helm.js';
export { allocationError, allocationReason } from './client/allocationErrors.js';
export {
  claimAcrossClusters,
  releaseClusterWorld,
  parseClusterSet,
  attemptOrder,
  abandonedCleanups,
  ClusterSetMetrics,
  type ClusterSet,
  type ClusterTarget,
  type ClusterClaimOptions,
  type ClusterClaimedWorld,
} from './client/clusterSet.js';
