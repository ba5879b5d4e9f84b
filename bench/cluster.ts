/**
 * The cluster part of the bench. Each invocation starts its own local control plane
 * (test/cluster), applies dist/'s CRDs, namespaces, definitions and global services as the
 * README says, runs the compiled reconciler (optionally under --cpu-prof), and then:
 * - `runClusterCase`: for each world count, `anvil load-test` (the control plane's floor
 *   first, then Anvil), in a namespace of its own that is deleted and waited for afterwards;
 *   after the largest count, a no-op resync window before the cleanup;
 * - `runMemoryCase`: without nodes (no controller manager, scheduler or kwok: no pods, worlds
 *   stay Provisioning), N worlds created at once, the reconciler's RSS and heap once every
 *   world is reconciled and again after a resync, and the resync's own figures.
 * Every run records the machine (cores, memory, load average) at its start.
 */
import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { openSync, readdirSync, readFileSync } from 'node:fs';
import { cpus, freemem, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { killWithControlPlane, startControlPlane, type ControlPlane } from '../test/cluster/controlPlane.js';
import { IMAGE_BUNDLE, ensureBuilt, imageEntrypoint } from '../test/cluster/ensureBuilt.js';
import { API_VERSION, type WorldInstance } from '../lib/api/schema.js';
import { anvil as anvilGroup, connect, ensureNamespace } from '../lib/client/kube.js';
import { LABEL_WORLDS_NAMESPACE } from '../lib/render/labels.js';
import { RECONCILER_NODE_FLAGS } from '../lib/render/platform.js';
import { byLabel, deltaByKey, histogramDelta, scrape, sumOf, type HistogramDelta, type Sample } from '../lib/loadtest/metrics.js';
import { forEachBounded } from '../lib/loadtest/pool.js';
import { measureFloor, type FloorResult } from '../lib/loadtest/floor.js';
import { ratiosOf, type LoadTestResult } from '../lib/loadtest/run.js';
import { round } from '../lib/loadtest/stats.js';
import { WorldTracker } from '../lib/loadtest/worlds.js';
import { summarizeProfile, type ProfileSummary } from './profile.js';

const TSX = join('node_modules', '.bin', 'tsx');
const ANVIL = join('bench', 'anvil.ts');
/** Requests that only read: everything else the reconciler counts is a write. */
const READ_VERBS = new Set(['get', 'list', 'watch', 'lease-get']);
const MB = 2 ** 20;

export interface Machine {
  cpus: number;
  cpuModel: string;
  memoryGb: number;
  freeMemoryGb: number;
  /** 1, 5 and 15 minute load averages when the run started. */
  loadAverage: number[];
  node: string;
  startedAt: string;
  /** The commit the run was made from (with `+dirty` when the worktree had changes). */
  revision: string;
}

function revision(): string {
  const git = (args: string[]) => spawnSync('git', args, { encoding: 'utf8' }).stdout?.trim() ?? '';
  const head = git(['rev-parse', '--short', 'HEAD']) || 'unknown';
  return git(['status', '--porcelain', '--untracked-files=no', '--', 'lib', 'bench/*.ts', 'test', 'bin']) ? `${head}+dirty` : head;
}

export const machineNow = (): Machine => ({
  cpus: cpus().length,
  cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
  memoryGb: round(totalmem() / 2 ** 30, 1),
  freeMemoryGb: round(freemem() / 2 ** 30, 1),
  loadAverage: loadavg().map((v) => round(v, 2)),
  node: process.version,
  startedAt: new Date().toISOString(),
  revision: revision(),
});

export interface ClusterOptions {
  game: string;
  nodes?: number;
  reconcileConcurrency: number;
  /** The reconciler's --resync-seconds for the resync windows (short, to see two resyncs). */
  resyncSeconds: number;
  /**
   * Its --resync-seconds while the cluster case's load tests run (the reconciler's default):
   * a short one would add relists of everything to Anvil's phase that the floor does not
   * have. The cluster case restarts the reconciler with `resyncSeconds` for its window.
   */
  burstResyncSeconds: number;
  timeoutSeconds: number;
  cpuProfile: boolean;
  /** Memory case: the reconciler runs with --heapsnapshot-signal and writes a heap snapshot into logDir after the burst (for analysis; not a figure). */
  heapSnapshot?: boolean;
  /** V8/Node flags for the reconciler's process (the heapflags case compares them); by default the ones its Deployment runs with (RECONCILER_NODE_FLAGS). */
  nodeFlags?: string[];
  /** Which CLI the reconciler runs (the entrypoint case compares them); by default the image's bundle. */
  entrypoint?: Entrypoint;
  logDir: string;
  log: (line: string) => void;
}

export interface ResyncResult {
  worlds: number;
  windowSeconds: number;
  resyncSeconds: number;
  reconciles: number;
  writes: number;
  requestsByVerb: Record<string, number>;
  requestsByCode: Record<string, number>;
  /** anvil_reconcile_duration_seconds{kind="world"} over the window: every pass of a converged world. */
  worldReconcileSeconds: HistogramDelta;
  /** Reconciler CPU over the window, and per reconcile pass. */
  cpuSeconds: number;
  cpuMsPerReconcile: number | null;
  rssMb: number;
  heapUsedMb: number;
}

/** A floor measured in a hold of the control plane of its own (`--phase floor`). */
export interface FloorHold {
  machine: Machine;
  kubernetes: string;
  nodes: number;
  floor: FloorResult;
}

export interface ClusterRun {
  worlds: number;
  machine: Machine;
  kubernetes: string;
  nodes: number;
  reconcileConcurrency: number;
  /** null while only the floor of this count is measured (`--phase floor`). */
  loadTest: LoadTestResult | null;
  /** Set when the floor was measured in a hold of its own rather than in the same invocation. */
  floorHold?: FloorHold;
  /** Seconds until the namespace of Anvil's worlds (and so their pods) was gone; null after the last count (the control plane stops). */
  cleanupSeconds: number | null;
  resync: ResyncResult | null;
  profile: ProfileSummary | null;
}

/** A cluster run whose Anvil phase is measured. */
export type MeasuredRun = ClusterRun & { loadTest: LoadTestResult };
export const measured = (runs: readonly ClusterRun[]): MeasuredRun[] => runs.filter((r): r is MeasuredRun => r.loadTest !== null);

export interface MemoryRun {
  worlds: number;
  machine: Machine;
  kubernetes: string;
  withNodes: false;
  reconcileConcurrency: number;
  /** First create to every world reconciled (a status written) and the queue empty, or to the deadline. */
  settleSeconds: number;
  /** Worlds with a status by then (all of them unless the deadline came first). */
  reconciled: number;
  phases: Record<string, number>;
  apiRequestsPerWorld: number;
  cpuSecondsPerWorld: number;
  /** The reconciler with its caches synced and no world yet (runs recorded before it have none). */
  idle?: MemoryFigures;
  afterBurst: MemoryFigures;
  peakRssMb: number;
  resync: ResyncResult;
  /** In results.json: every world count measured (this one among them), by worlds; the figures above are the 5,000-world run's (else the largest). */
  runs?: MemoryRun[];
  /** The reconciler's V8/Node flags in this run (the heapflags case); absent: none. */
  nodeFlags?: string[];
  /** The CLI the reconciler ran; absent: runs recorded before the image's bundle, which ran bin/anvil.js. */
  entrypoint?: Entrypoint;
}

/**
 * The CLI a bench reconciler runs: `image`, the bundle the image runs (build/image/anvil.js, from
 * a copy laid out as in the image, no node_modules); `package`, bin/anvil.js on build/lib and
 * node_modules, as `npx anvil` runs it.
 */
export type Entrypoint = 'image' | 'package';
export const ENTRYPOINT_FILES: Record<Entrypoint, string> = { image: IMAGE_BUNDLE, package: 'bin/anvil.js' };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function run(args: string[], logFile: string): Promise<{ code: number; stdout: string }> {
  return new Promise((resolve, reject) => {
    const err = openSync(logFile, 'a');
    const child = spawn(TSX, args, { stdio: ['ignore', 'pipe', err] });
    let stdout = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout }));
  });
}

