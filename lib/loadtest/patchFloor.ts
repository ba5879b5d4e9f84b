/**
 * The floor a claim is measured against: the API server's pace for the smallest write a
 * binding makes, a single PATCH of a WorldInstance label. As many PATCHes as claims, at the
 * same concurrency, over the same keep-alive client, each on its own WorldInstance (so
 * they never contend for one object), in a scratch namespace deleted afterwards. The worlds
 * are created, and the reconciler has reported on them, before the clock starts.
 */
import { CustomObjectsApi, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { API_VERSION } from '../api/schema.js';
import { MANAGED_BY } from '../render/labels.js';
import { anvil, deleteNamespace, ensureNamespace, errorText, type Kube } from '../client/kube.js';
import { ListWatch } from './listWatch.js';
import { forEachBounded } from './pool.js';
import { round, summarize, type Summary } from './stats.js';

export interface PatchFloorResult {
  namespace: string;
  patches: number;
  concurrency: number;
  errors: number;
  firstError?: string;
  /** One PATCH request, seconds. */
  latencySeconds: Summary | null;
  durationSeconds: number;
  patchesPerSecond: number;
  cleanedUp: boolean;
}

/** A game no one defines: the reconciler reports these worlds Failed once and leaves them be. */
const NO_GAME = 'anvil-load-test-floor';
const SETTLE_MS = 20_000;

export async function measureRawPatches(
  kube: Kube,
  api: CustomObjectsApi,
  opts: { patches: number; concurrency: number; namespace: string; onProgress?: (done: number) => void },
): Promise<PatchFloorResult> {
  const { namespace } = opts;
  await ensureNamespace(kube, namespace, { [MANAGED_BY]: 'anvil-load-test' });
  const names = Array.from({ length: opts.patches }, (_, i) => `floor-${i}`);
  await forEachBounded(names.length, opts.concurrency, async (i) => {
    const body = { apiVersion: API_VERSION, kind: 'WorldInstance', metadata: { name: names[i]!, namespace, labels: { [MANAGED_BY]: 'anvil-load-test' } }, spec: { gameRef: { name: NO_GAME } } };
    await api.createNamespacedCustomObject({ ...anvil, namespace, plural: 'worldinstances', body });
  });
  await settled(kube, namespace, names.length);

  const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
  const latencies: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  let done = 0;
  const t0 = performance.now();
  await forEachBounded(names.length, opts.concurrency, async (i) => {
    const body = { metadata: { labels: { 'anvil.dev/floor': `p${i}` } } };
    const start = performance.now();
    try {
      await api.patchNamespacedCustomObject({ ...anvil, namespace, plural: 'worldinstances', name: names[i]!, body }, mergePatch);
      latencies.push((performance.now() - start) / 1000);
    } catch (e) {
      errors++;
      firstError ??= `WorldInstance/${names[i]}: ${errorText(e)}`;
    }
    opts.onProgress?.(++done);
  });
  const seconds = (performance.now() - t0) / 1000;
  const cleanedUp = await deleteNamespace(kube, namespace, 120_000).catch(() => false);
  const s = summarize(latencies);
  return {
    namespace,
    patches: opts.patches,
    concurrency: opts.concurrency,
    errors,
    ...(firstError ? { firstError } : {}),
    latencySeconds: s && { count: s.count, min: round(s.min, 4), mean: round(s.mean, 4), p50: round(s.p50, 4), p95: round(s.p95, 4), p99: round(s.p99, 4), max: round(s.max, 4) },
    durationSeconds: round(seconds, 4),
    patchesPerSecond: round(seconds > 0 ? latencies.length / seconds : 0, 2),
    cleanedUp,
  };
}

/** Until the reconciler has given every scratch world a phase (or SETTLE_MS without one): its writes stay out of the clock. */
async function settled(kube: Kube, namespace: string, count: number): Promise<void> {
  const phased = new Set<string>();
  const watch = new ListWatch(kube, { namespace, plural: 'worldinstances' }, (type, obj) => {
    const name = obj.metadata?.name;
    if (name && type !== 'DELETED' && (obj as { status?: { phase?: string } }).status?.phase) phased.add(name);
  });
  await watch.start();
  const deadline = performance.now() + SETTLE_MS;
  try {
    while (phased.size < count && performance.now() < deadline) {
      await Promise.race([watch.changed(), new Promise((r) => setTimeout(r, Math.max(0, Math.min(1000, deadline - performance.now()))))]);
    }
  } finally {
    watch.stop();
  }
}
