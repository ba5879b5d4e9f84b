// Helpers for the reconciler's cluster tests: the CRDs from dist, the reconciler as a real
// separate process (the image's bundle, `node build/image/anvil.js reconcile`, from a copy laid
// out as the image lays it out; so kill -9 and SIGTERM are real), its
// /metrics, a token kubeconfig for a ServiceAccount, and polling.
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll } from '@jest/globals';
import { ensureBuilt, imageEntrypoint } from './ensureBuilt.js';
import { kubectl, kubectlOk, kubeconfigPath, tokenKubeconfig } from './kubectl.js';

export const ROOT = process.cwd();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function eventually<T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs = 120_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000}s waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await sleep(500);
  }
}

export { ensureBuilt };

/** The CRDs (and namespaces, anvil-system among them) exactly as dist has them. */
export async function applyCrds(): Promise<void> {
  await kubectlOk(['apply', '-f', path.join(ROOT, 'dist/0000-crds.k8s.yaml'), '-f', path.join(ROOT, 'dist/0001-namespaces.k8s.yaml')]);
  await kubectlOk(['wait', '--for=condition=Established', '--timeout=60s', 'crd', '-l', 'app.kubernetes.io/part-of=anvil']);
}

export async function getJson(args: string[]): Promise<any | undefined> {
  const r = await kubectl(['get', ...args, '-o', 'json', '--show-managed-fields']);
  if (r.code !== 0) {
    if (/NotFound|not found/.test(r.stderr)) return undefined;
    throw new Error(`kubectl get ${args.join(' ')}: ${r.stderr}`);
  }
  return JSON.parse(r.stdout);
}

export async function listJson(kind: string, ns: string, selector?: string): Promise<any[]> {
  const args = [kind, '-n', ns, ...(selector ? ['-l', selector] : [])];
  return (await getJson(args))?.items ?? [];
}

export interface ReconcilerProcess {
  child: ChildProcess;
  identity: string;
  port: number;
  log: () => string;
  metrics: () => Promise<Map<string, number>>;
  /** SIGTERM and wait for the exit code. */
  stop: () => Promise<number | null>;
  kill9: () => Promise<void>;
}

// Every process a test spawns is tracked here and killed when its test file ends, however
// it ends (a failed assertion, a Jest timeout, a thrown hook), and when Jest itself exits.
const running = new Set<ChildProcess>();
const alive = (c: ChildProcess) => c.exitCode === null && c.signalCode === null;
/** SIGTERM to every tracked child still running (of those `which` picks), SIGKILL to those not gone `graceMs` later. */
export async function killAll(graceMs = 20_000, which: (c: ChildProcess) => boolean = () => true): Promise<void> {
  const children = [...running].filter((c) => alive(c) && which(c));
  await Promise.all(
    children.map(
      (c) =>
        new Promise<void>((resolve) => {
          const timer = setTimeout(() => c.kill('SIGKILL'), graceMs);
          c.once('exit', () => (clearTimeout(timer), resolve()));
          if (!alive(c)) return (clearTimeout(timer), resolve());
          c.kill('SIGTERM');
        }),
    ),
  );
  for (const c of children) running.delete(c);
}
process.on('exit', () => {
  for (const c of running) if (alive(c)) c.kill('SIGKILL');
});
// Registered in every test file that imports this module (Jest loads it per file), before
// the file's own hooks: a graceful stop (SIGTERM), so a file's own afterAll still sees the
// exit code of a clean shutdown.
afterAll(() => killAll(), 60_000);

/** spawn(), tracked (see killAll) and killed with SIGKILL after `timeoutMs`. */
export function spawnTracked(cmd: string, args: string[], opts: SpawnOptions & { timeoutMs: number }): ChildProcess {
  const { timeoutMs, ...rest } = opts;
  const child = spawn(cmd, args, { ...rest, timeout: timeoutMs, killSignal: 'SIGKILL' });
  running.add(child);
  child.on('exit', () => running.delete(child));
  return child;
}

/** Runs a tracked child to its end: exit code (or 128 when killed), stdout and stderr. */
export function runTracked(cmd: string, args: string[], opts: SpawnOptions & { timeoutMs: number }): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawnTracked(cmd, args, { ...opts, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code: code ?? (signal ? 128 : null), stdout, stderr: signal ? `${stderr}\n(killed by ${signal} after ${opts.timeoutMs} ms)` : stderr }));
  });
}

