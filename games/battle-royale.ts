/**
 * A battle royale (issue 11): a gateway that routes player actions (move, jump to physics;
 * pickup, drop to loot) through a `many` requirement, match state on a volume, a leaderboard
 * per region, a voice chat pool per match session, the cluster's event bus, and an optional
 * replay archive the game does not ship. Two worlds in two regions.
 */
import type { Construct } from 'constructs';
import { Game, Module, World } from '../lib/definitions.js';
import { EXAMPLE_REGISTRY } from './shared.js';

export function battleRoyale(scope: Construct, eventBus: Module): Game {
  const bus = { capabilityId: 'event-bus', versionConstraint: '^2.0.0', scope: 'cluster', multiplicity: '1', dependencyMode: 'required' } as const;
  const gateway = new Module(scope, 'br-gateway', {
    version: '1.0.0',
    image: `${EXAMPLE_REGISTRY}/br-gateway:1.0.0`,
    // Players connect from outside the cluster: the cloud's load balancer gives the address.
    ports: [
      { name: 'ws', port: 7777, protocol: 'TCP', expose: { type: 'LoadBalancer' } },
      { name: 'metrics', port: 9090, protocol: 'TCP' },
    ],
    provides: [{ capabilityId: 'br-client', version: '1.0.0' }],
    requires: [
      { capabilityId: 'br-mechanic', versionConstraint: '^1.0.0', scope: 'world', multiplicity: 'many', dependencyMode: 'required' },
      { capabilityId: 'match-state', versionConstraint: '^1.0.0', scope: 'world' },
      bus,
    ],
    routesActions: true,
    replicas: 2,
  });
  const matchState = new Module(scope, 'match-state', {
    version: '1.2.0',
    image: `${EXAMPLE_REGISTRY}/match-state:1.2.0`,
    ports: [{ name: 'grpc', port: 50070, protocol: 'TCP' }],
    provides: [{ capabilityId: 'match-state', version: '1.2.0' }],
    requires: [
      { capabilityId: 'leaderboard', versionConstraint: '^1.0.0', scope: 'region' },
      // Not part of this game: an unresolved optional requirement is a warning, not an error.
      { capabilityId: 'replay-archive', versionConstraint: '^1.0.0', scope: 'world', dependencyMode: 'optional' },
    ],
    storage: { size: '2Gi', mountPath: '/var/lib/match-state' },
  });
  const mechanic = (name: string, port: number, actions: string[]) =>
    new Module(scope, name, {
      version: '1.0.0',
      image: `${EXAMPLE_REGISTRY}/${name}:1.0.0`,
      ports: [{ name: 'grpc', port, protocol: 'TCP' }],
      provides: [{ capabilityId: 'br-mechanic', version: '1.0.0', actions }],
      requires: [{ capabilityId: 'match-state', versionConstraint: '^1.0.0', scope: 'world' }, bus],
    });
  const physics = mechanic('br-physics', 50071, ['jump', 'move']);
  const loot = mechanic('br-loot', 50072, ['drop', 'pickup']);
  const leaderboard = new Module(scope, 'leaderboard', {
    version: '1.1.0',
    scope: 'region',
    image: `${EXAMPLE_REGISTRY}/leaderboard:1.1.0`,
    ports: [{ name: 'http', port: 8090, protocol: 'TCP' }],
    provides: [{ capabilityId: 'leaderboard', version: '1.1.0' }],
    requires: [bus],
  });
  const voice = new Module(scope, 'voice-chat', {
    version: '0.4.0',
    scope: 'session',
    image: `${EXAMPLE_REGISTRY}/voice-chat:0.4.0`,
    ports: [
      { name: 'rtp', port: 5004, protocol: 'UDP', expose: { type: 'LoadBalancer' } },
      { name: 'signal', port: 5005, protocol: 'TCP', expose: { type: 'LoadBalancer' } },
    ],
    provides: [{ capabilityId: 'voice', version: '0.4.0' }],
    requires: [{ capabilityId: 'match-state', versionConstraint: '^1.0.0', scope: 'world' }],
  });
  const game = new Game(scope, 'battle-royale', {
    modules: [gateway, matchState, physics, loot, leaderboard, voice, eventBus],
    // Physics and loot query match state on every tick: one node, no network hop between them.
    booklets: [{ name: 'simulation', modules: [matchState, physics, loot], strategy: 'SameNode' }],
  });
  new World(scope, 'br-eu-1', { game, namespace: 'battle-royale', region: 'eu-west' });
  new World(scope, 'br-ap-1', { game, namespace: 'battle-royale', region: 'ap-south' });
  return game;
}
