/**
 * The claims part of the bench (issue 12): a local control plane with kwok nodes, dist/'s
 * CRDs, namespaces, definitions (without dist's example pools) and global services, the
 * compiled reconciler, one WorldPool with a buffer of 100 warm worlds, then
 * `anvil load-test --claims 100 --concurrency 50` (claim latency, claims/s, exactly-once,
 * refill, and the raw PATCH floor in the same run). Its RESULTS.md section and the README's
 * figure line are generated from results.json by the functions below.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startControlPlane, type ControlPlane } from '../test/cluster/controlPlane.js';
import { ensureBuilt } from '../test/cluster/ensureBuilt.js';
import type { ClaimLoadTestResult } from '../lib/loadtest/claims.js';

export interface ClaimsBenchOptions {
  claims: number;
  concurrency: number;
  buffer: number;
  game: string;
  nodes?: number;
  reconcileConcurrency: number;
  logDir: string;
  log: (line: string) => void;
}

export interface ClaimsBenchResult {
  kubernetes: string;
  nodes: number;
  game: string;
  buffer: number;
  reconcileConcurrency: number;
  /** From creating the pool to `buffer` ready worlds (cold starts: the issue-5 path). */
  poolFillSeconds: number;
  loadTest: ClaimLoadTestResult;
}

export type ClaimsBenchRecord = ClaimsBenchResult | { error: string };

const NAMESPACE = 'claims-bench';
const POOL = 'bench';
const TSX = join('node_modules', '.bin', 'tsx');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function run(cmd: string, args: string[], input?: string): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, out, err }));
    child.stdin.end(input ?? '');
  });
}
async function kubectl(cp: ControlPlane, args: string[], input?: string): Promise<string> {
  const r = await run(process.env.KUBECTL ?? 'kubectl', ['--kubeconfig', cp.kubeconfig, ...args], input);
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.err || r.out}`);
  return r.out;
}

/** The README's apply sequence for the platform; dist's example pools are removed so that only the bench pool runs. */
async function applyPlatform(cp: ControlPlane): Promise<void> {
  await kubectl(cp, ['apply', '-f', 'dist/0000-crds.k8s.yaml']);
  await kubectl(cp, ['wait', '--for', 'condition=established', '--timeout=60s', 'crd', '-l', 'app.kubernetes.io/part-of=anvil']);
  for (const f of ['0001-namespaces', '0002-definitions', '0004-global-services']) await kubectl(cp, ['apply', '-f', `dist/${f}.k8s.yaml`]);
  await kubectl(cp, ['delete', 'worldpools', '--all', '--all-namespaces']);
}

async function startReconciler(cp: ControlPlane, port: number, opts: ClaimsBenchOptions): Promise<ChildProcess> {
  ensureBuilt();
  const log = openSync(join(opts.logDir, 'claims-reconciler.log'), 'a');
  const child = spawn(process.execPath, ['bin/anvil.js', 'reconcile', '--kubeconfig', cp.kubeconfig, '--port', String(port), '--concurrency', String(opts.reconcileConcurrency)], { stdio: ['ignore', log, log] });
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`the reconciler stopped at start (exit ${child.exitCode}); see ${opts.logDir}/claims-reconciler.log`);
    if (await fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.ok, () => false)) return child;
    await sleep(500);
  }
  child.kill('SIGKILL');
  throw new Error(`the reconciler was not ready on :${port} within 60 s; see ${opts.logDir}/claims-reconciler.log`);
}

function poolYaml(opts: ClaimsBenchOptions): string {
  return JSON.stringify({
    apiVersion: 'anvil.dev/v1alpha1',
    kind: 'WorldPool',
    metadata: { name: POOL, namespace: NAMESPACE },
    // Room for the claimed worlds and a full refill beside them.
    spec: { gameRef: { name: opts.game }, buffer: { ready: opts.buffer }, maxWorlds: opts.buffer * 2 + opts.claims },
  });
}

export async function runClaimsBench(opts: ClaimsBenchOptions): Promise<ClaimsBenchResult> {
  // kwok nodes hold 110 pods; a pool world runs about 5; the buffer is refilled beside the claimed ones.
  const nodes = opts.nodes ?? Math.ceil(((opts.buffer + opts.claims) * 6) / 100) + 2;
  opts.log(`claims: starting the control plane with ${nodes} kwok nodes`);
  const cp = await startControlPlane({ withNodes: true, nodes, timeoutMs: 300_000 });
  let reconciler: ChildProcess | undefined;
  try {
    const version = JSON.parse(await kubectl(cp, ['version', '-o', 'json'])) as { serverVersion?: { gitVersion?: string } };
    await applyPlatform(cp);
    const port = 19080 + (process.pid % 1000);
    reconciler = await startReconciler(cp, port, opts);
    await kubectl(cp, ['create', 'namespace', NAMESPACE]);
    // A namespace for worlds: global providers admit it, and the reconciler runs its worlds (issue 19).
    await kubectl(cp, ['label', 'namespace', NAMESPACE, 'anvil.dev/worlds=true']);
    const t0 = performance.now();
    await kubectl(cp, ['apply', '-f', '-'], poolYaml(opts));
    opts.log(`claims: waiting for ${opts.buffer} ready worlds in pool ${NAMESPACE}/${POOL}`);
    await kubectl(cp, ['wait', `--for=jsonpath={.status.ready}=${opts.buffer}`, '--timeout=900s', '-n', NAMESPACE, `worldpool/${POOL}`]);
    const poolFillSeconds = Math.round((performance.now() - t0) / 100) / 10;
    opts.log(`claims: pool full after ${poolFillSeconds} s; anvil load-test --claims ${opts.claims} --concurrency ${opts.concurrency}`);
    const logFile = join(opts.logDir, 'claims-load-test.log');
    const r = await run(TSX, [
      join('bench', 'anvil.ts'), 'load-test', '--claims', String(opts.claims), '--pool', POOL, '-n', NAMESPACE, '--concurrency', String(opts.concurrency),
      '--kubeconfig', cp.kubeconfig, '--metrics-url', `http://127.0.0.1:${port}/metrics`, '--timeout', '60', '--refill-timeout', '900', '-o', 'json',
    ]);
    writeFileSync(logFile, `exit ${r.code}\n${r.err}`);
    // A run that missed (exit 1) still printed its JSON: its figures are the report.
    let loadTest: ClaimLoadTestResult;
    try {
      loadTest = JSON.parse(r.out) as ClaimLoadTestResult;
    } catch {
      throw new Error(`anvil load-test --claims printed no JSON (exit ${r.code}); see ${logFile}`);
    }
    return { kubernetes: version.serverVersion?.gitVersion ?? 'unknown', nodes, game: opts.game, buffer: opts.buffer, reconcileConcurrency: opts.reconcileConcurrency, poolFillSeconds, loadTest };
  } finally {
    if (reconciler && reconciler.exitCode === null) {
      reconciler.kill('SIGTERM');
      await Promise.race([new Promise((r) => reconciler!.once('exit', r)), sleep(10_000)]);
      if (reconciler.exitCode === null) reconciler.kill('SIGKILL');
    }
    await cp.stop();
  }
}

