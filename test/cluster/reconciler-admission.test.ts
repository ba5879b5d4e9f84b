// Issue 19, item 7: the ValidatingAdmissionPolicy of dist/0003-reconciler.k8s.yaml keeps the
// reconciler's ServiceAccount (whatever its ClusterRole allows) to anvil-system and the
// namespaces labelled anvil.dev/worlds=true; reports (Events, Anvil status) stay allowed.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';
import { kubectl, kubectlOk } from './kubectl.js';
import { ROOT, applyCrds, createNamespace, eventually, serviceAccountKubeconfig } from './reconcilerHarness.js';

const TIMEOUT = 180_000;
const WORLDS_NS = `adm-w-${Math.random().toString(36).slice(2, 7)}`;
const OTHER_NS = `adm-o-${Math.random().toString(36).slice(2, 7)}`;
let sa: string;
const docs = parseAllDocuments(fs.readFileSync(path.join(ROOT, 'dist/0003-reconciler.k8s.yaml'), 'utf8'))
  .map((d) => d.toJSON())
  .filter((o) => o && o.kind !== 'Deployment');
const policies = docs.filter((d) => d.kind.startsWith('ValidatingAdmissionPolicy'));

beforeAll(async () => {
  await applyCrds();
  await createNamespace(WORLDS_NS);
  await createNamespace(OTHER_NS, { forWorlds: false });
  expect(policies.map((d) => d.kind).sort()).toEqual(['ValidatingAdmissionPolicy', 'ValidatingAdmissionPolicyBinding']);
  await kubectlOk(['apply', '-f', '-'], { input: docs.map((d) => stringify(d)).join('---\n') });
  sa = await serviceAccountKubeconfig('anvil-system', 'anvil-reconciler');
}, TIMEOUT);

afterAll(async () => {
  // The policy stays out of the other test files' way.
  await kubectl(['delete', ...policies.flatMap((p) => [`${p.kind.toLowerCase()}/${p.metadata.name}`]), '--wait=false']);
  await kubectl(['delete', 'namespace', WORLDS_NS, OTHER_NS, '--wait=false']);
}, TIMEOUT);

const deployment = (ns: string) => ['create', 'deployment', 'intruder', '-n', ns, '--image=example/x:1', '--dry-run=server'];

test('its ServiceAccount cannot create a Deployment in kube-system (RBAC would let it), but can in anvil-system and a worlds namespace', async () => {
  // RBAC alone allows it: the ClusterRole covers Deployments in every namespace.
  expect((await kubectlOk(['auth', 'can-i', 'create', 'deployments', '-n', 'kube-system'], { kubeconfig: sa })).trim()).toBe('yes');
  // The policy takes effect once the API server has loaded it: wait for the denial.
  const denied = await eventually('the policy denies kube-system', async () => {
    const r = await kubectl(deployment('kube-system'), { kubeconfig: sa });
    return r.code !== 0 ? r : undefined;
  });
  expect(denied.stderr).toMatch(/ValidatingAdmissionPolicy 'anvil-reconciler-namespaces'.*denied request/);
  expect(denied.stderr).toContain('kube-system is not');
  expect((await kubectl(deployment(OTHER_NS), { kubeconfig: sa })).code).not.toBe(0);
  expect((await kubectl(deployment('anvil-system'), { kubeconfig: sa })).code).toBe(0);
  expect((await kubectl(deployment(WORLDS_NS), { kubeconfig: sa })).code).toBe(0);
  // Others (the admin) are not matched.
  expect((await kubectl(deployment('kube-system'))).code).toBe(0);
  // A report about a world in an unlabelled namespace still gets through.
  const event = { apiVersion: 'v1', kind: 'Event', metadata: { name: 'adm.1', namespace: OTHER_NS }, involvedObject: { kind: 'WorldInstance', name: 'w', namespace: OTHER_NS }, reason: 'NamespaceNotForWorlds', message: 'x', type: 'Warning' };
  expect((await kubectl(['create', '--dry-run=server', '-f', '-'], { kubeconfig: sa, input: JSON.stringify(event) })).code).toBe(0);
}, TIMEOUT);

test('the only Secret it may create is the self-signed certificate (RBAC grants create on every Secret of anvil-system)', async () => {
  const secret = (name: string, type: string, extra: Record<string, unknown> = {}) =>
    JSON.stringify({ apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace: 'anvil-system', ...extra }, type, ...(type === 'kubernetes.io/tls' ? { data: { 'tls.crt': '', 'tls.key': '' } } : {}) });
  const create = (body: string) => kubectl(['create', '--dry-run=server', '-f', '-'], { kubeconfig: sa, input: body });
  // RBAC alone allows any of them.
  expect((await kubectlOk(['auth', 'can-i', 'create', 'secrets', '-n', 'anvil-system'], { kubeconfig: sa })).trim()).toBe('yes');
  // A token Secret for another account: the token controller would fill it in.
  const token = secret('anvil-allocator-selfsigned', 'kubernetes.io/service-account-token', { annotations: { 'kubernetes.io/service-account.name': 'default' } });
  const denied = await eventually('the policy denies a token Secret', async () => {
    const r = await create(token);
    return r.code !== 0 ? r : undefined;
  });
  expect(denied.stderr).toMatch(/ValidatingAdmissionPolicy 'anvil-reconciler-namespaces'.*denied request.*creates only one Secret/);
  expect((await create(secret('other', 'kubernetes.io/tls'))).stderr).toContain('creates only one Secret');
  // Admitted: created (dry run), or refused later only because another test's reconciler made it already.
  const allowed = await create(secret('anvil-allocator-selfsigned', 'kubernetes.io/tls'));
  expect(allowed.stderr).not.toContain('denied');
  expect(allowed.code === 0 || /AlreadyExists|already exists/.test(allowed.stderr)).toBe(true);
}, TIMEOUT);
