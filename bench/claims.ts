/**
 * The claims part of the bench (issue 20): a local control plane with kwok nodes, dist/'s
 * CRDs, namespaces, definitions (without dist's example pools) and global services, the
 * compiled reconciler serving the allocation endpoint (HTTPS, an EC P-256 certificate made by
 * openssl, as the control plane's and the reconciler's own self-signed one are),
 * and one WorldPool. Three arrival patterns, each for the allocation endpoint and for the
 * WorldClaim resource separately (both through `claimWorld()`, as a matchmaker calls it,
 * with a ServiceAccount token bound to dist's anvil-matchmaker Role), and beside them the
 * floor: a raw PATCH of a label on one of the pool's spare worlds (the very objects a claim's
 * commit writes) over a keep-alive client, with the same pattern, in the same run; before
 * each, the namespace is let settle (settle()), so each runs on a quiet API server:
 *   - sequential: 50 one after another;
 *   - Poisson arrivals at 45/s (agent-sandbox's scenario), for as long as the warm pool
 *     lasts (`--poisson-seconds`, cut short to the pool's size: each allocation takes a
 *     world, and this machine starts about 4 worlds a second);
 *   - a burst of 100 at concurrency 50.
 * After each, the pool's time back to its buffer; and in the cluster, double bindings (a
 * world given twice, or a request given two worlds) and lost requests. The RESULTS.md
 * section and the README's figure line are generated from results.json below.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AppsV1Api, CoreV1Api, CustomObjectsApi, KubeConfig, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { startControlPlane, type ControlPlane } from '../test/cluster/controlPlane.js';
import { claimWorld } from '../lib/client/claims.js';
import { keepAliveClient } from '../lib/client/kubeTransport.js';
import { summarize, type Summary } from '../lib/loadtest/stats.js';
import { forEachBounded } from '../lib/loadtest/pool.js';
import { parseTrace, type TraceLine } from '../lib/reconciler/runtime/trace.js';
import { loadavg } from 'node:os';
import { machineNow, reconcilerArgv, spawnReconciler, type Machine } from './cluster.js';
import { machineLine } from './report.js';

export interface ClaimsBenchOptions {
  sequential: number;
  burst: number;
  concurrency: number;
  poissonRate: number;
  poissonSeconds: number;
  buffer: number;
  game: string;
  nodes?: number;
  reconcileConcurrency: number;
  /** Profile the reconciler (node --cpu-prof; the profile in logDir). */
  cpuProfile?: boolean;
  logDir: string;
  log: (line: string) => void;
}

export type Path = 'endpoint' | 'worldclaim' | 'floor';
export type Pattern = 'sequential' | 'poisson' | 'burst';

export interface PatternRun {
  path: Path;
  pattern: Pattern;
  requests: number;
  ok: number;
  /** Seconds per request, as the caller saw it. */
  latency: Summary | null;
  perSecond: number;
  durationSeconds: number;
  doubleBindings: number;
  lost: number;
  firstError?: string;
  /** From the last answer to the pool's buffer ready again (null: not within the wait). */
  refillSeconds?: number | null;
  /** Waited before the pattern for the namespace to be quiet (settle(); null: not within the wait, measured anyway). */
  settleSeconds?: number | null;
  /** Poisson: arrivals per second asked for, and for how long. */
  rate?: number;
  seconds?: number;
  /** Where the reconciler's time went meanwhile (its ANVIL_TRACE lines; endpoint and WorldClaim only). */
  breakdown?: Breakdown;
}

/** Milliseconds, p50 and p99. */
export interface Spread {
  p50: number;
  p99: number;
}

/**
 * The claim path's steps as the reconciler traced them (lib/reconciler/runtime/trace.ts),
 * between the pattern's first request and its last answer.
 */
export interface Breakdown {
  /** The commit: the world's PATCH on its resourceVersion, as the reconciler waited for it. */
  commitPatch: Spread | null;
  /** Endpoint: TokenReview + SubjectAccessReview (cached), and the wait for a write slot. */
  auth?: Spread | null;
  slotWait?: Spread | null;
  /** WorldClaim: from the claim's watch event to its commit answered; then the status write. */
  eventToCommit?: Spread | null;
  statusPatch?: Spread | null;
  /** Refill work that ran meanwhile: worlds created, world passes, the event loop's delay p99 (worst second). */
  worldsCreated: number;
  worldPasses: number;
  eventLoopP99: number | null;
}

