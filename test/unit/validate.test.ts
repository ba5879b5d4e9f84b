/**
 * Bad input is reported, all at once, by source, field and problem (issue 2, "Bad input"),
 * and good input gets the schema defaults the API server would give it.
 */
import { describe, expect, test } from '@jest/globals';
import { KINDS } from '../../lib/api/schema.js';
import { celRules } from '../../lib/api/structural.js';
import { validateObject } from '../../lib/api/validate.js';
import { resolveAll } from '../../lib/resolve/resolve.js';
import { ModuleManifestSpecSchema } from '../../lib/api/schema.js';
import { closest, editDistance } from '../../lib/diagnostics/suggest.js';
import { formatDiagnostic, type Diagnostic } from '../../lib/diagnostics/diagnostics.js';
import { buildCatalog } from '../../lib/resolve/catalog.js';
import { game, mod, provides, req, world } from './fixtures.js';

/** `field: message` of each problem, for compact assertions. */
const problems = (ds: readonly Diagnostic[]): string[] => ds.map((d) => `${d.field ?? ''}: ${d.message}`);

describe('validateObject', () => {
  test('a valid module has no problems, and every diagnostic names its source', () => {
    expect(validateObject(mod('ok', { provides: [provides('x', '1.2.3-rc.1+build.5')], requires: [req('y', '^1 || >=3.0.0-beta.0')] }), 'a.yaml#0')).toEqual([]);
    const [d] = validateObject(mod('bad', { version: '1.2' }), 'games/a.yaml#3');
    expect(d).toEqual({ severity: 'error', source: 'games/a.yaml#3', field: 'spec.version', message: 'must be a SemVer version like 1.2.3 (MAJOR.MINOR.PATCH)' });
    expect(formatDiagnostic(d!)).toBe('error: games/a.yaml#3 spec.version: must be a SemVer version like 1.2.3 (MAJOR.MINOR.PATCH)');
  });

  test('invalid SemVer versions, of the module and of a provided capability', () => {
    for (const version of ['1.2', 'v1.2.3', '01.2.3', '1.2.3.4', 'latest']) {
      expect(problems(validateObject(mod('m', { version }), 's'))).toEqual(['spec.version: must be a SemVer version like 1.2.3 (MAJOR.MINOR.PATCH)']);
    }
    expect(problems(validateObject(mod('m', { provides: [provides('x', '2.x')] }), 's'))).toEqual([
      'spec.provides[0].version: must be a SemVer version like 1.2.3 (MAJOR.MINOR.PATCH)',
    ]);
  });

  test('an invalid SemVer range', () => {
    expect(problems(validateObject(mod('m', { requires: [req('ok', '^1.0.0'), req('x', '>>1.0')] }), 's'))).toEqual([
      'spec.requires[1].versionConstraint: ">>1.0" is not a valid SemVer range',
    ]);
  });

  test('an unknown scope, of the module and of a requirement', () => {
    expect(problems(validateObject(mod('m', { scope: 'galaxy' as never }), 's'))).toEqual([
      'spec.scope: must be one of "cluster", "region", "world", "world-shard", "session"',
    ]);
    expect(problems(validateObject(mod('m', { requires: [req('x', '*', { scope: 'planet' as never })] }), 's'))).toEqual([
      'spec.requires[0].scope: must be one of "cluster", "region", "world", "world-shard", "session"',
    ]);
  });

  test('a multiplicity other than "1" or "many"', () => {
    for (const multiplicity of ['2', 'all']) {
      expect(problems(validateObject(mod('m', { requires: [req('x', '*', { multiplicity: multiplicity as never })] }), 's'))).toEqual([
        'spec.requires[0].multiplicity: must be one of "1", "many"',
      ]);
    }
    // YAML's unquoted `multiplicity: 1` is a number: reported, not coerced.
    expect(problems(validateObject(mod('m', { requires: [req('x', '*', { multiplicity: 1 as never })] }), 's'))).toEqual([
      'spec.requires[0].multiplicity: must be string',
      'spec.requires[0].multiplicity: must be one of "1", "many"',
    ]);
  });

  test('a missing image, and several problems of one object together', () => {
    const m = mod('m', { version: 'x', requires: [req('x', 'nope', { dependencyMode: 'maybe' as never })] });
    delete m.spec.image;
    expect(problems(validateObject(m, 's')).sort()).toEqual([
      'spec.image: is required',
      'spec.requires[0].dependencyMode: must be one of "required", "optional"',
      'spec.requires[0].versionConstraint: "nope" is not a valid SemVer range',
      'spec.version: must be a SemVer version like 1.2.3 (MAJOR.MINOR.PATCH)',
    ]);
  });

  test('bad names: not DNS-1123 labels, or too long', () => {
    for (const name of ['Gateway', 'my_module', '-lead', 'trail-', 'a'.repeat(64), '']) {
      expect(problems(validateObject(mod(name), 's'))).toEqual([
        `metadata.name: ${JSON.stringify(name)} must be a DNS-1123 label (lower case letters, digits and -, at most 63)`,
      ]);
    }
    expect(problems(validateObject(game('g', ['Bad_Name']), 's'))).toEqual(['spec.modules[0].name: must be a DNS label such as eu-west or physics-engine (lower-case letters, digits and -, starting and ending with a letter or digit)']);
  });

  test("the reserved capability 'root' cannot be required", () => {
    expect(problems(validateObject(mod('m', { requires: [req('root')] }), 's'))).toEqual([
      "spec.requires[0].capabilityId: capabilityId 'root' is reserved for root bindings",
    ]);
  });

  test('not an Anvil object', () => {
    expect(problems(validateObject('text', 's'))).toEqual([': is not a Kubernetes object (expected a mapping with apiVersion, kind, metadata, spec)']);
    expect(validateObject({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x' } }, 's')[0]).toEqual(
      expect.objectContaining({ field: 'kind', message: expect.stringContaining('v1/ConfigMap is not an Anvil kind') }),
    );
  });

  test('defaults are filled in place: scope world, multiplicity "1", dependencyMode required, and more', () => {
    const m = mod('m', { ports: [{ name: 'http', port: 80 }], requires: [req('x')] });
    expect(validateObject(m, 's')).toEqual([]);
    expect(m.spec.scope).toBe('world');
    expect(m.spec.replicas).toBe(1);
    expect(m.spec.routesActions).toBe(false);
    expect(m.spec.ports[0].protocol).toBe('TCP');
    expect(m.spec.requires[0]).toEqual({ capabilityId: 'x', versionConstraint: '*', scope: 'world', multiplicity: '1', dependencyMode: 'required' });

    const w = world('w', 'g');
    expect(validateObject(w, 's')).toEqual([]);
    expect(w.spec).toEqual({ gameRef: { name: 'g' }, region: 'default', shards: 1 });
  });

  test('given values are kept, not overwritten by defaults', () => {
    const m = mod('m', { scope: 'cluster', requires: [req('x', '*', { scope: 'cluster', multiplicity: 'many', dependencyMode: 'optional' })] });
    expect(validateObject(m, 's')).toEqual([]);
    expect(m.spec.scope).toBe('cluster');
    expect(m.spec.requires[0]).toEqual(expect.objectContaining({ multiplicity: 'many', dependencyMode: 'optional' }));
  });
});

describe('buildCatalog', () => {
  test('duplicate names across sources name both places', () => {
    const { catalog, diagnostics } = buildCatalog([
      { object: mod('gateway'), source: 'a.yaml#0' },
      { object: mod('gateway', { version: '2.0.0' }), source: 'b.yaml#1' },
      { object: game('g', ['gateway']), source: 'a.yaml#1' },
      { object: game('g', ['gateway']), source: 'c.yaml#0' },
      { object: world('w', 'g'), source: 'a.yaml#2' },
      { object: world('w', 'g'), source: 'd.yaml#0' },
      // same name in another namespace: a different world
      { object: world('w', 'g', { namespace: 'elsewhere' }), source: 'd.yaml#1' },
    ]);
    expect(diagnostics.map(formatDiagnostic)).toEqual([
      'error: b.yaml#1 metadata.name: duplicate ModuleManifest/gateway: already defined in a.yaml#0',
      'error: c.yaml#0 metadata.name: duplicate GameDefinition/g: already defined in a.yaml#1',
      'error: d.yaml#0 metadata.name: duplicate WorldInstance/games/w: already defined in a.yaml#2',
    ]);
    // The first definition wins and the others are left out.
    expect(catalog.modules.get('gateway')?.spec.version).toBe('1.0.0');
    expect(catalog.worlds.map((w) => `${w.metadata.namespace}/${w.metadata.name}`)).toEqual(['elsewhere/w', 'games/w']);
  });

  test('a booklet naming a module that is not in the game', () => {
    const { diagnostics } = buildCatalog([
      { object: mod('a'), source: 'm.yaml#0' },
      { object: mod('b'), source: 'm.yaml#1' },
      { object: game('g', ['a'], [{ name: 'pair', modules: ['a', 'b'], strategy: 'SameNode' }]), source: 'g.yaml#0' },
    ]);
    expect(diagnostics.map(formatDiagnostic)).toEqual([
      // The CRD's CEL rule, as the API server words it.
      'error: g.yaml#0 spec.booklets: every booklet module must be one of spec.modules',
    ]);
  });

  test('a booklet naming a global module', () => {
    const { diagnostics } = buildCatalog([
      { object: mod('a'), source: 'm.yaml#0' },
      { object: mod('bus', { scope: 'cluster' }), source: 'm.yaml#1' },
      { object: game('g', ['a', 'bus'], [{ name: 'pair', modules: ['a', 'bus'], strategy: 'SameZone' }]), source: 'g.yaml#0' },
    ]);
    expect(problems(diagnostics)).toEqual([
      'spec.booklets[0].modules[1]: booklet pair names bus, a cluster-scoped module: only per-world modules can be colocated',
    ]);
  });

  test('a module listed twice by a game, and a module that is not defined', () => {
    const { diagnostics } = buildCatalog([
      { object: mod('a'), source: 'm.yaml#0' },
      { object: game('g', ['a', 'a']), source: 'g.yaml#0' },
      { object: game('h', ['a', 'ghost']), source: 'g.yaml#1' },
    ]);
    expect(diagnostics.map(formatDiagnostic)).toEqual([
      // A list keyed by name: the API server refuses the duplicate, and so does Anvil, first.
      'error: g.yaml#0 spec.modules[1]: duplicate entry with name "a": already at spec.modules[0] (the list is keyed, its entries must be unique)',
      'error: g.yaml#1 spec.modules[1].name: module ghost is not defined (no ModuleManifest named ghost)',
    ]);
  });

  test('invalid objects are reported and left out; the valid ones stay; defaults apply', () => {
    const { catalog, diagnostics } = buildCatalog([
      { object: mod('good', { requires: [req('x')] }), source: 'm.yaml#0' },
      { object: mod('bad', { version: '1' }), source: 'm.yaml#1' },
      { object: mod('worse', { scope: 'nowhere' as never }), source: 'm.yaml#2' },
    ]);
    expect(diagnostics.map((d) => `${d.source} ${d.field}`)).toEqual(['m.yaml#1 spec.version', 'm.yaml#2 spec.scope']);
    expect([...catalog.modules.keys()]).toEqual(['good']);
    const good = catalog.modules.get('good')!;
    expect(good.spec.scope).toBe('world');
    expect(good.spec.requires![0]).toEqual(expect.objectContaining({ multiplicity: '1', dependencyMode: 'required' }));
  });

  test('CapabilityBindings read back are ignored, and worlds without a namespace get the default one', () => {
    const binding = {
      apiVersion: 'anvil.dev/v1alpha1',
      kind: 'CapabilityBinding',
      metadata: { name: 'b', namespace: 'games' },
      spec: { capabilityId: 'x', scope: 'cluster', multiplicity: '1', consumer: { kind: 'ModuleManifest', name: 'a' }, provider: { module: 'b', capabilityVersion: '1.0.0' } },
    };
    const w = world('w', 'g');
    delete w.metadata.namespace;
    const { catalog, diagnostics } = buildCatalog([{ object: binding, source: 'b.yaml#0' }, { object: w, source: 'w.yaml#0' }], { defaultNamespace: 'play' });
    expect(diagnostics).toEqual([]);
    expect(catalog.worlds.map((x) => x.metadata.namespace)).toEqual(['play']);
  });
});

describe('what the API server validates, Anvil validates first (issue 8, item 7)', () => {
  const dup = (field: string, key: string, first: string) =>
    `${field}: duplicate entry with ${key}: already at ${first} (the list is keyed, its entries must be unique)`;

  test('two requires or two provides of one capability: an error, and resolve never sees them', () => {
    const m = mod('m', { requires: [req('x'), req('y'), req('x', '^2')], provides: [provides('p'), provides('p', '2.0.0')] });
    expect(problems(validateObject(m, 's'))).toEqual([
      dup('spec.provides[1]', 'capabilityId "p"', 'spec.provides[0]'),
      dup('spec.requires[2]', 'capabilityId "x"', 'spec.requires[0]'),
    ]);
    const { catalog, diagnostics } = buildCatalog(sourcedOf([m, mod('x', { provides: [provides('x')] }), game('g', ['m', 'x']), world('w', 'g')]));
    // the two duplicates, and the game that lists the now invalid module m
    expect(errorCount(diagnostics)).toBe(3);
    expect(() => resolveAll(catalog)).not.toThrow();
  });

  test('two ports or two env entries with one name, and an action listed twice (a set)', () => {
    const m = mod('m', {
      ports: [{ name: 'grpc', port: 1 }, { name: 'grpc', port: 2 }],
      env: [{ name: 'A', value: '1' }, { name: 'B', value: '2' }, { name: 'A', value: '3' }],
      provides: [provides('p', '1.0.0', ['move', 'jump', 'move'])],
    });
    expect(problems(validateObject(m, 's'))).toEqual([
      dup('spec.ports[1]', 'name "grpc"', 'spec.ports[0]'),
      'spec.provides[0].actions[2]: duplicate value "move": already at spec.provides[0].actions[0] (the list is keyed, its entries must be unique)',
      dup('spec.env[2]', 'name "A"', 'spec.env[0]'),
    ]);
  });

  test('a WorldInstance namespace that is not a DNS label', () => {
    for (const namespace of ['Games', 'games_eu', 'a.b', 'x'.repeat(64)]) {
      expect(problems(validateObject(world('w', 'g', { namespace }), 's'))).toEqual([
        `metadata.namespace: ${JSON.stringify(namespace)} must be a DNS-1123 label (lower case letters, digits and -, at most 63)`,
      ]);
    }
  });

  test('capability ids that give one environment variable', () => {
    expect(problems(validateObject(mod('m', { requires: [req('game-mechanic'), req('game.mechanic')] }), 's'))).toEqual([
      'spec.requires[1].capabilityId: game.mechanic and game-mechanic (spec.requires[0]) both become the environment variable ANVIL_DEP_GAME_MECHANIC; rename one of them',
    ]);
  });

  test("the CapabilityBinding CRD's CEL rules", () => {
    const binding = (spec: Record<string, unknown>) => ({ apiVersion: 'anvil.dev/v1alpha1', kind: 'CapabilityBinding', metadata: { name: 'b', namespace: 'n' }, spec });
    const base = { capabilityId: 'root', scope: 'world', multiplicity: '1', consumer: { kind: 'WorldInstance', name: 'w' }, provider: { module: 'g', capabilityVersion: '1.0.0' } };
    expect(problems(validateObject(binding(base), 's'))).toEqual([
      'spec.worldRef: a binding whose consumer is a WorldInstance must have worldRef',
      'spec.worldRef: a binding of a per-world scope must have worldRef',
    ]);
    expect(problems(validateObject(binding({ ...base, capabilityId: 'x', worldRef: { name: 'w' } }), 's'))).toEqual([
      "spec.capabilityId: capabilityId 'root' is used exactly by bindings whose consumer is a WorldInstance",
    ]);
    expect(validateObject(binding({ ...base, worldRef: { name: 'w' } }), 's')).toEqual([]);
  });

  test('every CEL rule of every kind has its TypeScript check next to it (they cannot drift apart unnoticed)', () => {
    const rules = KINDS.flatMap((k) => celRules(k.spec as never, `${k.kind}.spec`));
    expect(rules.length).toBeGreaterThanOrEqual(6);
    expect(rules.filter((r) => typeof r.rule.check !== 'function').map((r) => `${r.path}: ${r.rule.rule}`)).toEqual([]);
  });
});

function sourcedOf(objects: Record<string, any>[]) {
  return objects.map((o, i) => ({ object: JSON.parse(JSON.stringify(o)) as unknown, source: `s#${i}` }));
}
const errorCount = (ds: readonly Diagnostic[]) => ds.filter((d) => d.severity === 'error').length;

describe('unknown fields are errors, with "did you mean"', () => {
  test('a misspelt field of a requirement, the spec and the object', () => {
    const m = mod('m', { requires: [{ ...req('x'), multiplicty: 'many' } as never] });
    (m.spec as Record<string, unknown>).replicsa = 2;
    (m as Record<string, unknown>).spc = {};
    const out = problems(validateObject(m, 's'));
    expect(out).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^spec\.requires\[0\]\.multiplicty: unknown field \(did you mean multiplicity\?\); known fields here: capabilityId, /),
        expect.stringMatching(/^spec\.replicsa: unknown field \(did you mean replicas\?\)/),
        expect.stringMatching(/^spc: unknown field \(did you mean spec\?\)/),
      ]),
    );
    expect(out).toHaveLength(3);
  });

  test('YAML `routeActions: true` is an error naming routesActions', () => {
    const m = mod('gw');
    (m.spec as Record<string, unknown>).routeActions = true;
    expect(problems(validateObject(m, 's'))).toEqual([expect.stringContaining('spec.routeActions: unknown field (did you mean routesActions?)')]);
  });

  test('free-form objects (affinity, tolerations, resources) stay open', () => {
    const m = mod('m', {
      resources: { requests: { cpu: '1', 'nvidia.com/gpu': 1 } },
      scheduling: { affinity: { nodeAffinity: { anything: true } }, tolerations: [{ key: 'k', operator: 'Exists', whatever: 1 }] },
    });
    expect(validateObject(m, 's')).toEqual([]);
  });

  test('the CRDs keep their schemas as the API server needs them: no additionalProperties: false', () => {
    expect(JSON.stringify(ModuleManifestSpecSchema)).not.toContain('"additionalProperties":false');
  });

  test('expose: a nodePort only for NodePort', () => {
    const m = mod('m', { ports: [{ name: 'rtp', port: 5004, protocol: 'UDP', expose: { type: 'LoadBalancer', nodePort: 30001 } }] });
    expect(problems(validateObject(m, 's'))).toEqual(['spec.ports[0].expose.nodePort: only a NodePort exposure has a nodePort (this one is LoadBalancer)']);
  });
});

describe('editDistance and closest', () => {
  test('a swap of neighbours is one edit; far names are not suggested', () => {
    expect(editDistance('multiplicty', 'multiplicity')).toBe(1);
    expect(editDistance('phyiscs', 'physics')).toBe(1);
    expect(editDistance('abc', 'abc')).toBe(0);
    expect(closest('scope', ['image', 'ports', 'scopes'])).toEqual(['scopes']);
    expect(closest('zzz', ['image', 'ports'])).toEqual([]);
  });
});
