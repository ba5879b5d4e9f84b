/**
 * `anvil load-test`: first the control plane's floor for the same work (floor.ts: the same
 * objects of the same number of worlds created by a plain client with the reconciler's
 * transport and concurrency, until their Deployments are Available; its namespace deleted and
 * waited for), then N WorldInstances of one game created with bounded concurrency, followed
 * by watch to phase Running; latency from the client's create call to Running as the watch
 * sees it; the reconciler's counters, CPU and memory from its /metrics; Anvil's figures over
 * the floor's as ratios.
 */
import { randomBytes } from 'node:crypto';
import { API_VERSION, type WorldInstance } from '../api/schema.js';
import { LABEL_WORLDS_NAMESPACE, MANAGED_BY } from '../render/labels.js';
import { anvil, connect, ensureNamespace, errorText, statusOf, type Kube } from '../client/kube.js';
import { byLabel, deltaByKey, has, scrape, sumOf, type Sample } from './metrics.js';
import { forEachBounded } from './pool.js';
import { measureFloor, type FloorResult } from './floor.js';
import { round, roundSummary, summarize, type Summary } from './stats.js';
import { WorldTracker } from './worlds.js';

/** Marks the load test's worlds; its value is the run's id. */
export const LABEL_LOAD_TEST = 'anvil.dev/load-test';

export interface LoadTestOptions {
  worlds: number;
  concurrency: number;
  namespace: string;
  /** Default: the first GameDefinition by name. */
  game?: string;
  kubeconfig?: string;
  cleanup: boolean;
  timeoutSeconds: number;
  metricsUrl: string;
  /** Measure the control plane's floor first (default true). */
  floor: boolean;
  /** The reconciler's --concurrency: worlds the floor has in progress at once. */
  reconcilerConcurrency: number;
  /** Progress hooks for the CLI's bar. */
  onPhase?: (phase: 'floor' | 'create' | 'cleanup', total: number) => void;
  onProgress?: (p: { created: number; running: number; failed: number }) => void;
  log?: (line: string) => void;
}

export interface WorldProblem {
  name: string;
  phase: string | null;
  reason?: string;
  message?: string;
}

export interface LoadTestResult {
  runId: string;
  game: string;
  namespace: string;
  worlds: number;
  concurrency: number;
  timeoutSeconds: number;
  running: number;
  /** Worlds that went Failed or whose create call failed. */
  failed: WorldProblem[];
  /** Worlds neither Running nor Failed when the timeout came. */
  timedOut: WorldProblem[];
  /** Creation (client create call) to Running, seconds; null when no world got there. */
  latencySeconds: Summary | null;
  /** The create calls alone, seconds. */
  createCallSeconds: Summary | null;
  /** First create call to last world Running. */
  durationSeconds: number;
  worldsPerSecond: number;
  /** The control plane's floor for the same work, measured before (null with --no-floor). */
  floor: FloorResult | null;
  /** Anvil over the floor: latency percentiles (lower is better) and throughput (higher is better). */
  ratios: { p50: number | null; p95: number | null; p99: number | null; throughput: number | null } | null;
  reconciler: ReconcilerFigures;
  cleanup: { requested: boolean; done: boolean; remaining: number };
  ok: boolean;
}

