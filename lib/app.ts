/**
 * AnvilApp: a cdk8s App that, at synth, validates every definition, resolves every static
 * world and the global services, and only then renders and writes dist/ — all problems
 * reported together, and nothing written when there is one.
 */
import { cpSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve as resolvePath } from 'node:path';
import { ApiObject, App, Chart, Names, Yaml, YamlOutputType } from 'cdk8s';
import { Construct } from 'constructs';
import { AnvilInputError, formatDiagnostic, groupByCause, hasErrors, type Diagnostic } from './diagnostics/diagnostics.js';
import { buildCatalog, type Catalog, type Sourced } from './resolve/catalog.js';
import { revisionName, snapshotGame } from './resolve/revision.js';
import { ANNOTATION_REVISION } from './render/labels.js';
import { PLATFORM_NAMESPACE, resolveAll, type WorldPlan } from './resolve/resolve.js';
import { GlobalServices, globalInstances } from './render/global.js';
import { CustomResourceDefinitions, MatchmakerRoles, Namespaces, Reconciler } from './render/platform.js';
import { checkPools } from './resolve/pools.js';
import { checkDesign } from './resolve/design.js';
import { API_VERSION, type WorldInstance } from './api/schema.js';
import { DEFAULT_SETTINGS, type RenderSettings } from './render/settings.js';
import { WorldResources } from './render/world.js';
import { publishDirectory } from './publish.js';
import { gitopsFiles, type GitOpsProps } from './render/gitops.js';
import { GrafanaDashboards } from './render/dashboard.js';
import { checkHelmProps, helmChartFiles, type HelmProps } from './render/helm.js';
import { nameCollisions, type NamedObject } from './names/collisions.js';
import { tupleName } from './names/names.js';
import { ModuleRoles } from './render/identity.js';
import { checkRegions } from './resolve/regions.js';
import { moduleWarnings } from './api/moduleChecks.js';
import { objectRef } from './api/validate.js';
import type { RegionPlacement } from './render/settings.js';
import { callerLocation, propsPath, unknownProps } from './diagnostics/authoring.js';
import { propKeys, type Authored } from './definitions.js';
import { checkClusterProps, checkGitOps, placeInClusters, placeKey, type ClusterProps, type Placeable } from './resolve/clusters.js';
import type { WorldPool } from './api/schema.js';

export interface AnvilAppProps {
  /** Where dist goes. Default: `dist` (the cdk8s CLI's CDK8S_OUTDIR is honoured too). */
  outdir?: string;
  settings?: Partial<RenderSettings>;
  /** The reconciler's image; `false` leaves the reconciler out of dist. */
  reconcilerImage?: string | false;
  /** Warnings go here (default: stderr). */
  onDiagnostic?: (d: Diagnostic) => void;
  /**
   * Where each region's pods run: world- and region-scoped modules of a world in that region
   * get its nodeSelector (and affinity, tolerations). Declared, every world and pool must be
   * in one of them. Dynamic worlds get the same (the reconciler reads synth's settings).
   */
  regions?: Record<string, RegionPlacement>;
  /**
   * Synthesize one folder per cluster, `dist/<cluster>/`, each holding what that cluster
   * runs: the same CRDs, modules, games and reconciler everywhere, and only the worlds, pools
   * and regional services of the regions it serves. Left out: one dist/ for one cluster.
   */
  clusters?: Record<string, ClusterProps>;
  /**
   * With `clusters`: also write `dist/gitops/`, an Argo CD ApplicationSet (one Application
   * per cluster, from `<path>/<cluster>`) and one Flux Kustomization per cluster.
   */
  gitops?: GitOpsProps;
  /**
   * Also write each synthesized folder as a Helm chart (`npm run synth -- --format helm
   * --chart-version X`): `dist-helm/` (Chart.yaml, templates/, crds/) for one cluster, or
   * `dist-helm/<cluster>/` per cluster; `helm template` of it renders dist's objects.
   */
  helm?: HelmProps;
  monitoring?: {
    /** `true`: a PodMonitor (monitoring.coreos.com/v1) per module with `metrics`; needs the Prometheus Operator's CRDs. */
    podMonitors?: boolean;
    /** A ConfigMap with Anvil's Grafana dashboard (dashboards/anvil.json), labelled `grafana_dashboard: "1"` for Grafana's sidecar. */
    grafanaDashboards?: boolean;
  };
}

