// The allocation endpoint (issue 20) on the local control plane: the reconciler as its own
// process under dist's own RBAC (its ClusterRole, nothing more: TokenReview and
// SubjectAccessReview included), serving HTTPS with a certificate made by openssl, and
// claimWorld() as the matchmaker's client with a ServiceAccount token bound to dist's
// anvil-matchmaker Role. 100 concurrent allocations get 100 distinct worlds; no token is
// 401 and a token without the Role 403, with no world; a retried request id gets the same
// world; the leader killed (SIGKILL) in the middle of a burst, a standby takes over: no world
// is given twice, and every request retried with its id against the standby is answered.
// The two replicas run as the Deployment does when no Secret anvil-allocator-tls exists (the
// certificate files absent): a self-signed certificate, the same on both (Secret
// anvil-allocator-selfsigned), its CA read from the ConfigMap anvil-allocator-ca by the
// matchmaker's own client (any authenticated user may), and the standby, once leading, waits
// out its takeover window and reads the allocated worlds from the API server before it
// allocates new request ids (lib/reconciler/claims/takeover.ts). No timing is asserted.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { KubeConfig } from '@kubernetes/client-node';
import { parseAllDocuments, stringify } from 'yaml';
import { ClaimError, claimWorld, releaseWorld } from '../../lib/client/claims.js';
import * as tls from 'node:tls';
import { callEndpoint, endpointTrust, type EndpointResult } from '../../lib/client/allocation.js';
import { kubectl, kubectlOk } from './kubectl.js';
import { nodeManifest } from './controlPlane.js';
import { applyGames, createPool, distMatchmakerRole, waitPoolReady } from './poolHarness.js';
import { ROOT, createNamespace, eventually, getJson, listJson, serviceAccountKubeconfig, startReconciler, type ReconcilerProcess } from './reconcilerHarness.js';

const suffix = Math.random().toString(36).slice(2, 8);
const ns = `alloc-ep-${suffix}`;
const GAME = 'roguelike';
const TIMEOUT = 600_000;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anvil-alloc-ep-'));
let ca: Buffer;
let reconcilerKubeconfig: string;
let matchmaker: string;
let nobody: string;
const procs: ReconcilerProcess[] = [];
const EXTRA_NODES = [200, 201, 202, 203, 204, 205];

const allocationUrl = (p: ReconcilerProcess) => `https://localhost:${/serving the allocation endpoint \(HTTPS\) on :(\d+)/.exec(p.log())![1]}`;

/** `selfSigned`: the certificate files absent, as in the Deployment without the Secret anvil-allocator-tls. */
async function start(identity: string, leaderElect: boolean, selfSigned = false): Promise<ReconcilerProcess> {
  const tlsDir = selfSigned ? path.join(dir, 'no-secret') : dir;
  const args = ['--allocation-port', '0', '--allocation-tls-cert', path.join(tlsDir, 'tls.crt'), '--allocation-tls-key', path.join(tlsDir, 'tls.key'), ...(leaderElect ? ['--leader-elect', '--lease-namespace', 'anvil-system'] : [])];
  const p = await startReconciler({ identity, kubeconfig: reconcilerKubeconfig, args });
  procs.push(p);
  await eventually(`${identity} to serve the allocation endpoint`, async () => /serving the allocation endpoint/.test(p.log()));
  return p;
}

/** Every world of the namespace given to an allocation: request id -> world names. */
async function allocatedWorlds(): Promise<Map<string, string[]>> {
  const m = new Map<string, string[]>();
  for (const w of await listJson('worldinstances', ns)) {
    const id = w.metadata.annotations?.['anvil.dev/allocation'];
    if (id && !w.metadata.deletionTimestamp) m.set(id, [...(m.get(id) ?? []), w.metadata.name]);
  }
  return m;
}

