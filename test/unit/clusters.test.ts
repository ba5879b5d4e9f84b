/**
 * Synth per cluster (`AnvilApp({clusters})`): one folder per cluster holding what it runs,
 * the same definitions everywhere, and a world or pool no cluster serves as a synth error.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { AnvilApp } from '../../lib/app.js';
import { AnvilInputError } from '../../lib/diagnostics/diagnostics.js';
import { buildApp } from '../../games/index.js';
import { Game, Module, World, WorldPool } from '../../lib/definitions.js';

let scratch: string;
beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), 'anvil-clusters-test-'));
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

interface Obj {
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  spec?: { region?: string };
}
const CLUSTERS = { 'eu-1': { regions: ['eu-west'] }, 'ap-1': { regions: ['ap-south', 'us-east'] } };

function objectsIn(dir: string, file?: string): Obj[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.k8s.yaml') && (!file || f.includes(file)))
    .flatMap((f) => parseAllDocuments(readFileSync(join(dir, f), 'utf8')).map((d) => d.toJSON() as Obj));
}
const names = (objs: Obj[], kind: string): string[] => objs.filter((o) => o.kind === kind).map((o) => `${o.metadata.namespace ?? ''}/${o.metadata.name}`).sort();

describe('the example games on two clusters', () => {
  let outdir: string;
  beforeAll(() => {
    outdir = join(scratch, 'two', 'dist');
    buildApp({ outdir, onDiagnostic: () => {}, clusters: CLUSTERS }).synth();
  });

  test('dist/ holds one folder per cluster, each with the files of a single dist/ in the same order', () => {
    expect(readdirSync(outdir).sort()).toEqual(['ap-1', 'eu-1']);
    for (const c of ['eu-1', 'ap-1']) {
      const files = readdirSync(join(outdir, c)).sort();
      expect(files.slice(0, 5)).toEqual(['0000-crds.k8s.yaml', '0001-namespaces.k8s.yaml', '0002-definitions.k8s.yaml', '0003-reconciler.k8s.yaml', '0004-global-services.k8s.yaml']);
    }
  });

  test('each cluster runs the worlds and pools of its regions only', () => {
    const eu = objectsIn(join(outdir, 'eu-1'));
    const ap = objectsIn(join(outdir, 'ap-1'));
    expect(names(eu, 'WorldInstance')).toEqual(['battle-royale/br-eu-1', 'command-path/cp-eu-1', 'roguelike/crypt-1', 'roguelike/lobby']);
    expect(names(ap, 'WorldInstance')).toEqual(['battle-royale/br-ap-1', 'command-path/cp-us-1']);
    expect(names(eu, 'WorldPool')).toEqual(['command-path/cp-eu', 'roguelike/crypt']);
    expect(names(ap, 'WorldPool')).toEqual([]);
    for (const o of [...eu, ...ap].filter((x) => x.kind === 'WorldInstance' || x.kind === 'WorldPool')) {
      expect(CLUSTERS[eu.includes(o) ? 'eu-1' : 'ap-1'].regions).toContain(o.spec?.region);
    }
    // a world's own resources follow it
    expect(readdirSync(join(outdir, 'eu-1')).filter((f) => f.includes('world-'))).toEqual([
      '0005-world-battle-royale-br-eu-1.k8s.yaml',
      '0006-world-command-path-cp-eu-1.k8s.yaml',
      '0007-world-roguelike-crypt-1.k8s.yaml',
      '0008-world-roguelike-lobby.k8s.yaml',
    ]);
    // namespaces: the platform's and those of its own worlds and pools
    expect(names(eu, 'Namespace')).not.toContain('/command-path-nope');
    expect(names(ap, 'Namespace')).toEqual(['/anvil-system', '/battle-royale', '/command-path']);
  });

  test('regional services run only in the cluster serving their region', () => {
    const regionsOf = (c: string): string[] =>
      [...new Set(objectsIn(join(outdir, c), 'global-services').flatMap((o) => (o.metadata.labels?.['anvil.dev/region'] ? [o.metadata.labels['anvil.dev/region']] : [])))].sort();
    expect(regionsOf('eu-1')).toEqual(['eu-west']);
    expect(regionsOf('ap-1')).toEqual(['ap-south']);
  });

  test('definitions (modules, games), CRDs and the reconciler are identical across dist/*/', () => {
    const clusters = readdirSync(outdir);
    const shared = (c: string, file: string): string =>
      JSON.stringify(objectsIn(join(outdir, c), file).filter((o) => o.kind !== 'WorldInstance' && o.kind !== 'WorldPool'));
    for (const file of ['crds', 'definitions', 'reconciler']) {
      const first = shared(clusters[0]!, file);
      expect(first.length).toBeGreaterThan(100);
      for (const c of clusters.slice(1)) expect(shared(c, file)).toEqual(first);
    }
  });

  test('the cluster-wide services are in every cluster, byte for byte', () => {
    const clusterWide = (c: string): string => JSON.stringify(objectsIn(join(outdir, c), 'global-services').filter((o) => !o.metadata.labels?.['anvil.dev/region']));
    expect(clusterWide('eu-1')).toEqual(clusterWide('ap-1'));
  });

  test('deterministic: a second synth writes the same bytes', () => {
    const again = join(scratch, 'again', 'dist');
    buildApp({ outdir: again, onDiagnostic: () => {}, clusters: CLUSTERS }).synth();
    for (const c of ['eu-1', 'ap-1']) {
      for (const f of readdirSync(join(outdir, c))) expect(readFileSync(join(again, c, f)).equals(readFileSync(join(outdir, c, f)))).toBe(true);
    }
  });
});

