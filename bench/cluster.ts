/**
 * The cluster part of the bench: a local control plane with kwok nodes (test/cluster),
 * dist/'s CRDs, namespaces, definitions and global services applied as the README says, the
 * reconciler from source (`anvil reconcile`), then `anvil load-test` at each world count, a
 * no-op resync window (API writes must stay at zero), and optionally a large count for the
 * reconciler's memory.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { startControlPlane, type ControlPlane } from '../test/cluster/controlPlane.js';
import { ensureBuilt } from '../test/cluster/reconcilerHarness.js';
import { byLabel, deltaByKey, scrape, sumOf } from '../lib/loadtest/metrics.js';
import type { LoadTestResult } from '../lib/loadtest/run.js';

const TSX = join('node_modules', '.bin', 'tsx');
const ANVIL = join('bench', 'anvil.ts');
/** Requests that only read: everything else the reconciler counts is a write. */
const READ_VERBS = new Set(['get', 'list', 'watch', 'lease-get']);

export interface ClusterBenchOptions {
  worldCounts: number[];
  /** World count for the memory run (0: skip). */
  memoryWorlds: number;
  game?: string;
  nodes?: number;
  reconcileConcurrency: number;
  resyncSeconds: number;
  timeoutSeconds: number;
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
}

export interface ClusterBenchResult {
  kubernetes: string;
  nodes: number;
  reconcileConcurrency: number;
  loadTests: LoadTestResult[];
  resync: ResyncResult | null;
  memory: LoadTestResult | null;
  reconcilerRssAfterMb: number | null;
}

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

async function kubectl(cp: ControlPlane, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.env.KUBECTL ?? 'kubectl', ['--kubeconfig', cp.kubeconfig, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`kubectl ${args.join(' ')}: ${err || out}`))));
  });
}

/** The README's apply sequence, without the reconciler's Deployment (it runs from source here) and the static worlds. */
async function applyPlatform(cp: ControlPlane): Promise<void> {
  await kubectl(cp, ['apply', '-f', 'dist/0000-crds.k8s.yaml']);
  await kubectl(cp, ['wait', '--for', 'condition=established', '--timeout=60s', 'crd', '-l', 'app.kubernetes.io/part-of=anvil']);
  const files = readdirSync('dist')
    .filter((f) => f.endsWith('.k8s.yaml') && !/-(crds|reconciler)\.k8s\.yaml$/.test(f) && !/-world-/.test(f))
    .sort();
  for (const f of files) await kubectl(cp, ['apply', '-f', join('dist', f)]);
}