export interface ClaimsBenchResult {
  kubernetes: string;
  nodes: number;
  game: string;
  buffer: number;
  reconcileConcurrency: number;
  poolFillSeconds: number;
  runs: PatternRun[];
  /** The machine at the start (shared: its load average says how much else ran), and the 1-minute load at the end. */
  machine?: Machine;
  loadAtEnd?: number;
}

export type ClaimsBenchRecord = ClaimsBenchResult | { error: string };

const NAMESPACE = 'claims-bench';
const POOL = 'bench';
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

async function startReconciler(cp: ControlPlane, port: number, tls: string, opts: ClaimsBenchOptions): Promise<ChildProcess> {
  const log = openSync(join(opts.logDir, 'claims-reconciler.log'), 'a');
  const args = reconcilerArgv(cp, port, { extraNodeFlags: opts.cpuProfile ? ['--cpu-prof', '--cpu-prof-dir', opts.logDir] : [], args: ['--concurrency', String(opts.reconcileConcurrency)] });
  args.push('--allocation-port', String(port + 1), '--allocation-tls-cert', join(tls, 'tls.crt'), '--allocation-tls-key', join(tls, 'tls.key'));
  // ANVIL_TRACE: the claim path's timings in the log, summed up per pattern (breakdown()).
  const child = spawnReconciler(args, { stdio: ['ignore', log, log], env: { ...process.env, ANVIL_TRACE: '1' } });
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`the reconciler stopped at start (exit ${child.exitCode}); see ${opts.logDir}/claims-reconciler.log`);
    if (await fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.ok, () => false)) return child;
    await sleep(500);
  }
  child.kill('SIGKILL');
  throw new Error(`the reconciler was not ready on :${port} within 60 s; see ${opts.logDir}/claims-reconciler.log`);
}

/** The matchmaker: a ServiceAccount bound to dist's anvil-matchmaker Role; its token in a kubeconfig. */
async function matchmaker(cp: ControlPlane): Promise<KubeConfig> {
  const role = parseAllDocuments(readFileSync('dist/0001-namespaces.k8s.yaml', 'utf8'))
    .map((d) => d.toJS() as Record<string, any>)
    .find((o) => o.kind === 'Role' && o.metadata.name === 'anvil-matchmaker')!;
  await kubectl(cp, ['apply', '-f', '-'], JSON.stringify({ ...role, metadata: { ...role.metadata, namespace: NAMESPACE } }));
  await kubectl(cp, ['create', 'serviceaccount', 'matchmaker', '-n', NAMESPACE]);
  await kubectl(cp, ['create', 'rolebinding', 'matchmaker', '-n', NAMESPACE, '--role=anvil-matchmaker', `--serviceaccount=${NAMESPACE}:matchmaker`]);
  const token = (await kubectl(cp, ['create', 'token', 'matchmaker', '-n', NAMESPACE, '--duration=2h'])).trim();
  const admin = new KubeConfig();
  admin.loadFromFile(cp.kubeconfig);
  const cluster = admin.getCurrentCluster()!;
  const kc = new KubeConfig();
  kc.loadFromOptions({ clusters: [cluster], users: [{ name: 'matchmaker', token }], contexts: [{ name: 'mm', cluster: cluster.name, user: 'matchmaker' }], currentContext: 'mm' });
  return kc;
}

const poolYaml = (opts: ClaimsBenchOptions) =>
  JSON.stringify({ apiVersion: 'anvil.dev/v1alpha1', kind: 'WorldPool', metadata: { name: POOL, namespace: NAMESPACE }, spec: { gameRef: { name: opts.game }, buffer: { ready: opts.buffer }, maxWorlds: 5000 } });

async function waitPool(cp: ControlPlane, buffer: number): Promise<number | null> {
  const t0 = performance.now();
  const r = await run(process.env.KUBECTL ?? 'kubectl', ['--kubeconfig', cp.kubeconfig, 'wait', `--for=jsonpath={.status.ready}=${buffer}`, '--timeout=900s', '-n', NAMESPACE, `worldpool/${POOL}`]);
  return r.code === 0 ? Math.round((performance.now() - t0) / 100) / 10 : null;
}