/** The real kubectl against the bench's control plane (`input` on stdin); rejects with its stderr on a non-zero exit. */
export async function kubectl(cp: ControlPlane, args: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.env.KUBECTL ?? 'kubectl', ['--kubeconfig', cp.kubeconfig, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`kubectl ${args.join(' ')}: ${err || out}`))));
    child.stdin.end(input ?? '');
  });
}

/** The README's apply sequence, without the reconciler's Deployment (it runs from build/ here) and the static worlds. */
async function applyPlatform(cp: ControlPlane): Promise<void> {
  await kubectl(cp, ['apply', '-f', 'dist/0000-crds.k8s.yaml']);
  await kubectl(cp, ['wait', '--for', 'condition=established', '--timeout=60s', 'crd', '-l', 'app.kubernetes.io/part-of=anvil']);
  const files = readdirSync('dist')
    .filter((f) => f.endsWith('.k8s.yaml') && !/-(crds|reconciler)\.k8s\.yaml$/.test(f) && !/-world-/.test(f))
    .sort();
  for (const f of files) await kubectl(cp, ['apply', '-f', join('dist', f)]);
}

/**
 * How every bench starts the reconciler as the image runs it: node with the flags its
 * Deployment runs with (`RECONCILER_NODE_FLAGS`, unless `nodeFlags` replaces them) and any
 * others (`extraNodeFlags`: profiling), then the image's bundle (build/image/anvil.js, laid out
 * as in the image) with `reconcile` on the control plane.
 */
