/**
 * The example games synthesized for two clusters (README "Many clusters"):
 *
 *   npx tsx games/many-clusters.ts [OUTDIR]     # default dist-clusters/
 *   npx tsx games/many-clusters.ts [OUTDIR] --format helm --chart-version 1.2.3   # also OUTDIR-helm/<cluster>/
 *
 * eu-1 runs eu-west, ap-1 runs ap-south and us-east; dist-clusters/gitops/ gets the Argo CD
 * ApplicationSet and the Flux Kustomizations, and every cluster the Grafana dashboard.
 */
import { buildApp } from './index.js';
import { parseSynthArgs } from '../lib/cli/synthArgs.js';

const { positionals, helm } = parseSynthArgs(process.argv.slice(2));
const outdir = positionals[0] ?? 'dist-clusters';
buildApp({
  ...(helm ? { helm } : {}),
  outdir,
  clusters: { 'eu-1': { regions: ['eu-west'] }, 'ap-1': { regions: ['ap-south', 'us-east'] } },
  gitops: { argocd: { repoURL: 'https://git.example/games/deploy.git', targetRevision: 'main', path: outdir } },
  monitoring: { grafanaDashboards: true },
}).synth();
