/**
 * The synthesized app as a whole: dist/ is what a fresh synth writes, synth is deterministic,
 * a failed synth reports every problem and leaves the previous output alone, and the CRDs
 * come first and are ones an API server accepts.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, mkdirSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { AnvilApp } from '../../lib/app.js';
import { Game, Module, World, WorldPool } from '../../lib/definitions.js';
import { AnvilInputError } from '../../lib/diagnostics/diagnostics.js';
import { buildApp } from '../../games/index.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const DIST = join(ROOT, 'dist');

let scratch: string;
beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), 'anvil-synth-test-'));
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** Every file of a folder (flat, like dist/), by name. */
function readTree(dir: string): Map<string, Buffer> {
  return new Map(readdirSync(dir).sort().map((f) => [f, readFileSync(join(dir, f))]));
}
/** Names of files that differ between two trees, missing ones included. */
function differences(a: Map<string, Buffer>, b: Map<string, Buffer>): string[] {
  const names = [...new Set([...a.keys(), ...b.keys()])].sort();
  return names.filter((n) => !a.has(n) || !b.has(n) || !a.get(n)!.equals(b.get(n)!));
}
/** Synthesizes the real app (games/) into `outdir`. */
function synthGames(outdir: string): Map<string, Buffer> {
  buildApp({ outdir, onDiagnostic: () => {} }).synth();
  return readTree(outdir);
}

describe('the real app', () => {
  let fresh: Map<string, Buffer>;
  beforeAll(() => {
    fresh = synthGames(join(scratch, 'fresh'));
  });

  test('the committed dist/ is what a fresh synth writes, byte for byte', () => {
    const stale = differences(readTree(DIST), fresh);
    if (stale.length > 0) {
      throw new Error(`dist/ is out of date (${stale.join(', ')} differ from a fresh synth): run \`npm run synth\` and commit dist/.`);
    }
    expect(fresh.size).toBeGreaterThan(0);
  });

  test('synth is deterministic: two synths write identical bytes', () => {
    expect(differences(fresh, synthGames(join(scratch, 'again')))).toEqual([]);
  });

  test('files are ordered so that one `kubectl apply -f dist/` works: CRDs first, then namespaces (and the matchmaker Roles in them, and the module ClusterRoles worlds bind)', () => {
    const files = [...fresh.keys()];
    expect(files[0]).toBe('0000-crds.k8s.yaml');
    expect(files[1]).toBe('0001-namespaces.k8s.yaml');
    const kindsIn = (f: string): string[] => parseAllDocuments(fresh.get(f)!.toString()).map((d) => (d.toJS() as { kind: string }).kind);
    expect(new Set(kindsIn(files[0]!))).toEqual(new Set(['CustomResourceDefinition']));
    const second = kindsIn(files[1]!);
    expect(new Set(second)).toEqual(new Set(['Namespace', 'Role', 'ClusterRole']));
    // Every Namespace before the first Role that lives in it.
    expect(second.lastIndexOf('Namespace')).toBeLessThan(second.indexOf('Role'));
    for (const f of files.slice(1)) expect(kindsIn(f)).not.toContain('CustomResourceDefinition');
    for (const f of files.slice(2)) expect(kindsIn(f)).not.toContain('Namespace');
  });
});