export function reconcilerArgv(cp: ControlPlane, port: number, opts: { nodeFlags?: readonly string[]; extraNodeFlags?: readonly string[]; args?: readonly string[]; entrypoint?: Entrypoint } = {}): string[] {
  const cli = opts.entrypoint === 'package' ? (ensureBuilt(), ENTRYPOINT_FILES.package) : imageEntrypoint();
  return [...(opts.nodeFlags ?? RECONCILER_NODE_FLAGS), ...(opts.extraNodeFlags ?? []), cli, 'reconcile', '--kubeconfig', cp.kubeconfig, '--port', String(port), ...(opts.args ?? [])];
}

/** The reconciler of `reconcilerArgv` as a child killed with the control plane (also on Ctrl-C). */
export function spawnReconciler(argv: string[], options: SpawnOptions): ChildProcess {
  return killWithControlPlane(spawn(process.execPath, argv, options));
}

async function startReconciler(cp: ControlPlane, port: number, opts: ClusterOptions, resyncSeconds: number, cpuProfile: boolean): Promise<ChildProcess> {
  const log = openSync(join(opts.logDir, 'reconciler.log'), 'a');
  // The image's bundle (reconcilerArgv), as it runs in a cluster: its memory is what ships.
  const prof = [...(cpuProfile ? ['--cpu-prof', '--cpu-prof-dir', opts.logDir] : []), ...(opts.heapSnapshot ? ['--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${opts.logDir}`] : [])];
  const child = spawnReconciler(
    reconcilerArgv(cp, port, { ...(opts.nodeFlags ? { nodeFlags: opts.nodeFlags } : {}), ...(opts.entrypoint ? { entrypoint: opts.entrypoint } : {}), extraNodeFlags: prof, args: ['--concurrency', String(opts.reconcileConcurrency), '--resync-seconds', String(resyncSeconds)] }),
    { stdio: ['ignore', log, log] },
  );
  let exit: string | undefined;
  child.on('exit', (code, signal) => (exit = signal ?? `exit ${code}`));
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (exit !== undefined) throw new Error(`the reconciler (anvil reconcile) stopped at start (${exit}); see ${join(opts.logDir, 'reconciler.log')}`);
    const ok = await fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.ok, () => false);
    if (ok) return child;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`the reconciler did not become ready on :${port}/readyz within 60 s; see ${join(opts.logDir, 'reconciler.log')}`);
    }
    await sleep(500);
  }
}

async function stopReconciler(reconciler: ChildProcess | undefined): Promise<void> {
  if (!reconciler || reconciler.exitCode !== null) return;
  // SIGTERM: a graceful exit, which also writes the --cpu-prof profile.
  reconciler.kill('SIGTERM');
  await Promise.race([new Promise((r) => reconciler.once('exit', r)), sleep(20_000)]);
  if (reconciler.exitCode === null && reconciler.signalCode === null) reconciler.kill('SIGKILL');
}

interface Session {
  cp: ControlPlane;
  metricsUrl: string;
  kubernetes: string;
  nodes: number;
  /** Stops the reconciler and starts a fresh one (same port, never profiled) with this --resync-seconds. */
  restartReconciler(resyncSeconds: number): Promise<void>;
  /** Asks the reconciler for a resync now (SIGHUP). */
  resyncNow(): void;
  /** Asks the reconciler for a heap snapshot (SIGUSR2; only with opts.heapSnapshot) and waits until it is written. */
  heapSnapshot(): Promise<void>;
}

