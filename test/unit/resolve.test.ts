/**
 * One test per resolution rule (issue 2, "Resolution"; seed 001, "Resolver workflow"), each on
 * a catalog small enough to read at a glance.
 */
import { describe, expect, test } from '@jest/globals';
import { buildCatalog } from '../../lib/resolve/catalog.js';
import { formatDiagnostic, groupByCause } from '../../lib/diagnostics/diagnostics.js';
import { bindingName, PLATFORM_NAMESPACE, resolveAll, resolveGlobal, resolveWorld, type WorldPlan } from '../../lib/resolve/resolve.js';
import type { WorldInstance } from '../../lib/api/schema.js';
import { catalogOf, errorsOf, game, mod, provides, req, sourced, warningsOf, world } from './fixtures.js';

type Obj = Record<string, any>;

/** Resolves the only world of a catalog. */
function planOf(objects: Obj[]): WorldPlan {
  const catalog = catalogOf(objects);
  expect(catalog.worlds).toHaveLength(1);
  return resolveWorld(catalog, catalog.worlds[0]!);
}

/** The providers chosen for one consumer's capability, by module name. */
const providersOf = (plan: { bindings: WorldPlan['bindings'] }, consumer: string, capabilityId: string): string[] =>
  plan.bindings
    .filter((b) => b.spec.consumer.kind === 'ModuleManifest' && b.spec.consumer.name === consumer && b.spec.capabilityId === capabilityId)
    .map((b) => b.spec.provider.module);

/** A game `g` of the given modules with one world `w1`. */
const oneWorld = (...modules: Obj[]): Obj[] => [...modules, game('g', modules.map((m) => m.metadata.name)), world('w1', 'g')];

describe('provider index by (capabilityId, scope)', () => {
  test('a provider of the right scope binds', () => {
    const plan = planOf(oneWorld(mod('consumer', { requires: [req('physics', '^2.0.0')] }), mod('engine', { provides: [provides('physics', '2.1.0')] })));
    expect(plan.diagnostics).toEqual([]);
    expect(providersOf(plan, 'consumer', 'physics')).toEqual(['engine']);
    const b = plan.bindings.find((x) => x.spec.capabilityId === 'physics')!;
    expect(b.spec).toEqual({
      capabilityId: 'physics',
      scope: 'world',
      multiplicity: '1',
      consumer: { kind: 'ModuleManifest', name: 'consumer' },
      provider: { module: 'engine', capabilityVersion: '2.1.0' },
      worldRef: { name: 'w1' },
    });
    expect(b.namespace).toBe('games');
  });

  test('a provider of the same capability at another scope does not match', () => {
    const plan = planOf(
      oneWorld(
        mod('consumer', { requires: [req('physics', '^2.0.0', { scope: 'world' })] }),
        mod('shard-engine', { scope: 'world-shard', provides: [provides('physics', '2.1.0')] }),
        mod('cluster-engine', { scope: 'cluster', provides: [provides('physics', '2.1.0')] }),
      ),
    );
    expect(providersOf(plan, 'consumer', 'physics')).toEqual([]);
    const [e] = errorsOf(plan.diagnostics);
    expect(e?.reason).toBe('Unresolved');
    // The message says why: the capability exists, at other scopes.
    expect(e?.message).toContain('no provider at scope world');
    expect(e?.message).toContain('shard-engine provides it at scope world-shard');
  });
});

