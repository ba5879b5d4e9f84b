/**
 * Generated names never collide (issue 8, item 6): tuples whose plain `-` join is the same
 * get different names, across all worlds of a namespace, for every kind synth writes; and
 * the defence in depth (lib/names/collisions.ts) reports a collision naming both sides.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { AnvilApp } from '../../lib/app.js';
import { nameCollisions } from '../../lib/names/collisions.js';
import { Game, Module, World } from '../../lib/definitions.js';
import { formatDiagnostic } from '../../lib/diagnostics/diagnostics.js';
import { tupleName } from '../../lib/names/names.js';
import { resolveAll } from '../../lib/resolve/resolve.js';
import { catalogOf, game, mod, provides, req, world } from './fixtures.js';

let scratch: string;
beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), 'anvil-names-'));
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** Every object in a synthesized folder, as `kind namespace/name`. */
function objectKeys(dir: string): string[] {
  return readdirSync(dir).flatMap((f) =>
    parseAllDocuments(readFileSync(join(dir, f), 'utf8')).map((d) => {
      const o = d.toJS() as { kind: string; metadata: { name: string; namespace?: string } };
      return `${o.kind} ${o.metadata.namespace ?? ''}/${o.metadata.name}`;
    }),
  );
}

describe('names that a plain join would confuse', () => {
  // Every pair the issue lists, in one namespace: worlds w-a/w, consumers b/a-b; modules
  // match-maker+queue vs match+maker-queue; a module root-x vs the root binding of x; a
  // module m-s0 vs the shard 0 of a world-shard module m.
  const objects = [
    mod('b', { requires: [req('cap')] }),
    mod('a-b', { requires: [req('cap')] }),
    mod('p', { provides: [provides('cap')] }),
    mod('match-maker', { requires: [req('queue')] }),
    mod('maker-queue', { provides: [provides('queue')] }),
    mod('match', { requires: [req('maker-queue')] }),
    mod('queue', { provides: [provides('queue'), provides('maker-queue')] }),
    mod('root-x', { requires: [req('x')] }),
    mod('x', { provides: [provides('x')] }),
    mod('m', { scope: 'world-shard', ports: [{ name: 'p', port: 1 }] }),
    mod('m-s0', { ports: [{ name: 'p', port: 1 }] }),
    game('g1', ['b', 'p', 'match-maker', 'maker-queue', 'root-x', 'x', 'm']),
    game('g2', ['a-b', 'p', 'match', 'queue', 'm-s0']),
    world('w-a', 'g1', { namespace: 'games' }),
    world('w', 'g2', { namespace: 'games' }),
  ];

  test('the resolver gives every binding its own name, with no diagnostics', () => {
    const resolved = resolveAll(catalogOf(objects));
    expect(resolved.diagnostics).toEqual([]);
    const names = resolved.worlds.flatMap((w) => w.bindings.map((b) => b.name));
    expect(names.length).toBeGreaterThan(8);
    expect(new Set(names).size).toBe(names.length);
    // The plain joins really do collide: the input exercises the bug.
    const plain = resolved.worlds.flatMap((w) =>
      w.bindings.map((b) => [w.world.metadata.name, b.spec.consumer.name, b.spec.capabilityId, b.spec.provider.module].join('-')),
    );
    expect(new Set(plain).size).toBeLessThan(plain.length);
  });

  test('synth writes every object once: no two share kind, namespace and name', () => {
    const app = new AnvilApp({ outdir: join(scratch, 'dist'), reconcilerImage: false, onDiagnostic: () => {} });
    for (const o of objects) {
      if (o.kind === 'ModuleManifest') new Module(app.definitions, o.metadata.name, o.spec);
      if (o.kind === 'GameDefinition') new Game(app.definitions, o.metadata.name, { modules: o.spec.modules.map((m: { name: string }) => m.name) });
      if (o.kind === 'WorldInstance') new World(app.definitions, o.metadata.name, { game: o.spec.gameRef.name, namespace: o.metadata.namespace });
    }
    app.synth();
    const keys = objectKeys(join(scratch, 'dist'));
    // w-a: 7 modules (m has one shard); w: 5 modules
    expect(keys.filter((k) => k.startsWith('Deployment games/')).length).toBe(7 + 5);
    expect(keys.length - new Set(keys).size).toBe(0);
  });

  test('names are DNS labels of at most 63 characters, readable, and end in the hash of their tuple', () => {
    expect(tupleName('workload', ['w-a', 'b'])).toMatch(/^w-a-b-[0-9a-f]{8}$/);
    expect(tupleName('workload', ['w-a', 'b'])).not.toBe(tupleName('workload', ['w', 'a-b']));
    expect(tupleName('workload', ['w', 'm'])).not.toBe(tupleName('region-workload', ['w', 'm']));
    const long = tupleName('binding', ['w'.repeat(63), 'c'.repeat(63), 'x.y', 'p'.repeat(63)]);
    expect(long.length).toBeLessThanOrEqual(63);
    expect(long).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
    expect(tupleName('workload', ['1w', 'm'], { startWithLetter: true })).toMatch(/^x-1w-m-[0-9a-f]{8}$/);
  });
});

describe('collisions are reported, naming both sides (defence in depth)', () => {
  test('one kind, namespace and name generated twice is an error; other kinds or namespaces are not', () => {
    const ds = nameCollisions([
      { kind: 'CapabilityBinding', namespace: 'games', name: 'x', owner: 'world games/w1' },
      { kind: 'CapabilityBinding', namespace: 'other', name: 'x', owner: 'world other/w1' },
      { kind: 'ConfigMap', namespace: 'games', name: 'x', owner: 'world games/w2' },
      { kind: 'CapabilityBinding', namespace: 'games', name: 'x', owner: 'world games/w3' },
    ]);
    expect(ds.map(formatDiagnostic)).toEqual([
      'error: world games/w3 metadata.name: CapabilityBinding games/x would be generated for both world games/w1 and world games/w3: rename one of them',
    ]);
  });
});