const DEFINITION_KINDS = ['ModuleManifest', 'GameDefinition', 'WorldInstance'];
const APP_PROPS = propKeys<AnvilAppProps>()('outdir', 'settings', 'reconcilerImage', 'onDiagnostic', 'regions', 'monitoring', 'clusters', 'gitops', 'helm');

const isAuthored = (c: object): c is ApiObject & Authored => 'anvilSource' in c && 'propsProblems' in c;

export const DEFAULT_RECONCILER_IMAGE = 'ghcr.io/anvil-dev/anvil:0.1.0';

export class AnvilApp extends App {
  /** Put Module, Game and World constructs here. */
  readonly definitions: Chart;
  readonly settings: RenderSettings;
  private readonly target: string;
  private readonly extraOutdir?: string;
  private readonly props: AnvilAppProps;
  private readonly namespacesChart: Chart;
  private rendered = false;
  private readonly propsProblems: Diagnostic[];
  /** After render: the chart of each static world, by `namespace/name`. */
  readonly worldCharts = new Map<string, Chart>();
  /** After render, with `clusters`: the construct holding each cluster's own charts. */
  readonly clusterScopes = new Map<string, Construct>();
  /** After render, with `clusters`: `kind/namespace/name` of each world and pool → its clusters. */
  private placement = new Map<string, string[]>();

  constructor(props: AnvilAppProps = {}) {
    const target = resolvePath(props.outdir ?? 'dist');
    const staging = `${target}.staging-${process.pid}`;
    super({ outdir: staging, yamlOutputType: YamlOutputType.FILE_PER_CHART });
    this.props = props;
    this.target = target;
    // `cdk8s synth` empties its output folder before running the app; point it elsewhere
    // (cdk8s.yaml `output`) and it gets a copy, while dist/ is only ever replaced whole.
    const cliOut = process.env.CDK8S_OUTDIR ? resolvePath(process.env.CDK8S_OUTDIR) : undefined;
    if (cliOut && cliOut !== target) this.extraOutdir = cliOut;
    this.settings = {
      ...DEFAULT_SETTINGS,
      ...props.settings,
      ...(props.regions ? { regions: props.regions } : {}),
      // What the reconciler renders too (the dashboard is synth's alone).
      ...(props.monitoring?.podMonitors !== undefined ? { monitoring: { podMonitors: props.monitoring.podMonitors } } : {}),
    };
    // Reported at synth with every other problem (TypeScript does not see main.ts under tsx).
    const source = `AnvilApp (${callerLocation() ?? 'main'})`;
    this.propsProblems = [...unknownProps(props, APP_PROPS, source), ...unknownProps(props.settings ?? {}, Object.keys(DEFAULT_SETTINGS), source, 'settings.')];
    const crds = new Chart(this, 'crds');
    new CustomResourceDefinitions(crds, 'crds');
    this.namespacesChart = new Chart(this, 'namespaces');
    this.definitions = new Chart(this, 'definitions');
  }

  /**
   * The charts in the order they were added, which is the order of dist's files (CRDs, then
   * namespaces, …). Not cdk8s chart dependencies: cdk8s turns each one into an edge between
   * every pair of objects of the two charts and then walks that graph path by path, which
   * grows exponentially with the number of charts (a handful of extra worlds took minutes).
   */
  override get charts(): Chart[] {
    return this.node.children.filter((c): c is Chart => Chart.isChart(c));
  }

  /** Every Module, Game and World defined in this app, as resolver input. */
  definitionObjects(): Sourced[] {
    return this.anvilObjects(DEFINITION_KINDS, (c) => `${c.kind}/${c.metadata.name} (${c.node.path})`);
  }

  /** Every WorldPool defined in this app. */
  poolObjects(): Sourced[] {
    return this.anvilObjects(['WorldPool'], (c) => `${c.kind}/${c.metadata.namespace ?? 'default'}/${c.metadata.name} (${c.node.path})`);
  }

