/**
 * `anvil load-test --claims N --pool P`: N WorldClaims against a warm pool with bounded
 * concurrency, followed by one watch on the run's claims and one on the pool's worlds (no
 * polling, no watch per claim). Reports created→Bound latency measured by the client (from
 * the create request to Bound seen on the watch; the claims' own boundAt has only second
 * precision) and, when the reconciler's /metrics has it, the server's
 * anvil_claim_duration_seconds; claims/s; double bindings and lost claims; how long the pool
 * takes to get back to its buffer; and beside it, the floor: as many raw PATCHes of a
 * WorldInstance label over the same keep-alive transport at the same concurrency (floor.ts).
 */
import { randomBytes } from 'node:crypto';
import { CustomObjectsApi } from '@kubernetes/client-node';
import { CLAIM_PLURAL, claimBody, claimOutcome, type ClaimObject } from '../client/claims.js';
import { keepAliveClient } from '../client/kubeTransport.js';
import { LABEL_CLAIM, LABEL_POOL, MANAGED_BY } from '../render/labels.js';
import { BindingLedger, readyUnclaimed, type DoubleBindings, type PoolWorldState } from './bindings.js';
import { measureRawPatches, type PatchFloorResult } from './patchFloor.js';
import { anvil, connect, errorText, statusOf, type Kube } from '../client/kube.js';
import { ListWatch, type Watched } from './listWatch.js';
import { histogramFigures, scrape, type HistogramFigures, type Sample } from './metrics.js';
import { forEachBounded } from './pool.js';
import { LABEL_LOAD_TEST } from './run.js';
import { round, summarize, type Summary } from './stats.js';

export const CLAIM_DURATION_METRIC = 'anvil_claim_duration_seconds';

export interface ClaimLoadTestOptions {
  claims: number;
  pool: string;
  concurrency: number;
  namespace: string;
  kubeconfig?: string;
  /** The claims' spec.timeoutSeconds (the client waits 10 s more for a verdict). */
  timeoutSeconds: number;
  /** How long to wait for the pool to get back to its buffer after the last binding. */
  refillTimeoutSeconds: number;
  metricsUrl?: string;
  /** Also measure the raw PATCH floor (default true). */
  raw: boolean;
  /** Delete the claims at the end (which releases their worlds) and wait until they are gone. */
  cleanup: boolean;
  onPhase?: (phase: 'claims' | 'refill' | 'raw' | 'cleanup', total: number) => void;
  onProgress?: (p: { created: number; bound: number; failed: number }) => void;
  log?: (line: string) => void;
}

export interface ClaimProblem {
  name: string;
  reason: string;
  message?: string;
}

export interface ClaimLoadTestResult {
  mode: 'claims';
  runId: string;
  namespace: string;
  pool: string;
  claims: number;
  concurrency: number;
  timeoutSeconds: number;
  bound: number;
  /** Claims that went Failed (with the claim's reason) or whose create failed. */
  failed: ClaimProblem[];
  /** Claims created but neither Bound nor Failed once their timeout (+10 s) had passed. */
  lost: string[];
  /** Create request → Bound seen on the watch, seconds. */
  latencySeconds: Summary | null;
  createCallSeconds: Summary | null;
  /** anvil_claim_duration_seconds over the run (claim created → Bound, by the reconciler), or null. */
  serverLatencySeconds: HistogramFigures | null;
  serverMetricsError?: string;
  /** First create request to last Bound. */
  durationSeconds: number;
  claimsPerSecond: number;
  doubleBindings: DoubleBindings;
  /** Worlds whose claim label moved from one claim to another (reservations undone; never handed out twice). */
  relabelledWorlds: { world: string; claims: string[] }[];
  /** Bound claims whose world does not carry their claim label at the end. */
  mismatched: string[];
  refill: { buffer: number; readyAtLastBinding: number; seconds: number | null; reached: boolean };
  raw: PatchFloorResult | null;
  /** claims/s ÷ raw PATCHes/s, and claim p50 ÷ raw PATCH p50 (null without the floor). */
  ratios: { throughput: number | null; p50: number | null };
  cleanup: { requested: boolean; done: boolean; remaining: number };
  ok: boolean;
}

