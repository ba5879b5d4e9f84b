/**
 * Where clients reach a world: one entry per root module (the modules that face players),
 * with the DNS name of the module's Service and its ports. Pure: derived from the world's
 * plan with the same naming rules the rendering uses, so it holds for static worlds
 * (rendered by synth) and dynamic ones (rendered by the reconciler) alike.
 */
import type { Endpoint } from '../api/schema.js';
import { isGlobalModule, type WorldPlan } from '../resolve/resolve.js';
import type { Placement } from './labels.js';
import { providerPlacement, serviceHost, worldPlacements } from './topology.js';

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
