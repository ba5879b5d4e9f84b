// `anvil allocate` for real (node bin/anvil.js, the compiled CLI) against pools on the local
// control plane with the real reconciler as its own process: a claim on a warm pool is bound
// and the world, its endpoints and the latency are printed; an empty pool makes it fail with
// PoolExhausted; a missing pool with PoolNotFound; and the anvil-matchmaker Role of dist is
// enough for a ServiceAccount to allocate, and allows nothing else. No timing is asserted.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { ClaimError, claimName, claimWorld, releaseWorld } from '../../lib/client/claims.js';
import { kubectl, kubectlOk, kubeconfigPath } from './kubectl.js';
import { killAnvilProcesses, liveAnvilProcesses, runAnvil } from './anvilProcess.js';
import { applyGames, createPool, distMatchmakerRole, waitPoolReady } from './poolHarness.js';
import { createNamespace, eventually, getJson, listJson, serviceAccountKubeconfig, startReconciler, worldYaml, type ReconcilerProcess } from './reconcilerHarness.js';

const suffix = Math.random().toString(36).slice(2, 8);
const ns = `allocate-${suffix}`;
// roguelike: command-path's world-store claims a PersistentVolume, which the harness cannot bind.
const GAME = 'roguelike';

let reconciler: ReconcilerProcess;

beforeAll(async () => {
  await applyGames();
  await createNamespace(ns);
  await createPool(ns, 'warm', { gameRef: { name: GAME }, buffer: { ready: 2 }, maxWorlds: 10, worldLabels: { mode: 'ranked' } });
  await createPool(ns, 'empty', { gameRef: { name: GAME }, buffer: { ready: 0 }, maxWorlds: 0 });
  reconciler = await startReconciler({ identity: `allocate-${suffix}` });
  await waitPoolReady(ns, 'warm', 2);
});

afterAll(async () => {
  await killAnvilProcesses();
  await reconciler?.stop();
  await kubectl(['delete', 'namespace', ns, '--wait=false']);
});

const failWith = (what: string, r: { code: number | null; stdout: string; stderr: string }) =>
  new Error(`${what}: exit ${r.code}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}\nreconciler log:\n${reconciler.log().slice(-3000)}`);