/** A control plane with the platform applied and the reconciler running, for `body`; everything stopped after. */
async function withCluster<T>(opts: ClusterOptions, withNodes: boolean, nodes: number, resyncSeconds: number, body: (s: Session) => Promise<T>): Promise<{ result: T; profile: ProfileSummary | null }> {
  opts.log(`cluster: starting the control plane${withNodes ? ` with ${nodes} kwok nodes` : ' without nodes'}`);
  const cp = await startControlPlane({ withNodes, nodes, timeoutMs: 300_000 });
  let reconciler: ChildProcess | undefined;
  try {
    const version = JSON.parse(await kubectl(cp, ['version', '-o', 'json'])) as { serverVersion?: { gitVersion?: string } };
    await applyPlatform(cp);
    const port = 18080 + (process.pid % 1000);
    reconciler = await startReconciler(cp, port, opts, resyncSeconds, opts.cpuProfile);
    const restartReconciler = async (seconds: number) => {
      await stopReconciler(reconciler);
      reconciler = await startReconciler(cp, port, opts, seconds, false);
    };
    const resyncNow = () => void reconciler?.kill('SIGHUP');
    const heapSnapshot = async () => {
      const snapshots = () => readdirSync(opts.logDir).filter((f) => f.endsWith('.heapsnapshot'));
      const had = snapshots().length;
      reconciler?.kill('SIGUSR2');
      // Written synchronously by the reconciler: it answers /metrics again once the file is complete.
      while (snapshots().length === had) await sleep(500);
      for (;;) {
        const ok = await scrape(`http://127.0.0.1:${port}/metrics`).then(() => true, () => false);
        if (ok) break;
        await sleep(1000);
      }
      opts.log(`memory: heap snapshot in ${opts.logDir}`);
    };
    const result = await body({ cp, metricsUrl: `http://127.0.0.1:${port}/metrics`, kubernetes: version.serverVersion?.gitVersion ?? 'unknown', nodes: withNodes ? nodes : 0, restartReconciler, resyncNow, heapSnapshot });
    await stopReconciler(reconciler);
    const prof = opts.cpuProfile ? readdirSync(opts.logDir).filter((f) => f.endsWith('.cpuprofile')) : [];
    return { result, profile: prof.length ? summarizeProfile(JSON.parse(readFileSync(join(opts.logDir, prof[0]!), 'utf8'))) : null };
  } finally {
    await stopReconciler(reconciler);
    await cp.stop();
  }
}

async function loadTest(s: Session, worlds: number, namespace: string, opts: ClusterOptions, extra: string[] = []): Promise<LoadTestResult> {
  opts.log(`cluster: anvil load-test --worlds ${worlds} (${extra.includes('--no-floor') ? 'Anvil only' : 'the floor, then Anvil'})`);
  const logFile = join(opts.logDir, `load-test-${worlds}.log`);
  const args = [
    ANVIL, 'load-test', '--worlds', String(worlds), '--concurrency', String(Math.min(worlds, 100)), '--namespace', namespace,
    '--reconciler-concurrency', String(opts.reconcileConcurrency), '--kubeconfig', s.cp.kubeconfig, '--metrics-url', s.metricsUrl,
    '--timeout', String(opts.timeoutSeconds), '--game', opts.game, '-o', 'json', ...extra,
  ];
  const r = await run(args, logFile);
  try {
    return JSON.parse(r.stdout) as LoadTestResult;
  } catch {
    throw new Error(`anvil load-test --worlds ${worlds} printed no JSON (exit ${r.code}); see ${logFile}`);
  }
}