export interface ReconcilerFigures {
  metricsUrl: string;
  reachable: boolean;
  error?: string;
  /** Deltas over the run (null when the counter is not exported). */
  reconciles: Record<string, number> | null;
  reconcileErrors: number | null;
  apiRequests: number | null;
  apiRequestsByVerb: Record<string, number> | null;
  apiRequestsByCode: Record<string, number> | null;
  /** Writes by verb and kind (`create Event`, `apply-status WorldInstance`); absent from runs before the reconciler counted them. */
  apiWritesByKind?: Record<string, number>;
  apiRequestsPerWorld: number | null;
  /** process_cpu_seconds_total over the run, and per world. */
  cpuSeconds: number | null;
  cpuSecondsPerWorld: number | null;
  /** First create to the last apply the reconciler counted (sampled every 0.5 s). */
  lastApplySeconds: number | null;
  peakMemoryBytes: number | null;
  /** RSS and V8 heap used at the end of the run. */
  rssBytes: number | null;
  heapUsedBytes: number | null;
  /** Queue depth at its highest among the samples. */
  peakQueueDepth: number | null;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The game to use: the one named, or the first GameDefinition by name. */
export async function pickGame(kube: Kube, name?: string): Promise<string> {
  if (name) {
    try {
      await kube.custom.getClusterCustomObject({ ...anvil, plural: 'gamedefinitions', name });
      return name;
    } catch (e) {
      throw new Error(statusOf(e) === 404 ? `GameDefinition ${name} not found` : `reading GameDefinition ${name}: ${errorText(e)}`);
    }
  }
  const list = (await kube.custom.listClusterCustomObject({ ...anvil, plural: 'gamedefinitions' })) as { items: { metadata: { name: string } }[] };
  const names = list.items.map((g) => g.metadata.name).sort();
  if (names.length === 0) throw new Error('no GameDefinition in the cluster: apply one (e.g. dist/) or pass --game');
  return names[0]!;
}

/** Samples the reconciler's /metrics while the run goes: peak RSS, queue depth, last apply. */
class MetricsSampler {
  peakMemory: number | null = null;
  peakQueue: number | null = null;
  /** performance.now() of the first sample that saw the apply count at its latest value. */
  lastApplyAt: number | null = null;
  private applies = -1;
  private timer?: NodeJS.Timeout;
  private stopped = false;
  constructor(private readonly url: string) {}
  take(samples: Sample[]): void {
    if (has(samples, 'process_resident_memory_bytes')) this.peakMemory = Math.max(this.peakMemory ?? 0, sumOf(samples, 'process_resident_memory_bytes'));
    if (has(samples, 'anvil_workqueue_depth')) this.peakQueue = Math.max(this.peakQueue ?? 0, sumOf(samples, 'anvil_workqueue_depth'));
    // Objects are written by apply, and created by POST (create) since no GET precedes a new object.
    const applies = sumOf(samples, 'anvil_api_requests_total', { verb: 'apply' }) + sumOf(samples, 'anvil_api_requests_total', { verb: 'create' });
    if (this.applies >= 0 && applies > this.applies) this.lastApplyAt = performance.now();
    this.applies = applies;
  }
  start(everyMs = 500): void {
    const tick = async () => {
      await scrape(this.url, 2000).then((s) => this.take(s), () => undefined);
      // stop() may have come while this scrape was in flight: no next tick then (a timer set
      // after stop() kept \`anvil load-test\` from exiting after it had printed its result).
      if (!this.stopped) this.timer = setTimeout(tick, everyMs);
    };
    this.timer = setTimeout(tick, everyMs);
  }
  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }
}

export async function runLoadTest(opts: LoadTestOptions): Promise<LoadTestResult> {
  const log = opts.log ?? (() => {});
  const kube = connect(opts.kubeconfig);
  const game = await pickGame(kube, opts.game);
  const runId = randomBytes(3).toString('hex');
  const selector = `${LABEL_LOAD_TEST}=${runId}`;
  const names = Array.from({ length: opts.worlds }, (_, i) => `lt-${runId}-${String(i).padStart(String(opts.worlds - 1).length, '0')}`);

  // The floor first, on the same control plane, its namespace gone before Anvil's phase.
  const floor = opts.floor && opts.worlds > 0 ? await runFloor(kube, game, runId, opts, log) : null;
  if (await ensureNamespace(kube, opts.namespace, { [MANAGED_BY]: 'anvil-load-test', [LABEL_WORLDS_NAMESPACE]: 'true' })) log(`created namespace ${opts.namespace}`);

  const { sampler, before, metricsError } = await startMetrics(opts, log);
  const run = new CreateRun(opts);
  const tracker = new WorldTracker(kube, opts.namespace, selector, () => opts.onProgress?.(run.counts(tracker)));
  await tracker.start();
  if (before) sampler.start();

  opts.onPhase?.('create', opts.worlds);
  const t0 = performance.now();
  const deadline = t0 + opts.timeoutSeconds * 1000;
  await forEachBounded(opts.worlds, opts.concurrency, (i) => run.create(kube, names[i]!, game, runId, tracker));

  // Then wait, woken by watch events, until every world is Running or Failed, or the deadline.
  const settled = () => {
    const c = run.counts(tracker);
    return c.running + c.failed >= opts.worlds;
  };
  while (!settled() && performance.now() < deadline) {
    await Promise.race([tracker.changed(), sleep(Math.max(0, Math.min(1000, deadline - performance.now())))]);
  }
  tracker.stop();
  sampler.stop();

  const { latencies, failed, timedOut, lastRunning } = run.outcomes(names, tracker, t0);
  const durationSeconds = (lastRunning - t0) / 1000;
  const running = latencies.length;
  const reconciler = await reconcilerFigures(opts, before, metricsError, sampler, t0);

  const cleanup = { requested: opts.cleanup, done: false, remaining: 0 };
  if (opts.cleanup) {
    opts.onPhase?.('cleanup', opts.worlds);
    cleanup.remaining = await deleteWorlds(kube, opts.namespace, selector, Math.max(60_000, opts.timeoutSeconds * 1000));
    cleanup.done = cleanup.remaining === 0;
  }

  const worldsPerSecond = durationSeconds > 0 ? running / durationSeconds : 0;
  const latencySeconds = roundSummary(summarize(latencies));
  return {
    runId,
    game,
    namespace: opts.namespace,
    worlds: opts.worlds,
    concurrency: opts.concurrency,
    timeoutSeconds: opts.timeoutSeconds,
    running,
    failed,
    timedOut,
    latencySeconds,
    createCallSeconds: roundSummary(summarize(run.createCalls)),
    durationSeconds: round(durationSeconds),
    worldsPerSecond: round(worldsPerSecond),
    floor,
    ratios: floor && ratiosOf(latencySeconds, worldsPerSecond, floor),
    reconciler,
    cleanup,
    ok: running === opts.worlds && (!opts.cleanup || cleanup.done) && (!floor || floor.notAvailable.length === 0),
  };
}

