// The allocation endpoint (issue 20) over real HTTPS (a certificate made by openssl for the
// test), with claimWorld()/releaseWorld() as its client, in front of the claim controller and
// an in-memory API server whose caches follow every write like an informer. Reviews
// (TokenReview, SubjectAccessReview) are answered by the fake: token "alice" may create and
// delete worldclaims, token "mallory" is authenticated but has no RBAC, anything else is
// not a token. The real control plane's version of this is test/cluster/allocation-endpoint.test.ts.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Server } from 'node:https';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { KubeConfig } from '@kubernetes/client-node';
import { Allocations } from '../../lib/reconciler/claims/allocations.js';
import { TakeoverGuard } from '../../lib/reconciler/claims/takeover.js';
import { startAllocationServer } from '../../lib/reconciler/claims/endpoint.js';
import { ALLOWED_TTL_MS, Authorizer, DENIED_TTL_MS, TOKEN_TTL_MS } from '../../lib/reconciler/runtime/auth.js';
import type { Kube } from '../../lib/reconciler/runtime/kube.js';
import { ClaimError, claimWorld, releaseWorld } from '../../lib/client/claims.js';
import { callEndpoint } from '../../lib/client/allocation.js';
import { claimAcrossClusters, releaseClusterWorld } from '../../lib/client/clusterSet.js';
import { run } from '../../lib/cli/main.js';
import { FakeApi, NS, leadingClaimController, worldObj, type Obj } from './claimFakes.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anvil-alloc-'));
execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1', '-keyout', path.join(dir, 'tls.key'), '-out', path.join(dir, 'tls.crt')], { stdio: 'ignore' });
const cert = fs.readFileSync(path.join(dir, 'tls.crt'));
const key = fs.readFileSync(path.join(dir, 'tls.key'));

const WORLDS = 110;
let api: FakeApi;
let server: Server;
let url: string;
let leader = true;
const reviews = { token: 0, access: 0 };

const kubeconfigFor = (token?: string) => {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: 'https://127.0.0.1:1', skipTLSVerify: true }],
    users: [{ name: 'u', ...(token ? { token } : {}) }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  return kc;
};