/** What the reconciler did while nothing changed, over two resync periods. */
async function resyncWindow(metricsUrl: string, worlds: number, opts: ClusterOptions): Promise<ResyncResult> {
  // Let the last status updates and kwok's pod churn settle first.
  await sleep(10_000);
  const before = await scrape(metricsUrl);
  const window = opts.resyncSeconds * 2 + 5;
  opts.log(`cluster: resync window of ${window}s with ${worlds} worlds`);
  await sleep(window * 1000);
  const after = await scrape(metricsUrl);
  const delta = (label: string) => deltaByKey(byLabel(before, 'anvil_api_requests_total', label), byLabel(after, 'anvil_api_requests_total', label));
  const byVerb = delta('verb');
  const reconciles = sumOf(after, 'anvil_reconcile_total') - sumOf(before, 'anvil_reconcile_total');
  const cpuSeconds = round(sumOf(after, 'process_cpu_seconds_total') - sumOf(before, 'process_cpu_seconds_total'));
  return {
    worlds,
    windowSeconds: window,
    resyncSeconds: opts.resyncSeconds,
    reconciles,
    writes: Object.entries(byVerb).filter(([v]) => !READ_VERBS.has(v)).reduce((s, [, n]) => s + n, 0),
    requestsByVerb: byVerb,
    requestsByCode: delta('code'),
    worldReconcileSeconds: histogramDelta(before, after, 'anvil_reconcile_duration_seconds', { kind: 'world' }),
    cpuSeconds,
    cpuMsPerReconcile: reconciles > 0 ? round((1000 * cpuSeconds) / reconciles, 2) : null,
    ...memoryOf(after),
  };
}

/** One resync asked for by SIGHUP, measured from the signal until every world was passed again and the queue is empty. */
async function signalledResync(s: Session, worlds: number, opts: ClusterOptions): Promise<ResyncResult> {
  const before = await scrape(s.metricsUrl);
  const passes = (m: Sample[]) => sumOf(m, 'anvil_reconcile_duration_seconds_count', { kind: 'world' });
  const t0 = performance.now();
  s.resyncNow();
  const deadline = Date.now() + opts.timeoutSeconds * 1000;
  let after = before;
  let empty = 0;
  while (Date.now() < deadline && empty < 2) {
    await sleep(1000);
    after = await scrape(s.metricsUrl).catch(() => after);
    empty = passes(after) - passes(before) >= worlds && sumOf(after, 'anvil_workqueue_depth') === 0 ? empty + 1 : 0;
  }
  const delta = (label: string) => deltaByKey(byLabel(before, 'anvil_api_requests_total', label), byLabel(after, 'anvil_api_requests_total', label));
  const byVerb = delta('verb');
  const reconciles = sumOf(after, 'anvil_reconcile_total') - sumOf(before, 'anvil_reconcile_total');
  const cpuSeconds = round(sumOf(after, 'process_cpu_seconds_total') - sumOf(before, 'process_cpu_seconds_total'));
  return {
    worlds,
    windowSeconds: round((performance.now() - t0) / 1000, 1),
    resyncSeconds: 0,
    reconciles,
    writes: Object.entries(byVerb).filter(([v]) => !READ_VERBS.has(v)).reduce((n, [, c]) => n + c, 0),
    requestsByVerb: byVerb,
    requestsByCode: delta('code'),
    worldReconcileSeconds: histogramDelta(before, after, 'anvil_reconcile_duration_seconds', { kind: 'world' }),
    cpuSeconds,
    cpuMsPerReconcile: reconciles > 0 ? round((1000 * cpuSeconds) / reconciles, 2) : null,
    ...memoryOf(after),
  };
}

/** RSS and heap used; the heap V8 has reserved and the memory outside it (Buffers) say where RSS beyond the heap goes (runs recorded before them have neither). */
export interface MemoryFigures {
  rssMb: number;
  heapUsedMb: number;
  heapTotalMb?: number;
  externalMb?: number;
}
const memoryOf = (s: Sample[]): Required<MemoryFigures> => ({
  rssMb: round(sumOf(s, 'process_resident_memory_bytes') / MB, 1),
  heapUsedMb: round(sumOf(s, 'nodejs_heap_size_used_bytes') / MB, 1),
  heapTotalMb: round(sumOf(s, 'nodejs_heap_size_total_bytes') / MB, 1),
  externalMb: round(sumOf(s, 'nodejs_external_memory_bytes') / MB, 1),
});

/** Deletes a namespace and waits until it (with every pod in it) is gone; the seconds that took. */
async function deleteNamespace(s: Session, namespace: string): Promise<number> {
  const t0 = performance.now();
  await kubectl(s.cp, ['delete', 'namespace', namespace, '--ignore-not-found', '--wait=true', '--timeout=900s']);
  return round((performance.now() - t0) / 1000, 1);
}

/**
 * `phase`: `both` (the floor and Anvil in one invocation, one control plane), or, for counts
 * too large for one hold of the shared control-plane lock, `floor` and `anvil` in two
 * invocations; `anvil` takes the floor from `previous` (the same count's `floor` invocation).
 */
