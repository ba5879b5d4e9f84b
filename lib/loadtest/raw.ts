/**
 * The API server's own pace, as the yardstick for Anvil's: the objects renderWorld produces
 * for one world of the game, created with plain POSTs (no reconciler, no server-side apply,
 * no waiting for pods), N times with the same concurrency, in a scratch namespace that is
 * deleted afterwards.
 */
import { API_VERSION, type WorldInstance } from '../api/schema.js';
import { buildCatalog, type Catalog } from '../resolve/catalog.js';
import { resolveWorld } from '../resolve/resolve.js';
import { renderWorld } from '../render/world.js';
import { DEFAULT_SETTINGS } from '../render/settings.js';
import { formatDiagnostic, hasErrors } from '../diagnostics.js';
import { anvil, deleteNamespace, ensureNamespace, errorText, type Kube } from './kube.js';
import { forEachBounded } from './pool.js';

export interface RawResult {
  namespace: string;
  worlds: number;
  objectsPerWorld: number;
  /** Object kinds in one world, e.g. {Deployment: 4, Service: 4, …}. */
  kinds: Record<string, number>;
  durationSeconds: number;
  worldsPerSecond: number;
  objectsPerSecond: number;
  errors: number;
  firstError?: string;
  /** Whether the scratch namespace was gone before the deadline. */
  cleanedUp: boolean;
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

export async function measureRawCreates(
  kube: Kube,
  opts: { game: string; worlds: number; concurrency: number; namespace: string; cleanupTimeoutMs: number; onProgress?: (done: number) => void },
): Promise<RawResult> {
  const catalog = await clusterCatalog(kube);
  // Rendered before the clock starts: the yardstick is the API server, not cdk8s.
  const perWorld = Array.from({ length: opts.worlds }, (_, i) => worldObjects(catalog, opts.game, opts.namespace, `raw-${i}`));
  const kinds: Record<string, number> = {};
  for (const o of perWorld[0] ?? []) kinds[o.kind] = (kinds[o.kind] ?? 0) + 1;

  await ensureNamespace(kube, opts.namespace, { 'app.kubernetes.io/managed-by': 'anvil-load-test' });
  let errors = 0;
  let firstError: string | undefined;
  let done = 0;
  const t0 = performance.now();
  await forEachBounded(opts.worlds, opts.concurrency, async (i) => {
    for (const obj of perWorld[i]!) {
      try {
        await kube.objects.create(obj);
      } catch (e) {
        errors++;
        firstError ??= `${obj.kind}/${obj.metadata?.name}: ${errorText(e)}`;
      }
    }
    opts.onProgress?.(++done);
  });
  const seconds = (performance.now() - t0) / 1000;
  const objects = perWorld.reduce((s, w) => s + w.length, 0);
  const cleanedUp = await deleteNamespace(kube, opts.namespace, opts.cleanupTimeoutMs).catch(() => false);
  return {
    namespace: opts.namespace,
    worlds: opts.worlds,
    objectsPerWorld: perWorld[0]?.length ?? 0,
    kinds,
    durationSeconds: seconds,
    worldsPerSecond: opts.worlds / seconds,
    objectsPerSecond: objects / seconds,
    errors,
    ...(firstError ? { firstError } : {}),
    cleanedUp,
  };
}
