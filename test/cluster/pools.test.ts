// Warm pools and claims (issue 12) on the real control plane, the reconciler a real process
// under its own ServiceAccount (the RBAC of dist/0003-reconciler.k8s.yaml): bind, release
// and refill; 100 concurrent claims get 100 distinct worlds; a burst larger than the pool
// queues FIFO and the rest time out with PoolExhausted; kill -9 mid-burst and leader
// failover: no double binding, no lost claim; scale-down and spec changes never remove a
// claimed world; a pool of an unknown game says so; the CRD rejects a claim that names
// neither a pool nor a selector. Pools use a one-module game so that kwok's fake nodes on a
// shared 2-core machine can run them.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';
import type { KubernetesObject } from '@kubernetes/client-node';
import { kubectl, kubectlOk } from './kubectl.js';
import {
  ROOT,
  applyCrds,
  cleanup,
  createNamespace,
  definitions,
  eventually,
  getJson,
  listJson,
  rbacDenials,
  serviceAccountKubeconfig,
  startReconciler,
  type ReconcilerProcess,
} from './reconcilerHarness.js';
import { Kube, loadKubeConfig } from '../../lib/reconciler/runtime/kube.js';
import { ReconcilerMetrics } from '../../lib/reconciler/runtime/metrics.js';
import { workloadName } from '../../lib/render/topology.js';

const P = 'pl';
const id = Math.random().toString(36).slice(2, 7);
const LIGHT = `${P}-light`;
const namespaces: string[] = [];
const procs: ReconcilerProcess[] = [];
let saKubeconfig: string;

async function newNamespace(name: string): Promise<string> {
  const ns = `${name}-${id}`;
  await createNamespace(ns);
  namespaces.push(ns);
  return ns;
}

async function reconciler(identity: string, args: string[] = []): Promise<ReconcilerProcess> {
  const p = await startReconciler({ identity: `${identity}-${id}`, kubeconfig: saKubeconfig, args });
  procs.push(p);
  return p;
}

const poolYaml = (name: string, ns: string, spec: Record<string, unknown>) =>
  stringify({ apiVersion: 'anvil.dev/v1alpha1', kind: 'WorldPool', metadata: { name, namespace: ns }, spec: { gameRef: { name: LIGHT }, ...spec } });
const claimObject = (name: string, ns: string, spec: Record<string, unknown>) => ({ apiVersion: 'anvil.dev/v1alpha1', kind: 'WorldClaim', metadata: { name, namespace: ns }, spec });
const claimYaml = (name: string, ns: string, spec: Record<string, unknown>) => stringify(claimObject(name, ns, spec));

const pool = (name: string, ns: string) => getJson(['worldpools', name, '-n', ns]);
const claim = (name: string, ns: string) => getJson(['worldclaims', name, '-n', ns]);

async function poolReady(name: string, ns: string, ready: number, timeoutMs = 240_000): Promise<any> {
  return eventually(`pool ${ns}/${name} has ${ready} ready worlds`, async () => {
    const p = await pool(name, ns);
    return p?.status?.ready === ready ? p : undefined;
  }, timeoutMs);
}

/** Creates the claims at once, through the library's client (one HTTP request each, in parallel). */
async function createClaimsConcurrently(ns: string, names: string[], spec: Record<string, unknown>): Promise<void> {
  const kube = new Kube(loadKubeConfig(process.env.ANVIL_KUBECONFIG), new ReconcilerMetrics(), { maxSockets: names.length });
  await Promise.all(names.map((n) => kube.create(claimObject(n, ns, spec) as KubernetesObject)));
}

async function allBound(ns: string, names: string[], timeoutMs = 240_000): Promise<any[]> {
  return eventually(`${names.length} claims Bound in ${ns}`, async () => {
    const cs = (await listJson('worldclaims', ns)).filter((c) => names.includes(c.metadata.name));
    return cs.length === names.length && cs.every((c) => c.status?.phase === 'Bound') ? cs : undefined;
  }, timeoutMs);
}

/**
 * Exactly once, from the cluster: every Bound claim names a world no other claim names, and
 * that world carries the claim (label, uid annotation, controller owner); no world is
 * stamped for a claim that does not name it.
 */
