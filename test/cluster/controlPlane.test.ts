// Smoke test of the integration cluster started by ./globalSetup.ts: the real
// kube-apiserver v1.36.3 with RBAC and Pod Security admission, plus controller manager,
// scheduler and kwok so Deployments get Ready pods.
import * as fs from 'node:fs';
import * as https from 'node:https';
import * as os from 'node:os';
import * as path from 'node:path';
import { clusterInfo, kubectl, kubectlOk, tokenKubeconfig } from './kubectl.js';

const suffix = Math.random().toString(36).slice(2, 8);
const rbacNs = `smoke-rbac-${suffix}`;
const psaNs = `smoke-psa-${suffix}`;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'anvil-smoke-'));

const TIMEOUT = 180_000; // per test/hook; the config's project-level testTimeout is ignored by Jest

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function eventually(what: string, check: () => Promise<boolean>, timeoutMs = 90_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000}s waiting for ${what}`);
    await sleep(500);
  }
}

/** The controller manager creates each namespace's "default" ServiceAccount. */
async function namespaceReady(ns: string): Promise<void> {
  await eventually(`serviceaccount ${ns}/default`, async () => (await kubectl(['get', 'sa', 'default', '-n', ns])).code === 0);
}

/** An unauthenticated GET (kubectl would prompt for a password without credentials). */
async function anonymousGet(urlPath: string): Promise<{ status: number; body: string }> {
  const { server, ca } = await clusterInfo();
  return new Promise((resolve, reject) => {
    https
      .get(`${server}${urlPath}`, { ca }, (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}

const restrictedPodSpec = `
      securityContext:
        runAsNonRoot: true
        runAsUser: 65532
        seccompProfile: {type: RuntimeDefault}
      containers:
      - name: app
        image: registry.k8s.io/pause:3.10
        securityContext:
          allowPrivilegeEscalation: false
          capabilities: {drop: [ALL]}
        resources:
          requests: {cpu: 10m, memory: 16Mi}`;

afterAll(async () => {
  fs.rmSync(tmp, { recursive: true, force: true });
  await kubectl(['delete', 'namespace', rbacNs, psaNs, '--ignore-not-found', '--wait=false']);
}, TIMEOUT);

test('the API server is Kubernetes v1.36.3', async () => {
  const out = JSON.parse(await kubectlOk(['version', '-o', 'json']));
  expect(out.serverVersion.gitVersion).toBe('v1.36.3');
  expect(out.serverVersion.major).toBe('1');
  expect(out.serverVersion.minor).toBe('36');
}, TIMEOUT);

test('RBAC is enforced: anonymous and a fresh ServiceAccount cannot list secrets', async () => {
  const anon = await anonymousGet('/api/v1/secrets');
  expect(anon.status).toBe(403);
  expect(JSON.parse(anon.body).message).toMatch(/User "system:anonymous" cannot list resource "secrets"/);

  await kubectlOk(['create', 'namespace', rbacNs]);
  await kubectlOk(['create', 'serviceaccount', 'probe', '-n', rbacNs]);
  const token = (await kubectlOk(['create', 'token', 'probe', '-n', rbacNs, '--duration=10m'])).trim();
  expect(token.split('.')).toHaveLength(3); // a JWT from the TokenRequest API

  const sa = await tokenKubeconfig('probe', token);
  const who = await kubectl(['auth', 'whoami', '-o', 'jsonpath={.status.userInfo.username}'], { kubeconfig: sa });
  expect(who.stdout).toBe(`system:serviceaccount:${rbacNs}:probe`);
  const s = await kubectl(['get', 'secrets', '--all-namespaces'], { kubeconfig: sa });
  expect(s.code).not.toBe(0);
  expect(s.stderr).toMatch(/forbidden.*system:serviceaccount:.*:probe.*cannot list resource "secrets"/is);
  const can = await kubectl(['auth', 'can-i', 'list', 'secrets', '--all-namespaces'], { kubeconfig: sa });
  expect(can.stdout.trim()).toBe('no');
}, TIMEOUT);

describe('a namespace enforcing the restricted Pod Security level', () => {
  beforeAll(async () => {
    await kubectlOk(['create', 'namespace', psaNs]);
    await kubectlOk(['label', 'namespace', psaNs, 'pod-security.kubernetes.io/enforce=restricted']);
    await namespaceReady(psaNs);
  }, TIMEOUT);

  test('a restricted-compliant Deployment becomes Available with Ready pods on kwok nodes', async () => {
    const apply = await kubectl(['apply', '-n', psaNs, '-f', '-'], {
      input: `apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:${restrictedPodSpec}
`,
    });
    expect(apply.stderr).not.toMatch(/violate/i);
    expect(apply.code).toBe(0);
    await kubectlOk(['wait', '-n', psaNs, '--for=condition=Available', 'deployment/web', '--timeout=120s'], {
      timeoutMs: 130_000,
    });
    const pods = JSON.parse(await kubectlOk(['get', 'pods', '-n', psaNs, '-l', 'app=web', '-o', 'json'])) as {
      items: { spec: { nodeName?: string }; status: { conditions?: { type: string; status: string }[] } }[];
    };
    expect(pods.items).toHaveLength(2);
    for (const pod of pods.items) {
      expect(pod.spec.nodeName).toMatch(/^kwok-node-/);
      expect(pod.status.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
    }
  }, TIMEOUT);

  test('a privileged pod is rejected', async () => {
    const r = await kubectl(['apply', '-n', psaNs, '-f', '-'], {
      input: `apiVersion: v1
kind: Pod
metadata: {name: privileged}
spec:
  containers:
  - name: app
    image: registry.k8s.io/pause:3.10
    securityContext: {privileged: true}
`,
    });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/violates PodSecurity "restricted:latest".*privileged/s);
    expect((await kubectl(['get', 'pod', 'privileged', '-n', psaNs])).code).not.toBe(0);
  }, TIMEOUT);

  test('deleting the Deployment garbage-collects its ReplicaSet and pods', async () => {
    await kubectlOk(['delete', 'deployment', 'web', '-n', psaNs, '--cascade=background']);
    await eventually('ReplicaSets and pods of app=web to be gone', async () => {
      const out = await kubectlOk(['get', 'replicasets,pods', '-n', psaNs, '-l', 'app=web', '-o', 'name']);
      return out.trim() === '';
    });
  }, TIMEOUT);

  test('deleting the namespace completes', async () => {
    await kubectlOk(['delete', 'namespace', psaNs, '--wait=false']);
    await eventually(`namespace ${psaNs} to be deleted`, async () => (await kubectl(['get', 'namespace', psaNs])).code !== 0);
  }, TIMEOUT);
});
