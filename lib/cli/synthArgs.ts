/**
 * The options of `npm run synth -- …` (main.ts, games/many-clusters.ts): cdk8s-cli's own
 * spelling of its Helm output, `--format helm --chart-version X`, so a cdk8s user finds it.
 */
import { parseArgs } from 'node:util';
import type { HelmProps } from '../render/helm.js';

export interface SynthArgs {
  helm?: HelmProps;
  /** Positional arguments (games/many-clusters.ts: its output folder). */
  positionals: string[];
}

/** Throws an Error naming the flag and the fix. */
export function parseSynthArgs(argv: readonly string[]): SynthArgs {
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    strict: true,
    options: {
      format: { type: 'string', default: 'plain' },
      'chart-version': { type: 'string' },
      'app-version': { type: 'string' },
      'helm-outdir': { type: 'string' },
    },
  });
  const format = values.format;
  if (format !== 'plain' && format !== 'helm') throw new Error(`--format ${format}: use plain (dist/ only, the default) or helm (dist/ and a chart in dist-helm/)`);
  if (format === 'plain') {
    const helmOnly = (['chart-version', 'app-version', 'helm-outdir'] as const).find((k) => values[k] !== undefined);
    if (helmOnly) throw new Error(`--${helmOnly} needs --format helm`);
    return { positionals };
  }
  const chartVersion = values['chart-version'];
  if (!chartVersion) throw new Error('--format helm needs --chart-version (SemVer, e.g. --chart-version 1.2.3)');
  return {
    positionals,
    helm: { chartVersion, ...(values['app-version'] ? { appVersion: values['app-version'] } : {}), ...(values['helm-outdir'] ? { outdir: values['helm-outdir'] } : {}) },
  };
}
