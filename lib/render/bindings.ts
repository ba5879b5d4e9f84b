/**
 * Only the CapabilityBindings of resolved plans, as plain JSON: what `anvil resolve` prints.
 * Rendered by the same construct and with the same labels as synth (WorldResources,
 * GlobalServices), so the CLI's bindings are exactly the ones in dist/.
 */
import { App, Chart } from 'cdk8s';
import { Construct } from 'constructs';
import type { GlobalPlan, WorldPlan } from '../resolve/resolve.js';
import { PLATFORM_LABELS, worldLabels } from './labels.js';
import { bindingObject } from './world.js';

/** The platform's bindings (when `global` is given), then each world's, in the order given. */
export function renderBindings(global: GlobalPlan | undefined, worlds: readonly WorldPlan[]): any[] {
  const chart = new Chart(new App({ outdir: '/dev/null' }), 'bindings');
  if (global) {
    const scope = new Construct(chart, 'platform');
    for (const b of global.bindings) bindingObject(scope, b, { ...PLATFORM_LABELS });
  }
  // One scope per world: two worlds of the same name in two namespaces have bindings of the
  // same name, which must not collide as construct ids.
  worlds.forEach((plan, i) => {
    const scope = new Construct(chart, `world-${i}`);
    const labels = worldLabels(plan.world.metadata.name, plan.game?.metadata.name);
    for (const b of plan.bindings) bindingObject(scope, b, labels);
  });
  return chart.toJson();
}