describe('the CRDs in dist', () => {
  const crds = parseAllDocuments(readFileSync(join(DIST, '0000-crds.k8s.yaml'), 'utf8')).map((d) => d.toJS() as Record<string, any>);

  test('the six anvil.dev kinds', () => {
    expect(crds.map((c) => c.metadata.name)).toEqual([
      'modulemanifests.anvil.dev',
      'gamedefinitions.anvil.dev',
      'worldinstances.anvil.dev',
      'capabilitybindings.anvil.dev',
      'worldpools.anvil.dev',
      'worldclaims.anvil.dev',
    ]);
  });

  test('each has printer columns, short names, category anvil and a status subresource', () => {
    for (const crd of crds) {
      const [version] = crd.spec.versions;
      expect(crd.spec.versions).toHaveLength(1);
      expect(crd.spec.names.shortNames.length).toBeGreaterThan(0);
      expect(crd.spec.names.categories).toContain('anvil');
      // WorldPool alone scales (`kubectl scale worldpool`), on its buffer.
      expect(version.subresources).toEqual(
        crd.spec.names.kind === 'WorldPool'
          ? { status: {}, scale: { specReplicasPath: '.spec.buffer.ready', statusReplicasPath: '.status.ready', labelSelectorPath: '.status.selector' } }
          : { status: {} },
      );
      expect(version.additionalPrinterColumns.length).toBeGreaterThan(0);
    }
    const columns = Object.fromEntries(crds.map((c) => [c.spec.names.kind, c.spec.versions[0].additionalPrinterColumns.map((p: { name: string }) => p.name)]));
    expect(columns.CapabilityBinding).toEqual(expect.arrayContaining(['Capability', 'Scope', 'Provider', 'Consumer', 'World', 'Age']));
    expect(columns.WorldInstance).toEqual(expect.arrayContaining(['Game', 'Phase', 'Region', 'Claim', 'Age']));
    expect(columns.WorldPool).toEqual(['Game', 'Region', 'Ready', 'Claimed', 'Total', 'Age']);
    expect(columns.WorldClaim).toEqual(['Pool', 'Phase', 'World', 'Age']);
    const shortNames = Object.fromEntries(crds.map((c) => [c.spec.names.kind, c.spec.names.shortNames]));
    expect(shortNames.WorldPool).toEqual(['wp', 'pool']);
    expect(shortNames.WorldClaim).toEqual(['wc', 'claim']);
    expect(columns.ModuleManifest).toEqual(expect.arrayContaining(['Version', 'Scope']));
  });

  /**
   * Where a schema is not structural: a node without a type (and not int-or-string or
   * preserve-unknown-fields), or a junctor (anyOf, …) other than int-or-string's.
   */
  function structuralProblems(schema: Record<string, any>, path: string): string[] {
    const out: string[] = [];
    const typed = typeof schema.type === 'string' || schema['x-kubernetes-int-or-string'] === true || schema['x-kubernetes-preserve-unknown-fields'] === true;
    if (!typed) out.push(`${path} has no type`);
    for (const j of ['anyOf', 'oneOf', 'allOf', 'not']) {
      if (schema[j] !== undefined && !(j === 'anyOf' && schema['x-kubernetes-int-or-string'] === true)) out.push(`${path} uses ${j}`);
    }
    for (const [k, v] of Object.entries(schema.properties ?? {})) out.push(...structuralProblems(v as Record<string, any>, `${path}.${k}`));
    if (schema.items) out.push(...structuralProblems(schema.items, `${path}[]`));
    if (typeof schema.additionalProperties === 'object') out.push(...structuralProblems(schema.additionalProperties, `${path}{}`));
    return out;
  }

  test('the checker catches an untyped node', () => {
    expect(structuralProblems({ type: 'object', properties: { a: {}, b: { type: 'array', items: { oneOf: [] } } } }, 'x')).toEqual([
      'x.a has no type',
      'x.b[] has no type',
      'x.b[] uses oneOf',
    ]);
  });

  test('every schema node is structural', () => {
    for (const crd of crds) {
      const schema = crd.spec.versions[0].schema.openAPIV3Schema;
      expect({ crd: crd.metadata.name, problems: structuralProblems(schema, 'openAPIV3Schema') }).toEqual({ crd: crd.metadata.name, problems: [] });
    }
  });
});

