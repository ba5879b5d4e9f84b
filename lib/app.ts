/**
 * AnvilApp: a cdk8s App that, at synth, validates every definition, resolves every static
 * world and the global services, and only then renders and writes dist/ — all problems
 * reported together, and nothing written when there is one.
 */
import { cpSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, join, resolve as resolvePath } from 'node:path';
import { ApiObject, App, Chart, Names, Yaml, YamlOutputType } from 'cdk8s';
import { AnvilInputError, formatDiagnostic, hasErrors, type Diagnostic } from './diagnostics.js';
import { buildCatalog, type Catalog, type Sourced } from './resolve/catalog.js';
import { revisionName, snapshotGame } from './resolve/revision.js';
import { ANNOTATION_REVISION } from './render/labels.js';
import { PLATFORM_NAMESPACE, resolveAll } from './resolve/resolve.js';
import { GlobalServices, globalInstances } from './render/global.js';
import { CustomResourceDefinitions, Namespaces, Reconciler } from './render/platform.js';
import { API_VERSION, type WorldInstance } from './api/schema.js';
import { DEFAULT_SETTINGS, type RenderSettings } from './render/settings.js';
import { WorldResources } from './render/world.js';
import { publishDirectory } from './publish.js';

export interface AnvilAppProps {
  /** Where dist goes. Default: `dist` (the cdk8s CLI's CDK8S_OUTDIR is honoured too). */
  outdir?: string;
  settings?: Partial<RenderSettings>;
  /** The reconciler's image; `false` leaves the reconciler out of dist. */
  reconcilerImage?: string | false;
  /** Warnings go here (default: stderr). */
  onDiagnostic?: (d: Diagnostic) => void;
}

const DEFINITION_KINDS = ['ModuleManifest', 'GameDefinition', 'WorldInstance'];

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
    this.settings = { ...DEFAULT_SETTINGS, ...props.settings };
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
    return this.node
      .findAll()
      // By kind, not instanceof: cdk8s makes `instanceof` true for every ApiObject subclass.
      .filter((c): c is ApiObject => c instanceof ApiObject && c.apiVersion === API_VERSION && DEFINITION_KINDS.includes(c.kind))
      .map((c) => ({ object: c.toJson(), source: `${c.kind}/${c.metadata.name} (${c.node.path})` }));
  }

  /** Validates and resolves; throws AnvilInputError listing every problem; then renders. */
  render(): void {
    if (this.rendered) return;
    const report = this.props.onDiagnostic ?? ((d: Diagnostic) => process.stderr.write(`${formatDiagnostic(d)}\n`));
    const { catalog, diagnostics: catalogProblems } = buildCatalog(this.definitionObjects());
    const resolved = resolveAll(catalog);
    const diagnostics = [...catalogProblems, ...resolved.diagnostics];
    if (hasErrors(diagnostics)) throw new AnvilInputError(diagnostics);
    diagnostics.forEach(report);

    const settings = this.settings;
    const namespaces = [PLATFORM_NAMESPACE, ...catalog.worlds.map((w) => w.metadata.namespace ?? 'default')];
    new Namespaces(this.namespacesChart, 'namespaces', namespaces, PLATFORM_NAMESPACE);

    const chart = (id: string): Chart => new Chart(this, id);
    if (this.props.reconcilerImage !== false) {
      new Reconciler(chart('reconciler'), 'reconciler', {
        namespace: PLATFORM_NAMESPACE,
        image: this.props.reconcilerImage ?? DEFAULT_RECONCILER_IMAGE,
      });
    }
    new GlobalServices(chart('global-services'), 'global', {
      synth: true,
      plan: resolved.global,
      instances: globalInstances(resolved.global, resolved.worlds),
      settings,
    });
    for (const plan of resolved.worlds) {
      const ns = plan.world.metadata.namespace ?? 'default';
      const progressDeadlineSeconds = plan.game?.spec.rollout?.progressDeadlineSeconds;
      new WorldResources(chart(`world-${ns}-${plan.world.metadata.name}`), 'world', { plan, settings, ...(progressDeadlineSeconds ? { progressDeadlineSeconds } : {}) });
    }
    this.recordRevisions(catalog);
    this.rendered = true;
  }

  /**
   * Each static world carries the revision (issue 10) synth rendered it from: the name the
   * reconciler gives the same definitions, so `kubectl get worlds` says whether it is current.
   */
  private recordRevisions(catalog: Catalog): void {
    const revisions = new Map<string, string | undefined>();
    for (const c of this.node.findAll()) {
      if (!(c instanceof ApiObject) || c.apiVersion !== API_VERSION || c.kind !== 'WorldInstance') continue;
      const game = (c.toJson() as WorldInstance).spec.gameRef.name;
      if (!revisions.has(game)) {
        const data = snapshotGame(catalog, game);
        revisions.set(game, data && revisionName(data));
      }
      const name = revisions.get(game);
      if (name) c.metadata.addAnnotation(ANNOTATION_REVISION, name);
    }
  }

  override synth(): void {
    this.render();
    rmSync(this.outdir, { recursive: true, force: true });
    try {
      // What App.synth writes for ordered charts (`0000-crds.k8s.yaml`, …), without its
      // dependency graph (see `charts`).
      mkdirSync(this.outdir, { recursive: true });
      validateConstructs(this);
      this.charts.forEach((c, i) => {
        Yaml.save(join(this.outdir, `${String(i).padStart(4, '0')}-${Names.toDnsLabel(c)}${this.outputFileExtension}`), chartObjects(c));
      });
      mkdirSync(dirname(this.target), { recursive: true });
      publishDirectory(this.outdir, this.target);
    } finally {
      rmSync(this.outdir, { recursive: true, force: true });
    }
    if (this.extraOutdir) cpSync(this.target, this.extraOutdir, { recursive: true });
  }
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
function chartObjects(chart: Chart): unknown[] {
  const constructs = chart.node.findAll();
  if (constructs.some((c) => c.node.dependencies.length > 0)) return chart.toJson();
  return constructs.filter((c): c is ApiObject => ApiObject.isApiObject(c) && Chart.of(c) === chart).map((o) => o.toJson());
}
