// The allocation endpoint without a TLS Secret (issue 20; lib/reconciler/claims/endpointTls.ts,
// runtime/selfSigned.ts): a self-signed certificate for the Service's names, made once and kept
// in a Secret, the same for two replicas that start together, its CA published in the
// ConfigMap anvil-allocator-ca. Real HTTPS with the generated certificate; claimWorld() and
// `anvil allocate` given no CA read that ConfigMap through their kubeconfig (an in-memory API
// server over plain HTTP here) and trust it. The real control plane's version is in
// test/cluster/allocation-endpoint.test.ts ("no TLS Secret").
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { X509Certificate } from 'node:crypto';
import type { Server } from 'node:https';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { Allocations } from '../../lib/reconciler/claims/allocations.js';
import { startAllocationServer } from '../../lib/reconciler/claims/endpoint.js';
import { endpointNames, selfSignedEndpointCert } from '../../lib/reconciler/claims/endpointTls.js';
import { TakeoverGuard } from '../../lib/reconciler/claims/takeover.js';
import { makeServingCert } from '../../lib/reconciler/runtime/selfSigned.js';
import { Authorizer } from '../../lib/reconciler/runtime/auth.js';
import type { Kube } from '../../lib/reconciler/runtime/kube.js';
import { claimWorld, releaseWorld } from '../../lib/client/claims.js';
import { callEndpoint, reconcilerNamespaceOf } from '../../lib/client/allocation.js';
import { run } from '../../lib/cli/main.js';
import { FakeApi, NS, leadingClaimController, type Obj } from './claimFakes.js';

type Data = Obj & { data?: any; type?: string };

/** Secrets and ConfigMaps by namespace/name, with create-once (409) and resourceVersion checks: what endpointTls.ts writes through. */
class CoreStore {
  readonly objects = new Map<string, Data>();
  private rv = 1;
  creates = 0;
  private k = (kind: string | undefined, ns: string | undefined, name: string | undefined) => `${kind}/${ns}/${name}`;
  readonly kube = {
    read: async (_v: string, kind: string, name: string, ns: string) => structuredClone(this.objects.get(this.k(kind, ns, name))),
    track: async <T>(_verb: string, f: () => Promise<T>) => f(),
    objects: {
      create: async (o: Data) => {
        await new Promise((r) => setImmediate(r)); // two replicas' creates interleave
        const key = this.k(o.kind, o.metadata.namespace, o.metadata.name);
        this.creates++;
        if (this.objects.has(key)) throw Object.assign(new Error('AlreadyExists'), { code: 409 });
        this.objects.set(key, { ...structuredClone(o), metadata: { ...o.metadata, resourceVersion: String(++this.rv) } });
        return o;
      },
      patch: async (o: Data) => {
        const key = this.k(o.kind, o.metadata.namespace, o.metadata.name);
        const cur = this.objects.get(key)!;
        if (o.metadata.resourceVersion !== cur.metadata.resourceVersion) throw Object.assign(new Error('Conflict'), { code: 409 });
        this.objects.set(key, { ...cur, ...structuredClone(o), metadata: { ...cur.metadata, resourceVersion: String(++this.rv) } });
        return o;
      },
    },
  };
}

const SYSTEM = 'anvil-system';
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anvil-alloc-ss-'));
let store: CoreStore;
let server: Server;
let apiServer: http.Server;
let url: string;
let kubeconfigFile: string;

/** A kubeconfig whose API server (plain HTTP) serves what `store` holds: the CA's ConfigMap, for the client. */
async function fakeApiServer(): Promise<string> {
  apiServer = http.createServer((req, res) => {
    const m = /^\/api\/v1\/namespaces\/([^/]+)\/configmaps\/([^/?]+)/.exec(req.url ?? '');
    const o = m && store.objects.get(`ConfigMap/${m[1]}/${m[2]}`);
    res.writeHead(o ? 200 : 404, { 'content-type': 'application/json' }).end(JSON.stringify(o ?? { kind: 'Status', code: 404, reason: 'NotFound' }));
  });
  await new Promise<void>((r) => apiServer.listen(0, '127.0.0.1', r));
  const file = path.join(dir, 'kubeconfig');
  const server = `http://127.0.0.1:${(apiServer.address() as { port: number }).port}`;
  fs.writeFileSync(file, ['apiVersion: v1', 'kind: Config', `clusters: [{name: c, cluster: {server: "${server}", insecure-skip-tls-verify: true}}]`, 'users: [{name: u, user: {token: alice}}]', 'contexts: [{name: x, context: {cluster: c, user: u}}]', 'current-context: x', ''].join('\n'));
  return file;
}

