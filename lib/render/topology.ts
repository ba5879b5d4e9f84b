/**
 * Where each module instance lives and how others reach it: the names of its workload and
 * Service, and the address a consumer in a given world (and shard) uses for a provider.
 */
import type { ExposeType, ModuleManifest, Port } from '../api/schema.js';
import { dnsName, tupleName } from '../names/names.js';
import { PLATFORM_NAMESPACE, scopeOf } from '../resolve/resolve.js';
import type { Placement } from './labels.js';

/**
 * The Deployment and Service name of a module at a placement: `<world>-<module>[-s<shard>]-<hash>`,
 * `<module>-<region>-<hash>`, or a cluster module's own name (lib/names/names.ts).
 */
export function workloadName(module: ModuleManifest, at: Placement): string {
  const asService = { startWithLetter: true };
  if (at.world) {
    return at.shard !== undefined
      ? tupleName('shard-workload', [at.world, module.metadata.name, `s${at.shard}`], asService)
      : tupleName('workload', [at.world, module.metadata.name], asService);
  }
  if (scopeOf(module) === 'region' && at.region) return tupleName('region-workload', [module.metadata.name, at.region], asService);
  return dnsName([module.metadata.name], asService);
}

/** The placements of a per-world module in a world: one per shard for world-shard modules. */
export function worldPlacements(module: ModuleManifest, base: Placement, shards: number): Placement[] {
  if (scopeOf(module) !== 'world-shard') return [base];
  return Array.from({ length: shards }, (_, shard) => ({ ...base, shard }));
}

/** Where a provider serves the consumer at `from`: same world and shard, or the platform. */
export function providerPlacement(provider: ModuleManifest, from: Placement): Placement {
  switch (scopeOf(provider)) {
    case 'cluster':
      return { namespace: PLATFORM_NAMESPACE };
    case 'region':
      return { namespace: PLATFORM_NAMESPACE, region: from.region ?? 'default' };
    case 'world-shard':
      return { namespace: from.namespace, world: from.world, shard: from.shard ?? 0, game: from.game };
    default:
      return { namespace: from.namespace, world: from.world, game: from.game };
  }
}

export const primaryPort = (m: ModuleManifest): Port | undefined => m.spec.ports?.[0];

/** `name.namespace.svc`: resolvable from any namespace, independent of the cluster domain. */
export const serviceHost = (m: ModuleManifest, at: Placement): string => `${workloadName(m, at)}.${at.namespace}.svc`;

/** The Service that exposes a workload's ports of one `expose` type to players. */
export const exposedServiceName = (workload: string, type: ExposeType): string =>
  dnsName([workload, type === 'LoadBalancer' ? 'lb' : 'np'], { startWithLetter: true });

/** `host:port` of a provider as seen from a consumer at `from`. */
export function providerAddress(provider: ModuleManifest, from: Placement): string {
  const at = providerPlacement(provider, from);
  const port = primaryPort(provider);
  return `${serviceHost(provider, at)}${port ? `:${port.port}` : ''}`;
}