describe('SemVer constraints', () => {
  const withProviders = (constraint: string, ...versions: string[]) =>
    planOf(
      oneWorld(
        mod('consumer', { requires: [req('cap', constraint, { multiplicity: 'many' })] }),
        ...versions.map((v, i) => mod(`p${i}`, { provides: [provides('cap', v)] })),
      ),
    );
  const chosenVersions = (plan: WorldPlan): string[] =>
    plan.bindings.filter((b) => b.spec.capabilityId === 'cap').map((b) => b.spec.provider.capabilityVersion).sort();

  test('only versions that satisfy the range are candidates', () => {
    expect(chosenVersions(withProviders('^2.0.0', '1.9.9', '2.0.0', '2.5.1', '3.0.0'))).toEqual(['2.0.0', '2.5.1']);
    expect(chosenVersions(withProviders('~2.1', '2.0.9', '2.1.0', '2.1.7', '2.2.0'))).toEqual(['2.1.0', '2.1.7']);
    expect(chosenVersions(withProviders('>=1.0.0 <2.0.0', '0.9.0', '1.0.0', '2.0.0'))).toEqual(['1.0.0']);
  });

  test('a prerelease is excluded unless the range names one', () => {
    const caret = withProviders('^2.0.0', '2.1.0-beta.1');
    expect(chosenVersions(caret)).toEqual([]);
    expect(errorsOf(caret.diagnostics).map((d) => d.reason)).toEqual(['Unresolved']);
    expect(chosenVersions(withProviders('>=2.1.0-beta.0', '2.1.0-beta.1'))).toEqual(['2.1.0-beta.1']);
    // Naming a prerelease of 2.1.0 does not admit those of other versions.
    expect(chosenVersions(withProviders('>=2.1.0-beta.0', '2.2.0-alpha.1', '2.2.0'))).toEqual(['2.2.0']);
  });
});

test('a module never binds itself, even when it provides what it requires', () => {
  const selfish = mod('relay', { provides: [provides('relay', '1.0.0')], requires: [req('relay', '^1.0.0')] });
  const alone = planOf(oneWorld(selfish));
  expect(providersOf(alone, 'relay', 'relay')).toEqual([]);
  expect(errorsOf(alone.diagnostics).map((d) => d.reason)).toEqual(['Unresolved']);

  const withOther = planOf(oneWorld(selfish, mod('other-relay', { version: '0.1.0', provides: [provides('relay', '1.0.0')] })));
  expect(providersOf(withOther, 'relay', 'relay')).toEqual(['other-relay']);
});

describe('multiplicity', () => {
  test('"1" takes the highest satisfying version', () => {
    const plan = planOf(
      oneWorld(
        mod('consumer', { requires: [req('cap', '^1.0.0')] }),
        mod('old', { provides: [provides('cap', '1.2.0')] }),
        mod('newest', { provides: [provides('cap', '1.10.0')] }),
        mod('too-new', { provides: [provides('cap', '2.0.0')] }),
      ),
    );
    expect(providersOf(plan, 'consumer', 'cap')).toEqual(['newest']);
  });

  test('"1" breaks a version tie by module name ascending', () => {
    const plan = planOf(
      oneWorld(
        mod('consumer', { requires: [req('cap', '^1.0.0')] }),
        mod('zeta', { provides: [provides('cap', '1.5.0')] }),
        mod('alpha', { provides: [provides('cap', '1.5.0')] }),
        mod('mid', { provides: [provides('cap', '1.5.0')] }),
      ),
    );
    expect(providersOf(plan, 'consumer', 'cap')).toEqual(['alpha']);
  });

  test('"many" binds every candidate', () => {
    const plan = planOf(
      oneWorld(
        mod('runtime', { requires: [req('mechanic', '^1.0.0', { multiplicity: 'many' })] }),
        mod('movement', { provides: [provides('mechanic', '1.0.0')] }),
        mod('combat', { provides: [provides('mechanic', '1.3.0')] }),
        mod('legacy', { provides: [provides('mechanic', '0.9.0')] }),
      ),
    );
    expect(providersOf(plan, 'runtime', 'mechanic').sort()).toEqual(['combat', 'movement']);
    expect(plan.bindings.filter((b) => b.spec.capabilityId === 'mechanic').every((b) => b.spec.multiplicity === 'many')).toBe(true);
  });
});

