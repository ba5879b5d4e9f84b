/**
 * The control plane's own floor for the work a load test asks of Anvil: the objects
 * renderWorld produces for each of N worlds of the game, created by a plain client with the
 * reconciler's transport (its Kube client: one keep-alive agent) and its concurrency (as many
 * worlds at once as the reconciler has workers, up to APPLY_PARALLELISM requests per world,
 * workloads after what they mount), then the time until each world's Deployments are
 * Available by the reconciler's own test (deploymentAvailable). All N worlds are asked for
 * at the start, as a burst of WorldInstances would be, so a world's latency includes its wait
 * for a free worker, as it does in the reconciler's queue. The objects are labelled
 * `managed-by: anvil-load-test`, so the reconciler neither caches nor reconciles them. The
 * namespace is deleted at the end and waited for, so that the next phase starts on an idle
 * control plane.
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import { API_VERSION, type WorldInstance } from '../api/schema.js';
import { buildCatalog, type Catalog } from '../resolve/catalog.js';
import { resolveWorld } from '../resolve/resolve.js';
import { renderWorld } from '../render/world.js';
import { DEFAULT_SETTINGS } from '../render/settings.js';
import { LABEL_WORLD, MANAGED_BY } from '../render/labels.js';
import { formatDiagnostic, hasErrors } from '../diagnostics/diagnostics.js';
import { APPLY_PARALLELISM, OWNED_KINDS, inParallel } from '../reconciler/worlds/apply.js';
import { Informer } from '../reconciler/runtime/informer.js';
import { Kube as ReconcilerKube, errorMessage, loadKubeConfig } from '../reconciler/runtime/kube.js';
import { ReconcilerMetrics } from '../reconciler/runtime/metrics.js';
import { deploymentAvailable } from '../reconciler/shared/readiness.js';
import { trimOwned } from '../reconciler/runtime/trim.js';
import { anvil, deleteNamespace, ensureNamespace, type Kube } from '../client/kube.js';
import { byLabel, parseMetrics } from './metrics.js';
import { forEachBounded } from './pool.js';
import { round, roundSummary, summarize, type Summary } from './stats.js';

export interface FloorResult {
  namespace: string;
  worlds: number;
  /** Worlds in progress at once (the reconciler's --concurrency). */
  concurrency: number;
  objectsPerWorld: number;
  /** Object kinds in one world, e.g. {Deployment: 4, Service: 4, …}. */
  kinds: Record<string, number>;
  /** Worlds whose Deployments were all Available before the deadline. */
  available: number;
  /** The others, by name (stragglers). */
  notAvailable: string[];
  /** Start of the phase to each world's Deployments all Available, seconds. */
  latencySeconds: Summary | null;
  /** Start to the last create answered. */
  createSeconds: number;
  /** Start to the last world Available. */
  durationSeconds: number;
  worldsPerSecond: number;
  /** Requests the client made, by HTTP status code. */
  requestsByCode: Record<string, number>;
  requestsPerWorld: number;
  /** CPU time of the client process during the phase (creates and the Deployment watch). */
  clientCpuSeconds: number;
  errors: number;
  firstError?: string;
  /** Whether the namespace was gone before the deadline, and how long that took. */
  cleanedUp: boolean;
  cleanupSeconds: number;
}

/** Every ModuleManifest and GameDefinition in the cluster, as a resolver catalog. */
export async function clusterCatalog(kube: Kube): Promise<Catalog> {
  const list = async (plural: string) =>
    ((await kube.custom.listClusterCustomObject({ ...anvil, plural })) as { items: { kind?: string; apiVersion?: string }[] }).items;
  const [modules, games] = await Promise.all([list('modulemanifests'), list('gamedefinitions')]);
  const sourced = [...modules.map((o) => ({ ...o, kind: 'ModuleManifest', apiVersion: API_VERSION })), ...games.map((o) => ({ ...o, kind: 'GameDefinition', apiVersion: API_VERSION }))].map(
    (object) => ({ object, source: `${object.kind}/${(object as { metadata?: { name?: string } }).metadata?.name}` }),
  );
  return buildCatalog(sourced).catalog;
}

/** The objects of world `name` of `game` in `namespace`, as synth/the reconciler would render them. */
export function worldObjects(catalog: Catalog, game: string, namespace: string, name: string): any[] {
  const world: WorldInstance = { apiVersion: API_VERSION, kind: 'WorldInstance', metadata: { name, namespace }, spec: { gameRef: { name: game }, region: 'default', shards: 1 } };
  const plan = resolveWorld(catalog, world);
  if (hasErrors(plan.diagnostics)) {
    throw new Error(`game ${game} does not resolve:\n${plan.diagnostics.map(formatDiagnostic).join('\n')}`);
  }
  return renderWorld(plan, DEFAULT_SETTINGS);
}


const KIND_ORDER = new Map<string, number>(OWNED_KINDS.map((k, i) => [k.kind, i]));
/** As the reconciler's Applier orders a world's objects: workloads after what they mount. */
const isWorkload = (o: KubernetesObject): boolean => (KIND_ORDER.get(o.kind ?? '') ?? 99) >= (KIND_ORDER.get('Deployment') ?? 99);

/** A world's objects for the floor: not managed by `anvil`, so the reconciler ignores them. */
function floorObjects(catalog: Catalog, game: string, namespace: string, name: string): KubernetesObject[] {
  return worldObjects(catalog, game, namespace, name).map((o: KubernetesObject) => ({ ...o, metadata: { ...o.metadata, labels: { ...o.metadata?.labels, [MANAGED_BY]: 'anvil-load-test' } } }));
}

