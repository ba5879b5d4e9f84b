/**
 * Global services: cluster-scoped modules once, region-scoped modules once per region, in
 * the platform namespace, shared by every world and owned by none. Their bindings to each
 * other are the platform's, without worldRef.
 */
import { ApiObject } from 'cdk8s';
import { Construct } from 'constructs';
import type { ModuleManifest } from '../api/schema.js';
import { PLATFORM_NAMESPACE, scopeOf, type GlobalPlan, type WorldPlan } from '../resolve/resolve.js';
import { LABEL_STATIC, PLATFORM_LABELS } from './labels.js';
import type { Placement } from './labels.js';
import type { RenderSettings } from './settings.js';
import { dependenciesOf, bindingObject } from './world.js';
import { ModuleWorkload } from './workload.js';

export interface GlobalInstance {
  module: ModuleManifest;
  placement: Placement;
}

/**
 * Which global instances the given worlds need: every cluster-scoped module some game lists,
 * and each region-scoped module in every region where a world of a game listing it runs.
 */
export function globalInstances(plan: GlobalPlan, worlds: readonly WorldPlan[]): GlobalInstance[] {
  const out: GlobalInstance[] = [];
  for (const module of plan.modules) {
    if (scopeOf(module) === 'cluster') {
      out.push({ module, placement: { namespace: PLATFORM_NAMESPACE } });
      continue;
    }
    const regions = new Set(
      worlds.filter((w) => w.modules.some((m) => m.metadata.name === module.metadata.name)).map((w) => w.world.spec.region ?? 'default'),
    );
    for (const region of [...regions].sort()) out.push({ module, placement: { namespace: PLATFORM_NAMESPACE, region } });
  }
  return out;
}

export interface GlobalServicesProps {
  /**
   * Written by synth into dist/: labelled `anvil.dev/static: "true"`, so the reconciler
   * leaves them to `kubectl apply -f dist/` (one owner per object).
   */
  synth?: boolean;
  plan: GlobalPlan;
  instances: readonly GlobalInstance[];
  settings: RenderSettings;
}

export class GlobalServices extends Construct {
  constructor(scope: Construct, id: string, props: GlobalServicesProps) {
    super(scope, id);
    const { plan, settings } = props;
    for (const b of plan.bindings) bindingObject(this, b, { ...PLATFORM_LABELS });
    const byName = new Map(plan.modules.map((m) => [m.metadata.name, m]));
    const roots = new Set(plan.roots);
    for (const { module, placement } of props.instances) {
      new ModuleWorkload(this, placement.region ? `${module.metadata.name}-${placement.region}` : module.metadata.name, {
        module,
        placement,
        dependencies: dependenciesOf(module, plan.bindings, byName),
        consumers: [],
        openIngress: roots.has(module.metadata.name),
        settings,
      });
    }
    if (props.synth) {
      for (const c of this.node.findAll()) if (c instanceof ApiObject) c.metadata.addLabel(LABEL_STATIC, 'true');
    }
  }
}
