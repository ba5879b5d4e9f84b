// `anvil load-test --claims` for real (node bin/anvil.js) against a warm pool on the local
// control plane with the real reconciler: every claim bound exactly once (0 double
// bindings, 0 lost), the raw PATCH floor measured and cleaned up, the pool refilled, the
// claims released; and a run interrupted mid-way is killed with nothing of it left running.
// No timing is asserted.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { kubectl, kubeconfigPath } from './kubectl.js';
import { isAlive, killAnvilProcesses, liveAnvilProcesses, runAnvil, startAnvil } from './anvilProcess.js';
import { applyGames, createPool, waitPoolReady } from './poolHarness.js';
import { createNamespace, eventually, listJson, startReconciler, type ReconcilerProcess } from './reconcilerHarness.js';

const suffix = Math.random().toString(36).slice(2, 8);
const ns = `lt-claims-${suffix}`;
const GAME = 'roguelike';

let reconciler: ReconcilerProcess;

beforeAll(async () => {
  await applyGames();
  await createNamespace(ns);
  await createPool(ns, 'warm', { gameRef: { name: GAME }, buffer: { ready: 4 }, maxWorlds: 12 });
  await createPool(ns, 'empty', { gameRef: { name: GAME }, buffer: { ready: 0 }, maxWorlds: 0 });
  reconciler = await startReconciler({ identity: `lt-claims-${suffix}` });
  await waitPoolReady(ns, 'warm', 4);
});

afterAll(async () => {
  await killAnvilProcesses();
  await reconciler?.stop();
  await kubectl(['delete', 'namespace', ns, '--wait=false']);
});

describe('anvil load-test --claims', () => {
  test('4 claims at concurrency 2: all bound exactly once, the floor measured, the pool refilled, the claims released', async () => {
    const r = await runAnvil([
      'load-test', '--claims', '4', '--pool', 'warm', '-n', ns, '--concurrency', '2', '--kubeconfig', kubeconfigPath(),
      '--metrics-url', `http://127.0.0.1:${reconciler.port}/metrics`, '--timeout', '60', '--refill-timeout', '240', '--cleanup', '-o', 'json',
    ], { timeoutMs: 420_000 });
    if (r.code !== 0) throw new Error(`anvil load-test --claims exited ${r.code}${r.timedOut ? ' (killed: too slow)' : ''}:\n${r.stderr}\n${r.stdout}\nreconciler log:\n${reconciler.log().slice(-3000)}`);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ mode: 'claims', pool: 'warm', namespace: ns, claims: 4, concurrency: 2, bound: 4, failed: [], lost: [], mismatched: [], ok: true });
    expect(out.doubleBindings).toEqual({ worlds: [], claims: [], count: 0 });
    for (const key of ['latencySeconds', 'createCallSeconds']) {
      expect(out[key]).toMatchObject({ count: 4 });
      expect(out[key].min).toBeLessThanOrEqual(out[key].p50);
      expect(out[key].p99).toBeLessThanOrEqual(out[key].max);
    }
    expect(out.claimsPerSecond).toBeGreaterThan(0);
    expect(out.refill).toMatchObject({ buffer: 4, reached: true });
    // The floor: as many PATCHes, same concurrency, no errors, scratch namespace gone.
    expect(out.raw).toMatchObject({ patches: 4, concurrency: 2, errors: 0, cleanedUp: true });
    expect(out.raw.latencySeconds.count).toBe(4);
    expect(out.ratios.throughput).toBeGreaterThan(0);
    expect(out.ratios.p50).toBeGreaterThan(0);
    expect((await kubectl(['get', 'namespace', out.raw.namespace])).code).not.toBe(0);
    // Released: the run's claims are gone, so are their worlds (garbage collected with them).
    expect(out.cleanup).toEqual({ requested: true, done: true, remaining: 0 });
    expect(await listJson('worldclaims', ns, `anvil.dev/load-test=${out.runId}`)).toEqual([]);
  });

  test('a run interrupted mid-way (claims waiting on an empty pool) is killed: no process left, however the test ends', async () => {
    const run = startAnvil(['load-test', '--claims', '3', '--pool', 'empty', '-n', ns, '--concurrency', '3', '--kubeconfig', kubeconfigPath(), '--timeout', '600', '--no-floor', '-o', 'json'], { timeoutMs: 300_000 });
    const pid = run.child.pid!;
    // Observable progress, not a sleep: its claims exist and wait.
    await eventually('the load test to create its claims', async () => (await listJson('worldclaims', ns)).filter((c) => c.spec.poolRef?.name === 'empty').length === 3, 120_000);
    expect(isAlive(pid)).toBe(true);
    await killAnvilProcesses();
    const result = await run.done;
    expect(result.signal).toBe('SIGKILL');
    expect(isAlive(pid)).toBe(false);
    expect(liveAnvilProcesses()).toBe(0);
  });
});
