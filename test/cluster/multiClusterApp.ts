// The two-cluster app of the failover test and the multicluster benchmark (issue 21),
// synthesized into <outdir>/eu-1 and <outdir>/ap-1. Free of Jest, so bench/ can use it.
import { AnvilApp } from '../../lib/app.js';
import { Game, Module, WorldPool } from '../../lib/definitions.js';

export const GAME = 'duel';
export const NAMESPACE = 'duel';
export const CLUSTERS = { 'eu-1': { region: 'eu-west' }, 'ap-1': { region: 'ap-south' } } as const;
export type ClusterName = keyof typeof CLUSTERS;

/**
 * A one-module game and a pool per cluster: `duel-eu` in eu-west (eu-1), `duel-ap` in
 * ap-south (ap-1), both in namespace duel, so a claim by game finds each cluster's own pool.
 * Each pool keeps `sizes` worlds ready, and holds at most `maxWorlds` (default: the same), so
 * with the default its `size + 1`-th claim is exhausted.
 */
export function synthTwoClusters(outdir: string, sizes: Record<ClusterName, number>, maxWorlds: Record<ClusterName, number> = sizes): void {
  const app = new AnvilApp({
    outdir,
    clusters: { 'eu-1': { regions: [CLUSTERS['eu-1'].region] }, 'ap-1': { regions: [CLUSTERS['ap-1'].region] } },
    onDiagnostic: () => {},
  });
  const server = new Module(app.definitions, 'duel-server', {
    version: '1.0.0',
    image: 'example.invalid/duel-server:1.0.0',
    ports: [{ name: 'game', port: 7777, protocol: 'TCP' }],
  });
  const game = new Game(app.definitions, GAME, { modules: [server] });
  new WorldPool(app.definitions, 'duel-eu', { game, namespace: NAMESPACE, region: CLUSTERS['eu-1'].region, buffer: sizes['eu-1'], maxWorlds: maxWorlds['eu-1'] });
  new WorldPool(app.definitions, 'duel-ap', { game, namespace: NAMESPACE, region: CLUSTERS['ap-1'].region, buffer: sizes['ap-1'], maxWorlds: maxWorlds['ap-1'] });
  app.synth();
}
