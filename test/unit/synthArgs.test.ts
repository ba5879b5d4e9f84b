import { describe, expect, test } from '@jest/globals';
import { parseSynthArgs } from '../../lib/cli/synthArgs.js';
import { checkHelmProps, escapeTemplate, helmChartFiles } from '../../lib/render/helm.js';

describe('npm run synth -- [--format helm --chart-version X]', () => {
  test('no flags: plain dist/ only', () => {
    expect(parseSynthArgs([])).toEqual({ positionals: [] });
  });
  test('--format helm --chart-version (and the optional app version and folder)', () => {
    expect(parseSynthArgs(['out', '--format', 'helm', '--chart-version', '1.2.3', '--app-version', '0.1.0', '--helm-outdir', 'charts'])).toEqual({
      positionals: ['out'],
      helm: { chartVersion: '1.2.3', appVersion: '0.1.0', outdir: 'charts' },
    });
  });
  test('mistakes name the flag and the fix', () => {
    expect(() => parseSynthArgs(['--format', 'helm'])).toThrow('--format helm needs --chart-version (SemVer, e.g. --chart-version 1.2.3)');
    expect(() => parseSynthArgs(['--chart-version', '1.0.0'])).toThrow('--chart-version needs --format helm');
    expect(() => parseSynthArgs(['--format', 'kustomize'])).toThrow('--format kustomize: use plain');
    expect(() => parseSynthArgs(['--chart-versoin', '1'])).toThrow(/chart-versoin/);
  });
});

describe('helm chart files', () => {
  test('a chart version must be SemVer 2', () => {
    expect(checkHelmProps({ chartVersion: '1.2.3-rc.1' }, 'AnvilApp')).toEqual([]);
    expect(checkHelmProps({ chartVersion: '1.2' }, 'AnvilApp')).toEqual([expect.objectContaining({ field: 'helm.chartVersion', reason: 'HelmChartVersionInvalid' })]);
  });
  test('"{{" is escaped so that the template renders to itself', () => {
    expect(escapeTemplate('a: "{{ x }}"\nb: }}{{{\n')).toBe('a: "{{ "{{" }} x }}"\nb: }}{{ "{{" }}{\n');
  });
  test('CRDs go to crds/ (a mixed file is split), the rest to templates/', () => {
    const crd = 'apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: a.b\n';
    const cm = 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n';
    const files = helmChartFiles([{ name: '0000-crds.k8s.yaml', text: crd }, { name: '0001-mixed.k8s.yaml', text: `${cm}---\n${crd}` }], 'anvil-eu-1', { chartVersion: '1.0.0' }, 'dist/eu-1');
    expect(files.map((f) => f.name)).toEqual(['Chart.yaml', 'README.md', 'values.yaml', 'crds/0000-crds.k8s.yaml', 'crds/0001-mixed.k8s.yaml', 'templates/0001-mixed.k8s.yaml']);
    expect(files[3]!.text).toBe(crd);
    expect(files[4]!.text).toBe(crd);
    expect(files[5]!.text).toBe(cm);
    expect(files[0]!.text).toContain('name: anvil-eu-1\nversion: 1.0.0\n');
  });
});