  /** Anvil's objects of these kinds; a Module, Game, World or WorldPool names where it was made. */
  private anvilObjects(kinds: readonly string[], source: (c: ApiObject) => string): Sourced[] {
    return this.anvilConstructs(kinds).map((c) => ({ object: c.toJson(), source: isAuthored(c) ? c.anvilSource : source(c) }));
  }

  private anvilConstructs(kinds: readonly string[] = [...DEFINITION_KINDS, 'WorldPool']): ApiObject[] {
    return this.node
      .findAll()
      // By kind, not instanceof: cdk8s makes `instanceof` true for every ApiObject subclass.
      .filter((c): c is ApiObject => c instanceof ApiObject && c.apiVersion === API_VERSION && kinds.includes(c.kind));
  }

  /**
   * The problems of the constructs' props (unknown props) and of this app's, and a map that
   * turns a construct's spec fields into its props path (`spec.buffer.ready` -> `buffer`).
   */
  private authoring(): { problems: Diagnostic[]; toProps: (d: Diagnostic) => Diagnostic } {
    const authored = this.anvilConstructs().filter(isAuthored);
    const sources = new Set(authored.map((c) => c.anvilSource));
    const problems = [...this.propsProblems, ...authored.flatMap((c) => c.propsProblems)];
    return { problems, toProps: (d) => (d.field && sources.has(d.source) ? { ...d, field: propsPath(d.field) } : d) };
  }

  /** Validates and resolves; throws AnvilInputError listing every problem; then renders. */
  render(onDiagnostic?: (d: Diagnostic) => void): void {
    if (this.rendered) return;
    const report = onDiagnostic ?? this.props.onDiagnostic ?? ((d: Diagnostic) => process.stderr.write(`${formatDiagnostic(d)}\n`));
    const input = this.checkInput();
    input.diagnostics.forEach(report);
    this.placement = input.clustersOf;
    const clusters = this.props.clusters;
    if (!clusters) {
      this.renderCluster(this, this.namespacesChart, input, () => true);
    } else {
      for (const name of Object.keys(clusters)) {
        const scope = new Construct(this, `cluster-${name}`);
        this.clusterScopes.set(name, scope);
        const inCluster = (key: string): boolean => input.clustersOf.get(key)?.includes(name) ?? false;
        this.renderCluster(scope, new Chart(scope, 'namespaces'), input, inCluster);
      }
    }
    this.recordRevisions(input.catalog);
    const collisions = clusters
      ? [...this.clusterScopes.values()].flatMap((scope) => nameCollisions(renderedObjects([this.charts, scope])))
      : nameCollisions(renderedObjects([this]));
    if (collisions.length > 0) throw new AnvilInputError(collisions);
    this.rendered = true;
  }

  /** Every problem of the input at once (definitions, pools, clusters); throws when one is an error. */
  private checkInput(): CheckedInput {
    const { catalog, diagnostics: catalogProblems } = buildCatalog(this.definitionObjects());
    const resolved = resolveAll(catalog);
    const { pools, sourced, diagnostics: poolProblems } = checkPools(this.poolObjects(), catalog);
    const sourceOf = (o: { kind: string; metadata: { name: string; namespace?: string } }) => catalog.sources.get(objectRef(o)) ?? objectRef(o);
    const regions = this.settings.regions;
    const design = checkDesign({ catalog, global: resolved.global, worlds: resolved.worlds, pools: sourced, regionsDeclared: regions !== undefined });
    const { problems: propsProblems, toProps } = this.authoring();
    const clusters = this.props.clusters;
    const clusterProblems = [
      ...(clusters ? checkClusterProps(clusters) : []),
      ...(this.props.gitops ? checkGitOps(this.props.gitops, clusters !== undefined) : []),
      ...(this.props.helm ? checkHelmProps(this.props.helm, 'AnvilApp') : []),
    ];
    const placement = clusters && clusterProblems.length === 0 ? placeInClusters(clusters, placeables(this)) : undefined;
    const diagnostics = groupByCause(
      [
        ...propsProblems,
        ...catalogProblems,
        ...resolved.diagnostics,
        ...poolProblems,
        ...design,
        ...checkRegions([...catalog.worlds, ...pools], regions, sourceOf),
        ...moduleWarnings(catalog.modules.values(), sourceOf),
        ...clusterProblems,
        ...(placement?.diagnostics ?? []),
      ].map(toProps),
    );
    if (hasErrors(diagnostics)) throw new AnvilInputError(diagnostics);
    return { catalog, resolved, pools, diagnostics, clustersOf: placement?.clustersOf ?? new Map() };
  }