beforeAll(async () => {
  store = new CoreStore();
  kubeconfigFile = await fakeApiServer();
  // Two replicas starting together: one certificate.
  const log = () => undefined;
  const [a, b] = await Promise.all([selfSignedEndpointCert(store.kube as unknown as Kube, SYSTEM, log), selfSignedEndpointCert(store.kube as unknown as Kube, SYSTEM, log)]);
  expect(b).toEqual(a);
  const api = new FakeApi();
  const { ctl } = leadingClaimController(api, ['s0', 's1', 's2']);
  (api.kube as unknown as Record<string, unknown>).review = async (o: Obj) =>
    o.kind === 'TokenReview' ? { ...o, status: { authenticated: true, user: { username: o.spec.token, groups: [] } } } : { ...o, status: { allowed: true } };
  let t = 0;
  const takeover = new TakeoverGuard({ now: () => t, sleep: async (ms) => void (t += ms), listStamped: async () => [], log });
  takeover.begin(5_000);
  const allocations = new Allocations({ claims: ctl, kube: api.kube as unknown as Kube, canWrite: () => true, takeover, log, observe: () => undefined });
  server = await startAllocationServer({ port: 0, cert: a.cert, key: a.key, allocations, auth: new Authorizer(api.kube as unknown as Kube), log });
  url = `https://localhost:${(server.address() as { port: number }).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  apiServer.closeAllConnections();
  await new Promise((r) => apiServer.close(r));
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('a self-signed certificate when no TLS Secret is given', () => {
  test("made for the Service's names and localhost, signed by a CA that signs nothing else; kept in the Secret, its CA in the ConfigMap", async () => {
    const secret = store.objects.get(`Secret/${SYSTEM}/anvil-allocator-selfsigned`)!;
    expect(secret).toMatchObject({ type: 'kubernetes.io/tls', metadata: { labels: { 'app.kubernetes.io/managed-by': 'anvil' } } });
    const pem = (k: string) => Buffer.from(secret.data[k], 'base64').toString('utf8');
    const leaf = new X509Certificate(pem('tls.crt'));
    const ca = new X509Certificate(pem('ca.crt'));
    expect(leaf.subjectAltName).toBe('DNS:anvil-allocator, DNS:anvil-allocator.anvil-system, DNS:anvil-allocator.anvil-system.svc, DNS:anvil-allocator.anvil-system.svc.cluster.local, DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1');
    expect(leaf.checkIssued(ca) && leaf.verify(ca.publicKey)).toBe(true);
    expect(leaf.ca).toBe(false);
    expect(ca.ca).toBe(true);
    expect(leaf.checkHost('anvil-allocator.anvil-system.svc')).toBe('anvil-allocator.anvil-system.svc');
    expect(store.objects.get(`ConfigMap/${SYSTEM}/anvil-allocator-ca`)!.data).toEqual({ 'ca.crt': pem('ca.crt') });
    expect(endpointNames('games').dnsNames).toContain('anvil-allocator.games.svc.cluster.local');
  });

  test('a replica started later serves the stored certificate; the Secret is created once', async () => {
    const creates = store.creates;
    const again = await selfSignedEndpointCert(store.kube as unknown as Kube, SYSTEM, () => undefined);
    expect(Buffer.from(store.objects.get(`Secret/${SYSTEM}/anvil-allocator-selfsigned`)!.data['tls.crt'], 'base64').toString()).toBe(again.cert);
    expect(store.creates).toBe(creates);
  });

  test('a Secret of that name that Anvil did not make is not used, and the error names it and the fix', async () => {
    const other = new CoreStore();
    await other.kube.objects.create({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'anvil-allocator-selfsigned', namespace: SYSTEM }, data: {} });
    await expect(selfSignedEndpointCert(other.kube as unknown as Kube, SYSTEM, () => undefined)).rejects.toThrow('Secret anvil-system/anvil-allocator-selfsigned exists and was not made by Anvil (no label app.kubernetes.io/managed-by=anvil): Anvil will not use it; delete it, or give the endpoint a certificate with the Secret anvil-allocator-tls');
  });

  test('over real HTTPS: a client given no CA is refused; claimWorld() given none trusts the published CA', async () => {
    const untrusted = await callEndpoint({ url, method: 'POST', path: `v1alpha1/namespaces/${NS}/allocations`, authorization: 'Bearer alice', body: { requestId: 'r', pool: 'p' }, timeoutMs: 5000 });
    expect(untrusted).toMatchObject({ kind: 'error', status: 0, message: expect.stringMatching(/certificate/) });
    const got = await claimWorld({ kubeconfig: kubeconfigFile, namespace: NS, pool: 'p', allocationURL: url, requestId: 'trusting' });
    expect(got.world).toMatch(/^s\d$/);
    await releaseWorld({ kubeconfig: kubeconfigFile, namespace: NS, allocationURL: url, requestId: 'trusting' });
  });

  test("the README's commands with no --ca: anvil allocate and anvil release through the published CA", async () => {
    const out: string[] = [];
    const io = { out: (t: string) => void out.push(t), err: (t: string) => void out.push(t) };
    expect(await run(['allocate', '--pool', 'p', '-n', NS, '--request-id', 'match-7', '--allocation-url', url, '--kubeconfig', kubeconfigFile], io)).toBe(0);
    expect(out.join('')).toMatch(/world s\d/);
    expect(await run(['release', '-n', NS, '--request-id', 'match-7', '--allocation-url', url, '--kubeconfig', kubeconfigFile], io)).toBe(0);
  });

  test("the CA's namespace from the endpoint URL: the Service's DNS names, else anvil-system", () => {
    expect(reconcilerNamespaceOf('https://anvil-allocator.games.svc:8443')).toBe('games');
    expect(reconcilerNamespaceOf('https://anvil-allocator.anvil-system:8443')).toBe('anvil-system');
    expect(reconcilerNamespaceOf('https://localhost:8443')).toBe('anvil-system');
  });

  test('makeServingCert: a certificate node serves and a client verifies by name', async () => {
    const c = await makeServingCert({ commonName: 'x', dnsNames: ['x.example'], validDays: 1 });
    const leaf = new X509Certificate(c.cert);
    expect(leaf.checkHost('x.example')).toBe('x.example');
    expect(leaf.checkHost('y.example')).toBeUndefined();
    expect(c.key).toMatch(/^-----BEGIN PRIVATE KEY-----/);
  });
});
