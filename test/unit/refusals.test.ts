/**
 * Synth says no (issue 18): designs that every object passes on its own but that would fail
 * at apply or at run time are refused at synth with one message naming the objects and the
 * fix: a fixed nodePort asked for twice (a pool counts as many worlds), ReadWriteOnce storage
 * shared by replicas, a dependency cycle, a world without a root module. A region used once
 * next to a near miss is a warning.
 */
import { describe, expect, test } from '@jest/globals';
import type { Construct } from 'constructs';
import { AnvilApp, AnvilInputError, Game, Module, Testing, World, WorldPool, type ModuleProps } from '../../lib/index.js';
import { findCycles } from '../../lib/resolve/design.js';

const base = (name: string, extra: Partial<ModuleProps> = {}): ModuleProps => ({
  version: '1.0.0',
  image: `registry.example/${name}:1`,
  ports: [{ name: 'grpc', port: 50051, protocol: 'TCP' }],
  ...extra,
});

/** A gateway exposed on a fixed node port, and the rules module it routes to. */
function exposedGame(scope: Construct, nodePort: number | undefined = 30700): Game {
  const gw = new Module(scope, 'gw', base('gw', {
    ports: [{ name: 'ws', port: 7000, protocol: 'TCP', expose: { type: 'NodePort', ...(nodePort ? { nodePort } : {}) } }],
    requires: [{ capabilityId: 'rules', versionConstraint: '^1.0.0', scope: 'world' }],
  }));
  const rules = new Module(scope, 'rules', base('rules', { provides: [{ capabilityId: 'rules', version: '1.0.0' }] }));
  return new Game(scope, 'arena', { modules: [gw, rules] });
}

const messages = (out: ReturnType<typeof Testing.synthGame>, reason: string): string[] => out.errors.filter((d) => d.reason === reason).map((d) => d.message);

describe('a fixed nodePort asked for twice', () => {
  test('two worlds: one error naming both worlds and the module, and the fix', () => {
    const out = Testing.synthGame((scope) => {
      const game = exposedGame(scope);
      new World(scope, 'a1', { game, namespace: 'arena' });
      new World(scope, 'a2', { game, namespace: 'arena' });
    });
    expect(out.ok).toBe(false);
    const [message, ...more] = messages(out, 'NodePortReused');
    expect(more).toEqual([]);
    expect(message).toContain('nodePort 30700');
    expect(message).toContain('world arena/a1: module gw');
    expect(message).toContain('world arena/a2: module gw');
    expect(message).toMatch(/Leave nodePort out/);
    expect(out.errors.find((d) => d.reason === 'NodePortReused')!.field).toBe('ports[0].expose.nodePort');
  });

  test('a pool alone has many worlds: an error naming the pool', () => {
    const out = Testing.synthGame((scope) => {
      new WorldPool(scope, 'arena-pool', { game: exposedGame(scope), namespace: 'arena', buffer: 2 });
    });
    const [message] = messages(out, 'NodePortReused');
    expect(message).toContain('pool arena/arena-pool (a pool has many worlds): module gw');
  });

  test('two modules of two games asking for one port are named both', () => {
    const out = Testing.synthGame((scope) => {
      new World(scope, 'a1', { game: exposedGame(scope), namespace: 'arena' });
      const lobby = new Module(scope, 'lobby', base('lobby', { ports: [{ name: 'http', port: 80, protocol: 'TCP', expose: { type: 'NodePort', nodePort: 30700 } }] }));
      new World(scope, 'l1', { game: new Game(scope, 'lobby', { modules: [lobby] }), namespace: 'lobby' });
    });
    const [message] = messages(out, 'NodePortReused');
    expect(message).toContain('world arena/a1: module gw');
    expect(message).toContain('world lobby/l1: module lobby');
  });

  test('one world, or no fixed port, is fine', () => {
    const one = Testing.synthGame((scope) => void new World(scope, 'a1', { game: exposedGame(scope), namespace: 'arena' }));
    expect(one.errors).toEqual([]);
  });

  test('synth exits with AnvilInputError and writes nothing', () => {
    const app = new AnvilApp({ outdir: '/nonexistent/never-written' });
    const game = exposedGame(app.definitions);
    new World(app.definitions, 'a1', { game, namespace: 'arena' });
    new World(app.definitions, 'a2', { game, namespace: 'arena' });
    expect(() => app.synth()).toThrow(AnvilInputError);
    expect(() => app.synth()).toThrow(/nodePort 30700 is asked for by/);
  });
});

