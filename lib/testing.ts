/**
 * Testing helpers for game authors, in the spirit of cdk8s's `Testing.synth(chart)`: build a
 * game, run everything synth runs (validation, resolution, rendering) in memory, and get the
 * objects each world would get and every diagnostic — nothing is written, and input errors
 * come back as diagnostics instead of exceptions, so a test can assert on either.
 *
 *   const out = Testing.synthGame((scope) => { myGame(scope); });
 *   expect(out.errors).toEqual([]);
 *   expect(Testing.find(out.worlds['arena/eu-1'], 'Deployment', { module: 'gateway' })).toBeDefined();
 */
import type { Chart } from 'cdk8s';
import type { Construct } from 'constructs';
import { AnvilApp, chartObjects, type AnvilAppProps } from './app.js';
import { AnvilInputError, groupByCause, type Diagnostic } from './diagnostics/diagnostics.js';

/** A Kubernetes object as JSON (what `kubectl get -o json` shows). */
export type KubeObject = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; [k: string]: any }; [k: string]: any };

export interface GameSynthResult {
  /** True when there is no error (warnings allowed): what `cdk8s synth` would write. */
  ok: boolean;
  /** Every static world's objects (bindings, workloads, routes), by `namespace/name`. */
  worlds: Record<string, KubeObject[]>;
  /** The global modules (cluster and region scope) in anvil-system, shared by worlds. */
  global: KubeObject[];
  /** What the platform needs: CRDs, namespaces and the reconciler (and the Grafana dashboard, with monitoring.grafanaDashboards). */
  platform: KubeObject[];
  /** The ModuleManifests, GameDefinitions and WorldInstances (and other objects put beside them). */
  definitions: KubeObject[];
  /** Every problem, one per cause (listing the worlds it shows in). */
  diagnostics: Diagnostic[];
  errors: Diagnostic[];
  warnings: Diagnostic[];
}

const objectsOf = (chart: Chart | undefined): KubeObject[] => (chart ? (chartObjects(chart) as KubeObject[]) : []);

/** Renders `app` in memory; diagnostics are collected, never printed or thrown. */
function synthApp(app: AnvilApp): GameSynthResult {
  const reported: Diagnostic[] = [];
  let failed: readonly Diagnostic[] = [];
  try {
    app.render((d) => reported.push(d));
  } catch (e) {
    if (!(e instanceof AnvilInputError)) throw e;
    failed = e.diagnostics;
  }
  const diagnostics = groupByCause([...failed, ...reported]);
  const errors = diagnostics.filter((d) => d.severity === 'error');
  const byId = (id: string): Chart | undefined => app.charts.find((c) => c.node.id === id);
  return {
    ok: errors.length === 0,
    worlds: Object.fromEntries([...app.worldCharts].map(([key, chart]) => [key, objectsOf(chart)])),
    global: objectsOf(byId('global-services')),
    platform: [...objectsOf(byId('crds')), ...objectsOf(byId('namespaces')), ...objectsOf(byId('reconciler')), ...objectsOf(byId('monitoring'))],
    definitions: objectsOf(app.definitions),
    diagnostics,
    errors,
    warnings: diagnostics.filter((d) => d.severity === 'warning'),
  };
}

/** Whether `o` carries the labels of this module (and world): `anvil.dev/module`, `anvil.dev/world`. */
const belongsTo = (o: KubeObject, by: { module: string; world?: string }): boolean => {
  const labels = (o.metadata.labels ?? {}) as Record<string, string>;
  return labels['anvil.dev/module'] === by.module && (by.world === undefined || labels['anvil.dev/world'] === by.world);
};

export const Testing = {
  /**
   * Defines a game with `define` (given the scope to put Module, Game and World in, and the
   * app) and synthesizes it in memory. `props` as for AnvilApp (settings, reconcilerImage).
   */
  synthGame(define: (scope: Construct, app: AnvilApp) => void, props: Omit<AnvilAppProps, 'outdir' | 'onDiagnostic'> = {}): GameSynthResult {
    const app = new AnvilApp(props);
    define(app.definitions, app);
    return synthApp(app);
  },

  /** The same for an AnvilApp you built yourself (before its synth). */
  synthApp,

  /**
   * The object of `kind` among `objects`, if any: by its name, or by the module (and world)
   * it belongs to — workload names end in a hash (`duel-eu-1-physics-engine-1a2b3c4d`), so
   * `{ module: 'physics-engine' }` is the way to find a module's Deployment or Service.
   */
  find(objects: readonly KubeObject[], kind: string, by: string | { module: string; world?: string }): KubeObject | undefined {
    if (typeof by === 'string') return objects.find((o) => o.kind === kind && o.metadata.name === by);
    return objects.find((o) => o.kind === kind && belongsTo(o, by));
  },

  /** Every object of `kind`. */
  ofKind(objects: readonly KubeObject[], kind: string): KubeObject[] {
    return objects.filter((o) => o.kind === kind);
  },
};