/**
 * Waits until the bench namespace is quiet: no world being deleted, and the garbage collector
 * and the controllers done with what the last pattern gave back and what the pool refilled
 * (every Deployment owned by a live world and available, every ReplicaSet by a live
 * Deployment, every Pod by a live ReplicaSet and running, none of them being deleted). The
 * pool's buffer is ready well before that: a pattern started then would share the API server
 * with the cascade of the last pattern's deletions (20 objects and their pods per world), so
 * it would not be measured in the floor's conditions. Returns the seconds it took, or null.
 */
async function settle(kc: KubeConfig, timeoutMs = 600_000): Promise<number | null> {
  const apps = keepAliveClient(kc, AppsV1Api, 4);
  const core = keepAliveClient(kc, CoreV1Api, 4);
  const custom = keepAliveClient(kc, CustomObjectsApi, 4);
  const live = (items: { metadata?: { uid?: string; deletionTimestamp?: unknown } }[]) => new Set(items.filter((o) => !o.metadata?.deletionTimestamp).map((o) => o.metadata?.uid));
  // An object with an owner of `kind` (a world's Deployment, a Deployment's ReplicaSet, …) is settled when that owner is live.
  const ownedByLive = (o: { metadata?: { deletionTimestamp?: unknown; ownerReferences?: { kind: string; uid: string }[] } }, kind: string, owners: Set<string | undefined>) =>
    !o.metadata?.deletionTimestamp && (o.metadata?.ownerReferences ?? []).every((r) => r.kind !== kind || owners.has(r.uid));
  const t0 = performance.now();
  while (performance.now() - t0 < timeoutMs) {
    const worlds = ((await custom.listNamespacedCustomObject({ group: 'anvil.dev', version: 'v1alpha1', namespace: NAMESPACE, plural: 'worldinstances' })) as { items: any[] }).items;
    const deployments = (await apps.listNamespacedDeployment({ namespace: NAMESPACE })).items;
    const replicaSets = (await apps.listNamespacedReplicaSet({ namespace: NAMESPACE })).items;
    const pods = (await core.listNamespacedPod({ namespace: NAMESPACE })).items;
    const worldUids = live(worlds);
    const quiet =
      worldUids.size === worlds.length &&
      deployments.every((d) => ownedByLive(d, 'WorldInstance', worldUids) && (d.status?.availableReplicas ?? 0) === (d.spec?.replicas ?? 1)) &&
      replicaSets.every((r) => ownedByLive(r, 'Deployment', live(deployments))) &&
      pods.every((p) => ownedByLive(p, 'ReplicaSet', live(replicaSets)) && p.status?.phase === 'Running');
    if (quiet) return Math.round((performance.now() - t0) / 100) / 10;
    await sleep(1000);
  }
  return null;
}

/** Arrival offsets (ms) of a Poisson process at `rate`/s for `seconds` (a fixed seed: the same arrivals for every path). */
export function poissonArrivals(rate: number, seconds: number, seed = 20): number[] {
  let x = seed >>> 0 || 1;
  const rnd = () => ((x = (Math.imul(x, 1664525) + 1013904223) >>> 0) + 0.5) / 2 ** 32;
  const out: number[] = [];
  for (let t = -Math.log(rnd()) / rate; t < seconds; t += -Math.log(rnd()) / rate) out.push(t * 1000);
  return out;
}

type Op = (i: number) => Promise<{ world: string; id: string }>;

/** Runs `n` operations in `pattern`; what each answered, and how long each took. */
async function drive(pattern: Pattern, n: number, concurrency: number, arrivals: number[], op: Op) {
  const lat: number[] = [];
  const answers: { world: string; id: string }[] = [];
  let firstError: string | undefined;
  const one = async (i: number) => {
    const t = performance.now();
    try {
      answers.push(await op(i));
      lat.push((performance.now() - t) / 1000);
    } catch (e) {
      firstError ??= e instanceof Error ? e.message : String(e);
    }
  };
  const t0 = performance.now();
  if (pattern === 'sequential') for (let i = 0; i < n; i++) await one(i);
  else if (pattern === 'burst') await forEachBounded(n, concurrency, one);
  else await Promise.all(arrivals.slice(0, n).map((at, i) => sleep(Math.max(0, at - (performance.now() - t0))).then(() => one(i))));
  const seconds = (performance.now() - t0) / 1000;
  return { lat, answers, firstError, seconds };
}