describe('storage shared by replicas', () => {
  const define = (storage: ModuleProps['storage'], replicas: number) => (scope: Construct) => {
    const db = new Module(scope, 'db', base('db', { replicas, storage }));
    new World(scope, 'w', { game: new Game(scope, 'g', { modules: [db] }), namespace: 'g' });
  };

  test('replicas > 1 with a ReadWriteOnce claim is an error naming the fix', () => {
    const out = Testing.synthGame(define({ size: '1Gi', mountPath: '/data' }, 3));
    const d = out.errors.find((e) => e.reason === 'SharedStorage')!;
    expect(d.field).toBe('replicas');
    expect(d.message).toContain('3 replicas share one storage claim, which is ReadWriteOnce');
    expect(d.message).toContain('accessMode: ReadWriteMany');
  });

  test('ReadWriteMany is allowed and rendered on the claim', () => {
    const out = Testing.synthGame(define({ size: '1Gi', mountPath: '/data', accessMode: 'ReadWriteMany' }, 3));
    expect(out.errors).toEqual([]);
    const claim = Testing.ofKind(out.worlds['g/w']!, 'PersistentVolumeClaim')[0]!;
    expect(claim.spec.accessModes).toEqual(['ReadWriteMany']);
  });

  test('one replica keeps ReadWriteOnce', () => {
    const out = Testing.synthGame(define({ size: '1Gi', mountPath: '/data' }, 1));
    expect(out.errors).toEqual([]);
    expect(Testing.ofKind(out.worlds['g/w']!, 'PersistentVolumeClaim')[0]!.spec.accessModes).toEqual(['ReadWriteOnce']);
  });
});