async function startReconciler(cp: ControlPlane, port: number, opts: ClusterBenchOptions): Promise<ChildProcess> {
  const log = openSync(join(opts.logDir, 'reconciler.log'), 'a');
  // The compiled reconciler (bin/anvil.js on build/), as it runs in a cluster: its memory is what ships.
  ensureBuilt();
  const child = spawn(
    process.execPath,
    ['bin/anvil.js', 'reconcile', '--kubeconfig', cp.kubeconfig, '--port', String(port), '--concurrency', String(opts.reconcileConcurrency), '--resync-seconds', String(opts.resyncSeconds)],
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

async function loadTest(cp: ControlPlane, metricsUrl: string, worlds: number, opts: ClusterBenchOptions, extra: string[] = []): Promise<LoadTestResult> {
  opts.log(`cluster: anvil load-test --worlds ${worlds}${extra.length ? ` ${extra.join(' ')}` : ''}`);
  const args = [ANVIL, 'load-test', '--worlds', String(worlds), '--concurrency', String(Math.min(worlds, 100)), '--kubeconfig', cp.kubeconfig, '--metrics-url', metricsUrl, '--timeout', String(opts.timeoutSeconds), '-o', 'json', ...(opts.game ? ['--game', opts.game] : []), ...extra];
  const r = await run(args, join(opts.logDir, `load-test-${worlds}.log`));
  try {
    return JSON.parse(r.stdout) as LoadTestResult;
  } catch {
    throw new Error(`anvil load-test --worlds ${worlds} printed no JSON (exit ${r.code}); see ${join(opts.logDir, `load-test-${worlds}.log`)}`);
  }
}

/** Writes the reconciler made while nothing changed, over a window of two resync periods. */
async function noopResync(metricsUrl: string, worlds: number, opts: ClusterBenchOptions): Promise<ResyncResult> {
  // Let the last status updates and kwok's pod churn settle first.
  await sleep(10_000);
  const before = await scrape(metricsUrl);
  const window = opts.resyncSeconds * 2 + 5;
  opts.log(`cluster: no-op resync window of ${window}s with ${worlds} worlds`);
  await sleep(window * 1000);
  const after = await scrape(metricsUrl);
  const byVerb = deltaByKey(byLabel(before, 'anvil_api_requests_total', 'verb'), byLabel(after, 'anvil_api_requests_total', 'verb'));
  return {
    worlds,
    windowSeconds: window,
    resyncSeconds: opts.resyncSeconds,
    reconciles: sumOf(after, 'anvil_reconcile_total') - sumOf(before, 'anvil_reconcile_total'),
    writes: Object.entries(byVerb).filter(([v]) => !READ_VERBS.has(v)).reduce((s, [, n]) => s + n, 0),
    requestsByVerb: byVerb,
  };
}

async function deleteAllWorlds(cp: ControlPlane): Promise<void> {
  await kubectl(cp, ['delete', 'worldinstances', '--all', '-n', 'default', '--wait=true', '--timeout=600s']);
}

export async function runClusterBench(opts: ClusterBenchOptions): Promise<ClusterBenchResult> {
  const largest = Math.max(...opts.worldCounts, opts.memoryWorlds);
  // kwok nodes hold 110 pods; a world of the example games runs about 5.
  const nodes = opts.nodes ?? Math.ceil((largest * 6) / 100) + 2;
  opts.log(`cluster: starting the control plane with ${nodes} kwok nodes`);
  const cp = await startControlPlane({ withNodes: true, nodes, timeoutMs: 300_000 });
  let reconciler: ChildProcess | undefined;
  try {
    const version = JSON.parse(await kubectl(cp, ['version', '-o', 'json'])) as { serverVersion?: { gitVersion?: string } };
    await applyPlatform(cp);
    const port = 18080 + (process.pid % 1000);
    reconciler = await startReconciler(cp, port, opts);
    const metricsUrl = `http://127.0.0.1:${port}/metrics`;

    const loadTests: LoadTestResult[] = [];
    let resync: ResyncResult | null = null;
    const sorted = [...opts.worldCounts].sort((a, b) => a - b);
    for (const [i, worlds] of sorted.entries()) {
      const last = i === sorted.length - 1;
      // The largest run keeps its worlds for the no-op resync window; the others clean up.
      loadTests.push(await loadTest(cp, metricsUrl, worlds, opts, last ? [] : ['--cleanup']));
      if (last) {
        resync = await noopResync(metricsUrl, worlds, opts);
        await deleteAllWorlds(cp);
      }
    }

    let memory: LoadTestResult | null = null;
    if (opts.memoryWorlds > 0) memory = await loadTest(cp, metricsUrl, opts.memoryWorlds, opts, ['--no-raw', '--cleanup']);
    const rss = await scrape(metricsUrl).then((s) => sumOf(s, 'process_resident_memory_bytes') / 2 ** 20, () => null);
    return { kubernetes: version.serverVersion?.gitVersion ?? 'unknown', nodes, reconcileConcurrency: opts.reconcileConcurrency, loadTests, resync, memory, reconcilerRssAfterMb: rss };
  } finally {
    if (reconciler && reconciler.exitCode === null) {
      reconciler.kill('SIGTERM');
      await Promise.race([new Promise((r) => reconciler!.once('exit', r)), sleep(10_000)]);
      if (reconciler.exitCode === null) reconciler.kill('SIGKILL');
    }
    await cp.stop();
  }
}