  /**
   * What one cluster runs, as charts under `scope` (the app itself, or a cluster's folder):
   * the worlds and pools `has` accepts (by `kind/namespace/name`) and what they need.
   */
  private renderCluster(scope: Construct, namespacesChart: Chart, input: CheckedInput, has: (key: string) => boolean): void {
    const { resolved } = input;
    const worldKey = (w: WorldPlan): string => placeKey({ kind: 'WorldInstance', namespace: w.world.metadata.namespace ?? 'default', name: w.world.metadata.name });
    const worlds = resolved.worlds.filter((w) => has(worldKey(w)));
    const pools = input.pools.filter((p) => has(placeKey({ kind: 'WorldPool', namespace: p.metadata.namespace ?? 'default', name: p.metadata.name })));
    const poolNamespaces = pools.map((p) => p.metadata.namespace ?? 'default');
    const worldNamespaces = input.catalog.worlds
      .filter((w) => has(placeKey({ kind: 'WorldInstance', namespace: w.metadata.namespace ?? 'default', name: w.metadata.name })))
      .map((w) => w.metadata.namespace ?? 'default');
    const namespaces = [PLATFORM_NAMESPACE, ...worldNamespaces, ...poolNamespaces];
    new Namespaces(namespacesChart, 'namespaces', namespaces, PLATFORM_NAMESPACE);
    // Where matchmakers claim worlds: a Role to bind their ServiceAccounts to.
    new MatchmakerRoles(namespacesChart, 'matchmaker', poolNamespaces);

    // The roles modules' ServiceAccounts are bound to: written here only, bound by name.
    const moduleRoles = new ModuleRoles(namespacesChart, 'module-roles', [...input.catalog.modules.values()]).names;

    const chart = (id: string): Chart => new Chart(scope, id);
    if (this.props.reconcilerImage !== false) {
      new Reconciler(chart('reconciler'), 'reconciler', {
        namespace: PLATFORM_NAMESPACE,
        image: this.props.reconcilerImage ?? DEFAULT_RECONCILER_IMAGE,
        settings: this.settings,
        moduleRoles,
      });
    }
    if (this.props.monitoring?.grafanaDashboards) new GrafanaDashboards(chart('monitoring'), 'grafana', { namespace: PLATFORM_NAMESPACE });
    new GlobalServices(chart('global-services'), 'global', {
      synth: true,
      plan: resolved.global,
      instances: globalInstances(resolved.global, worlds),
      settings: this.settings,
    });
    for (const plan of worlds) {
      const ns = plan.world.metadata.namespace ?? 'default';
      const worldChart = chart(worldChartId(scope, ns, plan.world.metadata.name));
      const progressDeadlineSeconds = plan.game?.spec.rollout?.progressDeadlineSeconds;
      new WorldResources(worldChart, 'world', { plan, settings: this.settings, ...(progressDeadlineSeconds ? { progressDeadlineSeconds } : {}) });
      this.worldCharts.set(`${ns}/${plan.world.metadata.name}`, worldChart);
    }
  }