describe('a failed synth', () => {
  /** An output folder that already holds a previous synth, with a marker. */
  function previousOutput(name: string): { outdir: string; before: Map<string, Buffer> } {
    const outdir = join(scratch, name, 'dist');
    mkdirSync(outdir, { recursive: true });
    writeFileSync(join(outdir, 'MARKER'), 'previous synth\n');
    writeFileSync(join(outdir, '0000-crds.k8s.yaml'), 'kind: Old\n');
    return { outdir, before: readTree(outdir) };
  }
  function synthError(app: AnvilApp): AnvilInputError {
    try {
      app.synth();
    } catch (e) {
      if (e instanceof AnvilInputError) return e;
      throw e;
    }
    throw new Error('synth succeeded, but it should have failed');
  }

  test('a world whose game is missing: AnvilInputError, and the previous output is untouched', () => {
    const { outdir, before } = previousOutput('missing-game');
    const app = new AnvilApp({ outdir, onDiagnostic: () => {} });
    new Module(app.definitions, 'solo', { version: '1.0.0', image: 'registry.example/solo:1' });
    new Game(app.definitions, 'real', { modules: ['solo'] });
    new World(app.definitions, 'lost', { game: 'no-such-game', namespace: 'games' });
    const e = synthError(app);
    expect(e.diagnostics.filter((d) => d.severity === 'error')).toEqual([
      expect.objectContaining({ reason: 'GameNotFound', field: 'spec.gameRef.name', source: expect.stringContaining('WorldInstance/lost') }),
    ]);
    expect(e.message).toContain('no-such-game');
    expect(differences(before, readTree(outdir))).toEqual([]);
    // and nothing is left beside it (no staging or backup folders)
    expect(readdirSync(dirname(outdir))).toEqual(['dist']);
  });

  test('several errors: all listed in one AnvilInputError, the previous output untouched', () => {
    const { outdir, before } = previousOutput('many-errors');
    const app = new AnvilApp({ outdir, onDiagnostic: () => {} });
    const d = app.definitions;
    new Module(d, 'bad-version', { version: '1.0', image: 'registry.example/a:1' });
    new Module(d, 'needy', {
      version: '1.0.0',
      image: 'registry.example/b:1',
      requires: [{ capabilityId: 'physics', versionConstraint: '^9.0.0', scope: 'world' }],
    });
    new Module(d, 'bad-range', {
      version: '1.0.0',
      image: 'registry.example/c:1',
      requires: [{ capabilityId: 'x', versionConstraint: 'not a range', scope: 'world' }],
    });
    new Game(d, 'g', { modules: ['needy', 'ghost'] });
    new World(d, 'w1', { game: 'g', namespace: 'games' });
    new World(d, 'w2', { game: 'missing', namespace: 'games' });
    const e = synthError(app);
    const lines = e.message.split('\n');
    expect(lines[0]).toBe(`${e.diagnostics.filter((x) => x.severity === 'error').length} error(s) in Anvil input:`);
    const reported = e.diagnostics.map((x) => `${x.reason ?? '-'} ${x.field}`);
    expect(reported).toEqual(
      expect.arrayContaining([
        '- spec.version',
        '- spec.requires[0].versionConstraint',
        'ModuleNotFound spec.modules[1].name',
        'Unresolved spec.requires[0]',
        'GameNotFound spec.gameRef.name',
      ]),
    );
    // Every error is in the message, one line each.
    expect(lines).toHaveLength(1 + e.diagnostics.filter((x) => x.severity === 'error').length);
    for (const needle of ['bad-version', 'not a range', 'ghost', 'needy', '^9.0.0', 'missing']) expect(e.message).toContain(needle);
    expect(differences(before, readTree(outdir))).toEqual([]);
    expect(readdirSync(dirname(outdir))).toEqual(['dist']);
  });

  test('a pool of an unknown game and a pool with bad sizes: every error names its pool, the previous output untouched', () => {
    const { outdir, before } = previousOutput('bad-pools');
    const app = new AnvilApp({ outdir, onDiagnostic: () => {} });
    new Module(app.definitions, 'solo', { version: '1.0.0', image: 'registry.example/solo:1' });
    const real = new Game(app.definitions, 'real', { modules: ['solo'] });
    new WorldPool(app.definitions, 'nowhere', { game: 'no-such-game', namespace: 'games' });
    new WorldPool(app.definitions, 'lopsided', { game: real, namespace: 'games', buffer: -1, minWorlds: 5, maxWorlds: 2 });
    const e = synthError(app);
    expect(e.diagnostics.filter((d) => d.severity === 'error').map((d) => `${d.source.split(' ')[0]} ${d.field} ${d.reason ?? '-'}`)).toEqual([
      'WorldPool/games/nowhere spec.gameRef.name GameNotFound',
      'WorldPool/games/lopsided spec.buffer.ready -',
      'WorldPool/games/lopsided spec.minWorlds -',
    ]);
    expect(e.message).toContain('game no-such-game is not defined');
    expect(differences(before, readTree(outdir))).toEqual([]);
    expect(readdirSync(dirname(outdir))).toEqual(['dist']);

    // Fixed sizes but min > max: the CRD's CEL rule, reported at synth.
    const app2 = new AnvilApp({ outdir, onDiagnostic: () => {} });
    new Module(app2.definitions, 'solo', { version: '1.0.0', image: 'registry.example/solo:1' });
    new Game(app2.definitions, 'real', { modules: ['solo'] });
    new WorldPool(app2.definitions, 'lopsided', { game: 'real', namespace: 'games', minWorlds: 5, maxWorlds: 2 });
    expect(synthError(app2).diagnostics.map((d) => `${d.source.split(' ')[0]} ${d.field}: ${d.message}`)).toEqual(['WorldPool/games/lopsided spec.minWorlds: minWorlds must not exceed maxWorlds']);
    expect(differences(before, readTree(outdir))).toEqual([]);
  });

  test('a pool synthesizes into dist with its namespace (restricted) and the matchmaker Role', () => {
    const outdir = join(scratch, 'pool', 'dist');
    const seen: string[] = [];
    const app = new AnvilApp({ outdir, reconcilerImage: false, onDiagnostic: (x) => seen.push(`${x.severity} ${x.field}`) });
    new Module(app.definitions, 'solo', { version: '1.0.0', image: 'registry.example/solo:1' });
    const g = new Game(app.definitions, 'real', { modules: ['solo'] });
    new WorldPool(app.definitions, 'warm', { game: g, namespace: 'lobby', region: 'eu-west', buffer: 30, maxWorlds: 10, worldLabels: { mode: 'ranked' } });
    app.synth();
    // A buffer the pool can never hold is worth a warning, not an error.
    expect(seen).toEqual(['warning spec.buffer.ready']);
    const docs = (f: string) => parseAllDocuments(readFileSync(join(outdir, f), 'utf8')).map((d) => d.toJS() as Record<string, any>);
    const pool = docs('0002-definitions.k8s.yaml').find((o) => o.kind === 'WorldPool');
    expect(pool).toEqual({
      apiVersion: 'anvil.dev/v1alpha1',
      kind: 'WorldPool',
      metadata: { name: 'warm', namespace: 'lobby', labels: { 'app.kubernetes.io/managed-by': 'anvil', 'app.kubernetes.io/part-of': 'anvil' } },
      spec: { gameRef: { name: 'real' }, region: 'eu-west', shards: 1, buffer: { ready: 30 }, minWorlds: 0, maxWorlds: 10, worldLabels: { mode: 'ranked' } },
    });
    const platform = docs('0001-namespaces.k8s.yaml');
    expect(platform.map((o) => `${o.kind} ${o.metadata.namespace ?? ''}/${o.metadata.name}`)).toEqual(['Namespace /anvil-system', 'Namespace /lobby', 'Role lobby/anvil-matchmaker']);
    expect(platform[1]!.metadata.labels['pod-security.kubernetes.io/enforce']).toBe('restricted');
  });

  test('warnings alone do not fail synth; they are reported', () => {
    const outdir = join(scratch, 'warnings', 'dist');
    const seen: string[] = [];
    const app = new AnvilApp({ outdir, reconcilerImage: false, onDiagnostic: (x) => seen.push(`${x.severity} ${x.reason}`) });
    new Module(app.definitions, 'm', {
      version: '1.0.0',
      image: 'registry.example/m:1',
      requires: [{ capabilityId: 'extra', versionConstraint: '*', scope: 'world', dependencyMode: 'optional' }],
    });
    new Game(app.definitions, 'g', { modules: ['m'] });
    new World(app.definitions, 'w', { game: 'g' });
    app.synth();
    expect(seen).toEqual(['warning OptionalUnresolved']);
    expect([...readTree(outdir).keys()]).toEqual([
      '0000-crds.k8s.yaml',
      '0001-namespaces.k8s.yaml',
      '0002-definitions.k8s.yaml',
      '0003-global-services.k8s.yaml',
      '0004-world-default-w.k8s.yaml',
    ]);
  });
});