/** Worlds of the namespace given to a request (endpoint) or a claim (WorldClaim): key -> world names. */
async function givenWorlds(api: CustomObjectsApi): Promise<Map<string, string[]>> {
  const list = (await api.listNamespacedCustomObject({ group: 'anvil.dev', version: 'v1alpha1', namespace: NAMESPACE, plural: 'worldinstances' })) as { items: any[] };
  const m = new Map<string, string[]>();
  for (const w of list.items) {
    const key = w.metadata.annotations?.['anvil.dev/allocation'] ?? w.metadata.annotations?.['anvil.dev/claim-uid'];
    if (key) m.set(key, [...(m.get(key) ?? []), w.metadata.name]);
  }
  return m;
}

async function measurePath(path: Path, pattern: Pattern, n: number, ctx: { opts: ClaimsBenchOptions; kc: KubeConfig; url: string; ca: Buffer; api: CustomObjectsApi; runId: string }): Promise<PatternRun> {
  const { opts } = ctx;
  const floorNames = path === 'floor' ? await spareWorlds(ctx.api) : [];
  const arrivals = poissonArrivals(opts.poissonRate, opts.poissonSeconds);
  const id = (i: number) => `${ctx.runId}-${path}-${pattern}-${i}`;
  const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
  const op: Op =
    path === 'floor'
      ? async (i) => {
          const name = floorNames[i % floorNames.length]!;
          await ctx.api.patchNamespacedCustomObject({ group: 'anvil.dev', version: 'v1alpha1', namespace: NAMESPACE, plural: 'worldinstances', name, body: { metadata: { labels: { 'anvil.dev/floor': id(i) } } } }, mergePatch);
          return { world: name, id: id(i) };
        }
      : async (i) => {
          const w = await claimWorld({ kubeconfig: ctx.kc, namespace: NAMESPACE, pool: POOL, requestId: id(i), timeoutSeconds: 30, ...(path === 'endpoint' ? { allocationURL: ctx.url, ca: ctx.ca } : {}) });
          return { world: w.world, id: id(i) };
        };
  const from = Date.now();
  const r = await drive(pattern, n, opts.concurrency, arrivals, op);
  const window = { from, to: Date.now() };
  const s = summarize(r.lat);
  let doubles = 0;
  if (path !== 'floor') {
    const worlds = r.answers.map((a) => a.world);
    doubles += worlds.length - new Set(worlds).size;
    for (const ws of (await givenWorlds(ctx.api)).values()) if (ws.length > 1) doubles += ws.length - 1;
  }
  return {
    path,
    pattern,
    requests: n,
    ok: r.answers.length,
    latency: s,
    perSecond: Math.round((r.answers.length / r.seconds) * 100) / 100,
    durationSeconds: Math.round(r.seconds * 100) / 100,
    doubleBindings: doubles,
    lost: n - r.answers.length,
    ...(r.firstError ? { firstError: r.firstError } : {}),
    ...(pattern === 'poisson' ? { rate: opts.poissonRate, seconds: Math.round((arrivals[n - 1] ?? 0) / 10) / 100 } : {}),
    ...(path === 'floor' ? {} : { window }),
  } as PatternRun;
}

const spread = (values: number[]): Spread | null => {
  const s = summarize(values);
  return s ? { p50: Math.round(s.p50 * 10) / 10, p99: Math.round(s.p99 * 10) / 10 } : null;
};

/** A pattern's breakdown from the reconciler's trace lines in its window. */
export function breakdown(lines: readonly TraceLine[], path: 'endpoint' | 'worldclaim', window: { from: number; to: number }): Breakdown {
  const inside = lines.filter((l) => l.at >= window.from && l.at <= window.to);
  const ms = (event: string, field: string) => inside.filter((l) => l.event === event && l.fields[field] !== undefined).map((l) => Number(l.fields[field]));
  const added = new Map(inside.filter((l) => l.event === 'claim-add').map((l) => [l.fields.name, l.at]));
  const commits = inside.filter((l) => l.event === 'claim-commit');
  const eld = ms('event-loop', 'p99');
  const common = {
    worldsCreated: ms('pool-create', 'n').reduce((a, b) => a + b, 0),
    worldPasses: inside.filter((l) => l.event === 'world-pass').length,
    eventLoopP99: eld.length ? Math.round(Math.max(...eld) * 10) / 10 : null,
  };
  if (path === 'endpoint') return { commitPatch: spread(ms('commit', 'patch')), auth: spread(ms('allocation', 'auth')), slotWait: spread(ms('commit', 'slot')), ...common };
  return {
    commitPatch: spread(ms('claim-commit', 'patch')),
    eventToCommit: spread(commits.filter((l) => added.has(l.fields.name)).map((l) => l.at - added.get(l.fields.name)!)),
    statusPatch: spread(ms('claim-status', 'patch')),
    ...common,
  };
}

