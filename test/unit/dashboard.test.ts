/**
 * The Grafana dashboard (dashboards/anvil.json): every query names only metrics the
 * reconciler exports (read from its prom-client registry, not a list kept by hand), it
 * covers what operators need, and `monitoring.grafanaDashboards` ships it as a ConfigMap for
 * Grafana's sidecar.
 */
import { describe, expect, test } from '@jest/globals';
import { ReconcilerMetrics } from '../../lib/reconciler/runtime/metrics.js';
import { anvilDashboard } from '../../lib/render/dashboard.js';
import { Testing } from '../../lib/testing.js';
import { Game, Module, World } from '../../lib/definitions.js';

interface Panel {
  title: string;
  targets: { expr: string }[];
}

/** Every series name the registry exports: histograms as their _bucket, _sum and _count. */
async function exportedSeries(): Promise<Set<string>> {
  const metrics = await new ReconcilerMetrics().registry.getMetricsAsJSON();
  return new Set(metrics.flatMap((m) => (String(m.type) === 'histogram' ? ['_bucket', '_sum', '_count'].map((s) => `${m.name}${s}`) : [m.name])));
}

const PROMQL_WORDS = new Set(['sum', 'max', 'min', 'avg', 'count', 'rate', 'irate', 'increase', 'histogram_quantile', 'by', 'without', 'on', 'ignoring', 'and', 'or', 'unless']);

/** The metric names of a PromQL expression: identifiers outside label matchers, ranges and grouping clauses that are not PromQL's own words. */
function metricNames(expr: string): string[] {
  const bare = expr
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring)\s*\([^)]*\)/g, ' ');
  return [...bare.matchAll(/[A-Za-z_:][A-Za-z0-9_:]*/g)].map((m) => m[0]).filter((w) => !PROMQL_WORDS.has(w));
}

describe('the Grafana dashboard', () => {
  const dashboard = anvilDashboard() as { uid: string; panels: Panel[] };
  const exprs = dashboard.panels.flatMap((p) => p.targets.map((t) => ({ panel: p.title, expr: t.expr })));

  test('every query names at least one metric, and only metrics the reconciler exports', async () => {
    const exported = await exportedSeries();
    expect(exprs.length).toBeGreaterThan(5);
    const unknown = exprs.flatMap(({ panel, expr }) => {
      const names = metricNames(expr);
      if (names.length === 0) return [`${panel}: ${expr} names no metric`];
      return names.filter((n) => !exported.has(n)).map((n) => `${panel}: ${n}`);
    });
    expect(unknown).toEqual([]);
  });

  test('anvil_worlds counts the cached worlds by phase when scraped', async () => {
    const m = new ReconcilerMetrics();
    let phases: (string | undefined)[] = ['Running', 'Running', undefined];
    m.countWorlds(() => phases);
    const values = async () => Object.fromEntries((await m.worlds.get()).values.filter((v) => v.value > 0).map((v) => [v.labels.phase, v.value]));
    expect(await values()).toEqual({ Running: 2, Unknown: 1 });
    phases = ['Failed'];
    expect(await values()).toEqual({ Failed: 1 });
  });

  test('the metric-name check catches a name the reconciler does not export', async () => {
    const exported = await exportedSeries();
    expect(metricNames('sum by (phase) (rate(anvil_worldz_total{cluster=~"$cluster"}[5m]))').filter((n) => !exported.has(n))).toEqual(['anvil_worldz_total']);
  });

  test('it shows worlds by phase, claims and their latency, pool buffers, reconcile duration and errors, API requests by code', () => {
    const all = exprs.map((e) => e.expr).join('\n');
    for (const m of ['anvil_worlds', 'anvil_claim_duration_seconds_count', 'anvil_claim_duration_seconds_bucket', 'anvil_claims_pending', 'anvil_pool_worlds', 'anvil_reconcile_duration_seconds_bucket', 'anvil_reconcile_total', 'anvil_api_requests_total']) {
      expect(all).toContain(m);
    }
    expect(all).toMatch(/by \([^)]*code/);
    expect(all).toMatch(/by \([^)]*phase/);
  });

  test('monitoring.grafanaDashboards: a ConfigMap labelled for the sidecar, holding the dashboard; without it, none', () => {
    const define = (scope: Parameters<Parameters<typeof Testing.synthGame>[0]>[0]) => {
      new Module(scope, 'solo', { version: '1.0.0', image: 'registry.example/solo:1' });
      new World(scope, 'w', { game: new Game(scope, 'g', { modules: ['solo'] }), namespace: 'games' });
    };
    const on = Testing.synthGame(define, { monitoring: { grafanaDashboards: true } });
    expect(on.errors).toEqual([]);
    const sidecar = (r: typeof on) => [...r.platform, ...r.global, ...Object.values(r.worlds).flat()].filter((o) => o.kind === 'ConfigMap' && o.metadata.labels?.grafana_dashboard === '1');
    const [cm, ...more] = sidecar(on);
    expect(more).toEqual([]);
    expect(cm!.metadata).toEqual(expect.objectContaining({ name: 'anvil-grafana-dashboard', namespace: 'anvil-system' }));
    expect(JSON.parse((cm as unknown as { data: Record<string, string> }).data['anvil.json']!)).toEqual(dashboard);
    const off = Testing.synthGame(define);
    expect(off.errors).toEqual([]);
    expect(sidecar(off)).toEqual([]);
  });
});
