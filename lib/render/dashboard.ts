/**
 * The Grafana dashboard shipped in the package (`dashboards/anvil.json`), and the ConfigMap
 * that hands it to Grafana's dashboard sidecar (the kube-prometheus-stack and grafana charts
 * load every ConfigMap labelled `grafana_dashboard: "1"`) when
 * `AnvilApp({monitoring: {grafanaDashboards: true}})`.
 */
import { readFileSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Construct } from 'constructs';
import { k8s } from '../../imports/k8s.js';
import { PLATFORM_LABELS } from './labels.js';

export const DASHBOARD_FILE = join('dashboards', 'anvil.json');

/** The dashboard's path: found above this module, in the source tree and in the installed package alike. */
export function dashboardPath(): string {
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    if (existsSync(join(dir, DASHBOARD_FILE))) return join(dir, DASHBOARD_FILE);
    if (dirname(dir) === dir) throw new Error(`${DASHBOARD_FILE} not found above ${fileURLToPath(import.meta.url)}`);
  }
}

/** The dashboard, as Grafana imports it. */
export function anvilDashboard(): Record<string, unknown> {
  return JSON.parse(readFileSync(dashboardPath(), 'utf8')) as Record<string, unknown>;
}

export class GrafanaDashboards extends Construct {
  constructor(scope: Construct, id: string, props: { namespace: string }) {
    super(scope, id);
    new k8s.KubeConfigMap(this, 'anvil', {
      metadata: {
        name: 'anvil-grafana-dashboard',
        namespace: props.namespace,
        labels: { ...PLATFORM_LABELS, grafana_dashboard: '1' },
      },
      data: { 'anvil.json': `${JSON.stringify(anvilDashboard(), null, 2)}\n` },
    });
  }
}