describe('names that used to end in a raw constructs error (issue 8, item 8)', () => {
  /** A one-module game `g` and worlds `[namespace, name]`, plus what `extra` adds. */
  function appWith(name: string, worlds: [string, string][], extra: (app: AnvilApp) => void = () => {}): { app: AnvilApp; outdir: string } {
    const outdir = join(scratch, name, 'dist');
    const app = new AnvilApp({ outdir, reconcilerImage: false, onDiagnostic: () => {} });
    new Module(app.definitions, 'm', { version: '1.0.0', image: 'registry.example/m:1' });
    new Game(app.definitions, 'g', { modules: ['m'] });
    for (const [namespace, w] of worlds) new World(app.definitions, w, { game: 'g', namespace });
    extra(app);
    return { app, outdir };
  }
  const worldsIn = (outdir: string): string[][] =>
    [...readTree(outdir).entries()]
      .filter(([f]) => f.includes('-world-'))
      .map(([f, text]) => [f, ...new Set(parseAllDocuments(text.toString()).map((d) => (d.toJS() as { metadata: { namespace: string } }).metadata.namespace))]);

  test('one world name in two namespaces: both synthesized, each in its own file', () => {
    const { app, outdir } = appWith('same-name', [['games-a', 'w'], ['games-b', 'w']]);
    app.synth();
    expect(worldsIn(outdir)).toEqual([
      ['0004-world-games-a-w.k8s.yaml', 'games-a'],
      ['0005-world-games-b-w.k8s.yaml', 'games-b'],
    ]);
  });

  test('a module, a game and a world of one name', () => {
    const { app, outdir } = appWith('shared-name', [['games', 'm']], (a) => new Game(a.definitions, 'm', { modules: ['m'] }));
    app.synth();
    expect(worldsIn(outdir)).toEqual([['0004-world-games-m.k8s.yaml', 'games']]);
  });

  test('two worlds whose files would share a name (namespace a-b + world c, namespace a + world b-c)', () => {
    const { app, outdir } = appWith('file-names', [['a-b', 'c'], ['a', 'b-c']]);
    app.synth();
    const files = worldsIn(outdir);
    expect(files).toHaveLength(2);
    expect(new Set(files.map(([f]) => f.replace(/^\d+-/, ''))).size).toBe(2);
    expect(files.map(([, ns]) => ns).sort()).toEqual(['a', 'a-b']);
  });

  test('two definitions of one name: the duplicate is reported by name, not as a construct clash', () => {
    const { app } = appWith('duplicates', [['games', 'w'], ['games', 'w']], (a) => new Module(a.definitions, 'm', { version: '2.0.0', image: 'x' }));
    expect(() => app.synth()).toThrow(AnvilInputError);
    try {
      app.synth();
    } catch (e) {
      expect((e as Error).message).toMatch(/duplicate ModuleManifest\/m: already defined in ModuleManifest\/m/);
      expect((e as Error).message).toMatch(/duplicate WorldInstance\/games\/w/);
      expect((e as Error).message).not.toMatch(/There is already a Construct/);
    }
  });
});