describe('unresolved requirements', () => {
  test('an optional one is a warning (OptionalUnresolved), and no binding', () => {
    const plan = planOf(oneWorld(mod('physics', { requires: [req('snapshots', '^1.0.0', { dependencyMode: 'optional' })] })));
    expect(errorsOf(plan.diagnostics)).toEqual([]);
    const [w] = warningsOf(plan.diagnostics);
    expect(w?.reason).toBe('OptionalUnresolved');
    expect(plan.unresolved).toEqual([{ module: 'physics', capabilityId: 'snapshots', versionConstraint: '^1.0.0', scope: 'world', optional: true }]);
    expect(providersOf(plan, 'physics', 'snapshots')).toEqual([]);
  });

  test('a required one is an error (Unresolved) naming world, module, capability and constraint', () => {
    const objects = oneWorld(mod('gateway', { requires: [req('interaction', '^3.0.0')] }), mod('old-engine', { provides: [provides('interaction', '2.9.0')] }));
    const plan = planOf(objects);
    const errors = errorsOf(plan.diagnostics);
    expect(errors).toHaveLength(1);
    const e = errors[0]!;
    expect(e.reason).toBe('Unresolved');
    // reported on the cause (the requirement), with the world where it shows
    expect(e.source).toBe('ModuleManifest/gateway');
    expect(e.field).toBe('spec.requires[0]');
    expect(e.worlds).toEqual(['games/w1']);
    expect(e.message).toContain('module gateway');
    expect(e.message).toContain('interaction');
    expect(e.message).toContain('"^3.0.0"');
    // and what was there instead
    expect(e.message).toContain('old-engine provides 2.9.0');
    expect(plan.unresolved).toEqual([{ module: 'gateway', capabilityId: 'interaction', versionConstraint: '^3.0.0', scope: 'world', optional: false }]);
  });
});

describe('root modules', () => {
  test('every module that provides nothing to the world gets a root binding whose consumer is the WorldInstance', () => {
    const plan = planOf(
      oneWorld(
        mod('gateway', { requires: [req('interaction', '^1.0.0')] }),
        mod('engine', { provides: [provides('interaction', '1.0.0')] }),
        mod('stats', { provides: [provides('stats', '1.0.0')] }), // nobody requires it: a root
      ),
    );
    expect(plan.roots).toEqual(['gateway', 'stats']);
    const roots = plan.bindings.filter((b) => b.spec.capabilityId === 'root');
    expect(roots.map((b) => b.name)).toEqual([bindingName.root('w1', 'gateway'), bindingName.root('w1', 'stats')]);
    expect(roots[0]!.spec).toEqual({
      capabilityId: 'root',
      scope: 'world',
      multiplicity: '1',
      consumer: { kind: 'WorldInstance', name: 'w1' },
      provider: { module: 'gateway', capabilityVersion: '1.0.0' },
      worldRef: { name: 'w1' },
    });
  });

  test('a cluster module that a global module of the game requires is not a root', () => {
    const plan = planOf(
      oneWorld(
        mod('bus', { scope: 'cluster', provides: [provides('event-bus', '2.0.0')] }),
        mod('matchmaker', { scope: 'cluster', requires: [req('event-bus', '^2.0.0', { scope: 'cluster' })] }),
      ),
    );
    expect(plan.roots).toEqual(['matchmaker']);
  });
});

