/**
 * The global services dynamic worlds need: cluster-scoped modules once, region-scoped ones
 * once per region where a world of a game listing them runs, in anvil-system, owned by no
 * world. Rendered by the same GlobalServices/globalInstances as synth, for every world in
 * the cluster (static ones included, so the result is the same objects synth writes).
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import { App, Chart } from 'cdk8s';
import type { WorldInstance } from '../api/schema.js';
import { objectRef, validateObject } from '../api/validate.js';
import { formatDiagnostic, hasErrors } from '../diagnostics.js';
import { PLATFORM_NAMESPACE, resolveGlobal, type WorldPlan } from '../resolve/resolve.js';
import { GlobalServices, globalInstances } from '../render/global.js';
import { LABEL_MODULE, LABEL_WORLD } from '../render/labels.js';
import { APPLIED_HASH } from './apply.js';
import { copyOf } from './definitions.js';
import type { ReconcileContext, ReconcileResult } from './reconcile.js';

/** What globalInstances reads of a world plan: the world (its region) and its game's modules. */
function placementPlans(ctx: ReconcileContext): WorldPlan[] {
  const { catalog } = ctx.definitions.get();
  const out: WorldPlan[] = [];
  for (const cached of ctx.worlds.list()) {
    const world = copyOf<WorldInstance>(cached, 'WorldInstance');
    if (world.metadata.deletionTimestamp || hasErrors(validateObject(world, objectRef(world)))) continue;
    const game = catalog.games.get(world.spec.gameRef.name);
    if (!game) continue;
    const modules = game.spec.modules.map((m) => catalog.modules.get(m.name)).filter((m) => m !== undefined);
    out.push({ world, game, modules, bindings: [], roots: [], unresolved: [], routes: [], diagnostics: [] });
  }
  return out;
}

/**
 * Ours to delete: objects in anvil-system that the reconciler applied (they carry its hash
 * annotation) for a global module or a global binding, never a world's and never the
 * reconciler's own Deployment.
 */
const isGlobalObject = (o: KubernetesObject): boolean =>
  !o.metadata?.labels?.[LABEL_WORLD] &&
  o.metadata?.annotations?.[APPLIED_HASH] !== undefined &&
  (o.metadata?.labels?.[LABEL_MODULE] !== undefined || o.kind === 'CapabilityBinding');

export async function reconcilePlatform(ctx: ReconcileContext): Promise<ReconcileResult> {
  const plan = resolveGlobal(ctx.definitions.get().catalog);
  for (const d of plan.diagnostics) ctx.log(formatDiagnostic(d));
  const chart = new Chart(new App({ outdir: '/dev/null' }), 'platform');
  new GlobalServices(chart, 'global', { plan, instances: globalInstances(plan, placementPlans(ctx)), settings: ctx.settings });
  const t0 = performance.now();
  const { applied, deleted } = await ctx.applier.sync(chart.toJson() as KubernetesObject[], PLATFORM_NAMESPACE, isGlobalObject);
  if (applied + deleted > 0) {
    ctx.metrics.deployment.observe((performance.now() - t0) / 1000);
    ctx.log(`platform: applied ${applied}, deleted ${deleted}`);
  }
  return {};
}