export async function runClusterCase(worldCounts: number[], opts: ClusterOptions, phase: 'both' | 'floor' | 'anvil', previous: readonly ClusterRun[] = []): Promise<ClusterRun[]> {
  const sorted = [...worldCounts].sort((a, b) => a - b);
  const largest = Math.max(...sorted);
  // kwok nodes hold 110 pods; a world of the example games runs about 5.
  const nodes = opts.nodes ?? Math.ceil((largest * 6) / 100) + 2;
  const out: ClusterRun[] = [];
  const { profile } = await withCluster(opts, true, nodes, opts.burstResyncSeconds, async (s) => {
    for (const [i, worlds] of sorted.entries()) {
      const machine = machineNow();
      const base = { worlds, machine, kubernetes: s.kubernetes, nodes, reconcileConcurrency: opts.reconcileConcurrency, cleanupSeconds: null, resync: null, profile: null };
      if (phase === 'floor') {
        out.push({ ...base, loadTest: null, floorHold: { machine, kubernetes: s.kubernetes, nodes, floor: await floorPhase(s, worlds, opts) } });
        continue;
      }
      const namespace = `bench-${worlds}`;
      const last = i === sorted.length - 1;
      // Only an Anvil-only invocation takes the floor of an earlier --phase floor one: a run of
      // both measures its own floor, and that one (same run, same control plane) is compared.
      const held = phase === 'anvil' ? previous.find((p) => p.worlds === worlds)?.floorHold : undefined;
      if (phase === 'anvil' && !held) throw new Error(`--phase anvil at ${worlds} worlds needs the floor of a --phase floor invocation first`);
      const result = await loadTest(s, worlds, namespace, opts, phase === 'anvil' ? ['--no-floor'] : []);
      if (held) Object.assign(result, { floor: held.floor, ratios: ratiosOf(result.latencySeconds, result.worldsPerSecond, held.floor) });
      // The largest count keeps its worlds for the no-op resync window: a fresh reconciler
      // (its first pass over every world is a resync of its own) with short resyncs.
      let resync: ResyncResult | null = null;
      if (last) {
        opts.log(`cluster: restarting the reconciler with --resync-seconds ${opts.resyncSeconds} for the no-op window`);
        await s.restartReconciler(opts.resyncSeconds);
        resync = await resyncWindow(s.metricsUrl, worlds, opts);
      }
      // Before the next count, its namespace (with every pod) must be gone; after the last, the control plane stops.
      let cleanupSeconds: number | null = null;
      if (!last) {
        opts.log(`cluster: deleting namespace ${namespace} and waiting until its pods are gone`);
        cleanupSeconds = await deleteNamespace(s, namespace);
      }
      out.push({ ...base, loadTest: result, ...(held ? { floorHold: held } : {}), cleanupSeconds, resync });
    }
  });
  // The profile covers the whole reconciler process: it belongs to the largest run.
  if (profile && out.length) out[out.length - 1]!.profile = profile;
  return out;
}

/** The floor alone (`--phase floor`), in-process, with the same options load-test gives it. */
async function floorPhase(s: Session, worlds: number, opts: ClusterOptions): Promise<FloorResult> {
  opts.log(`cluster: the floor alone at ${worlds} worlds`);
  return measureFloor(connect(s.cp.kubeconfig), {
    game: opts.game,
    worlds,
    concurrency: opts.reconcileConcurrency,
    namespace: `bench-floor-${worlds}`,
    kubeconfig: s.cp.kubeconfig,
    timeoutSeconds: opts.timeoutSeconds,
    // The control plane stops right after: no need to wait for the namespace to go.
    cleanup: false,
  });
}

/** Creates `worlds` WorldInstances at once (100 creates in flight). */
async function createWorlds(kubeconfig: string, namespace: string, worlds: number, game: string, label: string): Promise<void> {
  const kube = connect(kubeconfig);
  await ensureNamespace(kube, namespace, { [LABEL_WORLDS_NAMESPACE]: 'true' }); // worlds run only in namespaces labelled for them (issue 19)
  await forEachBounded(worlds, 100, async (i) => {
    const body: WorldInstance = {
      apiVersion: API_VERSION,
      kind: 'WorldInstance',
      metadata: { name: `mem-${i}`, namespace, labels: { 'anvil.dev/load-test': label } },
      spec: { gameRef: { name: game }, region: 'default', shards: 1 },
    };
    await kube.custom.createNamespacedCustomObject({ ...anvilGroup, namespace, plural: 'worldinstances', body });
  });
}

