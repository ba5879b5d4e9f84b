/**
 * The roguelike of seed 004: a thin runtime gateway that owns no game logic and routes each
 * player action through its action table — move, attack, cast — to the module that serves
 * it. A new mechanic is a new module with `actions`; the gateway does not change.
 */
import type { Construct } from 'constructs';
import { Game, Module, World, WorldPool } from '../lib/definitions.js';
import { EXAMPLE_REGISTRY } from './shared.js';

export function roguelike(scope: Construct, eventBus: Module): Game {
  const runtime = new Module(scope, 'rl-runtime', {
    version: '0.3.0',
    image: `${EXAMPLE_REGISTRY}/roguelike-runtime:0.3.0`,
    ports: [
      { name: 'ws', port: 4000, protocol: 'TCP' },
      { name: 'health', port: 4001, protocol: 'TCP' },
    ],
    provides: [{ capabilityId: 'player-session', version: '0.3.0' }],
    requires: [
      { capabilityId: 'game-mechanic', versionConstraint: '^1.0.0', scope: 'world', multiplicity: 'many', dependencyMode: 'required' },
      { capabilityId: 'event-bus', versionConstraint: '^2.0.0', scope: 'cluster', multiplicity: '1', dependencyMode: 'required' },
    ],
    routesActions: true,
    env: [{ name: 'SESSION_TTL_SECONDS', value: '900' }],
    // A world ends its match by deleting its claim (issue 17): the server reads its world's
    // anvil.dev/claim label (ANVIL_WORLD names the world) and deletes that WorldClaim; the
    // reconciler then releases the world. The rules apply in the world's namespace only.
    serviceAccount: {
      rules: [
        { apiGroups: ['anvil.dev'], resources: ['worldinstances'], verbs: ['get'] },
        { apiGroups: ['anvil.dev'], resources: ['worldclaims'], verbs: ['delete'] },
      ],
    },
  });
  const mechanic = (name: string, version: string, port: number, actions: string[]) =>
    new Module(scope, name, {
      version,
      image: `${EXAMPLE_REGISTRY}/${name}:${version}`,
      ports: [{ name: 'grpc', port, protocol: 'TCP' }],
      provides: [{ capabilityId: 'game-mechanic', version: '1.0.0', actions }],
    });
  const movement = mechanic('movement', '1.2.0', 50051, ['move']);
  const combat = mechanic('combat', '1.1.3', 50052, ['attack']);
  const spells = mechanic('spells', '1.0.0', 50053, ['cast']);
  const game = new Game(scope, 'roguelike', {
    modules: [runtime, movement, combat, spells, eventBus],
    booklets: [{ name: 'melee', modules: [movement, combat], strategy: 'SameZone' }],
  });
  new World(scope, 'crypt-1', { game, namespace: 'roguelike', region: 'eu-west' });
  // A run starts in a warm crypt: claims take one in milliseconds (`anvil allocate --pool crypt -n roguelike`).
  new WorldPool(scope, 'crypt', { game, namespace: 'roguelike', region: 'eu-west', buffer: 2, minWorlds: 2, maxWorlds: 50 });
  lobby(scope);
  return game;
}

/**
 * The README's matchmaker story as an Anvil module: players queue at the lobby, which claims
 * a warm crypt from the pool (claimWorld) for each match. Its ServiceAccount may create,
 * get, watch and delete WorldClaims in its own namespace (the pool's) and nothing else.
 */
function lobby(scope: Construct): void {
  const matchmaker = new Module(scope, 'rl-matchmaker', {
    version: '0.1.0',
    image: `${EXAMPLE_REGISTRY}/roguelike-matchmaker:0.1.0`,
    ports: [
      { name: 'queue', port: 8080, protocol: 'TCP', expose: { type: 'LoadBalancer' } },
      { name: 'metrics', port: 9090, protocol: 'TCP' },
    ],
    probes: { readiness: { httpGet: { path: '/ready', port: 'queue' } }, liveness: { httpGet: { path: '/healthz', port: 'queue' } } },
    env: [{ name: 'ANVIL_POOL', value: 'crypt' }],
    metrics: { port: 'metrics' },
    // What claimWorld() uses: the claims, and the watch of claimed worlds (the binding shows there first).
    serviceAccount: {
      rules: [
        { apiGroups: ['anvil.dev'], resources: ['worldclaims'], verbs: ['create', 'get', 'watch', 'delete'] },
        { apiGroups: ['anvil.dev'], resources: ['worldinstances'], verbs: ['watch'] },
      ],
    },
  });
  const game = new Game(scope, 'roguelike-lobby', { modules: [matchmaker] });
  new World(scope, 'lobby', { game, namespace: 'roguelike', region: 'eu-west' });
}