/** The floor's phase: the same worlds' objects created without Anvil, on the same control plane. */
async function runFloor(kube: ReturnType<typeof connect>, game: string, runId: string, opts: LoadTestOptions, log: (msg: string) => void): Promise<FloorResult> {
  opts.onPhase?.('floor', opts.worlds);
  const floor = await measureFloor(kube, {
    game,
    worlds: opts.worlds,
    concurrency: opts.reconcilerConcurrency,
    namespace: `anvil-load-test-floor-${runId}`,
    ...(opts.kubeconfig ? { kubeconfig: opts.kubeconfig } : {}),
    timeoutSeconds: opts.timeoutSeconds,
    onProgress: (done) => opts.onProgress?.({ created: opts.worlds, running: done, failed: 0 }),
  });
  if (!floor.cleanedUp) log(`warning: the floor's namespace ${floor.namespace} was not gone in time; Anvil's phase shares the control plane with its deletion`);
  return floor;
}

/** Reconciler counters before; a reconciler without metrics still gets its worlds measured. */
async function startMetrics(opts: LoadTestOptions, log: (msg: string) => void) {
  const sampler = new MetricsSampler(opts.metricsUrl);
  let before: Sample[] | undefined;
  let metricsError: string | undefined;
  try {
    before = await scrape(opts.metricsUrl);
    sampler.take(before);
  } catch (e) {
    metricsError = `${opts.metricsUrl}: ${errorText(e)}`;
    log(`warning: reconciler metrics unavailable (${metricsError}); reconcile errors, API requests and memory will be missing`);
  }
  return { sampler, before, metricsError };
}

/** The worlds this run creates: when each create was sent, which failed, and what became of them. */
class CreateRun {
  readonly createdAt = new Map<string, number>();
  readonly createFailed = new Map<string, string>();
  readonly createCalls: number[] = [];
  constructor(private readonly opts: LoadTestOptions) {}

  counts(tracker: WorldTracker) {
    let running = 0;
    let failed = this.createFailed.size;
    for (const s of tracker.states.values()) {
      if (s.runningAt !== undefined) running++;
      else if (s.phase === 'Failed') failed++;
    }
    return { created: this.createdAt.size, running, failed };
  }

  async create(kube: ReturnType<typeof connect>, name: string, game: string, runId: string, tracker: WorldTracker): Promise<void> {
    const { namespace } = this.opts;
    const body: WorldInstance = {
      apiVersion: API_VERSION,
      kind: 'WorldInstance',
      metadata: { name, namespace, labels: { [LABEL_LOAD_TEST]: runId, [MANAGED_BY]: 'anvil-load-test' } },
      spec: { gameRef: { name: game }, region: 'default', shards: 1 },
    };
    const start = performance.now();
    try {
      await kube.custom.createNamespacedCustomObject({ ...anvil, namespace, plural: 'worldinstances', body });
      this.createdAt.set(name, start);
      this.createCalls.push((performance.now() - start) / 1000);
    } catch (e) {
      this.createFailed.set(name, errorText(e));
    }
    this.opts.onProgress?.(this.counts(tracker));
  }

  /** Latencies, and the lists of worlds that did not make it. */
  outcomes(names: readonly string[], tracker: WorldTracker, t0: number) {
    const latencies: number[] = [];
    const failed: WorldProblem[] = [];
    const timedOut: WorldProblem[] = [];
    let lastRunning = t0;
    for (const name of names) {
      const err = this.createFailed.get(name);
      if (err !== undefined) {
        failed.push({ name, phase: null, reason: 'CreateFailed', message: err });
        continue;
      }
      const s = tracker.states.get(name);
      if (s?.runningAt !== undefined) {
        latencies.push((s.runningAt - this.createdAt.get(name)!) / 1000);
        lastRunning = Math.max(lastRunning, s.runningAt);
      } else {
        const problem: WorldProblem = { name, phase: s?.phase ?? null, ...(s?.reason ? { reason: s.reason } : {}), ...(s?.message ? { message: s.message } : {}) };
        (s?.phase === 'Failed' ? failed : timedOut).push(problem);
      }
    }
    return { latencies, failed, timedOut, lastRunning };
  }
}