interface ClaimState {
  createStart?: number;
  createdAt?: number;
  createError?: string;
  boundSeenAt?: number;
  failed?: { reason: string; message: string };
  world?: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const roundSummary = (s: Summary | null): Summary | null =>
  s && { count: s.count, min: round(s.min, 4), mean: round(s.mean, 4), p50: round(s.p50, 4), p95: round(s.p95, 4), p99: round(s.p99, 4), max: round(s.max, 4) };

/** The pool's wanted buffer (spec.buffer.ready), or a clear error when there is no such pool. */
async function poolBuffer(kube: Kube, namespace: string, pool: string): Promise<number> {
  try {
    const p = (await kube.custom.getNamespacedCustomObject({ ...anvil, namespace, plural: 'worldpools', name: pool })) as { spec?: { buffer?: { ready?: number } } };
    return p.spec?.buffer?.ready ?? 1;
  } catch (e) {
    if (statusOf(e) === 404) throw new Error(`WorldPool ${namespace}/${pool} not found`);
    throw new Error(`reading WorldPool ${namespace}/${pool}: ${errorText(e)}`);
  }
}

/** Follows the run's claims and the pool's worlds into the ledger and the state maps. */
function trackers(kube: Kube, opts: ClaimLoadTestOptions, runId: string, claims: Map<string, ClaimState>, worlds: Map<string, PoolWorldState>, ledger: BindingLedger) {
  const claimWatch = new ListWatch<ClaimObject & Watched>(kube, { namespace: opts.namespace, plural: CLAIM_PLURAL, labelSelector: `${LABEL_LOAD_TEST}=${runId}` }, (type, obj) => {
    const name = obj.metadata?.name;
    if (!name || type === 'DELETED') return;
    const state = claims.get(name) ?? {};
    const outcome = claimOutcome(obj);
    ledger.claimSaw(name, obj.status?.worldRef?.name);
    if (outcome.state === 'Bound' && state.boundSeenAt === undefined) Object.assign(state, { boundSeenAt: performance.now(), world: outcome.world });
    if (outcome.state === 'Failed' && !state.failed) state.failed = { reason: outcome.reason, message: outcome.message };
    claims.set(name, state);
  });
  const worldWatch = new ListWatch(kube, { namespace: opts.namespace, plural: 'worldinstances', labelSelector: `${LABEL_POOL}=${opts.pool}` }, (type, obj) => {
    const name = obj.metadata?.name;
    if (!name) return;
    if (type === 'DELETED') return void worlds.delete(name);
    const claim = obj.metadata?.labels?.[LABEL_CLAIM];
    ledger.worldSaw(name, claim);
    worlds.set(name, { phase: (obj as { status?: { phase?: string } }).status?.phase, claim, deleting: obj.metadata?.deletionTimestamp !== undefined });
  });
  return { claimWatch, worldWatch };
}

/** Creates the claims with bounded concurrency; the watch records when each is Bound. */
async function createClaims(api: CustomObjectsApi, opts: ClaimLoadTestOptions, runId: string, names: string[], claims: Map<string, ClaimState>, progress: () => void): Promise<void> {
  await forEachBounded(names.length, opts.concurrency, async (i) => {
    const name = names[i]!;
    const body = claimBody({ pool: opts.pool, namespace: opts.namespace, timeoutSeconds: opts.timeoutSeconds, requestId: name, claimLabels: { [LABEL_LOAD_TEST]: runId, [MANAGED_BY]: 'anvil-load-test' } });
    body.metadata = { ...body.metadata, name }; // the run's own names
    const state = claims.get(name) ?? {};
    claims.set(name, state);
    state.createStart = performance.now();
    try {
      await api.createNamespacedCustomObject({ ...anvil, namespace: opts.namespace, plural: CLAIM_PLURAL, body });
      state.createdAt = performance.now();
    } catch (e) {
      state.createError = errorText(e);
    }
    progress();
  });
}

/** Waits, woken by the watches, until `done()` or the deadline; true when done. */
async function waitFor(watches: ListWatch<any>[], done: () => boolean, deadline: number): Promise<boolean> {
  while (!done() && performance.now() < deadline) {
    await Promise.race([...watches.map((w) => w.changed()), sleep(Math.max(0, Math.min(1000, deadline - performance.now())))]);
  }
  return done();
}

export async function runClaimLoadTest(opts: ClaimLoadTestOptions): Promise<ClaimLoadTestResult> {
  const kube = connect(opts.kubeconfig);
  const api = keepAliveClient(kube.kc, CustomObjectsApi, opts.concurrency + 2);
  const buffer = await poolBuffer(kube, opts.namespace, opts.pool);
  const runId = randomBytes(3).toString('hex');
  const names = Array.from({ length: opts.claims }, (_, i) => `lc-${runId}-${String(i).padStart(String(opts.claims - 1).length, '0')}`);
  const claims = new Map<string, ClaimState>();
  const worlds = new Map<string, PoolWorldState>();
  const ledger = new BindingLedger();
  const { claimWatch, worldWatch } = trackers(kube, opts, runId, claims, worlds, ledger);
  await Promise.all([claimWatch.start(), worldWatch.start()]);
  const metrics = await scrapeOrError(opts.metricsUrl);
  const counts = () => {
    let bound = 0;
    let failed = 0;
    for (const n of names) {
      const s = claims.get(n);
      if (s?.boundSeenAt !== undefined) bound++;
      else if (s?.failed || s?.createError) failed++;
    }
    return { created: [...claims.values()].filter((s) => s.createdAt !== undefined).length, bound, failed };
  };
  const progress = () => opts.onProgress?.(counts());
  try {
    opts.onPhase?.('claims', opts.claims);
    const t0 = performance.now();
    await createClaims(api, opts, runId, names, claims, progress);
    const settled = () => counts().bound + counts().failed >= opts.claims;
    await waitFor([claimWatch], () => (progress(), settled()), t0 + (opts.timeoutSeconds + 10) * 1000);
    const lastBound = Math.max(t0, ...names.map((n) => claims.get(n)?.boundSeenAt ?? t0));
    const readyAtLastBinding = readyUnclaimed(worlds.values());

    opts.onPhase?.('refill', buffer);
    const reached = await waitFor([worldWatch], () => readyUnclaimed(worlds.values()) >= buffer, performance.now() + opts.refillTimeoutSeconds * 1000);
    const refill = { buffer, readyAtLastBinding, seconds: reached ? round((performance.now() - lastBound) / 1000) : null, reached };
    const server = await serverLatency(opts.metricsUrl, metrics);
    const mismatched = names.filter((n) => {
      const w = claims.get(n)?.world;
      return w !== undefined && worlds.has(w) && worlds.get(w)!.claim !== n;
    });
    claimWatch.stop();
    worldWatch.stop();

    let raw: PatchFloorResult | null = null;
    if (opts.raw && opts.claims > 0) {
      opts.onPhase?.('raw', opts.claims);
      raw = await measureRawPatches(kube, api, { patches: opts.claims, concurrency: opts.concurrency, namespace: `anvil-load-test-floor-${runId}`, onProgress: (done) => opts.onProgress?.({ created: done, bound: done, failed: 0 }) });
    }
    const cleanup = { requested: opts.cleanup, done: false, remaining: 0 };
    if (opts.cleanup) {
      opts.onPhase?.('cleanup', opts.claims);
      cleanup.remaining = await deleteClaims(kube, opts.namespace, `${LABEL_LOAD_TEST}=${runId}`, Math.max(60_000, opts.timeoutSeconds * 1000));
      cleanup.done = cleanup.remaining === 0;
    }
    return report({ opts, runId, names, claims, ledger, t0, lastBound, refill, server, mismatched, raw, cleanup });
  } finally {
    claimWatch.stop();
    worldWatch.stop();
  }
}

async function scrapeOrError(url: string | undefined): Promise<Sample[] | string | undefined> {
  if (!url) return undefined;
  return scrape(url).catch((e) => `${url}: ${errorText(e)}`);
}

async function serverLatency(url: string | undefined, before: Sample[] | string | undefined): Promise<{ figures: HistogramFigures | null; error?: string }> {
  if (!url || before === undefined) return { figures: null };
  if (typeof before === 'string') return { figures: null, error: before };
  try {
    const figures = histogramFigures(before, await scrape(url), CLAIM_DURATION_METRIC);
    return figures ? { figures } : { figures: null, error: `${CLAIM_DURATION_METRIC} not exported by ${url} (or nothing observed)` };
  } catch (e) {
    return { figures: null, error: `${url}: ${errorText(e)}` };
  }
}

interface ReportInput {
  opts: ClaimLoadTestOptions;
  runId: string;
  names: string[];
  claims: Map<string, ClaimState>;
  ledger: BindingLedger;
  t0: number;
  lastBound: number;
  refill: ClaimLoadTestResult['refill'];
  server: { figures: HistogramFigures | null; error?: string };
  mismatched: string[];
  raw: PatchFloorResult | null;
  cleanup: ClaimLoadTestResult['cleanup'];
}

function report(r: ReportInput): ClaimLoadTestResult {
  const latencies: number[] = [];
  const createCalls: number[] = [];
  const failed: ClaimProblem[] = [];
  const lost: string[] = [];
  for (const name of r.names) {
    const s = r.claims.get(name) ?? {};
    if (s.createdAt !== undefined) createCalls.push((s.createdAt - s.createStart!) / 1000);
    if (s.createError !== undefined) failed.push({ name, reason: 'CreateFailed', message: s.createError });
    else if (s.boundSeenAt !== undefined) latencies.push((s.boundSeenAt - s.createStart!) / 1000);
    else if (s.failed) failed.push({ name, reason: s.failed.reason, message: s.failed.message });
    else lost.push(name);
  }
  const durationSeconds = (r.lastBound - r.t0) / 1000;
  const claimsPerSecond = durationSeconds > 0 ? latencies.length / durationSeconds : 0;
  const latency = roundSummary(summarize(latencies));
  const doubleBindings = r.ledger.doubleBindings();
  const { opts } = r;
  return {
    mode: 'claims',
    runId: r.runId,
    namespace: opts.namespace,
    pool: opts.pool,
    claims: opts.claims,
    concurrency: opts.concurrency,
    timeoutSeconds: opts.timeoutSeconds,
    bound: latencies.length,
    failed,
    lost,
    latencySeconds: latency,
    createCallSeconds: roundSummary(summarize(createCalls)),
    serverLatencySeconds: r.server.figures && { count: r.server.figures.count, mean: round(r.server.figures.mean, 4), p50: round(r.server.figures.p50, 4), p95: round(r.server.figures.p95, 4), p99: round(r.server.figures.p99, 4) },
    ...(r.server.error ? { serverMetricsError: r.server.error } : {}),
    durationSeconds: round(durationSeconds),
    claimsPerSecond: round(claimsPerSecond, 2),
    doubleBindings,
    relabelledWorlds: r.ledger.relabelled(),
    mismatched: r.mismatched,
    refill: r.refill,
    raw: r.raw,
    ratios: {
      throughput: r.raw && r.raw.patchesPerSecond > 0 ? round(claimsPerSecond / r.raw.patchesPerSecond) : null,
      p50: r.raw?.latencySeconds && latency && r.raw.latencySeconds.p50 > 0 ? round(latency.p50 / r.raw.latencySeconds.p50, 2) : null,
    },
    cleanup: r.cleanup,
    ok: latencies.length === opts.claims && lost.length === 0 && doubleBindings.count === 0 && r.mismatched.length === 0 && (!opts.cleanup || r.cleanup.done),
  };
}

/** Deletes the run's claims (their worlds follow) and waits; returns how many remain at the deadline. */
async function deleteClaims(kube: Kube, namespace: string, labelSelector: string, timeoutMs: number): Promise<number> {
  const remaining = async () => ((await kube.custom.listNamespacedCustomObject({ ...anvil, namespace, plural: CLAIM_PLURAL, labelSelector })) as { items: unknown[] }).items.length;
  await kube.custom.deleteCollectionNamespacedCustomObject({ ...anvil, namespace, plural: CLAIM_PLURAL, labelSelector });
  const deadline = Date.now() + timeoutMs;
  let left = await remaining();
  while (left > 0 && Date.now() < deadline) {
    await sleep(500);
    left = await remaining();
  }
  return left;
}
