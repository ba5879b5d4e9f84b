// `anvil load-test` for real (node bin/anvil.js, the compiled CLI) against the harness
// cluster with the reconciler running as its own process: the floor (the same objects by a
// plain client, until their Deployments are Available) and then 5 worlds reach Running, the
// JSON report has every figure, and --cleanup leaves nothing behind. No timing is asserted.
import * as path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, test } from '@jest/globals';
import { kubectl, kubectlOk, kubeconfigPath } from './kubectl.js';
import { ROOT, applyCrds, ensureBuilt, eventually, killAll, listJson, runTracked, startReconciler, writes, type ReconcilerProcess } from './reconcilerHarness.js';

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
  test('the floor, then 5 worlds to Running, every figure reported, cleaned up', async () => {
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
    // The floor created the same objects as a world of the game (with the reconciler's
    // concurrency), saw every world's Deployments Available, and removed its namespace.
    expect(out.floor).toMatchObject({ worlds: 5, concurrency: 16, available: 5, notAvailable: [], errors: 0, cleanedUp: true });
    expect(out.floor.kinds).toMatchObject({ Deployment: expect.any(Number), Service: expect.any(Number), CapabilityBinding: expect.any(Number) });
    const objects = Object.values(out.floor.kinds as Record<string, number>).reduce((a, b) => a + b, 0);
    expect(out.floor.objectsPerWorld).toBe(objects);
    // Every object created once, each answered 201 Created.
    expect(out.floor.requestsByCode['201']).toBe(5 * objects);
    expect(out.floor.latencySeconds.count).toBe(5);
    expect(out.floor.latencySeconds.max).toBeLessThanOrEqual(out.floor.durationSeconds);
    for (const k of ['p50', 'p95', 'p99', 'throughput']) expect(out.ratios[k]).toBeGreaterThan(0);
    // Figures from the reconciler's /metrics: requests by verb and by status code add up.
    expect(out.reconciler).toMatchObject({ reachable: true, reconcileErrors: 0 });
    expect(out.reconciler.apiRequestsPerWorld).toBeGreaterThan(0);
    // New objects are created (POST: no takeover of one someone made meanwhile), then applied.
    expect((out.reconciler.apiRequestsByVerb.create ?? 0) + (out.reconciler.apiRequestsByVerb.apply ?? 0)).toBeGreaterThan(0);
    const sum = (o: Record<string, number>) => Object.values(o).reduce((a, b) => a + b, 0);
    expect(sum(out.reconciler.apiRequestsByCode)).toBe(sum(out.reconciler.apiRequestsByVerb));
    expect(out.reconciler.cpuSeconds).toBeGreaterThan(0);
    expect(out.reconciler.peakMemoryBytes).toBeGreaterThan(0);
    expect(out.cleanup).toEqual({ requested: true, done: true, remaining: 0 });

    // Nothing of the run is left: its worlds, and the floor's namespace.
    expect(await listJson('worldinstances', ns, `anvil.dev/load-test=${out.runId}`)).toEqual([]);
    const floorNs = await kubectl(['get', 'namespace', out.floor.namespace]);
    expect(floorNs.code).not.toBe(0);
  }, TEST_TIMEOUT);

  test('SIGHUP asks the reconciler for a resync now: every cache is listed again, nothing is written', async () => {
    // This reconciler runs with the default resync period (minutes): new lists are the signal's.
    const lists = (m: Map<string, number>) => [...m].filter(([k]) => k.startsWith('anvil_api_requests_total{verb="list"')).reduce((n, [, v]) => n + v, 0);
    // Quiet first: the previous test's worlds are gone, but the platform may still be settling.
    let last = await reconciler!.metrics();
    await eventually('a quiet reconciler', async () => {
      await new Promise((r) => setTimeout(r, 3000));
      const now = await reconciler!.metrics();
      // No write in between, and no world status held back for later (it would be written after this).
      const quiet = writes(now) === writes(last) && (now.get('anvil_world_status_held') ?? 0) === 0;
      last = now;
      return quiet || undefined;
    });
    const before = await reconciler!.metrics();
    reconciler!.child.kill('SIGHUP');
    // Every cache listed again, then the pass over everything that follows the relist completed.
    const resyncs = (m: Map<string, number>) => m.get('anvil_resyncs_completed_total') ?? 0;
    await eventually('a relist of every cache and the resync after it', async () => {
      const m = await reconciler!.metrics();
      return lists(m) >= lists(before) + 9 && resyncs(m) > resyncs(before) ? true : undefined;
    });
    expect(reconciler!.log()).toContain('SIGHUP: resync');
    expect(writes(await reconciler!.metrics())).toBe(writes(before));
  }, TEST_TIMEOUT);

  test('worlds that cannot reach Running are listed and make the exit code non-zero', async () => {
    const r = await anvil([
      'load-test', '--worlds', '2', '--game', 'command-path', '--namespace', ns, '--kubeconfig', kubeconfigPath(),
      '--metrics-url', `http://127.0.0.1:${reconcilerPort()}/metrics`, '--timeout', '15', '--no-floor', '--cleanup', '-o', 'json',
    ], 180_000);
    expect(r.code).toBe(1);
    const out = JSON.parse(r.stdout);
    // command-path's world-store PVC never binds here: both worlds are listed, none hidden.
    expect(out.running).toBe(0);
    expect(out.ok).toBe(false);
    expect(out.floor).toBeNull();
    expect(out.ratios).toBeNull();
    expect([...out.timedOut, ...out.failed].map((w: { name: string }) => w.name).sort()).toEqual([`lt-${out.runId}-0`, `lt-${out.runId}-1`]);
    expect(out.cleanup.done).toBe(true);
  }, 240_000);
});