const ratio = (a: number | undefined, b: number | undefined): number | null => (a !== undefined && b !== undefined && b > 0 ? round(a / b) : null);

/** Anvil over the floor: p50/p95/p99 latency and throughput. */
export function ratiosOf(anvil: Summary | null, worldsPerSecond: number, floor: FloorResult): NonNullable<LoadTestResult['ratios']> {
  const f = floor.latencySeconds;
  return {
    p50: ratio(anvil?.p50, f?.p50),
    p95: ratio(anvil?.p95, f?.p95),
    p99: ratio(anvil?.p99, f?.p99),
    throughput: ratio(worldsPerSecond, floor.worldsPerSecond),
  };
}

/** The reconciler's counters over the run (deltas of its /metrics), CPU and memory. */
async function reconcilerFigures(opts: LoadTestOptions, before: Sample[] | undefined, metricsError: string | undefined, sampler: MetricsSampler, t0: number): Promise<ReconcilerFigures> {
  const r: ReconcilerFigures = {
    metricsUrl: opts.metricsUrl,
    reachable: before !== undefined,
    ...(metricsError ? { error: metricsError } : {}),
    reconciles: null,
    reconcileErrors: null,
    apiRequests: null,
    apiRequestsByVerb: null,
    apiRequestsByCode: null,
    apiRequestsPerWorld: null,
    cpuSeconds: null,
    cpuSecondsPerWorld: null,
    lastApplySeconds: null,
    peakMemoryBytes: null,
    peakQueueDepth: null,
    rssBytes: null,
    heapUsedBytes: null,
  };
  if (!before) return r;
  const perWorld = (v: number, digits: number) => (opts.worlds > 0 ? round(v / opts.worlds, digits) : null);
  try {
    // A reconciler finishing a burst can be slow to answer: wait, and try again.
    const after = await scrape(opts.metricsUrl, 30_000).catch(() => scrape(opts.metricsUrl, 60_000));
    sampler.take(after);
    if (has(after, 'anvil_reconcile_total')) {
      r.reconciles = deltaByKey(byLabel(before, 'anvil_reconcile_total', 'result'), byLabel(after, 'anvil_reconcile_total', 'result'));
      r.reconcileErrors = r.reconciles['error'] ?? 0;
    }
    if (has(after, 'anvil_api_requests_total')) {
      r.apiRequestsByVerb = deltaByKey(byLabel(before, 'anvil_api_requests_total', 'verb'), byLabel(after, 'anvil_api_requests_total', 'verb'));
      r.apiRequestsByCode = deltaByKey(byLabel(before, 'anvil_api_requests_total', 'code'), byLabel(after, 'anvil_api_requests_total', 'code'));
      r.apiRequests = Object.values(r.apiRequestsByVerb).reduce((a, b) => a + b, 0);
      if (has(after, 'anvil_api_writes_total')) r.apiWritesByKind = deltaByKey(byLabel(before, 'anvil_api_writes_total', ['verb', 'kind']), byLabel(after, 'anvil_api_writes_total', ['verb', 'kind']));
      r.apiRequestsPerWorld = perWorld(r.apiRequests, 2);
    }
    if (has(after, 'process_cpu_seconds_total')) {
      r.cpuSeconds = round(sumOf(after, 'process_cpu_seconds_total') - sumOf(before, 'process_cpu_seconds_total'));
      r.cpuSecondsPerWorld = perWorld(r.cpuSeconds, 4);
    }
    if (has(after, 'process_resident_memory_bytes')) r.rssBytes = sumOf(after, 'process_resident_memory_bytes');
    if (has(after, 'nodejs_heap_size_used_bytes')) r.heapUsedBytes = sumOf(after, 'nodejs_heap_size_used_bytes');
  } catch (e) {
    r.error = `${opts.metricsUrl}: ${errorText(e)}`;
  }
  r.peakMemoryBytes = sampler.peakMemory;
  r.peakQueueDepth = sampler.peakQueue;
  r.lastApplySeconds = sampler.lastApplyAt === null ? null : round((sampler.lastApplyAt - t0) / 1000);
  return r;
}

/** Deletes the run's worlds (their owned objects follow by garbage collection); returns how many remain at the deadline. */
async function deleteWorlds(kube: Kube, namespace: string, labelSelector: string, timeoutMs: number): Promise<number> {
  const remaining = async () =>
    ((await kube.custom.listNamespacedCustomObject({ ...anvil, namespace, plural: 'worldinstances', labelSelector })) as { items: unknown[] }).items.length;
  await kube.custom.deleteCollectionNamespacedCustomObject({ ...anvil, namespace, plural: 'worldinstances', labelSelector });
  const deadline = Date.now() + timeoutMs;
  let left = await remaining();
  while (left > 0 && Date.now() < deadline) {
    await sleep(500);
    left = await remaining();
  }
  return left;
}