/**
 * The floor's worlds: the pool's spare worlds themselves, so that the floor's PATCH writes the
 * object a claim's commit writes (a Running pool world, its status, labels and managed fields,
 * watched by the same informers), not a smaller stand-in. A label no controller reads: it
 * changes nothing a world pass, a pool or a claim looks at.
 */
async function spareWorlds(api: CustomObjectsApi): Promise<string[]> {
  const list = (await api.listNamespacedCustomObject({ group: 'anvil.dev', version: 'v1alpha1', namespace: NAMESPACE, plural: 'worldinstances', labelSelector: `anvil.dev/pool=${POOL}` })) as { items: any[] };
  const spare = list.items.filter((w) => !w.metadata.deletionTimestamp && !w.metadata.annotations?.['anvil.dev/claim-uid'] && !w.metadata.annotations?.['anvil.dev/allocation']).map((w) => w.metadata.name as string);
  if (spare.length === 0) throw new Error(`no spare world in pool ${NAMESPACE}/${POOL} for the floor`);
  return spare.sort();
}

export async function runClaimsBench(opts: ClaimsBenchOptions): Promise<ClaimsBenchResult> {
  const machine = machineNow();
  const poissonN = Math.min(poissonArrivals(opts.poissonRate, opts.poissonSeconds).length, opts.buffer);
  const nodes = opts.nodes ?? Math.ceil(((opts.buffer * 2 + opts.burst) * 6) / 100) + 2;
  opts.log(`claims: starting the control plane with ${nodes} kwok nodes`);
  const cp = await startControlPlane({ withNodes: true, nodes, timeoutMs: 300_000 });
  let reconciler: ChildProcess | undefined;
  const tls = mkdtempSync(join(tmpdir(), 'anvil-bench-tls-'));
  // EC P-256, like the control plane's serving certificate (the floor's handshakes) and like the
  // certificate the reconciler makes itself without one (selfSigned.ts): an RSA key would make
  // every new connection of a burst cost the endpoint several times the floor's handshake.
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1', '-keyout', join(tls, 'tls.key'), '-out', join(tls, 'tls.crt')], { stdio: 'ignore' });
  try {
    const version = JSON.parse(await kubectl(cp, ['version', '-o', 'json'])) as { serverVersion?: { gitVersion?: string } };
    await applyPlatform(cp);
    const port = 19080 + (process.pid % 1000) * 2;
    reconciler = await startReconciler(cp, port, tls, opts);
    await kubectl(cp, ['create', 'namespace', NAMESPACE]);
    await kubectl(cp, ['label', 'namespace', NAMESPACE, 'anvil.dev/worlds=true']);
    const kc = await matchmaker(cp);
    const adminKc = new KubeConfig();
    adminKc.loadFromFile(cp.kubeconfig);
    const api = keepAliveClient(adminKc, CustomObjectsApi, 64);
    await kubectl(cp, ['apply', '-f', '-'], poolYaml(opts));
    opts.log(`claims: waiting for ${opts.buffer} ready worlds in pool ${NAMESPACE}/${POOL}`);
    const poolFillSeconds = (await waitPool(cp, opts.buffer)) ?? -1;
    const ctx = { opts, kc, url: `https://localhost:${port + 1}`, ca: readFileSync(join(tls, 'tls.crt')), api, runId: Math.random().toString(36).slice(2, 7) };
    const runs: PatternRun[] = [];
    const plan: [Pattern, number][] = [['sequential', opts.sequential], ['poisson', poissonN], ['burst', opts.burst]];
    for (const [pattern, n] of plan) {
      for (const path of ['floor', 'endpoint', 'worldclaim'] as Path[]) {
        const settleSeconds = await settle(adminKc);
        opts.log(`claims: ${path}, ${pattern}, ${n} (at ${Date.now()}; the namespace quiet ${settleSeconds ?? 'not'} s after the last pattern's refill)`);
        const r = await measurePath(path, pattern, n, ctx);
        r.settleSeconds = settleSeconds;
        if (path !== 'floor') {
          // Given back (as a matchmaker would after its matches), so the cluster does not grow with every pattern.
          await kubectl(cp, ['delete', 'worldclaims', '--all', '-n', NAMESPACE, '--wait=false']);
          await kubectl(cp, ['delete', 'worldinstances', '-l', 'anvil.dev/claim', '-n', NAMESPACE, '--wait=false']);
          r.refillSeconds = await waitPool(cp, opts.buffer);
        }
        opts.log(`claims:   ${r.ok}/${r.requests} ok, p50 ${fmtMs(r.latency?.p50)} ms, p99 ${fmtMs(r.latency?.p99)} ms, ${r.perSecond}/s, double ${r.doubleBindings}, refill ${r.refillSeconds ?? '-'} s`);
        runs.push(r);
      }
    }
    const lines = parseTrace(readFileSync(join(opts.logDir, 'claims-reconciler.log'), 'utf8'));
    for (const r of runs as (PatternRun & { window?: { from: number; to: number } })[]) {
      if (r.window && r.path !== 'floor') r.breakdown = breakdown(lines, r.path, r.window);
      delete r.window;
    }
    const loadAtEnd = Math.round(loadavg()[0]! * 100) / 100;
    return { kubernetes: version.serverVersion?.gitVersion ?? 'unknown', nodes, game: opts.game, buffer: opts.buffer, reconcileConcurrency: opts.reconcileConcurrency, poolFillSeconds, runs, machine, loadAtEnd };
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
const fmtMs = (s: number | null | undefined) => fmt(s === null || s === undefined ? s : s * 1000);

export interface ClaimsTarget {
  target: string;
  measured: string;
  met: boolean | undefined;
}

const find = (r: ClaimsBenchResult, path: Path, pattern: Pattern) => r.runs.find((x) => x.path === path && x.pattern === pattern);

/** The issue-20 targets, for one path, judged on the run's own figures beside its floor. */
export function claimsTargets(r: ClaimsBenchResult, path: 'endpoint' | 'worldclaim'): ClaimsTarget[] {
  const seq = find(r, path, 'sequential');
  const seqF = find(r, 'floor', 'sequential');
  const poi = find(r, path, 'poisson');
  const burst = find(r, path, 'burst');
  const burstF = find(r, 'floor', 'burst');
  const ms = (x?: PatternRun, q: 'p50' | 'p99' = 'p99') => (x?.latency ? x.latency[q] * 1000 : null);
  const lt = (a: number | null, b: number | null) => (a === null || b === null ? undefined : a <= b);
  const all = r.runs.filter((x) => x.path === path);
  return [
    { target: `${seq?.requests ?? '?'} sequential: p99 < 100 ms`, measured: `${fmt(ms(seq))} ms`, met: lt(ms(seq), 99.9999) },
    { target: 'sequential: p50 ≤ 3× raw PATCH p50', measured: `${fmt(ms(seq, 'p50'))} ms vs ${fmt(ms(seqF, 'p50'))} ms`, met: lt(ms(seq, 'p50'), ms(seqF, 'p50') === null ? null : 3 * ms(seqF, 'p50')!) },
    { target: `Poisson ${poi?.rate ?? '?'}/s: p99 < 100 ms`, measured: `${fmt(ms(poi))} ms over ${poi?.requests ?? 0} arrivals in ${fmt(poi?.seconds)} s`, met: lt(ms(poi), 99.9999) },
    { target: `burst ${burst?.requests ?? '?'} at concurrency ${r.runs.length ? '50' : '?'}: p99 ≤ 1.5× raw PATCH p99`, measured: `${fmt(ms(burst))} ms vs ${fmt(ms(burstF))} ms`, met: lt(ms(burst), ms(burstF) === null ? null : 1.5 * ms(burstF)!) },
    { target: 'burst: per second ≥ 0.8× raw PATCH/s', measured: `${fmt(burst?.perSecond)}/s vs ${fmt(burstF?.perSecond)}/s`, met: burst && burstF ? burst.perSecond >= 0.8 * burstF.perSecond : undefined },
    { target: '0 double bindings, 0 lost (every pattern)', measured: `${all.reduce((n, x) => n + x.doubleBindings, 0)} double, ${all.reduce((n, x) => n + x.lost, 0)} lost`, met: all.every((x) => x.doubleBindings === 0 && x.lost === 0) },
    { target: 'pool back to its buffer after each pattern', measured: all.map((x) => `${x.pattern} ${x.refillSeconds === null || x.refillSeconds === undefined ? 'not in time' : `${fmt(x.refillSeconds)} s`}`).join(', '), met: all.every((x) => typeof x.refillSeconds === 'number') },
  ];
}

/** The `## Claims` section of bench/RESULTS.md, from results.json's `claims`. */
export function claimsMarkdown(record: ClaimsBenchRecord | undefined): string[] {
  if (!record) return [];
  if ('error' in record) return ['## Claims (issue 20)', '', `**Failed:** ${record.error}`, ''];
  const r = record;
  if (!Array.isArray((r as Partial<ClaimsBenchResult>).runs)) return ['## Claims (issue 20)', '', 'No issue-20 run recorded yet (`npm run bench -- --only claims`).', ''];
  const row = (x: PatternRun) =>
    `| ${x.path} | ${x.pattern}${x.pattern === 'poisson' ? ` (${x.rate}/s, ${fmt(x.seconds)} s)` : ''} | ${x.ok}/${x.requests} | ${fmtMs(x.latency?.p50)} | ${fmtMs(x.latency?.p95)} | ${fmtMs(x.latency?.p99)} | ${fmtMs(x.latency?.max)} | ${fmt(x.perSecond)} | ${x.path === 'floor' ? '' : x.doubleBindings} | ${x.path === 'floor' ? '' : x.lost} | ${x.refillSeconds === undefined ? '' : x.refillSeconds === null ? 'not in time' : fmt(x.refillSeconds)} |`;
  const targets = (path: 'endpoint' | 'worldclaim') => [
    `### Targets: ${path === 'endpoint' ? 'the allocation endpoint' : 'the WorldClaim resource'}`,
    '',
    '| target | measured | |',
    '|---|---|---|',
    ...claimsTargets(r, path).map((t) => `| ${t.target} | ${t.measured} | ${t.met === undefined ? 'not measured' : t.met ? 'met' : 'not met'} |`),
    '',
    ...boundLines(r, path),
  ];
  const sp = (x: Spread | null | undefined) => (x ? `${fmt(x.p50)} / ${fmt(x.p99)}` : '');
  const withBreakdown = r.runs.filter((x) => x.breakdown);
  const where = withBreakdown.length
    ? [
        '### Where a claim\'s time goes',
        '',
        "From the reconciler's own trace (`ANVIL_TRACE=1`, `lib/reconciler/runtime/trace.ts`) during each pattern, in ms (p50 / p99). The commit is the claim's one write (the world's PATCH on its resourceVersion) as the reconciler waited for it; beside it the floor's raw PATCH as its client saw it. WorldClaim: from the claim's watch event to its commit answered (the client's create and two watch deliveries are the rest: it takes its world from the commit's stamp), then the claim's status write, which the client no longer waits for unless it sees it first. Refill work meanwhile: worlds the pools created and world passes run while the pattern lasted.",
        '',
        '| path | pattern | claim p50 / p99 | floor PATCH p50 / p99 | commit PATCH | auth | slot wait | event → commit | status PATCH | worlds created | world passes | event-loop delay p99 (worst s) |',
        '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
        ...withBreakdown.map((x) => {
          const b = x.breakdown!;
          const f = find(r, 'floor', x.pattern);
          return `| ${x.path} | ${x.pattern} | ${fmtMs(x.latency?.p50)} / ${fmtMs(x.latency?.p99)} | ${fmtMs(f?.latency?.p50)} / ${fmtMs(f?.latency?.p99)} | ${sp(b.commitPatch)} | ${sp(b.auth)} | ${sp(b.slotWait)} | ${sp(b.eventToCommit)} | ${sp(b.statusPatch)} | ${b.worldsCreated} | ${b.worldPasses} | ${b.eventLoopP99 === null ? 'n/a' : fmt(b.eventLoopP99)} |`;
        }),
        '',
      ]
    : [];
  return [
    `## Claims (issue 20: the allocation endpoint and the WorldClaim resource beside the raw PATCH floor; local control plane ${r.kubernetes}, ${r.nodes} kwok nodes, pool buffer ${r.buffer} ${r.game} worlds, compiled reconciler)`,
    '',
    `${r.machine ? `Machine: ${machineLine(r.machine)}; 1-minute load average at the end ${fmt(r.loadAtEnd, 2)} (the machine is shared: the floor and the claims see the same load, not necessarily at the same moment). ` : ''}The pool took ${fmt(r.poolFillSeconds)} s to fill from empty. Latency is the caller's: \`claimWorld()\` from its call to the world in hand (endpoint: one HTTPS round trip to a certificate with an EC P-256 key, as the API server's; WorldClaim: create, then the world's stamp or the claim's Bound, whichever the shared watches show first); the floor is one raw PATCH of a label on one of the pool's spare worlds (the object a claim's commit writes: same size, same managed fields, same watchers) over a keep-alive client, same pattern, same run. The Poisson run lasts only as long as the pool's buffer (one world per arrival, and this machine starts about 4 worlds a second).${r.runs.some((x) => x.settleSeconds !== undefined) ? ` Before every path and pattern (the floor's too) the bench waited until the namespace was quiet: no world being deleted, every Deployment, ReplicaSet and Pod owned by a live owner, available and running (\`settle()\`: the last pattern's deletions cascade for a while after the pool's buffer is ready again); the waits, in the order run: ${r.runs.map((x) => `${x.pattern} ${x.path} ${x.settleSeconds === null ? 'not quiet in time' : `${fmt(x.settleSeconds)} s`}`).join(', ')}.` : ''}`,
    '',
    '| path | pattern | answered | p50 ms | p95 ms | p99 ms | max ms | per second | double bindings | lost | pool refilled (s) |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...r.runs.map(row),
    '',
    ...targets('endpoint'),
    ...targets('worldclaim'),
    ...where,
  ];
}

/** Where a missed latency target's time went: the claim's commit PATCH (and, for a WorldClaim, its other steps) beside the floor's PATCH. */
function boundLines(r: ClaimsBenchResult, path: 'endpoint' | 'worldclaim'): string[] {
  const missed = claimsTargets(r, path).some((t) => t.met === false);
  const rows = r.runs.filter((x) => x.path === path && x.breakdown);
  if (!missed || rows.length === 0) return [];
  const one = (x: PatternRun) => {
    const b = x.breakdown!;
    const f = find(r, 'floor', x.pattern);
    const steps = path === 'endpoint' ? `commit PATCH ${fmt(b.commitPatch?.p50)} ms (p99 ${fmt(b.commitPatch?.p99)})` : `claim event → commit ${fmt(b.eventToCommit?.p50)} ms (p99 ${fmt(b.eventToCommit?.p99)}), of which the commit PATCH ${fmt(b.commitPatch?.p50)} ms (the client takes its world from that stamp), then, off its path, the status PATCH ${fmt(b.statusPatch?.p50)} ms (p99 ${fmt(b.statusPatch?.p99)})`;
    return `${x.pattern}: claim p50 ${fmtMs(x.latency?.p50)} ms = ${steps}, beside a floor PATCH of ${fmtMs(f?.latency?.p50)} ms (p99 ${fmtMs(f?.latency?.p99)}); ${b.worldsCreated} worlds created and ${b.worldPasses} world passes meanwhile`;
  };
  return [`Where the time went (p50 unless said; the reconciler's trace): ${rows.map(one).join('; ')}.`, ''];
}

const README_START = '<!-- claims-figures:start (generated by npm run bench from bench/results.json) -->';
const README_END = '<!-- claims-figures:end -->';

/** The README's one-line summary of the claims run, between its markers. */
export function claimsReadmeLine(record: ClaimsBenchRecord | undefined): string | undefined {
  if (!record || 'error' in record || !Array.isArray((record as Partial<ClaimsBenchResult>).runs)) return undefined;
  const parts = (['endpoint', 'worldclaim'] as const).map((path) => {
    const b = find(record, path, 'burst');
    const s = find(record, path, 'sequential');
    const met = claimsTargets(record, path).filter((t) => t.met).length;
    return `${path === 'endpoint' ? 'allocation endpoint' : 'WorldClaim'}: sequential p50 ${fmtMs(s?.latency?.p50)} ms / p99 ${fmtMs(s?.latency?.p99)} ms, burst p99 ${fmtMs(b?.latency?.p99)} ms at ${fmt(b?.perSecond)}/s (${met} of ${claimsTargets(record, path).length} targets met)`;
  });
  const f = find(record, 'floor', 'burst');
  return `Last run (\`bench/RESULTS.md\`): ${parts.join('; ')}; raw PATCH floor burst p99 ${fmtMs(f?.latency?.p99)} ms at ${fmt(f?.perSecond)}/s.`;
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