describe('global modules', () => {
  const platform = [
    mod('bus', { scope: 'cluster', provides: [provides('event-bus', '2.3.1')] }),
    mod('matchmaker', { scope: 'cluster', requires: [req('event-bus', '^2.0.0', { scope: 'cluster' })] }),
    mod('gateway', { requires: [req('event-bus', '^2.0.0', { scope: 'cluster' })] }),
  ];
  const twoGamesTwoWorlds = [
    ...platform,
    game('a', ['gateway', 'bus', 'matchmaker']),
    game('b', ['bus', 'matchmaker']),
    world('a1', 'a'),
    world('b1', 'b', { namespace: 'other' }),
  ];

  test('bindings between global modules are resolved once, without worldRef, in anvil-system', () => {
    const result = resolveAll(catalogOf(twoGamesTwoWorlds));
    expect(result.diagnostics).toEqual([]);
    expect(result.global.bindings).toEqual([
      {
        name: bindingName.platform('matchmaker', 'event-bus', 'bus'),
        namespace: PLATFORM_NAMESPACE,
        spec: {
          capabilityId: 'event-bus',
          scope: 'cluster',
          multiplicity: '1',
          consumer: { kind: 'ModuleManifest', name: 'matchmaker' },
          provider: { module: 'bus', capabilityVersion: '2.3.1' },
        },
      },
    ]);
    // No world repeats the platform's binding.
    for (const w of result.worlds) expect(w.bindings.filter((b) => b.spec.consumer.name === 'matchmaker')).toEqual([]);
    expect(result.global.modules.map((m) => m.metadata.name)).toEqual(['bus', 'matchmaker']);
  });

  test('a world module requiring a cluster capability binds the global module, with worldRef', () => {
    const result = resolveAll(catalogOf(twoGamesTwoWorlds));
    const a1 = result.worlds.find((w) => w.world.metadata.name === 'a1')!;
    const b = a1.bindings.find((x) => x.spec.consumer.name === 'gateway')!;
    expect(b).toEqual({
      name: bindingName.world('a1', 'gateway', 'event-bus', 'bus'),
      namespace: 'games',
      spec: {
        capabilityId: 'event-bus',
        scope: 'cluster',
        multiplicity: '1',
        consumer: { kind: 'ModuleManifest', name: 'gateway' },
        provider: { module: 'bus', capabilityVersion: '2.3.1' },
        worldRef: { name: 'a1' },
      },
    });
  });

  test('global modules no game lists are left out', () => {
    const catalog = catalogOf([...platform, mod('unused', { scope: 'cluster' }), game('a', ['gateway', 'bus'])]);
    expect(resolveGlobal(catalog).modules.map((m) => m.metadata.name)).toEqual(['bus']);
  });
});

describe('missing definitions', () => {
  test('a world whose game is missing: GameNotFound on spec.gameRef.name', () => {
    const catalog = catalogOf([mod('m'), game('g', ['m']), world('lost', 'no-such-game')]);
    const plan = resolveWorld(catalog, catalog.worlds[0]!);
    expect(plan.diagnostics).toEqual([
      expect.objectContaining({ severity: 'error', reason: 'GameNotFound', field: 'spec.gameRef.name', source: 'WorldInstance/lost' }),
    ]);
    expect(plan.diagnostics[0]!.message).toContain('no-such-game');
    expect(plan.bindings).toEqual([]);
  });

  test('a module the game lists but nobody defines: ModuleNotFound, from the catalog and the world', () => {
    const { catalog, diagnostics } = buildCatalog(sourced([mod('m'), game('g', ['m', 'ghost']), world('w1', 'g')]));
    expect(diagnostics).toEqual([
      expect.objectContaining({ severity: 'error', reason: 'ModuleNotFound', source: 'GameDefinition/g', field: 'spec.modules[1].name' }),
    ]);
    const plan = resolveWorld(catalog, catalog.worlds[0]!);
    expect(errorsOf(plan.diagnostics)).toEqual([expect.objectContaining({ reason: 'ModuleNotFound' })]);
    expect(plan.diagnostics[0]!.message).toContain('ghost');
    // The modules that do exist still resolve.
    expect(plan.roots).toEqual(['m']);
  });

  test('a module the game lists that is defined but invalid: ModuleInvalid, not "not defined"', () => {
    const { catalog, diagnostics } = buildCatalog(sourced([mod('m'), mod('broken', { version: '1.0' }), game('g', ['m', 'broken']), world('w1', 'g')]));
    expect(diagnostics).toEqual([
      expect.objectContaining({ severity: 'error', source: 'ModuleManifest/broken', field: 'spec.version' }),
      expect.objectContaining({ severity: 'error', reason: 'ModuleInvalid', source: 'GameDefinition/g', field: 'spec.modules[1].name' }),
    ]);
    expect(diagnostics[1]!.message).toBe('depends on invalid module broken (its own errors are listed with ModuleManifest/broken)');
    const plan = resolveWorld(catalog, catalog.worlds[0]!);
    expect(errorsOf(plan.diagnostics)).toEqual([expect.objectContaining({ reason: 'ModuleInvalid' })]);
    expect(plan.diagnostics[0]!.message).toContain('depends on invalid module broken');
  });
});