async function expectExactlyOnce(ns: string): Promise<void> {
  const claims = await listJson('worldclaims', ns);
  const bound = claims.filter((c) => c.status?.phase === 'Bound');
  const worldNames = bound.map((c) => c.status.worldRef.name);
  expect(new Set(worldNames).size).toBe(worldNames.length);
  const worlds = new Map((await listJson('worldinstances', ns)).map((w) => [w.metadata.name, w]));
  for (const c of bound) {
    const w = worlds.get(c.status.worldRef.name);
    expect(w).toBeDefined();
    expect(w.metadata.labels['anvil.dev/claim']).toBe(c.metadata.name);
    expect(w.metadata.annotations['anvil.dev/claim-uid']).toBe(c.metadata.uid);
    expect(w.metadata.ownerReferences).toEqual([expect.objectContaining({ kind: 'WorldClaim', uid: c.metadata.uid, controller: true })]);
  }
  // Half-done bindings are repaired: eventually no world is stamped for a claim that does not hold it.
  await eventually(`no stray stamped world in ${ns}`, async () => {
    const byUid = new Map((await listJson('worldclaims', ns)).map((c) => [c.metadata.uid, c]));
    const stray = (await listJson('worldinstances', ns)).filter((w) => {
      const uid = w.metadata.annotations?.['anvil.dev/claim-uid'];
      return uid && !w.metadata.deletionTimestamp && byUid.get(uid)?.status?.worldRef?.name !== w.metadata.name;
    });
    return stray.length === 0 ? true : undefined;
  }, 60_000);
}

beforeAll(async () => {
  await applyCrds();
  await kubectlOk(['apply', '-f', '-'], {
    input: `${definitions(P)}\n---\n${stringify({ apiVersion: 'anvil.dev/v1alpha1', kind: 'GameDefinition', metadata: { name: LIGHT }, spec: { modules: [{ name: `${P}-physics` }] } })}`,
  });
  // The reconciler's RBAC exactly as synthesized (its Deployment left out: no image here).
  const docs = parseAllDocuments(fs.readFileSync(path.join(ROOT, 'dist/0003-reconciler.k8s.yaml'), 'utf8'))
    .map((d) => d.toJSON())
    .filter((o) => o && o.kind !== 'Deployment');
  await kubectlOk(['apply', '-f', '-'], { input: docs.map((d) => stringify(d)).join('---\n') });
  saKubeconfig = await serviceAccountKubeconfig('anvil-system', 'anvil-reconciler');
});

afterAll(async () => {
  for (const p of procs) if (p.child.exitCode === null) await p.kill9();
  await cleanup(namespaces, P);
});