beforeAll(async () => {
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1', '-keyout', path.join(dir, 'tls.key'), '-out', path.join(dir, 'tls.crt')], { stdio: 'ignore' });
  ca = fs.readFileSync(path.join(dir, 'tls.crt'));
  await applyGames();
  await createNamespace(ns);
  // The reconciler's RBAC exactly as synthesized (its Deployment and Services left out: no image here).
  const docs = parseAllDocuments(fs.readFileSync(path.join(ROOT, 'dist/0003-reconciler.k8s.yaml'), 'utf8'))
    .map((d) => d.toJSON())
    .filter((o) => o && ['ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding', 'ServiceAccount'].includes(o.kind));
  await kubectlOk(['apply', '-f', '-'], { input: docs.map((d) => stringify(d)).join('---\n') });
  reconcilerKubeconfig = await serviceAccountKubeconfig('anvil-system', 'anvil-reconciler');
  // The matchmaker: dist's anvil-matchmaker Role. Nobody: a ServiceAccount with no Role.
  await kubectlOk(['create', 'serviceaccount', 'matchmaker', '-n', ns]);
  await kubectlOk(['create', 'serviceaccount', 'nobody', '-n', ns]);
  await kubectlOk(['apply', '-f', '-'], { input: JSON.stringify(distMatchmakerRole(ns)) });
  await kubectlOk(['create', 'rolebinding', 'matchmaker', '-n', ns, '--role=anvil-matchmaker', `--serviceaccount=${ns}:matchmaker`]);
  matchmaker = await serviceAccountKubeconfig(ns, 'matchmaker');
  nobody = await serviceAccountKubeconfig(ns, 'nobody');
  // Room for 150 worlds of about 4 pods each beside the other tests' (a kwok node holds 110 pods).
  await kubectlOk(['apply', '-f', '-'], { input: EXTRA_NODES.map((i) => nodeManifest(i)).join('---\n') });
  await createPool(ns, 'warm', { gameRef: { name: GAME }, buffer: { ready: 100 }, maxWorlds: 150 });
}, TIMEOUT);

afterAll(async () => {
  for (const p of procs) if (p.child.exitCode === null) await p.stop();
  await kubectl(['delete', 'namespace', ns, '--wait=false']);
  await kubectl(['delete', 'node', ...EXTRA_NODES.map((i) => `kwok-node-${i}`), '--wait=false']);
  await kubectl(['delete', 'secret', 'anvil-allocator-selfsigned', '-n', 'anvil-system', '--ignore-not-found']);
  await kubectl(['delete', 'configmap', 'anvil-allocator-ca', '-n', 'anvil-system', '--ignore-not-found']);
  fs.rmSync(dir, { recursive: true, force: true });
}, TIMEOUT);

describe('the allocation endpoint, one reconciler', () => {
  let rec: ReconcilerProcess;
  beforeAll(async () => {
    rec = await start(`alloc-ep-${suffix}`, false);
    await waitPoolReady(ns, 'warm', 100, 480);
  }, TIMEOUT);
  afterAll(async () => {
    await rec.stop();
  }, TIMEOUT);

  test('100 concurrent allocations: 100 distinct worlds, each stamped with its request id in the cluster', async () => {
    const got = await Promise.all(Array.from({ length: 100 }, (_, i) => claimWorld({ kubeconfig: matchmaker, namespace: ns, pool: 'warm', allocationURL: allocationUrl(rec), ca, requestId: `burst-${suffix}-${i}` })));
    expect(new Set(got.map((g) => g.world)).size).toBe(100);
    const stamped = await allocatedWorlds();
    for (const g of got) expect(stamped.get(g.requestId!)).toEqual([g.world]);
    // Endpoints are the world's (roguelike's root module faces the players).
    expect(got[0]!.endpoints).toEqual([expect.objectContaining({ module: 'rl-runtime' })]);
  }, TIMEOUT);

  test('no token: 401; a token without the RBAC: 403; no world given', async () => {
    const before = await allocatedWorlds();
    const anonymous = new KubeConfig();
    anonymous.loadFromFile(matchmaker);
    anonymous.users = anonymous.users.map((u) => ({ name: u.name }));
    await expect(claimWorld({ kubeconfig: anonymous, namespace: ns, pool: 'warm', allocationURL: allocationUrl(rec), ca, requestId: `anon-${suffix}` })).rejects.toMatchObject({ reason: 'Unauthenticated' });
    const forbidden = claimWorld({ kubeconfig: nobody, namespace: ns, pool: 'warm', allocationURL: allocationUrl(rec), ca, requestId: `nobody-${suffix}` });
    await expect(forbidden).rejects.toThrow(ClaimError);
    await expect(forbidden).rejects.toMatchObject({ reason: 'Forbidden' });
    expect((await allocatedWorlds()).size).toBe(before.size);
  }, TIMEOUT);

  test('the same request id twice: the same world; released by its id, the world goes', async () => {
    await waitPoolReady(ns, 'warm', 50, 480); // 150 maxWorlds - 100 claimed
    const a = await claimWorld({ kubeconfig: matchmaker, namespace: ns, pool: 'warm', allocationURL: allocationUrl(rec), ca, requestId: `twice-${suffix}` });
    const b = await claimWorld({ kubeconfig: matchmaker, namespace: ns, pool: 'warm', allocationURL: allocationUrl(rec), ca, requestId: `twice-${suffix}` });
    expect(b.world).toBe(a.world);
    expect((await allocatedWorlds()).get(`twice-${suffix}`)).toEqual([a.world]);
    await releaseWorld({ kubeconfig: matchmaker, namespace: ns, allocationURL: allocationUrl(rec), ca, requestId: `twice-${suffix}` });
    await eventually(`world ${a.world} deleted`, async () => ((await getJson(['worldinstance', a.world, '-n', ns])) === undefined ? true : undefined));
  }, TIMEOUT);
});