describe('scope rules', () => {
  test('a world module cannot require a world-shard capability', () => {
    const plan = planOf(
      oneWorld(
        mod('lobby', { requires: [req('zone', '*', { scope: 'world-shard' })] }),
        mod('zone', { scope: 'world-shard', provides: [provides('zone', '1.0.0')] }),
      ),
    );
    expect(errorsOf(plan.diagnostics)).toEqual([expect.objectContaining({ reason: 'InvalidScope', source: 'ModuleManifest/lobby', field: 'spec.requires[0]' })]);
    expect(providersOf(plan, 'lobby', 'zone')).toEqual([]);
  });

  test('a world-shard module may require a world-shard capability, within its own shard', () => {
    const plan = planOf(
      oneWorld(
        mod('sim', { scope: 'world-shard', requires: [req('zone', '*', { scope: 'world-shard' })] }),
        mod('zone', { scope: 'world-shard', provides: [provides('zone', '1.0.0')] }),
      ),
    );
    expect(plan.diagnostics).toEqual([]);
    expect(providersOf(plan, 'sim', 'zone')).toEqual(['zone']);
  });

  test('a cluster module cannot require a world capability', () => {
    const catalog = catalogOf([
      mod('bus', { scope: 'cluster', requires: [req('state', '*', { scope: 'world' })] }),
      mod('state', { provides: [provides('state', '1.0.0')] }),
      game('g', ['bus', 'state']),
    ]);
    const global = resolveGlobal(catalog);
    expect(errorsOf(global.diagnostics)).toEqual([expect.objectContaining({ reason: 'InvalidScope', source: 'ModuleManifest/bus', field: 'spec.requires[0]' })]);
    expect(global.diagnostics[0]!.message).toContain('a cluster-scoped module cannot require a world-scoped capability');
    expect(global.bindings).toEqual([]);
  });

  test('a region module may require a cluster capability', () => {
    const catalog = catalogOf([
      mod('bus', { scope: 'cluster', provides: [provides('event-bus', '1.0.0')] }),
      mod('relay', { scope: 'region', requires: [req('event-bus', '*', { scope: 'cluster' })] }),
      game('g', ['bus', 'relay']),
    ]);
    const global = resolveGlobal(catalog);
    expect(global.diagnostics).toEqual([]);
    expect(providersOf(global, 'relay', 'event-bus')).toEqual(['bus']);
  });
});

describe('binding names', () => {
  const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

  test('are stable: the same input gives the same readable name, with the hash of its tuple', () => {
    const objects = oneWorld(mod('gateway', { requires: [req('interaction')] }), mod('engine', { provides: [provides('interaction')] }));
    const names = planOf(objects).bindings.map((b) => b.name);
    // Literal on purpose: a change of the naming rule renames every object in users' clusters.
    expect(names).toEqual(['w1-gateway-interaction-engine-eed6b1b8', 'w1-root-gateway-97dddf46']);
    expect(planOf(objects).bindings.map((b) => b.name)).toEqual(names);
  });

  test('are DNS labels of at most 63 characters; long or dotted inputs get a hash and never collide', () => {
    const long = 'a'.repeat(50); // each name valid on its own (<= 63), their join is not
    const plan = planOf([
      mod(`${long}-consumer`, { requires: [req('physics.engine'), req(`${long}-cap`)] }),
      mod(`${long}-provider`, { provides: [provides('physics.engine'), provides(`${long}-cap`)] }),
      game('g', [`${long}-consumer`, `${long}-provider`]),
      world(`${long}-world`, 'g'),
    ]);
    expect(plan.diagnostics).toEqual([]);
    const names = plan.bindings.map((b) => b.name);
    expect(names).toHaveLength(3);
    for (const n of names) {
      expect(n.length).toBeLessThanOrEqual(63);
      expect(n).toMatch(DNS_LABEL);
      expect(n).toMatch(/-[0-9a-f]{8}$/);
    }
    expect(new Set(names).size).toBe(names.length);
  });
});