/**
 * Follows the floor's Deployments (the reconciler's Informer, with its trimming) and notes
 * when each world has all of its Deployments Available.
 */
class Availability {
  readonly doneAt = new Map<string, number>();
  private readonly ready = new Map<string, Set<string>>();
  private waiters: (() => void)[] = [];
  readonly informer: Informer<KubernetesObject>;

  constructor(kube: ReconcilerKube, namespace: string, private readonly expected: ReadonlyMap<string, number>) {
    this.informer = new Informer<KubernetesObject>(kube.kc, kube, {
      path: `/apis/apps/v1/namespaces/${namespace}/deployments`,
      labelSelector: `${MANAGED_BY}=anvil-load-test`,
      trim: trimOwned('Deployment'),
      log: () => {},
      onEvent: (event, d) => this.observe(event, d),
    });
  }

  private observe(event: string, d: KubernetesObject): void {
    const world = d.metadata?.labels?.[LABEL_WORLD];
    if (!world || this.doneAt.has(world) || event === 'delete' || !deploymentAvailable(d)) return;
    const set = this.ready.get(world) ?? new Set<string>();
    set.add(d.metadata?.name ?? '');
    this.ready.set(world, set);
    if (set.size >= (this.expected.get(world) ?? Infinity)) {
      this.doneAt.set(world, performance.now());
      for (const w of this.waiters.splice(0)) w();
    }
  }

  /** Resolves at the next world done, or after `ms`. */
  next(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(resolve, ms);
      this.waiters.push(() => {
        clearTimeout(t);
        resolve();
      });
    });
  }
}

export interface FloorOptions {
  game: string;
  worlds: number;
  /** Worlds in progress at once: the reconciler's --concurrency. */
  concurrency: number;
  namespace: string;
  kubeconfig?: string;
  timeoutSeconds: number;
  /** Delete the namespace and wait until it is gone (default true). */
  cleanup?: boolean;
  onProgress?: (done: number) => void;
}

export async function measureFloor(kube: Kube, opts: FloorOptions): Promise<FloorResult> {
  const catalog = await clusterCatalog(kube);
  // Rendered before the clock starts: the floor is the control plane's, not cdk8s'.
  const names = Array.from({ length: opts.worlds }, (_, i) => `floor-${i}`);
  const perWorld = names.map((name) => floorObjects(catalog, opts.game, opts.namespace, name));
  const kinds: Record<string, number> = {};
  for (const o of perWorld[0] ?? []) kinds[o.kind ?? ''] = (kinds[o.kind ?? ''] ?? 0) + 1;
  const expected = new Map(names.map((n, i) => [n, perWorld[i]!.filter((o) => o.kind === 'Deployment').length]));

  await ensureNamespace(kube, opts.namespace, { [MANAGED_BY]: 'anvil-load-test' });
  const metrics = new ReconcilerMetrics();
  const client = new ReconcilerKube(loadKubeConfig(opts.kubeconfig), metrics, { maxSockets: opts.concurrency * APPLY_PARALLELISM + 8 });
  const availability = new Availability(client, opts.namespace, expected);
  await availability.informer.start();

  let errors = 0;
  let firstError: string | undefined;
  const create = async (o: KubernetesObject) => {
    try {
      await client.create(o);
    } catch (e) {
      errors++;
      firstError ??= `${o.kind}/${o.metadata?.name}: ${errorMessage(e)}`;
    }
  };
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const deadline = t0 + opts.timeoutSeconds * 1000;
  let createdAt = t0;
  await forEachBounded(opts.worlds, opts.concurrency, async (i) => {
    await inParallel(perWorld[i]!.filter((o) => !isWorkload(o)), APPLY_PARALLELISM, create);
    await inParallel(perWorld[i]!.filter(isWorkload), APPLY_PARALLELISM, create);
    createdAt = performance.now();
  });
  while (availability.doneAt.size < opts.worlds && performance.now() < deadline) {
    opts.onProgress?.(availability.doneAt.size);
    await availability.next(Math.min(1000, Math.max(0, deadline - performance.now())));
  }
  const cpu = process.cpuUsage(cpu0);
  await availability.informer.stop();

  const latencies = [...availability.doneAt.values()].map((t) => (t - t0) / 1000);
  const last = latencies.length ? Math.max(...latencies) : 0;
  const requestsByCode = byLabel(parseMetrics(await metrics.registry.metrics()), 'anvil_api_requests_total', 'code');
  const requests = Object.values(requestsByCode).reduce((a, b) => a + b, 0);
  const c0 = performance.now();
  const cleanedUp = opts.cleanup === false ? false : await deleteNamespace(kube, opts.namespace, Math.max(120_000, opts.timeoutSeconds * 1000)).catch(() => false);
  return {
    namespace: opts.namespace,
    worlds: opts.worlds,
    concurrency: opts.concurrency,
    objectsPerWorld: perWorld[0]?.length ?? 0,
    kinds,
    available: availability.doneAt.size,
    notAvailable: names.filter((n) => !availability.doneAt.has(n)),
    latencySeconds: roundSummary(summarize(latencies)),
    createSeconds: round((createdAt - t0) / 1000),
    durationSeconds: round(last),
    worldsPerSecond: round(last > 0 ? availability.doneAt.size / last : 0),
    requestsByCode,
    requestsPerWorld: round(opts.worlds ? requests / opts.worlds : 0, 2),
    clientCpuSeconds: round((cpu.user + cpu.system) / 1e6),
    errors,
    ...(firstError ? { firstError } : {}),
    cleanedUp,
    cleanupSeconds: round((performance.now() - c0) / 1000),
  };
}