/** The fingerprint of the certificate an endpoint serves (whoever signed it). */
function servedFingerprint(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const socket = tls.connect({ host: u.hostname, port: Number(u.port), rejectUnauthorized: false }, () => {
      resolve(socket.getPeerCertificate().fingerprint256);
      socket.end();
    });
    socket.on('error', reject);
  });
}

describe('the allocation endpoint, two leader-elected replicas, no TLS Secret', () => {
  test('the leader killed (SIGKILL) mid-burst: no world given twice; every request id retried against the standby is answered, with the world it was given', async () => {
    const BURST = 40;
    // Room for the burst: the claimed worlds of the first tests are released first.
    const given = [...(await allocatedWorlds()).values()].flat();
    if (given.length) await kubectlOk(['delete', 'worldinstance', ...given, '-n', ns, '--wait=false']);
    await kubectl(['delete', 'secret', 'anvil-allocator-selfsigned', '-n', 'anvil-system', '--ignore-not-found']);
    const leader = await start(`alloc-ep-a-${suffix}`, true, true);
    await eventually('the first replica leads', async () => ((await getJson(['lease', 'anvil-reconciler', '-n', 'anvil-system']))?.spec?.holderIdentity === leader.identity ? true : undefined));
    const standby = await start(`alloc-ep-b-${suffix}`, true, true);
    // One self-signed certificate, served by both; its CA as the matchmaker's client finds it (the ConfigMap, no --ca).
    expect(await servedFingerprint(allocationUrl(standby))).toBe(await servedFingerprint(allocationUrl(leader)));
    const mm = new KubeConfig();
    mm.loadFromFile(matchmaker);
    const published = await endpointTrust(mm, allocationUrl(leader));
    expect(published).toEqual(expect.arrayContaining([(await getJson(['configmap', 'anvil-allocator-ca', '-n', 'anvil-system']))?.data?.['ca.crt']]));
    await kubectlOk(['patch', 'worldpool', 'warm', '-n', ns, '--type', 'merge', '-p', JSON.stringify({ spec: { buffer: { ready: BURST } } })]);
    await waitPoolReady(ns, 'warm', BURST, 480);
    const ids = Array.from({ length: BURST }, (_, i) => `failover-${suffix}-${i}`);
    const post = (p: ReconcilerProcess, requestId: string): Promise<EndpointResult> =>
      callEndpoint({ url: allocationUrl(p), ...(published ? { ca: published } : {}), method: 'POST', path: `v1alpha1/namespaces/${ns}/allocations`, authorization: `Bearer ${tokenOf(matchmaker)}`, body: { requestId, pool: 'warm' }, timeoutMs: 30_000 });
    // The burst; the leader is killed once the first answers come back.
    const first: Promise<EndpointResult>[] = [];
    for (const id of ids) first.push(post(leader, id));
    await Promise.race(first);
    await leader.kill9();
    const before = await Promise.all(first);
    const answered = new Map(before.flatMap((r, i) => (r.kind === 'reply' ? [[ids[i]!, r.reply.world] as const] : [])));
    process.stderr.write(`[allocation-endpoint] ${answered.size}/${BURST} answered before the kill\n`);
    // Every request id again, against the standby (NotLeader until it takes the lease over).
    const retried = await Promise.all(
      ids.map((id) =>
        eventually(`request ${id} answered by the standby`, async () => {
          const r = await post(standby, id);
          return r.kind === 'reply' ? r.reply.world : undefined;
        }, 180_000),
      ),
    );
    for (const [i, id] of ids.entries()) if (answered.has(id)) expect(retried[i]).toBe(answered.get(id));
    expect(new Set(retried).size).toBe(BURST);
    // The cluster: each request id on exactly one world.
    const stamped = await allocatedWorlds();
    for (const [i, id] of ids.entries()) expect(stamped.get(id)).toEqual([retried[i]]);
    // The standby settles its takeover (claims/takeover.ts) a settle window after it leads; the
    // retried ids may all have been answered before that, from the stamps the old leader's
    // commits left. A new id (below) waits for it; the log line comes when it settles.
    await eventually('the standby settles its takeover', async () => /takeover settled: \d+ allocated worlds read from the API server/.test(standby.log()));
    // A client given no CA at all: claimWorld() trusts the published one.
    const more = await claimWorld({ kubeconfig: matchmaker, namespace: ns, pool: 'warm', allocationURL: allocationUrl(standby), requestId: `no-ca-${suffix}`, timeoutSeconds: 240 });
    expect(retried).not.toContain(more.world);
    await standby.stop();
  }, TIMEOUT);
});

function tokenOf(kubeconfig: string): string {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  return kc.getCurrentUser()!.token!;
}