test('determinism: shuffled input gives the same plans', () => {
  const objects = [
    mod('gateway', { routesActions: true, requires: [req('mechanic', '^1.0.0', { multiplicity: 'many' }), req('event-bus', '^2.0.0', { scope: 'cluster' })] }),
    mod('movement', { provides: [provides('mechanic', '1.0.0', ['move'])] }),
    mod('combat', { provides: [provides('mechanic', '1.0.0', ['attack'])] }),
    mod('physics', { provides: [provides('physics', '1.0.0')], requires: [req('snapshots', '^1.0.0', { dependencyMode: 'optional' })] }),
    mod('bus', { scope: 'cluster', provides: [provides('event-bus', '2.3.1')] }),
    mod('matchmaker', { scope: 'cluster', requires: [req('event-bus', '^2.0.0', { scope: 'cluster' })] }),
    game('g', ['gateway', 'movement', 'combat', 'physics', 'bus', 'matchmaker']),
    world('w2', 'g', { region: 'us' }),
    world('w1', 'g', { region: 'eu', shards: 2 }),
    world('w3', 'g', { namespace: 'aaa' }),
  ];
  const resolveShuffled = (order: Obj[]) => {
    const { catalog, diagnostics } = buildCatalog(sourced(order));
    return JSON.stringify({ catalogDiagnostics: diagnostics, ...resolveAll(catalog) });
  };
  const expected = resolveShuffled(objects);
  // A fixed set of permutations (reversed, rotated, interleaved): no randomness in a test.
  const permutations = [
    [...objects].reverse(),
    [...objects.slice(4), ...objects.slice(0, 4)],
    objects.filter((_, i) => i % 2 === 1).concat(objects.filter((_, i) => i % 2 === 0)),
  ];
  for (const p of permutations) expect(resolveShuffled(p)).toBe(expected);
});

test('all problems are reported together', () => {
  const { catalog, diagnostics } = buildCatalog(
    sourced([
      mod('bad-version', { version: 'one' }),
      mod('a', { requires: [req('missing-a', '^1.0.0')] }),
      mod('b', { requires: [req('missing-b', '^2.0.0'), req('zone', '*', { scope: 'world-shard' })] }),
      mod('c', { requires: [req('optional-c', '*', { dependencyMode: 'optional' })] }),
      game('g', ['a', 'b', 'c', 'undefined-module']),
      world('w1', 'g'),
      world('w2', 'no-game'),
    ]),
  );
  const result = resolveAll(catalog);
  const all = [...diagnostics, ...result.diagnostics];
  const summary = all.map((d) => `${d.severity} ${d.reason ?? '-'} ${d.source} ${d.field ?? ''}`);
  expect(summary).toEqual(
    expect.arrayContaining([
      'error - ModuleManifest/bad-version spec.version',
      'error ModuleNotFound GameDefinition/g spec.modules[3].name',
      'error Unresolved ModuleManifest/a spec.requires[0]',
      'error Unresolved ModuleManifest/b spec.requires[0]',
      'error InvalidScope ModuleManifest/b spec.requires[1]',
      'warning OptionalUnresolved ModuleManifest/c spec.requires[0]',
      'error GameNotFound WorldInstance/w2 spec.gameRef.name',
    ]),
  );
  // The missing module shows on the game and in w1: one cause, so one diagnostic once grouped.
  expect(summary).toHaveLength(8);
  expect(groupByCause(all)).toHaveLength(7);
  expect(groupByCause(all).find((d) => d.reason === 'ModuleNotFound')?.worlds).toEqual(['games/w1']);
});