// ---- generated text ----------------------------------------------------------------------

const fmt = (v: number | null | undefined, d = 1) => (v === null || v === undefined || Number.isNaN(v) ? 'n/a' : v.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d }));
const msOf = (s: number | null | undefined) => (s === null || s === undefined ? null : s * 1000);

export interface ClaimsTarget {
  target: string;
  measured: string;
  met: boolean | undefined;
}

/** The issue-12 targets, judged on the run's own figures. */
export function claimsTargets(r: ClaimsBenchResult): ClaimsTarget[] {
  const t = r.loadTest;
  const p99 = msOf(t.latencySeconds?.p99);
  const floor = t.raw;
  const floorP50 = msOf(floor?.latencySeconds?.p50);
  return [
    { target: 'p99 created→Bound < 100 ms (100 claims, concurrency 50, warm pool of 100)', measured: p99 === null ? 'no claim bound' : `${fmt(p99)} ms`, met: p99 === null ? false : p99 < 100 },
    {
      target: 'claims/s ≥ ⅓ of raw PATCHes/s',
      measured: floor ? `${fmt(t.claimsPerSecond)} claims/s vs ${fmt(floor.patchesPerSecond)} PATCHes/s: ratio ${fmt(t.ratios.throughput, 3)}` : 'floor not measured',
      met: t.ratios.throughput === null ? undefined : t.ratios.throughput >= 1 / 3,
    },
    {
      target: 'claim p50 ≤ 3× raw PATCH p50',
      measured: floor ? `${fmt(msOf(t.latencySeconds?.p50))} ms vs ${fmt(floorP50)} ms: ${fmt(t.ratios.p50, 2)}×` : 'floor not measured',
      met: t.ratios.p50 === null ? undefined : t.ratios.p50 <= 3,
    },
    { target: '0 double bindings', measured: `${t.doubleBindings.count} (worlds with >1 claim: ${t.doubleBindings.worlds.length}, claims with >1 world: ${t.doubleBindings.claims.length})`, met: t.doubleBindings.count === 0 },
    { target: '0 lost claims', measured: `${t.lost.length} lost, ${t.failed.length} failed, ${t.bound}/${t.claims} bound`, met: t.lost.length === 0 && t.bound === t.claims },
  ];
}

/** When bucket interpolation puts a server-side quantile above anything the client saw, say so. */
function serverCaveat(t: ClaimLoadTestResult): string[] {
  const s = t.serverLatencySeconds;
  const max = t.latencySeconds?.max;
  if (!s || max === undefined || (s.p95 <= max && s.p99 <= max)) return [];
  return [
    `The server-side p95/p99 above exceed the slowest claim the client saw (${fmt(msOf(max))} ms, which includes the create request): they are linear interpolation inside a wide histogram bucket, not observations. The server-side mean, ${fmt(msOf(s.mean))} ms over ${s.count} claims, is exact (histogram sum ÷ count).`,
    '',
  ];
}