describe('dependency cycles and root modules', () => {
  test('findCycles gives each cycle once, from its smallest name', () => {
    const edges: Record<string, string[]> = { a: ['b'], b: ['c'], c: ['a'], d: ['d'], e: ['a'] };
    expect(findCycles(Object.keys(edges), (n) => edges[n] ?? [])).toEqual([['a', 'b', 'c', 'a'], ['d', 'd']]);
  });

  test('race-engine ↔ physics: an error naming the cycle as a path', () => {
    const out = Testing.synthGame((scope) => {
      const gw = new Module(scope, 'gateway', base('gateway', { requires: [{ capabilityId: 'race', versionConstraint: '^1.0.0', scope: 'world' }] }));
      const race = new Module(scope, 'race-engine', base('race-engine', {
        provides: [{ capabilityId: 'race', version: '1.0.0' }],
        requires: [{ capabilityId: 'physics', versionConstraint: '^1.0.0', scope: 'world' }],
      }));
      const physics = new Module(scope, 'physics', base('physics', {
        provides: [{ capabilityId: 'physics', version: '1.0.0' }],
        requires: [{ capabilityId: 'race', versionConstraint: '^1.0.0', scope: 'world' }],
      }));
      new World(scope, 'r1', { game: new Game(scope, 'racing', { modules: [gw, race, physics] }), namespace: 'racing' });
    });
    const cycles = out.errors.filter((d) => d.reason === 'DependencyCycle');
    expect(cycles).toHaveLength(1);
    expect(cycles[0]!.message).toContain('dependency cycle physics → race-engine → physics');
    expect(cycles[0]!.source).toMatch(/^ModuleManifest\/physics/);
    expect(cycles[0]!.worlds).toEqual(['racing/r1']);
    // The gateway is still a root: no second error.
    expect(out.errors.filter((d) => d.reason === 'NoRootModule')).toEqual([]);
  });

  test('a cycle through the gateway leaves no root: one error that says both', () => {
    const out = Testing.synthGame((scope) => {
      const gw = new Module(scope, 'gateway', base('gateway', {
        provides: [{ capabilityId: 'lobby', version: '1.0.0' }],
        requires: [{ capabilityId: 'rules', versionConstraint: '^1.0.0', scope: 'world' }],
      }));
      const rules = new Module(scope, 'rules', base('rules', {
        provides: [{ capabilityId: 'rules', version: '1.0.0' }],
        requires: [{ capabilityId: 'lobby', versionConstraint: '^1.0.0', scope: 'world' }],
      }));
      new World(scope, 'w', { game: new Game(scope, 'g', { modules: [gw, rules] }), namespace: 'g' });
    });
    expect(out.errors.map((d) => d.reason)).toEqual(['DependencyCycle']);
    expect(out.errors[0]!.message).toContain('gateway → rules → gateway');
    expect(out.errors[0]!.message).toContain('game g has no root module');
  });

  test('no root without a required cycle (an optional back edge): NoRootModule on the game', () => {
    const out = Testing.synthGame((scope) => {
      const gw = new Module(scope, 'gateway', base('gateway', {
        provides: [{ capabilityId: 'lobby', version: '1.0.0' }],
        requires: [{ capabilityId: 'rules', versionConstraint: '^1.0.0', scope: 'world' }],
      }));
      const rules = new Module(scope, 'rules', base('rules', {
        provides: [{ capabilityId: 'rules', version: '1.0.0' }],
        requires: [{ capabilityId: 'lobby', versionConstraint: '^1.0.0', scope: 'world', dependencyMode: 'optional' }],
      }));
      new World(scope, 'w', { game: new Game(scope, 'g', { modules: [gw, rules] }), namespace: 'g' });
    });
    expect(out.errors.map((d) => d.reason)).toEqual(['NoRootModule']);
    expect(out.errors[0]!.source).toMatch(/^GameDefinition\/g/);
    expect(out.errors[0]!.message).toContain('game g has no root module');
    expect(out.errors[0]!.message).toContain('gateway serves rules');
  });
});

describe('a region used once, next to a near miss', () => {
  test('a warning with did-you-mean, and synth still succeeds', () => {
    const out = Testing.synthGame((scope) => {
      const game = exposedGame(scope, 0);
      new World(scope, 'e1', { game, namespace: 'arena', region: 'us-east' });
      new World(scope, 'e2', { game, namespace: 'arena', region: 'us-east' });
      new World(scope, 'e3', { game, namespace: 'arena', region: 'us-eats' });
    });
    expect(out.errors).toEqual([]);
    const [w, ...more] = out.warnings.filter((d) => d.reason === 'RegionUsedOnce');
    expect(more).toEqual([]);
    expect(w!.message).toContain('region us-eats is used by world arena/e3 only (did you mean us-east?)');
    expect(w!.field).toBe('region');
  });

  test('distinct regions used once each are not flagged', () => {
    const out = Testing.synthGame((scope) => {
      const game = exposedGame(scope, 0);
      new World(scope, 'e1', { game, namespace: 'arena', region: 'eu-west' });
      new World(scope, 'e2', { game, namespace: 'arena', region: 'ap-south' });
    });
    expect(out.diagnostics).toEqual([]);
  });
});