test('an action served by two modules of a world is an ambiguous route', () => {
  const plan = planOf(
    oneWorld(
      mod('gateway', { routesActions: true, requires: [req('combat'), req('archery')] }),
      mod('melee', { provides: [provides('combat', '1.0.0', ['attack', 'block'])] }),
      mod('ranged', { provides: [provides('archery', '1.0.0', ['attack', 'shoot'])] }),
    ),
  );
  expect(errorsOf(plan.diagnostics)).toEqual([expect.objectContaining({ reason: 'AmbiguousRoute' })]);
  const message = plan.diagnostics[0]!.message;
  expect(message).toContain('attack');
  expect(message).toContain('melee');
  expect(message).toContain('ranged');
  // The unambiguous actions still route.
  expect(plan.routes).toEqual(
    expect.arrayContaining([
      { action: 'block', module: 'melee', capabilityId: 'combat', port: { name: 'grpc', port: 50051, protocol: 'TCP' } },
      { action: 'shoot', module: 'ranged', capabilityId: 'archery', port: { name: 'grpc', port: 50051, protocol: 'TCP' } },
    ]),
  );
});

test('action routes: each action to the module that serves it, sorted by action', () => {
  const plan = planOf(
    oneWorld(
      mod('gateway', { routesActions: true, requires: [req('mechanic', '*', { multiplicity: 'many' })] }),
      mod('spells', { provides: [provides('mechanic', '1.0.0', ['cast'])] }),
      mod('movement', { provides: [provides('mechanic', '1.0.0', ['move', 'dash'])] }),
    ),
  );
  expect(plan.routes).toEqual([
    { action: 'cast', module: 'spells', capabilityId: 'mechanic', port: { name: 'grpc', port: 50051, protocol: 'TCP' } },
    { action: 'dash', module: 'movement', capabilityId: 'mechanic', port: { name: 'grpc', port: 50051, protocol: 'TCP' } },
    { action: 'move', module: 'movement', capabilityId: 'mechanic', port: { name: 'grpc', port: 50051, protocol: 'TCP' } },
  ]);
});

describe('routes agree with NetworkPolicies', () => {
  test('an action of a module the gateway is not bound to is an error, and gets no route', () => {
    const plan = planOf(oneWorld(mod('gateway', { routesActions: true }), mod('loot', { provides: [provides('loot', '1.0.0', ['pickup'])] })));
    expect(errorsOf(plan.diagnostics)).toEqual([
      expect.objectContaining({ reason: 'UnreachableAction', source: 'ModuleManifest/loot', field: 'spec.provides[0].actions', worlds: ['games/w1'] }),
    ]);
    expect(plan.diagnostics[0]!.message).toContain('gateway gateway is not bound to loot');
    expect(plan.diagnostics[0]!.message).toContain('make it require loot');
    expect(plan.routes).toEqual([]);
  });

  test('a route uses the first TCP port, never a UDP one; a module with only UDP ports cannot serve actions', () => {
    const udpFirst = planOf(
      oneWorld(
        mod('gateway', { routesActions: true, requires: [req('fx'), req('voice')] }),
        mod('fx', { ports: [{ name: 'rtp', port: 5004, protocol: 'UDP' }, { name: 'grpc', port: 50060, protocol: 'TCP' }], provides: [provides('fx', '1.0.0', ['emote'])] }),
        mod('voice', { ports: [{ name: 'rtp', port: 5006, protocol: 'UDP' }], provides: [provides('voice', '1.0.0', ['talk'])] }),
      ),
    );
    expect(udpFirst.routes).toEqual([{ action: 'emote', module: 'fx', capabilityId: 'fx', port: { name: 'grpc', port: 50060, protocol: 'TCP' } }]);
    expect(errorsOf(udpFirst.diagnostics)).toEqual([expect.objectContaining({ reason: 'UnreachableAction', source: 'ModuleManifest/voice' })]);
    expect(udpFirst.diagnostics[0]!.message).toContain('need a TCP port');
  });
});

