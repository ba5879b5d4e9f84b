/**
 * Everything one world runs: its CapabilityBindings, one workload per per-world module (per
 * shard for world-shard modules) and the action route table. Used by synth for static
 * worlds and, in memory, by the reconciler for dynamic ones.
 */
import { ApiObject, App, Chart } from 'cdk8s';
import { Construct } from 'constructs';
import { stringify } from 'yaml';
import { k8s } from '../../imports/k8s.js';
import type { ModuleManifest } from '../api/schema.js';
import { dnsName } from '../names/names.js';
import { isGlobalModule, type PlannedBinding, type WorldPlan } from '../resolve/resolve.js';
import { ANNOTATION_WHEN_WORLD_DELETED, ANNOTATION_WORLD_UID, worldLabels, type Placement } from './labels.js';
import { CapabilityBindingObject } from './objects.js';
import type { RenderSettings } from './settings.js';
import { providerPlacement, serviceHost, workloadName, worldPlacements } from './topology.js';
import { ModuleWorkload, ROUTES_FILE, type Dependency } from './workload.js';

/** The WorldInstance that owns what the reconciler renders for it. */
export interface WorldOwner {
  uid: string;
}

export interface WorldResourcesProps {
  plan: WorldPlan;
  settings: RenderSettings;
  owner?: WorldOwner;
  /** The game's rollout progressDeadlineSeconds, for the world's Deployments. */
  progressDeadlineSeconds?: number;
}

export function bindingObject(scope: Construct, b: PlannedBinding, labels: Record<string, string>): CapabilityBindingObject {
  return new CapabilityBindingObject(scope, `binding-${b.name}`, {
    metadata: { name: b.name, namespace: b.namespace, labels },
    spec: b.spec,
  });
}

/** The providers each requirement of `consumer` was bound to, in the requirement's order. */
export function dependenciesOf(consumer: ModuleManifest, bindings: readonly PlannedBinding[], modules: ReadonlyMap<string, ModuleManifest>): Dependency[] {
  return (consumer.spec.requires ?? []).map((r) => ({
    capabilityId: r.capabilityId,
    multiplicity: r.multiplicity ?? '1',
    optional: (r.dependencyMode ?? 'required') === 'optional',
    providers: bindings
      .filter((b) => b.spec.consumer.kind === 'ModuleManifest' && b.spec.consumer.name === consumer.metadata.name && b.spec.capabilityId === r.capabilityId)
      .map((b) => modules.get(b.spec.provider.module))
      .filter((m): m is ModuleManifest => m !== undefined),
  }));
}

export class WorldResources extends Construct {
  constructor(scope: Construct, id: string, props: WorldResourcesProps) {
    super(scope, id);
    const { plan, settings } = props;
    const world = plan.world.metadata.name;
    const namespace = plan.world.metadata.namespace ?? 'default';
    const game = plan.game?.metadata.name;
    const region = plan.world.spec.region ?? 'default';
    const shards = plan.world.spec.shards ?? 1;
    const labels = worldLabels(world, game);
    const byName = new Map(plan.modules.map((m) => [m.metadata.name, m]));
    const base: Placement = { namespace, world, region, ...(game ? { game } : {}) };

    for (const b of plan.bindings) bindingObject(this, b, labels);

    const needsRoutes = plan.modules.some((m) => !isGlobalModule(m) && m.spec.routesActions);
    const routesConfigMap = needsRoutes ? dnsName([world, 'action-routes']) : undefined;
    if (routesConfigMap) {
      // Each route names its module and the port it uses (the one the gateway's policy admits).
      const routes = Object.fromEntries(
        plan.routes.map((r) => [r.action, { address: `${serviceHost(byName.get(r.module)!, providerPlacement(byName.get(r.module)!, { ...base, shard: 0 }))}:${r.port.port}`, module: r.module, port: r.port.name }]),
      );
      new k8s.KubeConfigMap(this, 'action-routes', {
        metadata: { name: routesConfigMap, namespace, labels },
        data: { [ROUTES_FILE]: stringify({ world, routes }, { sortMapEntries: true }) },
      });
    }

    const roots = new Set(plan.roots);
    for (const module of plan.modules.filter((m) => !isGlobalModule(m))) {
      const consumers = plan.bindings
        .filter((b) => b.spec.provider.module === module.metadata.name && b.spec.consumer.kind === 'ModuleManifest')
        .map((b) => byName.get(b.spec.consumer.name))
        .filter((m): m is ModuleManifest => m !== undefined);
      const booklet = plan.game?.spec.booklets?.find((b) => b.modules.includes(module.metadata.name));
      for (const placement of worldPlacements(module, base, shards)) {
        // The workload name as construct id: unique, where `<module>-s<shard>` is not (a module may be named `m-s0`).
        new ModuleWorkload(this, workloadName(module, placement), {
          module,
          placement,
          shards,
          dependencies: dependenciesOf(module, plan.bindings, byName),
          consumers,
          openIngress: roots.has(module.metadata.name) || module.spec.routesActions === true,
          ...(module.spec.routesActions && routesConfigMap ? { routesConfigMap } : {}),
          ...(booklet ? { booklet } : {}),
          settings,
          ...(props.progressDeadlineSeconds !== undefined ? { progressDeadlineSeconds: props.progressDeadlineSeconds } : {}),
        });
      }
    }

    if (props.owner) {
      const owner = { apiVersion: plan.world.apiVersion, kind: 'WorldInstance', name: world, uid: props.owner.uid, controller: true, blockOwnerDeletion: true };
      for (const c of this.node.findAll()) {
        if (!(c instanceof ApiObject)) continue;
        // A claim kept when the world is deleted: no owner reference (the garbage collector
        // would delete it), the world's uid in an annotation instead (its cleanup index).
        if (c.kind === 'PersistentVolumeClaim' && c.metadata.toJson().annotations?.[ANNOTATION_WHEN_WORLD_DELETED] === 'Retain') c.metadata.addAnnotation(ANNOTATION_WORLD_UID, props.owner.uid);
        else c.metadata.addOwnerReference(owner);
      }
    }
  }
}

/** Renders a world in memory: the objects synth would write for it, as plain JSON. */
export function renderWorld(plan: WorldPlan, settings: RenderSettings, owner?: WorldOwner, opts: { progressDeadlineSeconds?: number } = {}): any[] {
  const chart = new Chart(new App({ outdir: '/dev/null' }), 'world');
  new WorldResources(chart, 'resources', { plan, settings, ...(owner ? { owner } : {}), ...opts });
  return chart.toJson();
}