describe('with one reconciler', () => {
  let rec: ReconcilerProcess;
  beforeAll(async () => {
    rec = await reconciler('pl-main');
  });
  afterAll(async () => {
    if (rec) expect(await rec.stop()).toBe(0);
    // Nothing it needed was forbidden by its ClusterRole.
    expect(rbacDenials(rec.log())).toEqual([]);
  });

  test('a claim is bound to a ready world with its labels and endpoints; deleting it deletes the world; the pool refills', async () => {
    const ns = await newNamespace('pl-bind');
    await kubectlOk(['apply', '-f', '-'], { input: poolYaml('warm', ns, { buffer: { ready: 2 }, worldLabels: { tier: 'gold' } }) });
    const before = await poolReady('warm', ns, 2);
    expect(before.status).toMatchObject({ ready: 2, claimed: 0, starting: 0, total: 2, selector: 'anvil.dev/pool=warm' });
    expect(before.status.conditions).toEqual([expect.objectContaining({ type: 'Ready', status: 'True', reason: 'BufferReady' })]);
    expect(await kubectlOk(['get', 'worldpools', 'warm', '-n', ns])).toMatch(/NAME\s+GAME\s+REGION\s+READY\s+CLAIMED\s+TOTAL\s+AGE\nwarm\s+pl-light\s+default\s+2\s+0\s+2\s/);
    const spares = await listJson('worldinstances', ns, 'anvil.dev/pool=warm');
    for (const w of spares) {
      expect(w.metadata.ownerReferences).toEqual([expect.objectContaining({ kind: 'WorldPool', name: 'warm', uid: before.metadata.uid, controller: true })]);
      expect(w.metadata.labels.tier).toBe('gold');
      expect(w.status.endpoints).toEqual([{ module: `${P}-physics`, host: `${workloadName({ metadata: { name: `${P}-physics` }, spec: {} } as never, { namespace: ns, world: w.metadata.name })}.${ns}.svc`, ports: [{ name: 'grpc', port: 6000, protocol: 'TCP' }] }]);
    }

    await kubectlOk(['apply', '-f', '-'], { input: claimYaml('match-1', ns, { poolRef: { name: 'warm' }, worldLabels: { 'example.com/match': 'm-1' }, worldAnnotations: { 'example.com/players': 'ann,bob' } }) });
    const c = await eventually('match-1 Bound', async () => ((await claim('match-1', ns))?.status?.phase === 'Bound' ? claim('match-1', ns) : undefined));
    const worldName = c.status.worldRef.name;
    expect(spares.map((w) => w.metadata.name)).toContain(worldName);
    const w = await getJson(['worldinstances', worldName, '-n', ns]);
    expect(w.metadata.labels).toMatchObject({ 'anvil.dev/claim': 'match-1', 'anvil.dev/pool': 'warm', 'example.com/match': 'm-1', tier: 'gold' });
    expect(w.metadata.annotations).toMatchObject({ 'anvil.dev/claim-uid': c.metadata.uid, 'example.com/players': 'ann,bob' });
    expect(w.metadata.ownerReferences).toEqual([expect.objectContaining({ kind: 'WorldClaim', name: 'match-1', uid: c.metadata.uid, controller: true })]);
    expect(c.status.endpoints).toEqual(w.status.endpoints);
    expect(c.status.conditions).toEqual([expect.objectContaining({ type: 'Bound', status: 'True', reason: 'Bound' })]);
    expect(Date.parse(c.status.boundAt)).not.toBeNaN();
    // kubectl shows the claim beside the world, and the claim's world.
    expect(await kubectlOk(['get', 'worlds', worldName, '-n', ns])).toMatch(new RegExp(`CLAIM[\\s\\S]*${worldName}.*match-1`));
    expect(await kubectlOk(['get', 'worldclaims', 'match-1', '-n', ns])).toMatch(new RegExp(`match-1\\s+warm\\s+Bound\\s+${worldName}`));
    // The Bound Event follows once claims stop arriving (ClaimController.afterBurst).
    await eventually('match-1 Bound Event', async () =>
      (await listJson('events', ns)).some((e) => e.involvedObject.kind === 'WorldClaim' && e.involvedObject.name === 'match-1' && e.reason === 'Bound') ? true : undefined,
    );

    // The pool refills to its buffer around the claimed world.
    await eventually('pool back at its buffer with 1 claimed', async () => {
      const p = await pool('warm', ns);
      return p?.status?.ready === 2 && p.status.claimed === 1 && p.status.total === 3 ? true : undefined;
    });
    const m = await rec.metrics();
    expect(m.get('anvil_claim_duration_seconds_count')).toBeGreaterThanOrEqual(1);
    expect(m.get(`anvil_pool_worlds{namespace="${ns}",pool="warm",state="claimed"}`)).toBe(1);

    // Release: the world (and what it owns) goes; the pool stays at its buffer.
    await kubectlOk(['delete', 'worldclaim', 'match-1', '-n', ns]);
    await eventually(`world ${worldName} deleted with its claim`, async () => ((await getJson(['worldinstances', worldName, '-n', ns])) === undefined ? true : undefined));
    await eventually(`the deployment of ${worldName} deleted`, async () => ((await listJson('deployments', ns, `anvil.dev/world=${worldName}`)).length === 0 ? true : undefined));
    await eventually('pool at 2 ready, 0 claimed', async () => {
      const p = await pool('warm', ns);
      return p?.status?.ready === 2 && p.status.claimed === 0 && p.status.total === 2 ? true : undefined;
    });
  });

  test('100 concurrent claims on a warm pool of 100 get 100 distinct worlds', async () => {
    const ns = await newNamespace('pl-hundred');
    await kubectlOk(['apply', '-f', '-'], { input: poolYaml('big', ns, { buffer: { ready: 100 }, maxWorlds: 100 }) });
    await poolReady('big', ns, 100, 280_000);
    const names = Array.from({ length: 100 }, (_, i) => `claim-${String(i).padStart(3, '0')}`);
    await createClaimsConcurrently(ns, names, { poolRef: { name: 'big' } });
    const claims = await allBound(ns, names, 120_000);
    expect(new Set(claims.map((c) => c.status.worldRef.name)).size).toBe(100);
    await expectExactlyOnce(ns);
    // maxWorlds 100, all claimed: nothing more to create.
    // (The pool's own pass writes its status, after the claims: waited for.)
    await eventually('the pool status counts 100 claimed of 100', async () => {
      const st = (await pool('big', ns))?.status;
      return st?.claimed === 100 && st?.total === 100 ? true : undefined;
    });
    // Released: the worlds go with their claims; without the pool nothing refills (and the
    // fake nodes are free for the next tests).
    await kubectlOk(['delete', 'worldpool', 'big', '-n', ns]);
    await kubectlOk(['delete', 'worldclaims', '--all', '-n', ns, '--wait=false']);
    await eventually('the 100 worlds deleted', async () => ((await listJson('worldinstances', ns)).length === 0 ? true : undefined), 180_000);
  }, 600_000);

  test('a burst larger than the pool is served FIFO as worlds start; the rest fail with PoolExhausted', async () => {
    const ns = await newNamespace('pl-burst');
    await kubectlOk(['apply', '-f', '-'], { input: poolYaml('small', ns, { buffer: { ready: 2 }, maxWorlds: 3 }) });
    await poolReady('small', ns, 2);
    // One kubectl, in order: creationTimestamps never decrease and the names sort the same way.
    const names = ['q0', 'q1', 'q2', 'q3', 'q4', 'q5'];
    await kubectlOk(['create', '-f', '-'], { input: names.map((n) => claimYaml(n, ns, { poolRef: { name: 'small' }, timeoutSeconds: 25 })).join('---\n') });
    const final = await eventually('every claim settled', async () => {
      const cs = await listJson('worldclaims', ns);
      return cs.length === 6 && cs.every((c) => c.status?.phase === 'Bound' || c.status?.phase === 'Failed') ? cs : undefined;
    }, 120_000);
    const phase = Object.fromEntries(final.map((c) => [c.metadata.name, c.status.phase]));
    // Two ready worlds at once, the third as the pool's last world (maxWorlds 3) starts; FIFO.
    expect(phase).toEqual({ q0: 'Bound', q1: 'Bound', q2: 'Bound', q3: 'Failed', q4: 'Failed', q5: 'Failed' });
    for (const c of final.filter((x) => x.status.phase === 'Failed')) {
      expect(c.status.conditions).toEqual([expect.objectContaining({ type: 'Bound', status: 'False', reason: 'PoolExhausted' })]);
      expect(c.status.conditions[0].message).toContain('pool small');
      expect(c.status.worldRef).toBeUndefined();
    }
    // Each Warning follows its claim's status write: waited for, then exactly those three.
    const exhausted = async () => new Set((await listJson('events', ns)).filter((e) => e.involvedObject.kind === 'WorldClaim' && e.reason === 'PoolExhausted').map((e) => e.involvedObject.name));
    await eventually('a PoolExhausted Warning for each failed claim', async () => ((await exhausted()).size >= 3 ? true : undefined));
    expect(await exhausted()).toEqual(new Set(['q3', 'q4', 'q5']));
    await expectExactlyOnce(ns);
    await eventually('the pool reports MaxWorldsReached', async () => ((await pool('small', ns))?.status?.conditions?.[0]?.reason === 'MaxWorldsReached' ? true : undefined));
    expect((await pool('small', ns)).status.conditions[0]).toMatchObject({ status: 'False', reason: 'MaxWorldsReached' });
  });

  test('scale-down and a spec change remove only spare worlds; deleting the pool leaves claimed worlds', async () => {
    const ns = await newNamespace('pl-scale');
    await kubectlOk(['apply', '-f', '-'], { input: poolYaml('elastic', ns, { buffer: { ready: 3 } }) });
    await poolReady('elastic', ns, 3);
    await kubectlOk(['create', '-f', '-'], { input: ['a', 'b'].map((n) => claimYaml(n, ns, { poolRef: { name: 'elastic' } })).join('---\n') });
    const bound = await allBound(ns, ['a', 'b']);
    const claimed = new Map(bound.map((c) => [c.status.worldRef.name, (c as any).metadata.uid]));
    const uids = async () => new Map((await listJson('worldinstances', ns)).map((w) => [w.metadata.name, w.metadata.uid]));
    const before = await uids();

    await kubectlOk(['scale', 'worldpool', 'elastic', '-n', ns, '--replicas=0']);
    await eventually('only the claimed worlds left', async () => {
      const p = await pool('elastic', ns);
      const now = await uids();
      return p?.status?.ready === 0 && p.status.total === 2 && now.size === 2 ? true : undefined;
    });
    const after = await uids();
    for (const [name] of claimed) expect(after.get(name)).toBe(before.get(name));

    // A spec change (new world labels): spare worlds are replaced, claimed ones stay as they are.
    await kubectlOk(['patch', 'worldpool', 'elastic', '-n', ns, '--type=merge', '-p', JSON.stringify({ spec: { buffer: { ready: 1 }, worldLabels: { v: '2' } } })]);
    await poolReady('elastic', ns, 1);
    const worlds = await listJson('worldinstances', ns);
    for (const [name] of claimed) expect(worlds.find((w) => w.metadata.name === name)?.metadata.uid).toBe(before.get(name));
    expect(worlds.filter((w) => !w.metadata.labels['anvil.dev/claim']).every((w) => w.metadata.labels.v === '2')).toBe(true);

    await kubectlOk(['delete', 'worldpool', 'elastic', '-n', ns]);
    await eventually('the spare world garbage-collected with its pool', async () => ((await listJson('worldinstances', ns)).length === 2 ? true : undefined));
    expect(new Set((await listJson('worldinstances', ns)).map((w) => w.metadata.name))).toEqual(new Set(claimed.keys()));
  });

  test('issue 20, finding 3: a Bound claim whose world is deleted goes Failed (WorldLost) with a Warning Event', async () => {
    const ns = await newNamespace('pl-lost');
    await kubectlOk(['apply', '-f', '-'], { input: poolYaml('lost', ns, { buffer: { ready: 1 } }) });
    await poolReady('lost', ns, 1);
    await kubectlOk(['apply', '-f', '-'], { input: claimYaml('doomed', ns, { poolRef: { name: 'lost' } }) });
    const c = (await allBound(ns, ['doomed']))[0];
    const worldName = c.status.worldRef.name;
    await kubectlOk(['delete', 'worldinstance', worldName, '-n', ns, '--wait=false']);
    const failed = await eventually('doomed Failed', async () => ((await claim('doomed', ns))?.status?.phase === 'Failed' ? claim('doomed', ns) : undefined));
    expect(failed.status.conditions).toEqual([expect.objectContaining({ type: 'Bound', status: 'False', reason: 'WorldLost' })]);
    expect(failed.status.conditions[0].message).toContain(worldName);
    expect(failed.status).toMatchObject({ worldRef: { name: worldName }, endpoints: [] });
    await eventually('a WorldLost Warning Event', async () =>
      (await listJson('events', ns)).some((e) => e.involvedObject.kind === 'WorldClaim' && e.involvedObject.name === 'doomed' && e.reason === 'WorldLost' && e.type === 'Warning') ? true : undefined,
    );
  });

  test('issue 20, finding 4: a claim deleted with --cascade=orphan releases its world; the pool no longer counts it claimed', async () => {
    const ns = await newNamespace('pl-orphan');
    await kubectlOk(['apply', '-f', '-'], { input: poolYaml('orph', ns, { buffer: { ready: 1 } }) });
    await poolReady('orph', ns, 1);
    await kubectlOk(['apply', '-f', '-'], { input: claimYaml('left', ns, { poolRef: { name: 'orph' } }) });
    const worldName = (await allBound(ns, ['left']))[0].status.worldRef.name;
    await kubectlOk(['delete', 'worldclaim', 'left', '-n', ns, '--cascade=orphan']);
    await eventually(`world ${worldName} released`, async () => ((await getJson(['worldinstances', worldName, '-n', ns])) === undefined ? true : undefined));
    await eventually('pool at 1 ready, 0 claimed', async () => {
      const p = await pool('orph', ns);
      return p?.status?.ready === 1 && p.status.claimed === 0 && p.status.total === 1 ? true : undefined;
    });
  });

  test('issue 20, finding 5: scale to 0 while 50 claims bind: no claimed world removed, none bound twice', async () => {
    const ns = await newNamespace('pl-race');
    await kubectlOk(['apply', '-f', '-'], { input: poolYaml('race', ns, { buffer: { ready: 50 }, maxWorlds: 60 }) });
    await poolReady('race', ns, 50, 280_000);
    const names = Array.from({ length: 50 }, (_, i) => `race-${String(i).padStart(2, '0')}`);
    // The scale-down and the claims at once: the pool removes spare worlds while the claims take them.
    await Promise.all([createClaimsConcurrently(ns, names, { poolRef: { name: 'race' }, timeoutSeconds: 240 }), kubectlOk(['scale', 'worldpool', 'race', '-n', ns, '--replicas=0'])]);
    // A claim whose world were removed would go Failed (WorldLost): every one stays Bound.
    const claims = await allBound(ns, names, 280_000);
    await expectExactlyOnce(ns);
    const worlds = new Map((await listJson('worldinstances', ns)).map((w) => [w.metadata.name, w]));
    for (const c of claims) expect(worlds.get(c.status.worldRef.name)?.metadata.deletionTimestamp).toBeUndefined();
    await eventually('only the 50 claimed worlds left', async () => {
      const p = await pool('race', ns);
      return p?.status?.ready === 0 && p.status.claimed === 50 && p.status.total === 50 ? true : undefined;
    }, 180_000);
    expect((await listJson('worldclaims', ns)).every((c) => c.status?.phase === 'Bound')).toBe(true);
    await kubectlOk(['delete', 'worldpool', 'race', '-n', ns]);
    await kubectlOk(['delete', 'worldclaims', '--all', '-n', ns, '--wait=false']);
    await eventually('the 50 worlds deleted', async () => ((await listJson('worldinstances', ns)).length === 0 ? true : undefined), 180_000);
  }, 900_000);

  test('a pool whose game does not exist says so (condition and Event), creates nothing, and fills once the game appears', async () => {
    const ns = await newNamespace('pl-nogame');
    const game = `${P}-late-${id}`;
    await kubectlOk(['apply', '-f', '-'], { input: poolYaml('ghost', ns, { gameRef: { name: game }, buffer: { ready: 1 } }) });
    const p = await eventually('GameNotFound', async () => {
      const x = await pool('ghost', ns);
      return x?.status?.conditions?.[0]?.reason === 'GameNotFound' ? x : undefined;
    });
    expect(p.status.conditions[0]).toMatchObject({ type: 'Ready', status: 'False', observedGeneration: p.metadata.generation });
    expect(p.status.conditions[0].message).toContain(`no GameDefinition named ${game}`);
    expect(p.status.total).toBe(0);
    expect(await listJson('worldinstances', ns)).toEqual([]);
    const events = await eventually('a GameNotFound event', async () => {
      const es = (await listJson('events', ns)).filter((e) => e.involvedObject.kind === 'WorldPool' && e.reason === 'GameNotFound');
      return es.length > 0 ? es : undefined;
    });
    expect(events[0].type).toBe('Warning');
    // A claim for a pool that does not exist fails with PoolNotFound at its timeout.
    await kubectlOk(['apply', '-f', '-'], { input: claimYaml('lost', ns, { poolRef: { name: 'nowhere' }, timeoutSeconds: 2 }) });
    await eventually('lost Failed', async () => ((await claim('lost', ns))?.status?.conditions?.[0]?.reason === 'PoolNotFound' ? true : undefined));

    await kubectlOk(['apply', '-f', '-'], { input: stringify({ apiVersion: 'anvil.dev/v1alpha1', kind: 'GameDefinition', metadata: { name: game }, spec: { modules: [{ name: `${P}-physics` }] } }) });
    await poolReady('ghost', ns, 1);
    await kubectl(['delete', 'gamedefinition', game, '--wait=false']);
  });

  test('the API server rejects a claim with neither poolRef nor selector (or both), with the CRD message', async () => {
    const ns = await newNamespace('pl-cel');
    for (const spec of [{}, { poolRef: { name: 'a' }, selector: { gameRef: { name: 'g' } } }]) {
      const r = await kubectl(['create', '-f', '-'], { input: claimYaml('bad', ns, spec) });
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain('exactly one of spec.poolRef or spec.selector must be set');
    }
    expect(await listJson('worldclaims', ns)).toEqual([]);
  });
});

