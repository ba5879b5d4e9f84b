/**
 * Where clients reach a world: one entry per root module (the modules that face players),
 * with the DNS name of the module's Service and its ports. Pure: derived from the world's
 * plan with the same naming rules the rendering uses, so it holds for static worlds
 * (rendered by synth) and dynamic ones (rendered by the reconciler) alike.
 */
import { EXPOSE_TYPES, type Endpoint } from '../api/schema.js';
import { isGlobalModule, type WorldPlan } from '../resolve/resolve.js';
import type { Placement } from './labels.js';
import { exposedServiceName, providerPlacement, serviceHost, worldPlacements } from './topology.js';

export function worldEndpoints(plan: WorldPlan): Endpoint[] {
  const world = plan.world.metadata.name;
  const namespace = plan.world.metadata.namespace ?? 'default';
  const game = plan.game?.metadata.name;
  const base: Placement = { namespace, world, region: plan.world.spec.region ?? 'default', ...(game ? { game } : {}) };
  const roots = new Set(plan.roots);
  const out: Endpoint[] = [];
  for (const m of plan.modules) {
    const ports = m.spec.ports ?? [];
    // A module without ports has no Service: nothing to reach.
    if (!roots.has(m.metadata.name) || ports.length === 0) continue;
    // Global roots live in the platform namespace; a world-shard root is reached at shard 0
    // (the entry is per module; the other shards' Services follow the same naming).
    const at = isGlobalModule(m) ? providerPlacement(m, base) : worldPlacements(m, base, plan.world.spec.shards ?? 1)[0]!;
    out.push({
      module: m.metadata.name,
      host: serviceHost(m, at),
      ports: ports.map((p) => ({ name: p.name, port: p.port, protocol: p.protocol ?? 'TCP' })),
    });
  }
  return out.sort((a, b) => a.module.localeCompare(b.module));
}

/** What withExternal reads of a live Service: the ports the server completed and the LB status. */
export interface LiveService {
  spec?: { ports?: readonly { name?: string; port: number; nodePort?: number }[] };
  status?: { loadBalancer?: { ingress?: readonly { ip?: string; hostname?: string }[] } };
}

/**
 * The endpoints with what the cluster gave the exposed Services (`<service>-np`, `<service>-lb`):
 * each port's assigned nodePort, and for a LoadBalancer each ingress address with the port.
 * Pure: `lookup(name, namespace)` is the caller's view of the live Services (the informer
 * cache). An endpoint whose module exposes nothing, or whose Service the cluster has not
 * completed yet, comes back as it was.
 */
export function withExternal(endpoints: readonly Endpoint[], lookup: (name: string, namespace: string) => LiveService | undefined): Endpoint[] {
  return endpoints.map((e) => {
    // host is `<service>.<namespace>.svc` (serviceHost): both are DNS labels, without dots.
    const [service, namespace] = e.host.split('.') as [string, string];
    const nodePorts = new Map<string, number>();
    const external: NonNullable<Endpoint['external']> = [];
    for (const type of EXPOSE_TYPES) {
      const live = lookup(exposedServiceName(service, type), namespace);
      for (const p of live?.spec?.ports ?? []) {
        if (p.name === undefined) continue;
        if (p.nodePort !== undefined) nodePorts.set(p.name, p.nodePort);
        if (type !== 'LoadBalancer') continue;
        for (const ing of live?.status?.loadBalancer?.ingress ?? []) {
          if (!ing.ip && !ing.hostname) continue;
          external.push({ type, name: p.name, port: p.port, ...(ing.ip ? { ip: ing.ip } : {}), ...(ing.hostname ? { hostname: ing.hostname } : {}) });
        }
      }
    }
    const ports = e.ports.map((p) => (nodePorts.has(p.name) ? { ...p, nodePort: nodePorts.get(p.name)! } : p));
    return { ...e, ports, ...(external.length > 0 ? { external } : {}) };
  });
}