export async function startReconciler(opts: { kubeconfig?: string; args?: string[]; identity: string }): Promise<ReconcilerProcess> {
  let out = '';
  const child = spawn(
    process.execPath,
    [imageEntrypoint(), 'reconcile', '--kubeconfig', opts.kubeconfig ?? kubeconfigPath(), '--port', '0', '--identity', opts.identity, ...(opts.args ?? [])],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  running.add(child);
  const exited = new Promise<number | null>((r) => child.on('exit', (code, signal) => (running.delete(child), r(code ?? (signal ? 128 : null)))));
  // Kept in a file too, for a failed run: /tmp/anvil-reconciler-IDENTITY.log
  const logFile = path.join(os.tmpdir(), `anvil-reconciler-${opts.identity}.log`);
  const append = (d: Buffer) => {
    out += d.toString();
    fs.appendFileSync(logFile, d);
  };
  child.stdout!.on('data', append);
  child.stderr!.on('data', append);
  if (process.env.ANVIL_TEST_VERBOSE) child.stderr!.on('data', (d: Buffer) => process.stderr.write(`[${opts.identity}] ${d}`));
  const port = await eventually(`reconciler ${opts.identity} to serve (log: ${out.slice(-2000)})`, async () => {
    if (child.exitCode !== null) throw new Error(`reconciler exited ${child.exitCode}: ${out}`);
    const m = /serving \/healthz \/readyz \/metrics on :(\d+)/.exec(out);
    return m ? Number(m[1]) : undefined;
  }, 60_000);
  const proc: ReconcilerProcess = {
    child,
    identity: opts.identity,
    port,
    log: () => out,
    metrics: async () => parseMetrics(await httpGet(port, '/metrics')),
    // SIGTERM; SIGKILL when it has not exited 30 s later (then the exit code is 128).
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      try {
        return await exited;
      } finally {
        clearTimeout(timer);
      }
    },
    kill9: async () => {
      child.kill('SIGKILL');
      await exited;
    },
  };
  await eventually(`reconciler ${proc.identity} /readyz`, async () => (await httpGet(port, '/readyz').catch(() => '')) === 'ok\n', 60_000);
  return proc;
}

export function httpGet(port: number, p: string): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: p, timeout: 10_000 }, (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve(body));
      })
      .on('error', reject);
  });
}

/** `name{labels} value` lines into a map keyed by `name{labels}`. */
export function parseMetrics(text: string): Map<string, number> {
  const m = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    m.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return m;
}

export const WRITE_VERBS = ['apply', 'apply-status', 'delete', 'create', 'update', 'merge-patch', 'merge-patch-status', 'json-patch'];
/** Write requests of every status code (anvil_api_requests_total{verb, code}). */
export const writes = (m: Map<string, number>): number => {
  let n = 0;
  for (const [key, value] of m) {
    const verb = /^anvil_api_requests_total\{.*\bverb="([^"]*)"/.exec(key)?.[1];
    if (verb !== undefined && WRITE_VERBS.includes(verb)) n += value;
  }
  return n;
};

