/**
 * The many-clusters part of the bench (issue 21): two local control planes at once (kwok
 * nodes), the two-cluster app of test/cluster/multiClusterApp.ts (dist/eu-1, dist/ap-1)
 * applied with kubectl, the compiled reconciler per cluster, and in the same run:
 *
 *  1. overhead: claims on eu-1 directly (claimWorld) beside claims through the cluster set
 *     (eu-1 priority 1, ap-1 priority 2: eu-1 serves), interleaved, each released at once;
 *  2. failover: a burst through the cluster set (concurrency 4) during which eu-1's API server
 *     is killed; time from the kill to claims landing on ap-1, lost and double-bound claims,
 *     and the abandoned claims' cleanup once eu-1's API server is back;
 *  3. worlds per cluster: the controller manager, scheduler and kwok stopped (worlds without
 *     pods: they stay Provisioning), N worlds created on each cluster, and each reconciler's
 *     RSS once it has reconciled them.
 */
import { type ChildProcess } from 'node:child_process';
import { mkdtempSync, openSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { claimWorld, releaseWorld } from '../lib/client/claims.js';
import { abandonedCleanups, claimAcrossClusters, type ClusterClaimedWorld, type ClusterSet } from '../lib/client/clusterSet.js';
import { percentile, round } from '../lib/loadtest/stats.js';
import { startControlPlane, type ControlPlane } from '../test/cluster/controlPlane.js';
import { GAME, NAMESPACE, synthTwoClusters, type ClusterName } from '../test/cluster/multiClusterApp.js';
import { kubectl, reconcilerArgv, spawnReconciler } from './cluster.js';

export interface MulticlusterOptions {
  /** Claims per mode in the overhead phase. */
  claims: number;
  worldsPerCluster: number;
  perClusterTimeoutSeconds: number;
  log: (line: string) => void;
}

interface Latency {
  n: number;
  p50Ms: number;
  p99Ms: number;
}

export interface MulticlusterResult {
  kubernetes: string;
  perClusterTimeoutSeconds: number;
  single: Latency;
  set: Latency;
  failover: {
    claims: number;
    onEu: number;
    onAp: number;
    /** Calls that ended in an error (every cluster tried within the claim's time): the caller was told, nothing stays claimed. */
    failed: number;
    doubleBound: number;
    /** From the kill to the first claim bound on ap-1. */
    firstOnApMs: number;
    /** From the kill to the last of the claims in flight at the kill landing on ap-1. */
    inFlightOnApMs: number | null;
    cleanups: Record<string, number>;
  };
  worlds: { cluster: string; worlds: number; reconciled: number; rssMb: number }[];
  worldsSettleSeconds: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const CLUSTERS: ClusterName[] = ['eu-1', 'ap-1'];
const MB = 1024 * 1024;

interface Running {
  name: ClusterName;
  cp: ControlPlane;
  reconciler: ChildProcess;
  port: number;
}

async function startCluster(name: ClusterName, dist: string, port: number, logDir: string): Promise<Running> {
  const cp = await startControlPlane({ withNodes: true, nodes: 1, timeoutMs: 300_000 });
  await kubectl(cp, ['apply', '-f', join(dist, name, '0000-crds.k8s.yaml')]);
  await kubectl(cp, ['wait', '--for=condition=established', '--timeout=60s', 'crd', '-l', 'app.kubernetes.io/part-of=anvil']);
  await kubectl(cp, ['apply', '-f', join(dist, name)]);
  const log = openSync(join(logDir, `reconciler-${name}.log`), 'a');
  const reconciler = spawnReconciler(reconcilerArgv(cp, port), { stdio: ['ignore', log, log] });
  const deadline = Date.now() + 60_000;
  while (!(await fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.ok, () => false))) {
    if (reconciler.exitCode !== null || Date.now() > deadline) throw new Error(`the reconciler of ${name} did not become ready; see ${logDir}/reconciler-${name}.log`);
    await sleep(500);
  }
  return { name, cp, reconciler, port };
}

const latency = (ms: number[]): Latency => ({ n: ms.length, p50Ms: round(percentile(ms, 50), 1), p99Ms: round(percentile(ms, 99), 1) });

async function readyOf(c: Running, pool: string): Promise<number> {
  return Number((await kubectl(c.cp, ['get', 'worldpool', pool, '-n', NAMESPACE, '-o', 'jsonpath={.status.ready}'])) || 0);
}

async function waitReady(c: Running, pool: string, atLeast: number): Promise<void> {
  const deadline = Date.now() + 600_000;
  while ((await readyOf(c, pool)) < atLeast) {
    if (Date.now() > deadline) throw new Error(`pool ${pool} of ${c.name} did not reach ${atLeast} ready worlds`);
    await sleep(200);
  }
}

/** Phase 1: direct claims on eu-1 and cluster-set claims served by eu-1, interleaved (ABBA), each released at once. */
async function overhead(eu: Running, set: ClusterSet, n: number): Promise<{ single: number[]; viaSet: number[] }> {
  const single: number[] = [];
  const viaSet: number[] = [];
  const direct = async () => {
    const t0 = performance.now();
    const w = await claimWorld({ kubeconfig: eu.cp.kubeconfig, namespace: NAMESPACE, selector: { game: GAME }, timeoutSeconds: 30 });
    single.push(performance.now() - t0);
    await releaseWorld({ kubeconfig: eu.cp.kubeconfig, namespace: NAMESPACE, claim: w.claim });
  };
  const across = async () => {
    const t0 = performance.now();
    const w = await claimAcrossClusters({ clusterSet: set, namespace: NAMESPACE, selector: { game: GAME } });
    viaSet.push(performance.now() - t0);
    if (w.cluster !== 'eu-1') throw new Error(`overhead phase: a claim landed on ${w.cluster}, not eu-1 (${JSON.stringify(w.attempts)})`);
    await releaseWorld({ kubeconfig: eu.cp.kubeconfig, namespace: NAMESPACE, claim: w.claim });
  };
  for (let i = 0; i < n; i++) {
    await waitReady(eu, 'duel-eu', 3); // never measure a wait for the refill
    if (i % 2 === 0) await direct().then(across);
    else await across().then(direct);
  }
  return { single, viaSet };
}

/** Phase 2: a burst through the set; eu-1's API server dies once `killAfter` claims landed there. */
async function failover(eu: Running, set: ClusterSet, total: number, killAfter: number, log: (l: string) => void): Promise<MulticlusterResult['failover']> {
  const done: { w: ClusterClaimedWorld; start: number; end: number }[] = [];
  const cleanups: Record<string, number> = {};
  let killedAt: number | undefined;
  let started = 0;
  let failed = 0;
  const worker = async () => {
    while (started < total) {
      started++;
      const start = performance.now();
      try {
        const w = await claimAcrossClusters({ clusterSet: set, namespace: NAMESPACE, selector: { game: GAME }, timeoutSeconds: 60, onCleanup: (c, r) => (cleanups[`${c} ${r}`] = (cleanups[`${c} ${r}`] ?? 0) + 1) });
        done.push({ w, start, end: performance.now() });
      } catch (e) {
        failed++;
        log(`failover: a claim failed: ${e instanceof Error ? e.message : String(e)}`);
      }
      if (killedAt === undefined && done.filter((d) => d.w.cluster === 'eu-1').length >= killAfter) {
        killedAt = performance.now();
        log('failover: killing eu-1\'s API server');
        await eu.cp.apiServer!.kill();
      }
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
  log('failover: burst done; restarting eu-1\'s API server on the same etcd');
  await eu.cp.apiServer!.start();
  await abandonedCleanups();
  const onAp = done.filter((d) => d.w.cluster === 'ap-1' && killedAt !== undefined && d.end > killedAt);
  const inFlight = onAp.filter((d) => d.start < killedAt!);
  return {
    claims: total,
    onEu: done.filter((d) => d.w.cluster === 'eu-1').length,
    onAp: done.filter((d) => d.w.cluster === 'ap-1').length,
    failed,
    doubleBound: done.length - new Set(done.map((d) => `${d.w.cluster}/${d.w.world}`)).size,
    firstOnApMs: onAp.length ? round(Math.min(...onAp.map((d) => d.end)) - killedAt!, 1) : NaN,
    inFlightOnApMs: inFlight.length ? round(Math.max(...inFlight.map((d) => d.end)) - killedAt!, 1) : null,
    cleanups,
  };
}

function worldsYaml(from: number, to: number): string {
  // One List: kubectl reads input that starts with "{" as a JSON stream, where "---" is not a separator.
  const items = Array.from({ length: to - from }, (_, k) => from + k).map((i) => ({ apiVersion: 'anvil.dev/v1alpha1', kind: 'WorldInstance', metadata: { name: `count-${String(i).padStart(5, '0')}`, namespace: NAMESPACE, labels: { 'anvil.dev/load-test': 'multicluster' } }, spec: { gameRef: { name: GAME }, region: 'default' } }));
  return JSON.stringify({ apiVersion: 'v1', kind: 'List', items });
}

async function rssMb(c: Running): Promise<number> {
  const text = await fetch(`http://127.0.0.1:${c.port}/metrics`).then((r) => r.text());
  const line = text.split('\n').find((l) => l.startsWith('process_resident_memory_bytes '));
  return line ? round(Number(line.split(' ')[1]) / MB, 1) : NaN;
}

/** Phase 3: no pods from here; N worlds on each cluster; each reconciler's RSS once it has given every one a phase. */
async function worldsPerCluster(clusters: Running[], n: number, log: (l: string) => void): Promise<{ rows: MulticlusterResult['worlds']; seconds: number }> {
  for (const c of clusters) await c.cp.stopWorkloads!();
  const t0 = performance.now();
  for (const c of clusters) {
    for (let i = 0; i < n; i += 500) {
      await kubectl(c.cp, ['apply', '--server-side', '-f', '-'], worldsYaml(i, Math.min(n, i + 500)));
    }
  }
  log(`worlds: ${n} created on each cluster; waiting for both reconcilers to give each a phase`);
  const reconciled = async (c: Running) =>
    (await kubectl(c.cp, ['get', 'worldinstances', '-n', NAMESPACE, '-l', 'anvil.dev/load-test=multicluster', '-o', 'jsonpath={range .items[*]}{.status.phase}{"\\n"}{end}'])).split('\n').filter(Boolean).length;
  const deadline = Date.now() + 1800_000;
  const counts = new Map<string, number>();
  for (;;) {
    for (const c of clusters) counts.set(c.name, await reconciled(c));
    if ([...counts.values()].every((v) => v >= n) || Date.now() > deadline) break;
    await sleep(5000);
  }
  const seconds = round((performance.now() - t0) / 1000, 1);
  const rows = [];
  for (const c of clusters) rows.push({ cluster: c.name, worlds: n, reconciled: counts.get(c.name) ?? 0, rssMb: await rssMb(c) });
  return { rows, seconds };
}

export async function runMulticlusterBench(opts: MulticlusterOptions): Promise<MulticlusterResult> {
  const logDir = mkdtempSync(join(tmpdir(), 'anvil-bench-multicluster-'));
  const dist = join(logDir, 'dist');
  synthTwoClusters(dist, { 'eu-1': 20, 'ap-1': 30 }, { 'eu-1': 40, 'ap-1': 60 });
  opts.log(`multicluster: two control planes (logs in ${logDir})`);
  const base = 19300 + (process.pid % 500);
  const started = await Promise.allSettled(CLUSTERS.map((name, i) => startCluster(name, dist, base + i, logDir)));
  const clusters = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  try {
    const failed = started.find((s) => s.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;
    const [eu, ap] = clusters as [Running, Running];
    const version = JSON.parse(await kubectl(eu.cp, ['version', '-o', 'json'])) as { serverVersion?: { gitVersion?: string } };
    await waitReady(eu, 'duel-eu', 20);
    await waitReady(ap, 'duel-ap', 30);
    const set: ClusterSet = {
      perClusterTimeoutSeconds: opts.perClusterTimeoutSeconds,
      clusters: [
        { name: 'eu-1', kubeconfig: eu.cp.kubeconfig, priority: 1 },
        { name: 'ap-1', kubeconfig: ap.cp.kubeconfig, priority: 2 },
      ],
    };
    opts.log(`multicluster: overhead, ${opts.claims} claims each way`);
    const o = await overhead(eu, set, opts.claims);
    await waitReady(eu, 'duel-eu', 20);
    opts.log('multicluster: failover burst');
    const f = await failover(eu, set, 24, 6, opts.log);
    const w = await worldsPerCluster(clusters, opts.worldsPerCluster, opts.log);
    return { kubernetes: version.serverVersion?.gitVersion ?? 'unknown', perClusterTimeoutSeconds: opts.perClusterTimeoutSeconds, single: latency(o.single), set: latency(o.viaSet), failover: f, worlds: w.rows, worldsSettleSeconds: w.seconds };
  } finally {
    for (const c of clusters) {
      c.reconciler.kill('SIGTERM');
      await Promise.race([new Promise((r) => c.reconciler.once('exit', r)), sleep(10_000)]);
      if (c.reconciler.exitCode === null) c.reconciler.kill('SIGKILL');
      await c.cp.stop();
    }
  }
}

// ---- generated text ----------------------------------------------------------------------

const fmt = (v: number | null | undefined, d = 1) => (v === null || v === undefined || Number.isNaN(v) ? 'n/a' : v.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d }));

export function multiclusterTargets(r: MulticlusterResult): { target: string; measured: string; met: boolean }[] {
  const p50 = r.set.p50Ms / r.single.p50Ms;
  const p99 = r.set.p99Ms / r.single.p99Ms;
  const bound = r.perClusterTimeoutSeconds * 1000 + r.single.p50Ms;
  const failoverMs = r.failover.inFlightOnApMs ?? r.failover.firstOnApMs;
  const total = r.worlds.reduce((s, w) => s + w.reconciled, 0);
  return [
    { target: 'cluster-set p50 ≤ 1.1× one cluster (first cluster serves)', measured: `${fmt(r.set.p50Ms)} ms vs ${fmt(r.single.p50Ms)} ms: ${fmt(p50, 2)}×`, met: p50 <= 1.1 },
    { target: 'cluster-set p99 ≤ 1.1× one cluster', measured: `${fmt(r.set.p99Ms)} ms vs ${fmt(r.single.p99Ms)} ms: ${fmt(p99, 2)}×`, met: p99 <= 1.1 },
    {
      target: `API server death → claims on the other cluster < per-cluster deadline + one claim (${fmt(bound)} ms)`,
      measured: `first claim on ap-1 ${fmt(r.failover.firstOnApMs)} ms after the kill; the last claim in flight at the kill ${r.failover.inFlightOnApMs === null ? 'n/a (none in flight)' : `${fmt(r.failover.inFlightOnApMs)} ms`}`,
      met: failoverMs < bound,
    },
    {
      target: '0 lost (a world left claimed for no caller), 0 bound twice in the failover burst',
      measured: `${lostOf(r)} lost, ${r.failover.doubleBound} bound twice (${r.failover.onEu} on eu-1, ${r.failover.onAp} on ap-1, ${r.failover.failed} failed to the caller, of ${r.failover.claims})`,
      met: lostOf(r) === 0 && r.failover.doubleBound === 0,
    },
    { target: 'every claim of the failover burst bound', measured: `${r.failover.claims - r.failover.failed} of ${r.failover.claims}; ${r.failover.failed} ended in an error after every cluster was tried within its deadline (the caller told; its abandoned claims released)`, met: r.failover.failed === 0 },
    { target: "two clusters together past the seed's 5k-per-cluster line (worlds without pods)", measured: `${total.toLocaleString('en-US')} worlds reconciled (${r.worlds.map((w) => `${w.cluster} ${w.reconciled.toLocaleString('en-US')}`).join(', ')})`, met: total > 5000 },
  ];
}

/** Worlds left claimed for no caller: abandoned claims whose cleanup gave up. */
const lostOf = (r: MulticlusterResult): number => Object.entries(r.failover.cleanups).reduce((n, [k, v]) => n + (k.endsWith(' lost') ? v : 0), 0);

/** The `## Many clusters` section of bench/RESULTS.md, from results.json's `multicluster`. */
export function multiclusterMarkdown(r: MulticlusterResult): string[] {
  const cleanups = Object.entries(r.failover.cleanups).map(([k, v]) => `${v} ${k}`).join(', ') || 'none';
  return [
    `## Many clusters (issue 21: two local control planes ${r.kubernetes} at once, 1 kwok node each, a reconciler per cluster, per-cluster deadline ${r.perClusterTimeoutSeconds} s)`,
    '',
    'Latency is what the matchmaker sees: the whole claimWorld / claimAcrossClusters call (create, watch until Bound). Claims on eu-1 directly and through the cluster set (eu-1 priority 1, ap-1 priority 2) are interleaved in the same run, each released at once, never while eu-1\'s pool refills.',
    '',
    '| | claims | p50 ms | p99 ms |',
    '|---|---:|---:|---:|',
    `| one cluster (claimWorld on eu-1) | ${r.single.n} | ${fmt(r.single.p50Ms)} | ${fmt(r.single.p99Ms)} |`,
    `| cluster set, eu-1 serves | ${r.set.n} | ${fmt(r.set.p50Ms)} | ${fmt(r.set.p99Ms)} |`,
    '',
    `Failover: ${r.failover.claims} claims through the set at concurrency 4; eu-1's API server killed once ${6} had landed on eu-1; ${r.failover.onEu} landed on eu-1, ${r.failover.onAp} on ap-1, ${r.failover.failed} failed to the caller (every cluster tried within its deadline), ${lostOf(r)} lost, ${r.failover.doubleBound} bound twice. Abandoned claims' cleanups once eu-1's API server was back on the same etcd: ${cleanups}.`,
    '',
    `Worlds per cluster (the controller manager, scheduler and kwok stopped first: the worlds get no pods and stay Provisioning; their Deployments and Services are rendered) — ${fmt(r.worldsSettleSeconds)} s until both reconcilers had given every world a phase:`,
    '',
    '| cluster | worlds created | reconciled | reconciler RSS MB |',
    '|---|---:|---:|---:|',
    ...r.worlds.map((w) => `| ${w.cluster} | ${w.worlds.toLocaleString('en-US')} | ${w.reconciled.toLocaleString('en-US')} | ${fmt(w.rssMb)} |`),
    '',
    '### Issue 21 targets',
    '',
    '| target | measured | |',
    '|---|---|---|',
    ...multiclusterTargets(r).map((t) => `| ${t.target} | ${t.measured} | ${t.met ? 'met' : 'not met'} |`),
    '',
  ];
}