describe('messages that teach', () => {
  test('a provider without ports is an error naming it and its consumers', () => {
    const plan = planOf(oneWorld(mod('gateway', { requires: [req('physics')] }), mod('engine', { ports: [], provides: [provides('physics')] })));
    expect(errorsOf(plan.diagnostics)).toEqual([expect.objectContaining({ reason: 'ProviderWithoutPorts', source: 'ModuleManifest/engine', field: 'spec.ports' })]);
    expect(plan.diagnostics[0]!.message).toContain('gateway (physics)');
  });

  test('a module that exists but is not listed by the game: said so, with the fix', () => {
    const catalog = catalogOf([
      mod('gateway', { requires: [req('physics')] }),
      mod('engine', { provides: [provides('physics')] }),
      game('g', ['gateway']),
      world('w1', 'g'),
    ]);
    const plan = resolveWorld(catalog, catalog.worlds[0] as WorldInstance);
    expect(plan.diagnostics[0]!.message).toContain('engine provides it but is not listed by game g: add it to GameDefinition g spec.modules');
  });

  test('near misses get "did you mean": capability ids, module names, game names', () => {
    const { catalog, diagnostics } = buildCatalog(
      sourced([
        mod('gateway', { requires: [req('phyiscs')] }),
        mod('physics-engine', { provides: [provides('physics')] }),
        game('g', ['gateway', 'physics-engien']),
        world('w1', 'g'),
        world('w2', 'gg'),
      ]),
    );
    const text = groupByCause([...diagnostics, ...resolveAll(catalog).diagnostics]).map(formatDiagnostic).join('\n');
    expect(text).toContain('module physics-engien is not defined (no ModuleManifest named physics-engien) (did you mean physics-engine?)');
    expect(text).toContain('no module provides it (did you mean physics?)');
    expect(text).toContain('game gg is not defined (no GameDefinition named gg) (did you mean g?)');
  });

  test('one cause, one line: the same problem in three worlds names the three worlds', () => {
    const { catalog, diagnostics } = buildCatalog(
      sourced([mod('gateway', { requires: [req('physics', '^2.0.0')] }), game('g', ['gateway']), world('a', 'g'), world('b', 'g'), world('c', 'g')]),
    );
    const grouped = groupByCause([...diagnostics, ...resolveAll(catalog).diagnostics]);
    expect(grouped).toHaveLength(1);
    expect(formatDiagnostic(grouped[0]!)).toMatch(/^error: ModuleManifest\/gateway spec\.requires\[0\]: module gateway requires physics .* \(in worlds games\/a, games\/b, games\/c\)$/);
  });

  test('an invalid name in a game does not cascade into "game is not defined"', () => {
    const { catalog, diagnostics } = buildCatalog(sourced([mod('gateway'), game('g', ['gateway', 'Bad_Name']), world('w1', 'g'), world('w2', 'g')]));
    const all = groupByCause([...diagnostics, ...resolveAll(catalog).diagnostics]);
    const text = all.map(formatDiagnostic).join('\n');
    expect(text).not.toContain('is not defined');
    expect(all.find((d) => d.reason === 'GameInvalid')).toEqual(expect.objectContaining({ source: 'GameDefinition/g', worlds: ['games/w1', 'games/w2'] }));
  });
});

test('the world namespace defaults to default when the object has none', () => {
  const w = world('w1', 'g');
  delete (w.metadata as { namespace?: string }).namespace;
  const catalog = catalogOf([mod('m'), game('g', ['m']), w]);
  const plan = resolveWorld(catalog, catalog.worlds[0] as WorldInstance);
  expect(plan.bindings.map((b) => b.namespace)).toEqual(['default']);
});