beforeAll(async () => {
  api = new FakeApi();
  // The informer: every change reaches the cache and the controller.
  const { ctl } = leadingClaimController(api, Array.from({ length: WORLDS }, (_, i) => `w${String(i).padStart(3, '0')}`), () => leader);
  const fake = api.kube as unknown as Record<string, unknown>;
  fake.review = async (o: Obj) => {
    if (o.kind === 'TokenReview') {
      reviews.token++;
      const t = o.spec.token as string;
      return { ...o, status: ['alice', 'mallory'].includes(t) ? { authenticated: true, user: { username: t, groups: ['system:authenticated'] } } : { authenticated: false, error: 'invalid bearer token' } };
    }
    reviews.access++;
    return { ...o, status: { allowed: o.spec.user === 'alice' && ['create', 'delete'].includes(o.spec.resourceAttributes.verb) } };
  };
  const kube = api.kube as unknown as Kube;
  // Leading long enough: the takeover guard (test/unit/allocation-takeover.test.ts) is open.
  let t = 0;
  const takeover = new TakeoverGuard({ now: () => t, sleep: async (ms) => void (t += ms), listStamped: async () => [], log: () => undefined });
  takeover.begin(5_000);
  const allocations = new Allocations({ claims: ctl, kube, canWrite: () => leader, takeover, log: () => undefined, observe: () => undefined, cluster: 'unit' });
  server = await startAllocationServer({ port: 0, cert, key, allocations, auth: new Authorizer(kube), log: () => undefined });
  url = `https://localhost:${(server.address() as { port: number }).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  fs.rmSync(dir, { recursive: true, force: true });
});

/** A kubeconfig file whose user is "alice" (the endpoint never calls its server). */
const kubeconfigFile = () => {
  const file = path.join(dir, 'kubeconfig');
  fs.writeFileSync(file, ['apiVersion: v1', 'kind: Config', 'clusters: [{name: c, cluster: {server: "https://127.0.0.1:1", insecure-skip-tls-verify: true}}]', 'users: [{name: u, user: {token: alice}}]', 'contexts: [{name: x, context: {cluster: c, user: u}}]', 'current-context: x', ''].join('\n'));
  return file;
};

const allocated = () => [...api.objects.values()].filter((o) => o.kind === 'WorldInstance' && o.metadata.annotations?.['anvil.dev/allocation']);

describe('the allocation endpoint', () => {
  test('100 concurrent allocations: 100 distinct worlds, each stamped with its request id, its pool no longer its owner; reviews cached', async () => {
    const kc = kubeconfigFor('alice');
    const got = await Promise.all(Array.from({ length: 100 }, (_, i) => claimWorld({ kubeconfig: kc, namespace: NS, pool: 'p', allocationURL: url, ca: cert, requestId: `burst-${i}` })));
    expect(new Set(got.map((g) => g.world)).size).toBe(100);
    expect(got[0]).toMatchObject({ namespace: NS, claim: expect.stringMatching(/^p-[0-9a-f]{12}$/), endpoints: [], requestId: 'burst-0', cluster: 'unit' });
    for (const g of got) {
      const w = api.get('WorldInstance', g.world)!;
      expect(w.metadata.annotations['anvil.dev/allocation']).toBe(g.requestId);
      expect(w.metadata.labels['anvil.dev/claim']).toBe(g.claim);
      expect(w.metadata.ownerReferences).toEqual([]);
    }
    expect(reviews).toEqual({ token: 1, access: 1 });
  });

  test('a retried request id gets the same world, with no second write', async () => {
    const kc = kubeconfigFor('alice');
    const a = await claimWorld({ kubeconfig: kc, namespace: NS, pool: 'p', allocationURL: url, ca: cert, requestId: 'again' });
    const before = allocated().length;
    const b = await claimWorld({ kubeconfig: kc, namespace: NS, pool: 'p', allocationURL: url, ca: cert, requestId: 'again' });
    expect(b.world).toBe(a.world);
    expect(allocated()).toHaveLength(before);
  });

  test('no token: 401 Unauthenticated; a token without RBAC: 403 Forbidden; no world either way', async () => {
    const before = allocated().length;
    const none = claimWorld({ kubeconfig: kubeconfigFor(), namespace: NS, pool: 'p', allocationURL: url, ca: cert });
    await expect(none).rejects.toThrow(ClaimError);
    await expect(none).rejects.toMatchObject({ reason: 'Unauthenticated' });
    await expect(claimWorld({ kubeconfig: kubeconfigFor('mallory'), namespace: NS, pool: 'p', allocationURL: url, ca: cert })).rejects.toMatchObject({ reason: 'Forbidden' });
    expect(allocated()).toHaveLength(before);
  });

  test('a pool that does not exist: 404 PoolNotFound; an empty one: 429 PoolExhausted; a bad body: 400 Invalid', async () => {
    const kc = kubeconfigFor('alice');
    await expect(claimWorld({ kubeconfig: kc, namespace: NS, pool: 'nowhere', allocationURL: url, ca: cert })).rejects.toMatchObject({ reason: 'PoolNotFound' });
    const left = WORLDS - allocated().length;
    const rest = await Promise.all(Array.from({ length: left }, (_, i) => claimWorld({ kubeconfig: kc, namespace: NS, pool: 'p', allocationURL: url, ca: cert, requestId: `rest-${i}` })));
    expect(rest).toHaveLength(left);
    await expect(claimWorld({ kubeconfig: kc, namespace: NS, pool: 'p', allocationURL: url, ca: cert })).rejects.toMatchObject({ reason: 'PoolExhausted' });
    const bad = await callEndpoint({ url, ca: cert, method: 'POST', path: `v1alpha1/namespaces/${NS}/allocations`, authorization: 'Bearer alice', body: { pool: 'p', selector: { game: 'g' } }, timeoutMs: 5000 });
    expect(bad).toEqual({ kind: 'error', status: 400, reason: 'Invalid', message: 'requestId: a string of 1-253 letters, digits, "-", "_", "." or ":" is required; give exactly one of pool and selector' });
  });

  test('release by request id deletes the world; releasing it again is fine', async () => {
    const kc = kubeconfigFor('alice');
    const w = api.get('WorldInstance', allocated()[0]!.metadata.name)!;
    const id = w.metadata.annotations['anvil.dev/allocation'] as string;
    await releaseWorld({ kubeconfig: kc, namespace: NS, allocationURL: url, ca: cert, requestId: id });
    expect(api.get('WorldInstance', w.metadata.name)).toBeUndefined();
    await releaseWorld({ kubeconfig: kc, namespace: NS, allocationURL: url, ca: cert, requestId: id });
  });

  test('a standby answers 503 NotLeader, and the client asks again until the leader answers', async () => {
    leader = false;
    api.put(worldObj('late'));
    setTimeout(() => (leader = true), 300);
    const got = await claimWorld({ kubeconfig: kubeconfigFor('alice'), namespace: NS, pool: 'p', allocationURL: url, ca: cert, requestId: 'after-failover' });
    expect(got.world).toBe('late');
  });

  test('a cluster set whose cluster has an allocationURL claims through its endpoint (CA from allocationCA) and releases there', async () => {
    api.put(worldObj('for-the-set'));
    const kubeconfig = kubeconfigFile();
    const clusterSet = { clusters: [{ name: 'eu-1', kubeconfig, allocationURL: url, allocationCA: path.join(dir, 'tls.crt') }] };
    const got = await claimAcrossClusters({ clusterSet, namespace: NS, selector: { game: 'g' } });
    expect(got).toMatchObject({ world: 'for-the-set', cluster: 'eu-1', namespace: NS, requestId: expect.any(String), attempts: [{ cluster: 'eu-1', outcome: 'Bound' }] });
    expect(api.get('WorldInstance', got.world)!.metadata.annotations['anvil.dev/allocation']).toBe(got.requestId);
    await releaseClusterWorld(clusterSet, got);
    expect(api.get('WorldInstance', got.world)).toBeUndefined();
  });

  test("the README's commands: anvil allocate --allocation-url … --request-id, then anvil release by that id", async () => {
    api.put(worldObj('for-the-cli'));
    const flags = ['--allocation-url', url, '--ca', path.join(dir, 'tls.crt'), '--kubeconfig', kubeconfigFile()];
    const out: string[] = [];
    const io = { out: (t: string) => void out.push(t), err: (t: string) => void out.push(t) };
    expect(await run(['allocate', '--pool', 'p', '-n', NS, '--request-id', 'match-42', ...flags], io)).toBe(0);
    expect(out.join('')).toContain('world for-the-cli');
    expect(api.get('WorldInstance', 'for-the-cli')!.metadata.annotations['anvil.dev/allocation']).toBe('match-42');
    expect(await run(['release', '-n', NS, '--request-id', 'match-42', ...flags], io)).toBe(0);
    expect(api.get('WorldInstance', 'for-the-cli')).toBeUndefined();
  });
});

describe('the review cache of the allocation endpoint', () => {
  // A clock of the test's own and reviews counted: answers last as long as kube-apiserver's
  // webhook caches keep theirs by default, a refusal less long than an allowance.
  function authorizer(allowed: () => boolean) {
    let now = 0;
    const asked = { token: 0, access: 0 };
    const kube = {
      review: async (o: Obj) => {
        if (o.kind === 'TokenReview') return (asked.token++, { status: { authenticated: true, user: { username: 'system:serviceaccount:arena:mm' } } });
        return (asked.access++, { status: { allowed: allowed() } });
      },
    } as unknown as Kube;
    return { auth: new Authorizer(kube, () => now), asked, advance: (ms: number) => (now += ms) };
  }
  const check = (a: Authorizer) => a.check('Bearer t', 'create', 'worldclaims', NS);

  test('an allowed caller is reviewed once per token TTL and access TTL, not per request', async () => {
    const { auth, asked, advance } = authorizer(() => true);
    await Promise.all([check(auth), check(auth), check(auth)]);
    expect(asked).toEqual({ token: 1, access: 1 });
    advance(TOKEN_TTL_MS - 1);
    await expect(check(auth)).resolves.toMatchObject({ ok: true });
    expect(asked).toEqual({ token: 1, access: 1 });
    advance(1);
    await check(auth);
    expect(asked).toEqual({ token: 2, access: 1 });
    advance(ALLOWED_TTL_MS - TOKEN_TTL_MS);
    await check(auth);
    expect(asked.access).toBe(2);
  });

  test('a refusal is asked again after the denied TTL: a RoleBinding granted meanwhile takes effect', async () => {
    let granted = false;
    const { auth, advance } = authorizer(() => granted);
    await expect(check(auth)).resolves.toMatchObject({ ok: false, status: 403 });
    granted = true;
    advance(DENIED_TTL_MS - 1);
    await expect(check(auth)).resolves.toMatchObject({ ok: false, status: 403 });
    advance(1);
    await expect(check(auth)).resolves.toMatchObject({ ok: true });
  });
});