/**
 * Polls /metrics until the queue is empty twice in a row and every world has a status, or
 * the deadline; returns how many worlds have a status (all of them, unless the deadline came).
 */
async function settle(s: Session, tracker: WorldTracker, worlds: number, deadline: number, peak: { rss: number }): Promise<number> {
  let empty = 0;
  let statused = 0;
  while (Date.now() < deadline) {
    const m = await scrape(s.metricsUrl).catch(() => undefined);
    if (m) peak.rss = Math.max(peak.rss, sumOf(m, 'process_resident_memory_bytes'));
    statused = [...tracker.states.values()].filter((w) => w.phase !== undefined).length;
    empty = m && sumOf(m, 'anvil_workqueue_depth') === 0 && statused >= worlds ? empty + 1 : 0;
    if (empty >= 2) return statused;
    await sleep(1000);
  }
  return statused;
}

export async function runMemoryCase(worlds: number, opts: ClusterOptions): Promise<MemoryRun> {
  const machine = machineNow();
  // The default resync period during the burst (a short one would add relists of everything
  // to it); the resync measured is asked for by SIGHUP once the burst is reconciled.
  const { result } = await withCluster(opts, false, 0, opts.burstResyncSeconds, async (s) => {
    const namespace = 'bench-memory';
    const kube = connect(s.cp.kubeconfig);
    await ensureNamespace(kube, namespace, { [LABEL_WORLDS_NAMESPACE]: 'true' }); // worlds run only in namespaces labelled for them (issue 19)
    const tracker = new WorldTracker(kube, namespace, 'anvil.dev/load-test=memory');
    await tracker.start();
    const before = await scrape(s.metricsUrl);
    const peak = { rss: sumOf(before, 'process_resident_memory_bytes') };
    // With --heap-snapshot: one before the burst and one after it (their difference is what the worlds cost), and one after the resync.
    if (opts.heapSnapshot) await s.heapSnapshot();
    opts.log(`memory: creating ${worlds} worlds (no nodes: they stay Provisioning)`);
    const t0 = performance.now();
    await createWorlds(s.cp.kubeconfig, namespace, worlds, opts.game, 'memory');
    const reconciled = await settle(s, tracker, worlds, Date.now() + opts.timeoutSeconds * 1000, peak);
    if (reconciled < worlds) opts.log(`memory: only ${reconciled} of ${worlds} worlds reconciled within ${opts.timeoutSeconds}s; recording what there is`);
    const settleSeconds = round((performance.now() - t0) / 1000, 1);
    const burst = await scrape(s.metricsUrl);
    tracker.stop();
    const phases: Record<string, number> = {};
    for (const w of tracker.states.values()) phases[w.phase ?? 'none'] = (phases[w.phase ?? 'none'] ?? 0) + 1;
    const requests = sumOf(burst, 'anvil_api_requests_total') - sumOf(before, 'anvil_api_requests_total');
    const cpu = sumOf(burst, 'process_cpu_seconds_total') - sumOf(before, 'process_cpu_seconds_total');
    if (opts.heapSnapshot) await s.heapSnapshot();
    opts.log(`memory: ${reconciled} worlds reconciled in ${settleSeconds}s; a resync (SIGHUP)`);
    const resync = await signalledResync(s, reconciled, opts);
    // With --heap-snapshot, a third after the relist and resync: what the relist left behind.
    if (opts.heapSnapshot) await s.heapSnapshot();
    return {
      worlds,
      machine,
      kubernetes: s.kubernetes,
      withNodes: false as const,
      reconcileConcurrency: opts.reconcileConcurrency,
      settleSeconds,
      reconciled,
      phases,
      apiRequestsPerWorld: round(requests / worlds, 2),
      cpuSecondsPerWorld: round(cpu / worlds, 4),
      idle: memoryOf(before),
      afterBurst: memoryOf(burst),
      peakRssMb: round(Math.max(peak.rss, sumOf(burst, 'process_resident_memory_bytes')) / MB, 1),
      resync,
      nodeFlags: [...(opts.nodeFlags ?? RECONCILER_NODE_FLAGS)],
      entrypoint: opts.entrypoint ?? 'image',
    };
  });
  return result;
}
