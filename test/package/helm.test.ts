/**
 * Helm output (issue 21): `--format helm --chart-version X` writes each synthesized folder as
 * a chart. With a real helm (built from its Go module by test/helm/build.sh, cached by
 * version), for the one-cluster app and for each cluster of the two-cluster example:
 * `helm lint --strict` passes and `helm template --include-crds` renders exactly dist's objects.
 *
 * "Exactly": both sides parsed as YAML documents (so helm's `# Source:` comments and its
 * install order of kinds do not count), empty documents dropped, and compared as sets keyed
 * by apiVersion/kind/namespace/name — each object deep-equal, nothing else normalised.
 *
 * In the package project (run by `npm run test:package`, which builds helm first): no control
 * plane is needed, and helm is a packaging tool.
 */
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ApiObject, Chart } from 'cdk8s';
import { parseAllDocuments } from 'yaml';
import { buildApp } from '../../games/index.js';
import { AnvilInputError } from '../../lib/diagnostics/diagnostics.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
jest.setTimeout(20 * 60_000);

let helm: string;
let work: string;

/** Runs a command to its end; throws with its output when it fails. */
function run(cmd: string, args: string[], opts: { cwd?: string } = {}): string {
  const r = spawnSync(cmd, args, { cwd: opts.cwd ?? ROOT, encoding: 'utf8', maxBuffer: 256 << 20, timeout: 15 * 60_000 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status ?? r.signal}):\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

beforeAll(() => {
  // A no-op when `npm run test:package` already built it (the stamp matches).
  const bin = run('bash', [join(ROOT, 'test/helm/build.sh')]).trim().split('\n').pop()!;
  helm = join(bin, 'helm');
  work = mkdtempSync(join(tmpdir(), 'anvil-helm-'));
});

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

type K8sObject = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string } };
const keyOf = (o: K8sObject) => `${o.apiVersion}/${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;

/** Every object of a multi-document YAML text (empty documents dropped). */
const objectsOf = (text: string): K8sObject[] =>
  parseAllDocuments(text)
    .map((d) => d.toJS() as K8sObject | null)
    .filter((o): o is K8sObject => o !== null);

/** The objects by key; a key twice is a failure of its own. */
function byKey(objects: K8sObject[], what: string): Map<string, K8sObject> {
  const m = new Map<string, K8sObject>();
  for (const o of objects) {
    if (m.has(keyOf(o))) throw new Error(`${what}: ${keyOf(o)} twice`);
    m.set(keyOf(o), o);
  }
  return m;
}

const distObjects = (dir: string): K8sObject[] =>
  readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .flatMap((f) => objectsOf(readFileSync(join(dir, f), 'utf8')));

/** Every file under a folder, by relative path, with its bytes. */
function tree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const e of readdirSync(d)) {
      const p = join(d, e);
      if (statSync(p).isDirectory()) walk(p);
      else out[relative(dir, p)] = readFileSync(p, 'utf8');
    }
  };
  walk(dir);
  return out;
}

/** helm lint and helm template of a chart against the dist folder it was made from. */
function checkChart(chart: string, dist: string, name: string): void {
  const lint = spawnSync(helm, ['lint', '--strict', chart], { encoding: 'utf8' });
  expect({ chart: name, code: lint.status, errors: `${lint.stdout}${lint.stderr}`.split('\n').filter((l) => /\[(ERROR|WARNING)\]/.test(l)) }).toEqual({ chart: name, code: 0, errors: [] });

  const rendered = byKey(objectsOf(run(helm, ['template', 'anvil', chart, '--include-crds', '--namespace', 'anvil-system'])), `helm template ${name}`);
  const expected = byKey(distObjects(dist), dist);
  expect([...rendered.keys()].sort()).toEqual([...expected.keys()].sort());
  for (const [key, o] of expected) expect({ key, object: rendered.get(key) }).toEqual({ key, object: o });
}

describe('one cluster: dist-helm/', () => {
  const helmProps = { chartVersion: '1.2.3', appVersion: '0.1.0' };
  let dist: string;
  let charts: string;

  /** The example games, plus a value that looks like a Go template: the chart must render it as written, not run it. */
  const synth = (outdir: string) => {
    const app = buildApp({ outdir, helm: helmProps, onDiagnostic: () => {} });
    new ApiObject(new Chart(app, 'templated'), 'cm', {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'looks-templated', namespace: 'anvil-system' },
      data: { greeting: 'Hello {{ .Release.Name }} {{- "x" }} }}{{{' },
    });
    app.synth();
  };

  beforeAll(() => {
    dist = join(work, 'one', 'dist');
    charts = join(work, 'one', 'dist-helm');
    synth(dist);
  });

  test('the layout of cdk8s-cli\'s --format helm: Chart.yaml (v2), README, values.yaml, templates/, and the CRDs in crds/', () => {
    const files = Object.keys(tree(charts)).sort();
    expect(files.filter((f) => !f.startsWith('templates/'))).toEqual(['Chart.yaml', 'README.md', 'crds/0000-crds.k8s.yaml', 'values.yaml']);
    expect(files.filter((f) => f.startsWith('templates/'))).toEqual(readdirSync(dist).filter((f) => f !== '0000-crds.k8s.yaml').map((f) => `templates/${f}`).sort());
    expect(objectsOf(readFileSync(join(charts, 'Chart.yaml'), 'utf8'))[0]).toEqual({
      apiVersion: 'v2',
      name: 'anvil',
      version: '1.2.3',
      appVersion: '0.1.0',
      description: expect.stringContaining('dist'),
      type: 'application',
    });
    // crds/ is not templated: byte for byte dist's file, CRDs only.
    expect(readFileSync(join(charts, 'crds/0000-crds.k8s.yaml'), 'utf8')).toBe(readFileSync(join(dist, '0000-crds.k8s.yaml'), 'utf8'));
    expect(new Set(objectsOf(readFileSync(join(charts, 'crds/0000-crds.k8s.yaml'), 'utf8')).map((o) => o.kind))).toEqual(new Set(['CustomResourceDefinition']));
  });

  test('helm lint --strict passes; helm template --include-crds renders exactly dist\'s objects (a "{{" value included)', () => {
    checkChart(charts, dist, 'anvil');
    const cm = objectsOf(run(helm, ['template', 'anvil', charts])).find((o) => o.metadata.name === 'looks-templated') as unknown as { data: { greeting: string } };
    expect(cm.data.greeting).toBe('Hello {{ .Release.Name }} {{- "x" }} }}{{{');
  });

  test('deterministic: a second synth writes byte-identical charts', () => {
    const again = join(work, 'one-again');
    synth(join(again, 'dist'));
    expect(tree(join(again, 'dist-helm'))).toEqual(tree(charts));
  });

  test('a chart version that is not SemVer is a synth error naming the field, and nothing is written', () => {
    const out = join(work, 'bad');
    let caught: unknown;
    try {
      buildApp({ outdir: join(out, 'dist'), helm: { chartVersion: 'v1' }, onDiagnostic: () => {} }).synth();
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(AnvilInputError);
    expect((caught as AnvilInputError).diagnostics.filter((d) => d.severity === 'error')).toEqual([expect.objectContaining({ field: 'helm.chartVersion', reason: 'HelmChartVersionInvalid' })]);
    expect((caught as Error).message).toContain('--chart-version 1.2.3');
    expect(() => readdirSync(out)).toThrow();
  });
});

describe('two clusters: games/many-clusters.ts --format helm → dist-clusters-helm/<cluster>/', () => {
  let dist: string;
  beforeAll(() => {
    dist = join(work, 'two', 'dist-clusters');
    run(process.execPath, [join(ROOT, 'node_modules/tsx/dist/cli.mjs'), 'games/many-clusters.ts', dist, '--format', 'helm', '--chart-version', '2.0.0']);
  });

  test('one chart per cluster, named anvil-<cluster>, and no chart for gitops/', () => {
    expect(readdirSync(join(work, 'two', 'dist-clusters-helm')).sort()).toEqual(['ap-1', 'eu-1']);
    expect(objectsOf(readFileSync(join(work, 'two', 'dist-clusters-helm', 'eu-1', 'Chart.yaml'), 'utf8'))[0]).toMatchObject({ name: 'anvil-eu-1', version: '2.0.0' });
  });

  test.each(['eu-1', 'ap-1'])('%s: helm lint --strict passes; helm template --include-crds renders exactly its dist-clusters/ folder', (cluster) => {
    checkChart(join(work, 'two', 'dist-clusters-helm', cluster), join(dist, cluster), `anvil-${cluster}`);
  });
});