describe('failures during a claim burst', () => {
  test('kill -9 of the reconciler mid-burst: after a restart every claim is bound exactly once', async () => {
    const ns = await newNamespace('pl-kill');
    const first = await reconciler('pl-kill-1');
    await kubectlOk(['apply', '-f', '-'], { input: poolYaml('p', ns, { buffer: { ready: 5 }, maxWorlds: 40 }) });
    await poolReady('p', ns, 5);
    const names = Array.from({ length: 40 }, (_, i) => `k${String(i).padStart(2, '0')}`);
    await createClaimsConcurrently(ns, names, { poolRef: { name: 'p' }, timeoutSeconds: 240 });
    // Five bind at once; the rest wait for worlds the pool is starting: kill it in between.
    await eventually('some claims bound', async () => ((await listJson('worldclaims', ns)).filter((c) => c.status?.phase === 'Bound').length >= 5 ? true : undefined));
    await first.kill9();
    const boundAtKill = (await listJson('worldclaims', ns)).filter((c) => c.status?.phase === 'Bound').length;
    process.stderr.write(`[pools] killed (SIGKILL) with ${boundAtKill}/40 claims Bound\n`);
    expect(boundAtKill).toBeLessThan(40);

    const second = await reconciler('pl-kill-2');
    const claims = await allBound(ns, names);
    expect(new Set(claims.map((c) => c.status.worldRef.name)).size).toBe(40);
    await expectExactlyOnce(ns);
    await second.stop();
  }, 420_000);

  test('leader failover during a burst (two replicas, the leader killed): every claim bound exactly once, only by leaders', async () => {
    const ns = await newNamespace('pl-ha');
    const leaderArgs = ['--leader-elect', '--lease-namespace', 'anvil-system'];
    const lease = () => getJson(['lease', 'anvil-reconciler', '-n', 'anvil-system']);
    const a = await reconciler('pl-ha-a', leaderArgs);
    await eventually('a leads', async () => ((await lease())?.spec?.holderIdentity === a.identity ? true : undefined), 120_000);
    const b = await reconciler('pl-ha-b', leaderArgs);
    await kubectlOk(['apply', '-f', '-'], { input: poolYaml('p', ns, { buffer: { ready: 5 }, maxWorlds: 40 }) });
    await poolReady('p', ns, 5);
    const names = Array.from({ length: 40 }, (_, i) => `h${String(i).padStart(2, '0')}`);
    await createClaimsConcurrently(ns, names, { poolRef: { name: 'p' }, timeoutSeconds: 240 });
    await eventually('some claims bound', async () => ((await listJson('worldclaims', ns)).filter((c) => c.status?.phase === 'Bound').length >= 5 ? true : undefined));
    expect((await b.metrics()).get('anvil_claim_duration_seconds_count') ?? 0).toBe(0);
    await a.kill9();
    // The standby takes over once the dead leader's lease expires, and binds the rest.
    await eventually('b leads', async () => ((await lease())?.spec?.holderIdentity === b.identity ? true : undefined), 120_000);
    const claims = await allBound(ns, names);
    expect(new Set(claims.map((c) => c.status.worldRef.name)).size).toBe(40);
    await expectExactlyOnce(ns);
    expect((await b.metrics()).get('anvil_claim_duration_seconds_count')).toBeGreaterThan(0);
    expect(rbacDenials(b.log())).toEqual([]);
    expect(await b.stop()).toBe(0);
  }, 420_000);
});
