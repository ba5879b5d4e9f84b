/**
 * The example games synthesized for two clusters (README "Many clusters"):
 *
 *   npx tsx games/many-clusters.ts [OUTDIR]     # default dist-clusters/
 *
 * eu-1 runs eu-west, ap-1 runs ap-south and us-east; dist-clusters/gitops/ gets the Argo CD
 * ApplicationSet and the Flux Kustomizations, and every cluster the Grafana dashboard.
 */
import { buildApp } from './index.js';

const outdir = process.argv[2] ?? 'dist-clusters';
buildApp({
  outdir,
  clusters: { 'eu-1': { regions: ['eu-west'] }, 'ap-1': { regions: ['ap-south', 'us-east'] } },
  gitops: { argocd: { repoURL: 'https://git.example/games/deploy.git', targetRevision: 'main', path: outdir } },
  monitoring: { grafanaDashboards: true },
}).synth();