  /**
   * Each static world carries the revision (issue 10) synth rendered it from: the name the
   * reconciler gives the same definitions, so `kubectl get worlds` says whether it is current.
   * So do its Deployments (metadata only: no restart): the reconciler tells from them whether
   * a world's new revision has reached its Deployments yet (kubectl applies the worlds first).
   */
  private recordRevisions(catalog: Catalog): void {
    const revisions = new Map<string, string | undefined>();
    for (const c of this.node.findAll()) {
      if (!(c instanceof ApiObject) || c.apiVersion !== API_VERSION || c.kind !== 'WorldInstance') continue;
      const world = c.toJson() as WorldInstance;
      const game = world.spec.gameRef.name;
      if (!revisions.has(game)) {
        const data = snapshotGame(catalog, game);
        revisions.set(game, data && revisionName(data));
      }
      const name = revisions.get(game);
      if (!name) continue;
      c.metadata.addAnnotation(ANNOTATION_REVISION, name);
      const chart = this.worldCharts.get(`${world.metadata.namespace ?? 'default'}/${world.metadata.name}`);
      for (const o of chart?.node.findAll() ?? []) if (o instanceof ApiObject && o.kind === 'Deployment') o.metadata.addAnnotation(ANNOTATION_REVISION, name);
    }
  }

  /** What App.synth writes for ordered charts (`0000-crds.k8s.yaml`, …), without its dependency graph (see `charts`). */
  private writeCharts(dir: string, files: readonly ChartFile[]): void {
    mkdirSync(dir, { recursive: true });
    files.forEach((f, i) => Yaml.save(join(dir, `${String(i).padStart(4, '0')}-${f.name}${this.outputFileExtension}`), f.objects));
  }

  /**
   * One cluster's files, in the order of a single dist/: the CRDs, its namespaces, the
   * definitions (every module and game; its own worlds and pools), then its own charts.
   */
  private clusterFiles(cluster: string, scope: Construct): ChartFile[] {
    const own = scope.node.children.filter((c): c is Chart => Chart.isChart(c));
    const [namespaces, ...rest] = own;
    const mine = (o: unknown): boolean => {
      const { kind, metadata } = o as { kind: string; metadata: { name: string; namespace?: string } };
      if (kind !== 'WorldInstance' && kind !== 'WorldPool') return true;
      return (this.placement.get(placeKey({ kind, namespace: metadata.namespace ?? 'default', name: metadata.name })) ?? []).includes(cluster);
    };
    const crds = this.charts.find((c) => c.node.id === 'crds')!;
    return [
      { name: 'crds', objects: chartObjects(crds) },
      { name: 'namespaces', objects: chartObjects(namespaces!) },
      { name: 'definitions', objects: chartObjects(this.definitions).filter(mine) },
      ...rest.map((c) => ({ name: c.node.id, objects: chartObjects(c) })),
    ];
  }

  override synth(): void {
    this.render();
    rmSync(this.outdir, { recursive: true, force: true });
    try {
      // What App.synth writes for ordered charts (`0000-crds.k8s.yaml`, …), without its
      // dependency graph (see `charts`).
      mkdirSync(this.outdir, { recursive: true });
      validateConstructs(this);
      if (this.clusterScopes.size === 0) this.writeCharts(this.outdir, this.charts.map((c) => ({ name: Names.toDnsLabel(c), objects: chartObjects(c) })));
      for (const [name, scope] of this.clusterScopes) this.writeCharts(join(this.outdir, name), this.clusterFiles(name, scope));
      if (this.props.clusters && this.props.gitops) {
        mkdirSync(join(this.outdir, 'gitops'));
        for (const f of gitopsFiles(this.props.clusters, this.props.gitops)) Yaml.save(join(this.outdir, 'gitops', f.name), f.objects);
      }
      mkdirSync(dirname(this.target), { recursive: true });
      if (this.props.helm) this.writeHelm(this.props.helm);
      publishDirectory(this.outdir, this.target);
    } finally {
      rmSync(this.outdir, { recursive: true, force: true });
    }
    if (this.extraOutdir) cpSync(this.target, this.extraOutdir, { recursive: true });
  }