describe('a failed `cdk8s synth` prints Anvil\'s message only (issue 8, item 8)', () => {
  /** A copy of the app (the real cdk8s.yaml and main.ts) with games/index.ts changed by `edit`. */
  function copyOfApp(name: string, edit: (index: string) => string): string {
    const dir = join(scratch, name);
    mkdirSync(dir, { recursive: true });
    for (const f of ['cdk8s.yaml', 'main.ts', 'package.json', 'tsconfig.json', 'lib', 'games', 'imports', 'dist']) {
      cpSync(join(ROOT, f), join(dir, f), { recursive: true });
    }
    symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
    writeFileSync(join(dir, 'games/index.ts'), edit(readFileSync(join(ROOT, 'games/index.ts'), 'utf8')));
    return dir;
  }
  const cdk8sSynth = (dir: string) =>
    spawnSync(process.execPath, [join(ROOT, 'node_modules/cdk8s-cli/bin/cdk8s'), 'synth', '--no-check-upgrade'], { cwd: dir, encoding: 'utf8', timeout: 120_000 });
  const addLine = (line: string) => (index: string) => index.replace('  return app;', `  ${line}\n  return app;`);

  test('bad input: every error, then "dist/ was left as it was", no stack trace; exit 1; dist/ untouched', () => {
    const dir = copyOfApp('cli-bad-input', addLine("new World(app.definitions, 'lost', { game: 'no-such-game', namespace: 'games' });"));
    writeFileSync(join(dir, 'games/index.ts'), `import { World } from '../lib/definitions.js';\n${readFileSync(join(dir, 'games/index.ts'), 'utf8')}`);
    const before = readTree(join(dir, 'dist'));
    const r = cdk8sSynth(dir);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('error(s) in Anvil input:');
    expect(r.stderr).toContain('game no-such-game is not defined');
    expect(r.stderr).toContain('dist/ was left as it was.');
    expect(r.stderr).not.toMatch(/^\s+at /m);
    expect(r.stderr).not.toMatch(/non-zero exit code/);
    expect(differences(before, readTree(join(dir, 'dist')))).toEqual([]);
  }, 180_000);

  test('an unexpected error: one short line, no stack trace; exit non-zero', () => {
    const dir = copyOfApp('cli-unexpected', addLine("throw new Error('boom in a game file');"));
    const r = cdk8sSynth(dir);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('error: synth failed unexpectedly: boom in a game file (set ANVIL_DEBUG=1 for its stack trace)');
    expect(r.stderr).not.toMatch(/^\s+at /m);
  }, 180_000);
});
