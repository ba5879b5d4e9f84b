/**
 * dist/gitops/: the Argo CD ApplicationSet and the Flux Kustomizations are valid against
 * those projects' own CRD schemas (vendored in test/fixtures/gitops-crds, see its README),
 * with unknown fields as errors, and point each cluster at its own dist/<cluster>/.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv } from 'ajv';
import { parse, parseAllDocuments } from 'yaml';
import { AnvilApp } from '../../lib/app.js';
import { strictSchema } from '../../lib/api/validate.js';
import { AnvilInputError } from '../../lib/diagnostics/diagnostics.js';
import { buildApp } from '../../games/index.js';

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'gitops-crds');
const CLUSTERS = { 'eu-1': { regions: ['eu-west'] }, 'ap-1': { regions: ['ap-south', 'us-east'] } };
const ARGO = { repoURL: 'https://git.example/games/deploy.git', targetRevision: 'main', path: 'dist' };

interface Crd {
  spec: { group: string; names: { kind: string }; versions: { name: string; served: boolean; schema: { openAPIV3Schema: object } }[] };
}
interface Obj {
  apiVersion: string;
  kind: string;
  metadata: { name: string };
  spec: Record<string, unknown>;
}

/** A validator of `apiVersion` + `kind` objects from a vendored CRD: the spec against its served version's schema. */
function validatorFrom(file: string): (o: Obj) => string[] {
  const crd = parse(readFileSync(join(FIXTURES, file), 'utf8'), { maxAliasCount: -1 }) as Crd;
  const ajv = new Ajv({ allErrors: true, strict: false, validateFormats: false });
  const byVersion = new Map(crd.spec.versions.filter((v) => v.served).map((v) => [`${crd.spec.group}/${v.name}`, ajv.compile(strictSchema(v.schema.openAPIV3Schema) as object)]));
  return (o) => {
    if (o.kind !== crd.spec.names.kind) return [`kind ${o.kind} is not ${crd.spec.names.kind}`];
    const validate = byVersion.get(o.apiVersion);
    if (!validate) return [`apiVersion ${o.apiVersion} is not served (${[...byVersion.keys()].join(', ')})`];
    // metadata is the API server's ObjectMeta, not in the CRD schema
    return validate({ ...o, metadata: {} }) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath} ${e.message} ${JSON.stringify(e.params)}`);
  };
}

let scratch: string;
let outdir: string;
let applicationSetValid: (o: Obj) => string[];
let kustomizationValid: (o: Obj) => string[];
beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), 'anvil-gitops-test-'));
  outdir = join(scratch, 'dist');
  buildApp({ outdir, onDiagnostic: () => {}, clusters: CLUSTERS, gitops: { argocd: ARGO } }).synth();
  applicationSetValid = validatorFrom('argo-cd-v3.6.2-applicationset-crd.yaml');
  kustomizationValid = validatorFrom('kustomize-controller-v1.10.1-kustomizations.yaml');
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const read = (file: string): Obj[] => parseAllDocuments(readFileSync(join(outdir, 'gitops', file), 'utf8')).map((d) => d.toJSON() as Obj);

describe('dist/gitops', () => {
  test('holds the ApplicationSet and one Kustomization per cluster, beside the clusters\' folders', () => {
    expect(readdirSync(outdir).sort()).toEqual(['ap-1', 'eu-1', 'gitops']);
    expect(readdirSync(join(outdir, 'gitops')).sort()).toEqual(['argocd-applicationset.yaml', 'flux-ap-1.yaml', 'flux-eu-1.yaml']);
  });

  test('the ApplicationSet is valid against Argo CD\'s CRD: a list generator, one element per cluster, source <path>/<cluster>', () => {
    const [appSet, ...rest] = read('argocd-applicationset.yaml');
    expect(rest).toEqual([]);
    expect(applicationSetValid(appSet!)).toEqual([]);
    const spec = appSet!.spec as { generators: { list: { elements: { cluster: string; path: string }[] } }[]; template: { spec: { source: Record<string, unknown>; destination: object; syncPolicy: { syncOptions: string[] } } } };
    expect(spec.generators[0]!.list.elements).toEqual([
      { cluster: 'eu-1', path: 'dist/eu-1' },
      { cluster: 'ap-1', path: 'dist/ap-1' },
    ]);
    expect(spec.template.spec.source).toEqual(expect.objectContaining({ repoURL: ARGO.repoURL, targetRevision: 'main', path: '{{.path}}' }));
    expect(spec.template.spec.destination).toEqual({ name: '{{.cluster}}' });
    // CRDs first: the first sync may not dry-run custom resources of CRDs it is creating
    expect(spec.template.spec.syncPolicy.syncOptions).toContain('SkipDryRunOnMissingResource=true');
  });

  test('each Kustomization is valid against Flux\'s CRD and applies its own cluster\'s folder', () => {
    for (const cluster of Object.keys(CLUSTERS)) {
      const [k] = read(`flux-${cluster}.yaml`);
      expect(kustomizationValid(k!)).toEqual([]);
      expect(k!.metadata.name).toBe(`anvil-${cluster}`);
      expect(k!.spec).toEqual(expect.objectContaining({ path: `./dist/${cluster}`, prune: true, sourceRef: { kind: 'GitRepository', name: 'anvil', namespace: 'flux-system' } }));
    }
  });

  test('the validators catch a misspelt field (so a pass means something)', () => {
    const [appSet] = read('argocd-applicationset.yaml');
    const bad = { ...appSet!, spec: { ...appSet!.spec, generator: [] } };
    expect(applicationSetValid(bad).join('\n')).toContain('generator');
    const [k] = read('flux-eu-1.yaml');
    expect(kustomizationValid({ ...k!, spec: { ...k!.spec, prune: 'yes' } }).join('\n')).toContain('/spec/prune');
  });

  test('gitops without clusters, or without a repository: a synth error naming the field', () => {
    const app = new AnvilApp({ outdir: join(scratch, 'bad', 'dist'), reconcilerImage: false, onDiagnostic: () => {}, gitops: { argocd: { ...ARGO, repoURL: '' } } });
    let caught: unknown;
    try {
      app.synth();
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(AnvilInputError);
    expect((caught as AnvilInputError).diagnostics.map((d) => d.field)).toEqual(['gitops', 'gitops.argocd.repoURL']);
  });
});