  /**
   * The Helm charts of the folders just written to staging (so a chart is dist's text, byte
   * for byte), published beside dist/: one chart, or one per cluster named `anvil-<cluster>`.
   */
  private writeHelm(helm: HelmProps): void {
    const target = resolvePath(helm.outdir ?? `${this.target}-helm`);
    const staging = `${target}.staging-${process.pid}`;
    const base = basename(this.target); // not the full path: the same chart wherever it is synthesized
    const charts = this.clusterScopes.size === 0 ? [{ dir: '', chart: 'anvil', from: base }] : [...this.clusterScopes.keys()].map((c) => ({ dir: c, chart: `anvil-${c}`, from: `${base}/${c}` }));
    rmSync(staging, { recursive: true, force: true });
    try {
      for (const { dir, chart, from } of charts) {
        const src = join(this.outdir, dir);
        const files = readdirSync(src, { withFileTypes: true }).filter((e) => e.isFile()).map((e) => ({ name: e.name, text: readFileSync(join(src, e.name), 'utf8') }));
        for (const f of helmChartFiles(files.sort((a, b) => (a.name < b.name ? -1 : 1)), chart, helm, from)) {
          mkdirSync(dirname(join(staging, dir, f.name)), { recursive: true });
          writeFileSync(join(staging, dir, f.name), f.text);
        }
      }
      mkdirSync(dirname(target), { recursive: true });
      publishDirectory(staging, target);
    } finally {
      rmSync(staging, { recursive: true, force: true });
    }
  }
}

/**
 * `world-<namespace>-<name>`, which also names the world's file in dist/; when that is
 * taken (namespace `a-b` + world `c` and namespace `a` + world `b-c`), with a hash of both.
 */
function worldChartId(scope: Construct, namespace: string, name: string): string {
  const plain = `world-${namespace}-${name}`;
  return scope.node.tryFindChild(plain) ? `world-${tupleName('world-chart', [namespace, name])}` : plain;
}

/** A file of dist/: `<index>-<name>.k8s.yaml` and the objects in it. */
interface ChartFile {
  name: string;
  objects: unknown[];
}

interface CheckedInput {
  catalog: Catalog;
  resolved: ReturnType<typeof resolveAll>;
  pools: WorldPool[];
  diagnostics: Diagnostic[];
  /** With clusters: `kind/namespace/name` of each world and pool → its clusters. */
  clustersOf: Map<string, string[]>;
}

/** The app's worlds and pools, for placing them in clusters. */
function placeables(app: AnvilApp): Placeable[] {
  return [...app.definitionObjects(), ...app.poolObjects()].flatMap(({ object, source }) => {
    const o = object as { kind?: string; metadata?: { name?: string; namespace?: string }; spec?: { region?: string } };
    if (o.kind !== 'WorldInstance' && o.kind !== 'WorldPool') return [];
    return [{ source, kind: o.kind, namespace: o.metadata?.namespace ?? 'default', name: o.metadata?.name ?? '', region: o.spec?.region ?? 'default' }];
  });
}

/** Every object under the given scopes, with the chart it is in, for the name collision check. */
function renderedObjects(scopes: readonly (Construct | readonly Construct[])[]): NamedObject[] {
  return scopes
    .flat()
    .flatMap((s) => s.node.findAll())
    .filter(ApiObject.isApiObject)
    .map((o) => ({
      kind: `${o.apiVersion.split('/').length > 1 ? `${o.apiVersion.split('/')[0]}/` : ''}${o.kind}`,
      name: o.metadata.name!,
      ...(o.metadata.namespace ? { namespace: o.metadata.namespace } : {}),
      owner: `${Chart.of(o).node.id} (${o.node.path})`,
    }));
}

/** cdk8s's construct validation, once for the app (Chart.toJson repeats it for every chart). */
function validateConstructs(app: App): void {
  const errors = app.node.findAll().flatMap((c) => c.node.validate().map((e) => `[${c.node.path}] ${e}`));
  if (errors.length > 0) throw new Error(`Validation failed with the following errors:\n  ${errors.join('\n  ')}`);
}

/**
 * A chart's objects as Chart.toJson gives them. cdk8s orders them by the dependencies
 * between them; Anvil adds none, so that is construction order, and each object is
 * serialized once without re-validating the whole app per chart (quadratic in worlds).
 */
export function chartObjects(chart: Chart): unknown[] {
  const constructs = chart.node.findAll();
  if (constructs.some((c) => c.node.dependencies.length > 0)) return chart.toJson();
  return constructs.filter((c): c is ApiObject => ApiObject.isApiObject(c) && Chart.of(c) === chart).map((o) => o.toJson());
}