/** The `## Claims` section of bench/RESULTS.md, from results.json's `claims`. */
export function claimsMarkdown(record: ClaimsBenchRecord | undefined): string[] {
  if (!record) return [];
  if ('error' in record) return ['## Claims (warm pools, issue 12)', '', `**Failed:** ${record.error}`, ''];
  const r = record;
  const t = r.loadTest;
  const l = t.latencySeconds;
  const s = t.serverLatencySeconds;
  const f = t.raw;
  const md = [
    `## Claims (warm pools, issue 12: \`anvil load-test --claims ${t.claims} --concurrency ${t.concurrency}\`, local control plane ${r.kubernetes}, ${r.nodes} kwok nodes, pool of ${r.buffer} ready ${r.game} worlds, compiled reconciler with --concurrency ${r.reconcileConcurrency})`,
    '',
    `The pool took ${fmt(r.poolFillSeconds)} s to fill from empty (${r.buffer} cold world starts). Latency is measured by the client, from the create request to Bound seen on a watch; the server-side row is the reconciler's \`anvil_claim_duration_seconds\` (claim first seen by the reconciler → Bound, estimated from its histogram buckets).`,
    '',
    '| | claims | bound | p50 ms | p95 ms | p99 ms | max ms | per second | double bindings | lost | failed |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    `| claims (client) | ${t.claims} | ${t.bound} | ${fmt(msOf(l?.p50))} | ${fmt(msOf(l?.p95))} | ${fmt(msOf(l?.p99))} | ${fmt(msOf(l?.max))} | ${fmt(t.claimsPerSecond)} | ${t.doubleBindings.count} | ${t.lost.length} | ${t.failed.length} |`,
    `| claims (server) | ${s?.count ?? 'n/a'} | | ${fmt(msOf(s?.p50))} | ${fmt(msOf(s?.p95))} | ${fmt(msOf(s?.p99))} | | | | | |`,
    `| claim create request alone (client) | ${t.createCallSeconds?.count ?? 0} | | ${fmt(msOf(t.createCallSeconds?.p50))} | ${fmt(msOf(t.createCallSeconds?.p95))} | ${fmt(msOf(t.createCallSeconds?.p99))} | ${fmt(msOf(t.createCallSeconds?.max))} | | | | |`,
    f ? `| floor: raw PATCH of a WorldInstance label | ${f.patches} | | ${fmt(msOf(f.latencySeconds?.p50))} | ${fmt(msOf(f.latencySeconds?.p95))} | ${fmt(msOf(f.latencySeconds?.p99))} | ${fmt(msOf(f.latencySeconds?.max))} | ${fmt(f.patchesPerSecond)} | | | ${f.errors} errors |` : '| floor | not measured | | | | | | | | | |',
    '',
    ...serverCaveat(t),
    `Refill: ${t.refill.reached ? `the pool was back to ${t.refill.buffer} ready worlds ${fmt(t.refill.seconds)} s after the last binding` : `the pool was not back to ${t.refill.buffer} ready worlds in time`} (${t.refill.readyAtLastBinding} ready at the last binding).${t.serverMetricsError ? ` Server-side figure: ${t.serverMetricsError}.` : ''}`,
    '',
    '### Issue 12 targets',
    '',
    '| target | measured | |',
    '|---|---|---|',
    ...claimsTargets(r).map((x) => `| ${x.target} | ${x.measured} | ${x.met === undefined ? 'not measured' : x.met ? 'met' : 'not met'} |`),
    '',
  ];
  return md;
}

const README_START = '<!-- claims-figures:start (generated by npm run bench from bench/results.json) -->';
const README_END = '<!-- claims-figures:end -->';

/** The README's one-line summary of the claims run, between its markers. */
export function claimsReadmeLine(record: ClaimsBenchRecord | undefined): string | undefined {
  if (!record || 'error' in record) return undefined;
  const t = record.loadTest;
  const met = claimsTargets(record).filter((x) => x.met).length;
  return `Last run (\`bench/RESULTS.md\`): ${t.claims} claims at concurrency ${t.concurrency} on a warm pool of ${record.buffer}: created→Bound p50 ${fmt(msOf(t.latencySeconds?.p50))} ms, p99 ${fmt(msOf(t.latencySeconds?.p99))} ms, ${fmt(t.claimsPerSecond)} claims/s (raw PATCH floor ${t.raw ? `${fmt(t.raw.patchesPerSecond)}/s, p50 ${fmt(msOf(t.raw.latencySeconds?.p50))} ms` : 'not measured'}), ${t.doubleBindings.count} double bindings, ${t.lost.length} lost; ${met} of ${claimsTargets(record).length} targets met.`;
}

/** Rewrites the README's claims figure line in place (nothing when the markers are absent). */
export function writeReadmeFigures(readmePath: string, record: ClaimsBenchRecord | undefined): boolean {
  const line = claimsReadmeLine(record);
  if (!line) return false;
  const text = readFileSync(readmePath, 'utf8');
  const a = text.indexOf(README_START);
  const b = text.indexOf(README_END);
  if (a < 0 || b < a) return false;
  writeFileSync(readmePath, `${text.slice(0, a + README_START.length)}\n${line}\n${text.slice(b)}`);
  return true;
}
