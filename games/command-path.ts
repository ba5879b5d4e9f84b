/**
 * The command path of seed 001: a player's command enters the gateway, the interaction engine
 * applies it, the physics engine integrates it and publishes events on the cluster's event
 * bus, which streams them back through the gateway. A cluster-wide matchmaker places players.
 */
import type { Construct } from 'constructs';
import { k8s } from '../imports/k8s.js';
import { Game, Module, World, WorldPool } from '../lib/definitions.js';
import { EXAMPLE_REGISTRY } from './shared.js';

export function commandPath(scope: Construct, eventBus: Module): Game {
  // Seed 002: game servers take precedence over background work. Any cdk8s object can sit
  // beside the definitions; this one is what physics-engine's priorityClassName names.
  new k8s.KubePriorityClass(scope, 'high-priority-game', {
    metadata: { name: 'high-priority-game' },
    value: 1000000,
    globalDefault: false,
    description: 'Game server pods (Anvil example: command-path physics).',
  });
  const gateway = new Module(scope, 'cp-gateway', {
    version: '1.4.0',
    image: `${EXAMPLE_REGISTRY}/gateway:1.4.0`,
    ports: [
      { name: 'ws', port: 8080, protocol: 'TCP' },
      { name: 'metrics', port: 9090, protocol: 'TCP' },
    ],
    provides: [{ capabilityId: 'client-gateway', version: '1.4.0' }],
    requires: [
      { capabilityId: 'interaction', versionConstraint: '^3.0.0', scope: 'world', multiplicity: '1', dependencyMode: 'required' },
      { capabilityId: 'event-bus', versionConstraint: '>=2.0.0 <3.0.0', scope: 'cluster', multiplicity: '1', dependencyMode: 'required' },
    ],
    routesActions: true,
    replicas: 2,
  });
  const interaction = new Module(scope, 'interaction-engine', {
    version: '3.2.0',
    image: `${EXAMPLE_REGISTRY}/interaction-engine:3.2.0`,
    ports: [{ name: 'grpc', port: 50051, protocol: 'TCP' }],
    provides: [{ capabilityId: 'interaction', version: '3.2.0', actions: ['command', 'interact'] }],
    requires: [{ capabilityId: 'physics', versionConstraint: '~2.1', scope: 'world', multiplicity: '1', dependencyMode: 'required' }],
  });
  const physics = new Module(scope, 'physics-engine', {
    version: '2.1.4',
    image: `${EXAMPLE_REGISTRY}/physics-engine:2.1.4`,
    ports: [{ name: 'grpc', port: 50052, protocol: 'TCP' }],
    provides: [{ capabilityId: 'physics', version: '2.1.4' }],
    requires: [
      { capabilityId: 'event-bus', versionConstraint: '^2.0.0', scope: 'cluster', multiplicity: '1', dependencyMode: 'required' },
      { capabilityId: 'snapshots', versionConstraint: '^1.0.0', scope: 'world', multiplicity: '1', dependencyMode: 'optional' },
    ],
    resources: { requests: { cpu: '500m', memory: '512Mi' }, limits: { memory: '1Gi' } },
    scheduling: {
      priorityClassName: 'high-priority-game',
      // Prefer the game node pool (seed 002) without making worlds unschedulable without one.
      affinity: {
        nodeAffinity: {
          preferredDuringSchedulingIgnoredDuringExecution: [
            { weight: 50, preference: { matchExpressions: [{ key: 'anvil.dev/pool', operator: 'In', values: ['game'] }] } },
          ],
        },
      },
    },
  });
  const store = new Module(scope, 'world-store', {
    version: '1.0.2',
    image: `${EXAMPLE_REGISTRY}/world-store:1.0.2`,
    ports: [{ name: 'grpc', port: 50060, protocol: 'TCP' }],
    provides: [{ capabilityId: 'snapshots', version: '1.0.2' }],
    storage: { size: '1Gi', mountPath: '/var/lib/world-store' },
  });
  const matchmaker = new Module(scope, 'matchmaker', {
    version: '0.9.0',
    scope: 'cluster',
    image: `${EXAMPLE_REGISTRY}/matchmaker:0.9.0`,
    ports: [{ name: 'http', port: 8081, protocol: 'TCP' }],
    provides: [{ capabilityId: 'matchmaking', version: '0.9.0' }],
    requires: [{ capabilityId: 'event-bus', versionConstraint: '^2.0.0', scope: 'cluster', multiplicity: '1', dependencyMode: 'required' }],
  });
  const game = new Game(scope, 'command-path', {
    modules: [gateway, interaction, physics, store, eventBus, matchmaker],
    // The interaction engine calls physics on every command: keep them on one node.
    booklets: [{ name: 'simulation', modules: [interaction, physics], strategy: 'SameNode' }],
  });
  new World(scope, 'cp-eu-1', { game, namespace: 'command-path', region: 'eu-west' });
  new World(scope, 'cp-us-1', { game, namespace: 'command-path', region: 'us-east' });
  // Warm worlds for the matchmaker to hand out (`anvil allocate --pool cp-eu -n command-path`).
  new WorldPool(scope, 'cp-eu', { game, namespace: 'command-path', region: 'eu-west', buffer: 1, maxWorlds: 20, worldLabels: { tier: 'standard' } });
  return game;
}