describe('bad cluster input', () => {
  function synthError(app: AnvilApp): AnvilInputError {
    try {
      app.synth();
    } catch (e) {
      if (e instanceof AnvilInputError) return e;
      throw e;
    }
    throw new Error('synth succeeded, but it should have failed');
  }
  function smallApp(name: string, clusters: ConstructorParameters<typeof AnvilApp>[0] extends infer P ? (P extends { clusters?: infer C } ? C : never) : never): { app: AnvilApp; outdir: string } {
    const outdir = join(scratch, name, 'dist');
    const app = new AnvilApp({ outdir, reconcilerImage: false, onDiagnostic: () => {}, clusters });
    new Module(app.definitions, 'solo', { version: '1.0.0', image: 'registry.example/solo:1' });
    const game = new Game(app.definitions, 'g', { modules: ['solo'] });
    new World(app.definitions, 'w-eu', { game, namespace: 'games', region: 'eu-west' });
    new World(app.definitions, 'w-typo', { game, namespace: 'games', region: 'eu-wset' });
    new WorldPool(app.definitions, 'p-mars', { game, namespace: 'games', region: 'mars' });
    return { app, outdir };
  }

  test('a world or pool in a region no cluster serves: one error each, naming it, with did-you-mean; nothing written', () => {
    const { app, outdir } = smallApp('unserved', { 'eu-1': { regions: ['eu-west'] } });
    const e = synthError(app);
    const errors = e.diagnostics.filter((d) => d.severity === 'error');
    expect(errors).toEqual([
      // The props path and the line that made the construct (issue 18).
      expect.objectContaining({ reason: 'RegionNotServed', field: 'region', source: expect.stringContaining('WorldInstance/games/w-typo (test/unit/clusters.test.ts:') }),
      expect.objectContaining({ reason: 'RegionNotServed', field: 'region', source: expect.stringContaining('WorldPool/games/p-mars (test/unit/clusters.test.ts:') }),
    ]);
    expect(errors[0]!.message).toContain('did you mean eu-west?');
    expect(errors[1]!.message).toContain('region mars is served by no cluster');
    expect(() => readdirSync(outdir)).toThrow();
  });

  test('a static world in a region two clusters serve, bad cluster names and regions: all reported at once', () => {
    const { app } = smallApp('twice', { 'eu-1': { regions: ['eu-west', 'eu-wset', 'mars'] }, 'eu-2': { regions: ['eu-west'] }, gitops: { regions: ['x', 'x'] }, Bad_Name: { regions: [] } });
    const messages = synthError(app).diagnostics.map((d) => `${d.source} ${d.field ?? ''}: ${d.message}`);
    expect(messages).toEqual([
      expect.stringContaining('AnvilApp clusters.gitops : cluster name gitops is reserved'),
      expect.stringContaining('AnvilApp clusters.gitops regions[1]: region x is listed twice'),
      expect.stringContaining('AnvilApp clusters.Bad_Name : cluster name "Bad_Name" must be a DNS label'),
      expect.stringContaining('AnvilApp clusters.Bad_Name regions: must list at least one region'),
    ]);
    const { app: app2 } = smallApp('twice2', { 'eu-1': { regions: ['eu-west', 'eu-wset', 'mars'] }, 'eu-2': { regions: ['eu-west'] } });
    const e2 = synthError(app2);
    expect(e2.diagnostics.map((d) => d.reason)).toEqual(['RegionServedTwice']);
    expect(e2.message).toContain('region eu-west is served by clusters eu-1, eu-2');
  });

  test('a pool in a region two clusters serve goes to both', () => {
    const outdir = join(scratch, 'pool-both', 'dist');
    const app = new AnvilApp({ outdir, reconcilerImage: false, onDiagnostic: () => {}, clusters: { a: { regions: ['eu-west'] }, b: { regions: ['eu-west'] } } });
    new Module(app.definitions, 'solo', { version: '1.0.0', image: 'registry.example/solo:1' });
    const game = new Game(app.definitions, 'g', { modules: ['solo'] });
    new WorldPool(app.definitions, 'p', { game, namespace: 'games', region: 'eu-west' });
    app.synth();
    for (const c of ['a', 'b']) expect(names(objectsIn(join(outdir, c)), 'WorldPool')).toEqual(['games/p']);
  });
});