describe('anvil allocate', () => {
  test('a warm pool: the claim is bound; world, endpoints and latency printed; labels stamped on the world; exit 0', async () => {
    const r = await runAnvil(['allocate', '--pool', 'warm', '-n', ns, '--label', 'match-id=m42', '--annotation', 'anvil-test/players=alice,bob', '--kubeconfig', kubeconfigPath(), '-o', 'json']);
    if (r.code !== 0) throw failWith('anvil allocate', r);
    const out = JSON.parse(r.stdout);
    // boundAt only when the claim's Bound status reached the client before the world's stamp.
    const { boundAt, ...rest } = out;
    expect(rest).toEqual({ claim: expect.stringMatching(/^warm-/), namespace: ns, world: expect.any(String), endpoints: expect.any(Array), latencyMs: expect.any(Number) });
    if (boundAt !== undefined) expect(Date.parse(boundAt)).not.toBeNaN();
    expect(out.latencyMs).toBeGreaterThan(0);

    // What it printed is what the cluster says.
    const claim = await getJson(['worldclaim', out.claim, '-n', ns]);
    expect(claim.status).toMatchObject({ phase: 'Bound', worldRef: { name: out.world } });
    expect(out.endpoints).toEqual(claim.status.endpoints);
    const world = await getJson(['worldinstance', out.world, '-n', ns]);
    expect(world.metadata.labels).toMatchObject({ 'anvil.dev/pool': 'warm', 'anvil.dev/claim': out.claim, 'match-id': 'm42', mode: 'ranked' });
    expect(world.metadata.annotations).toMatchObject({ 'anvil-test/players': 'alice,bob' });
    // roguelike's root module faces the players: its Service, in the world's namespace.
    expect(out.endpoints).toEqual([
      { module: 'rl-runtime', host: expect.stringMatching(new RegExp(`\\.${ns}\\.svc$`)), ports: [{ name: 'ws', port: 4000, protocol: 'TCP' }, { name: 'health', port: 4001, protocol: 'TCP' }] },
    ]);
  });

  test('text output: the world line and one line per endpoint', async () => {
    await waitPoolReady(ns, 'warm', 2);
    const r = await runAnvil(['allocate', '--pool', 'warm', '-n', ns, '--kubeconfig', kubeconfigPath()]);
    if (r.code !== 0) throw failWith('anvil allocate', r);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toMatch(new RegExp(`^world (\\S+) \\(namespace ${ns}, claim warm-\\S+\\) bound in \\d+\\.\\d ms$`));
    expect(lines.slice(1)).toEqual([expect.stringMatching(new RegExp(`^  rl-runtime  \\S+\\.${ns}\\.svc  ws 4000/TCP, health 4001/TCP$`))]);
    const world = /^world (\S+)/.exec(lines[0]!)![1]!;
    expect((await getJson(['worldinstance', world, '-n', ns])).metadata.labels['anvil.dev/claim']).toMatch(/^warm-/);
  });

  test('an empty pool and a short timeout: exit 1 with PoolExhausted, and the failed claim is deleted', async () => {
    const r = await runAnvil(['allocate', '--pool', 'empty', '-n', ns, '--timeout', '2', '--kubeconfig', kubeconfigPath()]);
    expect({ code: r.code, stdout: r.stdout }).toEqual({ code: 1, stdout: '' });
    expect(r.stderr).toMatch(/^error: allocate: PoolExhausted: WorldClaim .*\/empty-\S+: /);
    const left = (await listJson('worldclaims', ns)).filter((c) => c.spec.poolRef?.name === 'empty');
    expect(left.filter((c) => !c.metadata.deletionTimestamp)).toEqual([]);
  });

  test('a pool that does not exist: exit 1 with PoolNotFound (-o json: the reason on stdout)', async () => {
    const r = await runAnvil(['allocate', '--pool', 'nowhere', '-n', ns, '--timeout', '3', '--kubeconfig', kubeconfigPath(), '-o', 'json']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('PoolNotFound');
    expect(JSON.parse(r.stdout).error).toMatchObject({ reason: 'PoolNotFound', namespace: ns });
  });
});

describe('claimWorld() for matchmakers', () => {
  test('by selector (game + the pool\'s worldLabels): bound, the world stamped; releaseWorld deletes the claim and its world', async () => {
    await waitPoolReady(ns, 'warm', 2);
    const got = await claimWorld({ kubeconfig: kubeconfigPath(), namespace: ns, selector: { game: GAME, matchLabels: { mode: 'ranked' } }, labels: { 'match-id': 'sel-1' }, timeoutSeconds: 30 });
    expect(got).toMatchObject({ namespace: ns, claim: expect.stringMatching(/^roguelike-/), world: expect.any(String) });
    expect(got.endpoints.map((e) => e.module)).toEqual(['rl-runtime']);
    const world = await getJson(['worldinstance', got.world, '-n', ns]);
    expect(world.metadata.labels).toMatchObject({ 'anvil.dev/pool': 'warm', 'anvil.dev/claim': got.claim, 'match-id': 'sel-1' });
    await releaseWorld({ kubeconfig: kubeconfigPath(), namespace: ns, claim: got.claim });
    // The garbage collector takes the world with its claim.
    await eventually(`world ${got.world} to be deleted with its claim`, async () => (await getJson(['worldinstance', got.world, '-n', ns])) === undefined, 120_000);
  });

  test('a request id names the claim: calls with the same id (at once, and retried later) get the same claim and world; a name another request holds is refused', async () => {
    await waitPoolReady(ns, 'warm', 2);
    const requestId = `match-${suffix}`;
    const call = () => claimWorld({ kubeconfig: kubeconfigPath(), namespace: ns, pool: 'warm', requestId, timeoutSeconds: 30 });
    const [a, b] = await Promise.all([call(), call()]);
    const c = await call();
    expect(a.claim).toBe(claimName({ pool: 'warm' }, requestId));
    expect([b.claim, c.claim]).toEqual([a.claim, a.claim]);
    expect([b.world, c.world]).toEqual([a.world, a.world]);
    expect((await listJson('worldinstances', ns, `anvil.dev/claim=${a.claim}`)).map((w) => w.metadata.name)).toEqual([a.world]);
    await releaseWorld({ kubeconfig: kubeconfigPath(), namespace: ns, claim: a.claim });

    const taken = claimName({ pool: 'empty' }, `taken-${suffix}`);
    await kubectlOk(['apply', '-f', '-'], { input: JSON.stringify({ apiVersion: 'anvil.dev/v1alpha1', kind: 'WorldClaim', metadata: { name: taken, namespace: ns }, spec: { poolRef: { name: 'empty' }, timeoutSeconds: 2 } }) });
    const e = await claimWorld({ kubeconfig: kubeconfigPath(), namespace: ns, pool: 'empty', requestId: `taken-${suffix}`, timeoutSeconds: 2 }).catch((x: unknown) => x);
    expect(e).toMatchObject({ reason: 'CreateFailed', claim: taken });
    expect((e as Error).message).toContain('exists for another request');
  });

  test('a selector no pool matches: ClaimError PoolNotFound, and the claim is deleted', async () => {
    const e = await claimWorld({ kubeconfig: kubeconfigPath(), namespace: ns, selector: { game: GAME, matchLabels: { mode: 'casual' } }, timeoutSeconds: 2 }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ClaimError);
    expect(e).toMatchObject({ reason: 'PoolNotFound', namespace: ns });
    expect(await getJson(['worldclaim', (e as ClaimError).claim!, '-n', ns])).toBeUndefined();
  });
});

describe('the anvil-matchmaker Role of dist', () => {
  let saKubeconfig: string;
  beforeAll(async () => {
    await kubectlOk(['create', 'serviceaccount', 'matchmaker', '-n', ns]);
    await kubectlOk(['apply', '-f', '-'], { input: JSON.stringify(distMatchmakerRole(ns)) });
    await kubectlOk(['create', 'rolebinding', 'matchmaker', '-n', ns, '--role=anvil-matchmaker', `--serviceaccount=${ns}:matchmaker`]);
    saKubeconfig = await serviceAccountKubeconfig(ns, 'matchmaker');
  });

  test('is enough to allocate (create, watch, get) and to release (delete) a world', async () => {
    await waitPoolReady(ns, 'warm', 2);
    const r = await runAnvil(['allocate', '--pool', 'warm', '-n', ns, '--kubeconfig', saKubeconfig, '-o', 'json']);
    if (r.code !== 0) throw failWith('anvil allocate as the matchmaker', r);
    const out = JSON.parse(r.stdout);
    expect((await getJson(['worldclaim', out.claim, '-n', ns])).status.phase).toBe('Bound');
    await kubectlOk(['delete', 'worldclaim', out.claim, '-n', ns, '--wait=false'], { kubeconfig: saKubeconfig });
  });

  test('allows nothing else: no WorldInstance create, get or list (only the watch of claimed worlds), no list of claims, nothing on pools or other namespaces', async () => {
    const created = await kubectl(['create', '-f', '-'], { kubeconfig: saKubeconfig, input: worldYaml(`sneaky-${suffix}`, ns, GAME) });
    expect(created.code).not.toBe(0);
    expect(created.stderr).toMatch(/forbidden/i);
    // `resource[/subresource]`: kubectl takes the subresource as a flag (TYPE/NAME would be a name).
    const canI = async (verb: string, resource: string, namespace = ns) => {
      const [type, sub] = resource.split('/');
      return (await kubectl(['auth', 'can-i', verb, type!, ...(sub ? [`--subresource=${sub}`] : []), '-n', namespace], { kubeconfig: saKubeconfig })).stdout.trim();
    };
    expect(await canI('create', 'worldclaims.anvil.dev')).toBe('yes');
    expect(await canI('watch', 'worldclaims.anvil.dev')).toBe('yes');
    expect(await canI('watch', 'worldinstances.anvil.dev')).toBe('yes');
    for (const [verb, resource] of [['list', 'worldclaims.anvil.dev'], ['get', 'worldinstances.anvil.dev'], ['list', 'worldinstances.anvil.dev'], ['update', 'worldclaims.anvil.dev'], ['patch', 'worldclaims.anvil.dev/status'], ['create', 'worldinstances.anvil.dev'], ['delete', 'worldinstances.anvil.dev'], ['get', 'worldpools.anvil.dev'], ['patch', 'worldpools.anvil.dev/scale'], ['get', 'secrets']]) {
      expect({ verb, resource, answer: await canI(verb, resource) }).toEqual({ verb, resource, answer: 'no' });
    }
    expect(await canI('create', 'worldclaims.anvil.dev', 'default')).toBe('no');
  });
});

test('no anvil process outlives the tests', async () => {
  await killAnvilProcesses();
  expect(liveAnvilProcesses()).toBe(0);
});
