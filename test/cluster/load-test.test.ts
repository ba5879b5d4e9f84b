// `anvil load-test` for real (node bin/anvil.js, the compiled CLI) against the harness
// cluster with the reconciler running as its own process: 5 worlds reach Running, the JSON
// report has every figure, and --cleanup leaves nothing behind. No timing is asserted.
import * as path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, test } from '@jest/globals';
import { kubectl, kubectlOk, kubeconfigPath } from './kubectl.js';
import { ROOT, applyCrds, ensureBuilt, killAll, listJson, runTracked, startReconciler, type ReconcilerProcess } from './reconcilerHarness.js';

const suffix = Math.random().toString(36).slice(2, 8);
const ns = `load-test-${suffix}`;
// roguelike: command-path's world-store claims a PersistentVolume, and the harness has no
// storage provisioner, so its worlds cannot reach Running here.
const GAME = 'roguelike';

// Each test's own limit; `anvil load-test` is killed before it (and by afterEach when a test
// ends any other way), so no child outlives its test and Jest always exits.
const TEST_TIMEOUT = 420_000;
const anvil = (args: string[], timeoutMs: number) =>
  runTracked(process.execPath, [path.join(ROOT, 'bin/anvil.js'), ...args], { cwd: ROOT, timeoutMs });

let reconciler: ReconcilerProcess | undefined;
const reconcilerPort = () => reconciler!.port;

beforeAll(async () => {
  ensureBuilt();
  await applyCrds();
  await kubectlOk(['apply', '-f', path.join(ROOT, 'dist/0002-definitions.k8s.yaml'), '-f', path.join(ROOT, 'dist/0004-global-services.k8s.yaml')]);
  reconciler = await startReconciler({ identity: `load-test-${suffix}` });
});

// Only `anvil load-test` runs: the reconciler stays for the next test.
afterEach(async () => {
  const keep = reconciler?.child;
  await killAll(5_000, (c) => c !== keep);
});

afterAll(async () => {
  await reconciler?.stop();
  await kubectl(['delete', 'namespace', ns, '--wait=false']);
}, 120_000);

describe('anvil load-test', () => {
  test('5 worlds to Running, every figure reported, cleaned up', async () => {
    const r = await anvil([
      'load-test', '--worlds', '5', '--game', GAME, '--namespace', ns, '--kubeconfig', kubeconfigPath(),
      '--metrics-url', `http://127.0.0.1:${reconcilerPort()}/metrics`, '--timeout', '240', '--cleanup', '-o', 'json',
    ], TEST_TIMEOUT - 60_000);
    if (r.code !== 0) throw new Error(`anvil load-test exited ${r.code}:\n${r.stderr}\n${r.stdout}\nreconciler log:\n${reconciler!.log().slice(-3000)}`);
    const out = JSON.parse(r.stdout);

    expect(out).toMatchObject({ game: GAME, namespace: ns, worlds: 5, concurrency: 5, running: 5, failed: [], timedOut: [], ok: true });
    expect(out.runId).toMatch(/^[0-9a-f]{6}$/);
    for (const key of ['latencySeconds', 'createCallSeconds']) {
      expect(out[key]).toEqual({ count: 5, min: expect.any(Number), mean: expect.any(Number), p50: expect.any(Number), p95: expect.any(Number), p99: expect.any(Number), max: expect.any(Number) });
      expect(out[key].min).toBeLessThanOrEqual(out[key].p50);
      expect(out[key].p50).toBeLessThanOrEqual(out[key].p99);
      expect(out[key].p99).toBeLessThanOrEqual(out[key].max);
    }
    expect(out.worldsPerSecond).toBeGreaterThan(0);
    // The raw baseline created the same objects as a world of the game, and removed them.
    expect(out.raw).toMatchObject({ worlds: 5, errors: 0, cleanedUp: true });
    expect(out.raw.objectsPerWorld).toBeGreaterThan(0);
    expect(out.raw.kinds).toMatchObject({ Deployment: expect.any(Number), Service: expect.any(Number), CapabilityBinding: expect.any(Number) });
    expect(out.throughputRatio).toBeGreaterThan(0);
    // Figures from the reconciler's /metrics.
    expect(out.reconciler).toMatchObject({ reachable: true, reconcileErrors: 0 });
    expect(out.reconciler.apiRequestsPerWorld).toBeGreaterThan(0);
    expect(out.reconciler.apiRequestsByVerb.apply).toBeGreaterThan(0);
    expect(out.reconciler.peakMemoryBytes).toBeGreaterThan(0);
    expect(out.cleanup).toEqual({ requested: true, done: true, remaining: 0 });

    // Nothing of the run is left: its worlds, and the raw baseline's namespace.
    expect(await listJson('worldinstances', ns, `anvil.dev/load-test=${out.runId}`)).toEqual([]);
    const rawNs = await kubectl(['get', 'namespace', out.raw.namespace]);
    expect(rawNs.code).not.toBe(0);
  }, TEST_TIMEOUT);

  test('worlds that cannot reach Running are listed and make the exit code non-zero', async () => {
    const r = await anvil([
      'load-test', '--worlds', '2', '--game', 'command-path', '--namespace', ns, '--kubeconfig', kubeconfigPath(),
      '--metrics-url', `http://127.0.0.1:${reconcilerPort()}/metrics`, '--timeout', '15', '--no-raw', '--cleanup', '-o', 'json',
    ], 180_000);
    expect(r.code).toBe(1);
    const out = JSON.parse(r.stdout);
    // command-path's world-store PVC never binds here: both worlds are listed, none hidden.
    expect(out.running).toBe(0);
    expect(out.ok).toBe(false);
    expect(out.raw).toBeNull();
    expect([...out.timedOut, ...out.failed].map((w: { name: string }) => w.name).sort()).toEqual([`lt-${out.runId}-0`, `lt-${out.runId}-1`]);
    expect(out.cleanup.done).toBe(true);
  }, 240_000);
});