/** The write requests made between two scrapes, by `verb code` (empty when none): what a failed "wrote nothing" shows. */
export function writesBetween(before: Map<string, number>, after: Map<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [key, value] of after) {
    const m = /^anvil_api_requests_total\{.*\bverb="([^"]*)".*\bcode="([^"]*)"|^anvil_api_requests_total\{.*\bcode="([^"]*)".*\bverb="([^"]*)"/.exec(key);
    const verb = m?.[1] ?? m?.[4];
    const code = m?.[2] ?? m?.[3];
    const delta = value - (before.get(key) ?? 0);
    if (verb !== undefined && WRITE_VERBS.includes(verb) && delta > 0) out[`${verb} ${code}`] = (out[`${verb} ${code}`] ?? 0) + delta;
  }
  return out;
}

export const resyncs = (m: Map<string, number>): number => m.get('anvil_resyncs_completed_total') ?? 0;

/** Waits until `n` more full passes (anvil_resyncs_completed_total) have completed; returns the metrics then. */
export async function afterResyncs(rec: ReconcilerProcess, n: number, timeoutMs = 120_000): Promise<Map<string, number>> {
  const target = resyncs(await rec.metrics()) + n;
  return eventually(`${n} completed resync(s) of ${rec.identity}`, async () => {
    const m = await rec.metrics();
    return resyncs(m) >= target ? m : undefined;
  }, timeoutMs);
}

/**
 * Waits for a full pass (a completed resync) over everything that wrote nothing, with no world
 * status held back for later (anvil_world_status_held: a coalesced progress change can wait
 * longer than a short resync period): the observable "nothing is left to do", instead of a
 * fixed sleep. Returns the metrics then.
 */
export async function quiet(rec: ReconcilerProcess, timeoutMs = 180_000): Promise<Map<string, number>> {
  // The namespaces of earlier test files still being deleted: their worlds, pools and claims
  // keep the reconciler (which watches every namespace) busy until they are gone.
  await eventually('no namespace of an earlier test still terminating', async () => ((await kubectlOk(['get', 'namespaces', '-o', 'jsonpath={.items[?(@.status.phase=="Terminating")].metadata.name}'])).trim() === '' ? true : undefined), timeoutMs);
  let last = await afterResyncs(rec, 1, timeoutMs);
  return eventually(`a resync of ${rec.identity} that writes nothing, no status held back`, async () => {
    const now = await afterResyncs(rec, 1, timeoutMs);
    const still = writes(now) === writes(last) && (now.get('anvil_world_status_held') ?? 0) === 0;
    last = now;
    return still ? now : undefined;
  }, timeoutMs);
}

/** A kubeconfig for the test cluster that authenticates as a ServiceAccount (TokenRequest). */
/**
 * The lines of a reconciler's log where RBAC refused it something (403 / forbidden). A namespace
 * of another test still being deleted refuses new content with a 403 as well; that is the API
 * server, not RBAC, and the reconciler skips such namespaces once its cache shows the deletion
 * (which can lag a moment), so those lines are not counted.
 */
export function rbacDenials(log: string): string[] {
  return log.split('\n').filter((l) => /\b403\b|forbidden/i.test(l) && !/because it is being terminated/.test(l));
}

export async function serviceAccountKubeconfig(namespace: string, name: string): Promise<string> {
  const token = (await kubectlOk(['create', 'token', name, '-n', namespace, '--duration=2h'])).trim();
  return tokenKubeconfig(name, token);
}

/** Test definitions: a cluster-scoped bus, a gateway routing actions, a mechanic, a physics engine. */
export function definitions(p: string, opts: { physicsVersion?: string } = {}): string {
  const v = opts.physicsVersion ?? '1.0.0';
  return `
apiVersion: anvil.dev/v1alpha1
kind: ModuleManifest
metadata: {name: ${p}-bus}
spec:
  version: 1.0.0
  scope: cluster
  image: example/bus:1
  ports: [{name: nats, port: 4222}]
  provides: [{capabilityId: ${p}-bus, version: 1.0.0}]
---
apiVersion: anvil.dev/v1alpha1
kind: ModuleManifest
metadata: {name: ${p}-gateway}
spec:
  version: 1.0.0
  image: example/gateway:1
  ports: [{name: ws, port: 4000}]
  routesActions: true
  requires:
  - {capabilityId: ${p}-mechanic, versionConstraint: "^1.0.0", scope: world, multiplicity: many}
  - {capabilityId: ${p}-bus, versionConstraint: "^1.0.0", scope: cluster}
---
apiVersion: anvil.dev/v1alpha1
kind: ModuleManifest
metadata: {name: ${p}-move}
spec:
  version: 1.0.0
  image: example/move:1
  ports: [{name: grpc, port: 5000}]
  provides: [{capabilityId: ${p}-mechanic, version: 1.0.0, actions: [move]}]
  requires:
  - {capabilityId: ${p}-physics, versionConstraint: ">=1.0.0", scope: world}
---
apiVersion: anvil.dev/v1alpha1
kind: ModuleManifest
metadata: {name: ${p}-physics}
spec:
  version: ${v}
  image: example/physics:${v}
  ports: [{name: grpc, port: 6000}]
  provides: [{capabilityId: ${p}-physics, version: ${v}}]
---
apiVersion: anvil.dev/v1alpha1
kind: GameDefinition
metadata: {name: ${p}-game}
spec:
  modules: [{name: ${p}-gateway}, {name: ${p}-move}, {name: ${p}-physics}, {name: ${p}-bus}]
`;
}

export function worldYaml(name: string, ns: string, game: string, extra: { labels?: Record<string, string> } = {}): string {
  const labels = extra.labels ? `\n  labels: ${JSON.stringify(extra.labels)}` : '';
  return `apiVersion: anvil.dev/v1alpha1
kind: WorldInstance
metadata:
  name: ${name}
  namespace: ${ns}${labels}
spec:
  gameRef: {name: ${game}}
`;
}

/** A namespace for worlds: labelled anvil.dev/worlds=true (global providers admit it, the reconciler may write there). */
export async function createNamespace(ns: string, opts: { forWorlds?: boolean } = {}): Promise<void> {
  await kubectlOk(['create', 'namespace', ns]);
  if (opts.forWorlds !== false) await kubectlOk(['label', 'namespace', ns, 'anvil.dev/worlds=true']);
}

/** Deletes the namespaces and the cluster-scoped definitions a test file made (best effort). */
export async function cleanup(namespaces: string[], prefix: string): Promise<void> {
  // Waited for, so that the next test file's reconciler does not see them terminating.
  for (const ns of namespaces) await kubectl(['delete', 'namespace', ns, '--timeout=120s'], { timeoutMs: 150_000 });
  for (const kind of ['gamedefinitions', 'modulemanifests']) {
    const names = ((await getJson([kind]))?.items ?? []).map((o: any) => o.metadata.name).filter((n: string) => n.startsWith(`${prefix}-`));
    if (names.length) await kubectl(['delete', kind, ...names, '--wait=false']);
  }
  await kubectl(['delete', 'deploy,svc,networkpolicy,capabilitybindings', '-n', 'anvil-system', '-l', `anvil.dev/module in (${prefix}-bus)`, '--wait=false']);
}
