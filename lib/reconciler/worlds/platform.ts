/**
 * The global services dynamic worlds need: cluster-scoped modules once, region-scoped ones
 * once per region where a world of a game listing them runs, in anvil-system, owned by no
 * world. Rendered by the same GlobalServices/globalInstances as synth, for every world in
 * the cluster (static ones included, so the result is the same objects synth writes).
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import { App, Chart } from 'cdk8s';
import type { WorldInstance } from '../../api/schema.js';
import { objectRef, validateObject } from '../../api/validate.js';
import { formatDiagnostic, hasErrors, type Diagnostic } from '../../diagnostics/diagnostics.js';
import { reportPlatform } from './platformStatus.js';
import { PLATFORM_NAMESPACE, resolveGlobal, type WorldPlan } from '../../resolve/resolve.js';
import { GlobalServices, globalInstances } from '../../render/global.js';
import { LABEL_MODULE, LABEL_STATIC, LABEL_WORLD, MANAGED_BY } from '../../render/labels.js';
import type { Owner } from './apply.js';
import { FIELD_MANAGER } from '../runtime/kube.js';
import { copyOf } from '../shared/definitions.js';
import type { ReconcileContext, ReconcileResult } from './reconcile.js';

/** What globalInstances reads of a world plan: the world (its region) and its game's modules; and the worlds that could not be read. */
function placementPlans(ctx: ReconcileContext): { plans: WorldPlan[]; invalid: string[] } {
  const { catalog } = ctx.definitions.get();
  const plans: WorldPlan[] = [];
  const invalid: string[] = [];
  for (const cached of ctx.worlds.list()) {
    const world = copyOf<WorldInstance>(cached, 'WorldInstance');
    if (world.metadata.deletionTimestamp) continue;
    const problems = validateObject(world, objectRef(world));
    if (hasErrors(problems)) {
      invalid.push(`WorldInstance ${world.metadata.namespace ?? 'default'}/${world.metadata.name}: ${problems.filter((d) => d.severity === 'error').map((d) => d.message).join('; ')}`);
      continue;
    }
    const game = catalog.games.get(world.spec.gameRef.name);
    if (!game) continue;
    const modules = game.spec.modules.map((m) => catalog.modules.get(m.name)).filter((m) => m !== undefined);
    plans.push({ world, game, modules, bindings: [], roots: [], unresolved: [], routes: [], diagnostics: [] });
  }
  return { plans, invalid };
}

/**
 * Why the platform's plan may be incomplete, so that nothing may be deleted: a definition
 * that failed validation is left out of the catalog (its global objects would look stale),
 * and an unreadable world places nothing (its region's providers would look stale).
 */
export function cleanupBlockers(problems: ReadonlyMap<string, readonly Diagnostic[]>, planErrors: readonly Diagnostic[], invalidWorlds: readonly string[]): string[] {
  const definitions = [...problems].flatMap(([ref, ds]) => ds.filter((d) => d.severity === 'error').map((d) => `${ref}: ${d.message}`));
  return [...definitions, ...planErrors.filter((d) => d.severity === 'error').map((d) => d.message), ...invalidWorlds].sort();
}

/**
 * One owner per global object. What `kubectl apply -f dist/` wrote (labelled
 * `anvil.dev/static: "true"` by synth) is synth's: the reconciler never writes it. What
 * the reconciler applied is its own: Anvil's label and the reconciler's field manager,
 * for a global module or a global binding (never a world's, never the reconciler's own
 * Deployment). Anything else of the same name is foreign: a conflict, never written.
 */
export const PLATFORM_OWNER: Owner = {
  describe: `the Anvil reconciler (label ${MANAGED_BY}=anvil and field manager ${FIELD_MANAGER}) in ${PLATFORM_NAMESPACE}`,
  classify: (o) => {
    const labels = o.metadata?.labels ?? {};
    if (labels[MANAGED_BY] !== 'anvil' || labels[LABEL_WORLD]) return 'foreign';
    if (labels[LABEL_STATIC] === 'true') return 'synth';
    const global = labels[LABEL_MODULE] !== undefined || o.kind === 'CapabilityBinding';
    // Applied, or created with POST (an Update, until its first apply: worlds/apply.ts createOne).
    const applied = (o.metadata?.managedFields ?? []).some((f) => f.manager === FIELD_MANAGER && (f.operation === 'Apply' || f.operation === 'Update'));
    return global && applied ? 'ours' : 'foreign';
  },
};

export async function reconcilePlatform(ctx: ReconcileContext): Promise<ReconcileResult> {
  const definitions = ctx.definitions.get();
  const plan = resolveGlobal(definitions.catalog);
  for (const d of plan.diagnostics) ctx.log(formatDiagnostic(d));
  const { plans, invalid } = placementPlans(ctx);
  const blockers = cleanupBlockers(definitions.problems, plan.diagnostics, invalid);
  const chart = new Chart(new App({ outdir: '/dev/null' }), 'platform');
  new GlobalServices(chart, 'global', { plan, instances: globalInstances(plan, plans), settings: ctx.settings });
  const t0 = performance.now();
  const skipDeletions = blockers.length > 0 ? `invalid definitions: ${blockers.join('; ')}` : undefined;
  const result = await ctx.applier.sync(chart.toJson() as KubernetesObject[], PLATFORM_NAMESPACE, PLATFORM_OWNER, skipDeletions ? { skipDeletions } : {});
  if (result.applied + result.deleted > 0) {
    ctx.metrics.deployment.observe((performance.now() - t0) / 1000);
    ctx.log(`platform: applied ${result.applied}, deleted ${result.deleted}`);
  }
  await reportPlatform(ctx, result, skipDeletions);
  return {};
}