describe('typos in props are errors at run time, at the props path and the line that made them', () => {
  // `as never`: what JavaScript, or main.ts under tsx (no type check), lets through.
  const typos = () =>
    Testing.synthGame((scope) => {
      const game = exposedGame(scope, 0);
      new World(scope, 'w1', { game, namespace: 'arena', regoin: 'eu-west' } as never);
      new WorldPool(scope, 'p', { game, namespace: 'arena', bufer: 3 } as never);
      new WorldPool(scope, 'q', { game, namespace: 'arena', buffer: '10%' } as never);
      new Game(scope, 'other', { modules: [game.gameName === 'arena' ? 'gw' : 'rules'], boklets: [] } as never);
    });

  test('World, WorldPool and Game: did-you-mean, the props path, and this file and line', () => {
    const out = typos();
    const line = (d: { source: string; field?: string; message: string }) => `${d.source.replace(/:\d+\)$/, ':N)')} ${d.field}: ${d.message.split(';')[0]}`;
    expect(out.errors.map(line)).toEqual([
      'WorldInstance/arena/w1 (test/unit/refusals.test.ts:N) regoin: unknown prop (did you mean region?)',
      'WorldPool/arena/p (test/unit/refusals.test.ts:N) bufer: unknown prop (did you mean buffer?)',
      'WorldPool/arena/q (test/unit/refusals.test.ts:N) buffer: "10%" is not a count: buffer is the number of ready worlds to keep, such as 3 (a percentage would follow the pool\'s size, which follows its claims)',
      'GameDefinition/other (test/unit/refusals.test.ts:N) boklets: unknown prop (did you mean booklets?)',
    ]);
  });

  test('AnvilApp and its settings', () => {
    const out = Testing.synthGame(() => {}, { reconcilerImag: 'x', settings: { initImag: 'y' } } as never);
    expect(out.errors.map((d) => `${d.field}: ${d.message.split(';')[0]}`)).toEqual([
      'reconcilerImag: unknown prop (did you mean reconcilerImage?)',
      'settings.initImag: unknown prop (did you mean initImage?)',
    ]);
  });

  test('Module: the props path without spec., one message per typo, the regex in words', () => {
    const out = Testing.synthGame((scope) => {
      const m = new Module(scope, 'db', base('db', {
        requires: [{ capabilityID: 'x', versionConstraint: '^1.0.0', scope: 'world', dependencyMode: 'optional' } as never],
        storage: { size: '1gb', mountPath: '/data' },
      }));
      new World(scope, 'w', { game: new Game(scope, 'g', { modules: [m] }), namespace: 'g' });
    });
    expect(out.errors.filter((d) => d.source.startsWith('ModuleManifest/db')).map((d) => `${d.field}: ${d.message.split(';')[0]}`)).toEqual([
      'requires[0].capabilityID: unknown field (did you mean capabilityId?)',
      'storage.size: must be a quantity such as 512Mi or 2Gi (a number, then optionally Ki, Mi, Gi, Ti, Pi, Ei or k, M, G, T, P, E)',
    ]);
  });
});

describe('no cascades: an invalid module is reported once', () => {
  test('a module that requires what an invalid module provides is not told "no module provides it"', () => {
    const out = Testing.synthGame((scope) => {
      const gw = new Module(scope, 'gateway', base('gateway', { requires: [{ capabilityId: 'race', versionConstraint: '^1.0.0', scope: 'world' }] }));
      const race = new Module(scope, 'race-engine', base('race-engine', { provides: [{ capabilityId: 'race', version: '1.0.0' }], replica: 2 } as never));
      const game = new Game(scope, 'racing', { modules: [gw, race] });
      new World(scope, 'r1', { game, namespace: 'racing' });
      new World(scope, 'r2', { game, namespace: 'racing' });
    });
    expect(out.errors.map((d) => `${d.source.split(' ')[0]} ${d.field}: ${d.message.split(';')[0]}`)).toEqual([
      'ModuleManifest/race-engine replica: unknown field (did you mean replicas?)',
      'GameDefinition/racing modules[1]: depends on invalid module race-engine (its own errors are listed with ModuleManifest/race-engine)',
    ]);
  });
});
