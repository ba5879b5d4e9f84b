// Issue 17 on the real control plane, the reconciler as its own process: the kart-racing
// design written with the package alone (a gateway behind a LoadBalancer with annotations, a
// race engine with HTTP probes, a Secret through valueFrom and a mounted file, a replay
// recorder with egress to a CIDR, a matchmaker whose ServiceAccount claims worlds, two
// regions placed by nodeSelector) synthesizes, passes `anvil validate` and `anvil diff`, and
// its dynamic worlds reach Running with what the modules asked for; the matchmaker's token
// may create WorldClaims in its namespace and nothing in another; a world's server may
// delete its own claim, and the world is released.
//
// Everything lives in the namespaces `kart-<suffix>` and `kart-<suffix>-other` and the
// definitions prefixed `kart-<suffix>`, created and removed by this file.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { stringify } from 'yaml';
import { Game, Module, Testing, World, WorldPool, type KubeObject } from '../../lib/index.js';
import { kubectl, kubectlOk, kubeconfigPath, tokenKubeconfig } from './kubectl.js';
import { runAnvil } from './anvilProcess.js';
import { cleanup, eventually, getJson, killAll, startReconciler, worldYaml, type ReconcilerProcess } from './reconcilerHarness.js';

const suffix = Math.random().toString(36).slice(2, 7);
const p = `kart-${suffix}`;
const ns = p;
const other = `${p}-other`;
const regionLabel = `anvil.test/kart-${suffix}`;
let scratch: string;
let rec: ReconcilerProcess;
let out: ReturnType<typeof Testing.synthGame>;

/** The design, as a studio writes it with the package. */
function kartRacing() {
  return Testing.synthGame(
    (scope) => {
      const gateway = new Module(scope, `${p}-gateway`, {
        version: '1.0.0',
        image: 'registry.example/kart-gateway:1.0.0',
        ports: [{ name: 'ws', port: 8443, protocol: 'TCP', expose: { type: 'LoadBalancer' } }],
        service: { annotations: { 'service.beta.kubernetes.io/aws-load-balancer-type': 'nlb' }, externalTrafficPolicy: 'Local' },
        requires: [{ capabilityId: `${p}-race`, versionConstraint: '^1.0.0', scope: 'world' }],
        routesActions: true,
      });
      const engine = new Module(scope, `${p}-engine`, {
        version: '1.0.0',
        image: 'registry.example/kart-engine:1.0.0',
        ports: [
          { name: 'game', port: 7777, protocol: 'UDP' },
          { name: 'http', port: 8080, protocol: 'TCP' },
        ],
        provides: [{ capabilityId: `${p}-race`, version: '1.0.0', actions: ['steer'] }],
        requires: [{ capabilityId: `${p}-replays`, versionConstraint: '^1.0.0', scope: 'world' }],
        env: [{ name: 'API_KEY', valueFrom: { secretKeyRef: { name: 'race-secrets', key: 'api-key' } } }],
        volumes: [{ name: 'tls', mountPath: '/etc/race/tls', secret: { secretName: 'race-secrets', items: [{ key: 'tls.crt', path: 'tls.crt' }] } }],
        probes: { readiness: { httpGet: { path: '/ready', port: 'http' } }, liveness: { httpGet: { path: '/healthz', port: 'http' }, periodSeconds: 10 } },
        // Ends its match by deleting its claim (after reading its world's anvil.dev/claim label).
        serviceAccount: {
          rules: [
            { apiGroups: ['anvil.dev'], resources: ['worldinstances'], verbs: ['get'] },
            { apiGroups: ['anvil.dev'], resources: ['worldclaims'], verbs: ['delete'] },
          ],
        },
        securityContext: { runAsUser: 1000, runAsGroup: 1000, readOnlyRootFilesystem: false },
        terminationGracePeriodSeconds: 60,
      });
      const recorder = new Module(scope, `${p}-recorder`, {
        version: '1.0.0',
        image: 'registry.example/kart-recorder:1.0.0',
        ports: [{ name: 'grpc', port: 50051, protocol: 'TCP' }, { name: 'metrics', port: 9090, protocol: 'TCP' }],
        provides: [{ capabilityId: `${p}-replays`, version: '1.0.0' }],
        egress: [{ to: { cidr: '203.0.113.0/24' }, ports: [{ port: 443, protocol: 'TCP' }] }],
        metrics: { port: 'metrics' },
      });
      const matchmaker = new Module(scope, `${p}-matchmaker`, {
        version: '1.0.0',
        image: 'registry.example/kart-matchmaker:1.0.0',
        ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
        probes: { readiness: { httpGet: { path: '/ready', port: 'http' } } },
        serviceAccount: { rules: [{ apiGroups: ['anvil.dev'], resources: ['worldclaims'], verbs: ['create', 'get', 'watch', 'delete'] }] },
      });
      const race = new Game(scope, `${p}-race`, { modules: [gateway, engine, recorder] });
      const lobby = new Game(scope, `${p}-lobby`, { modules: [matchmaker] });
      new World(scope, 'lobby', { game: lobby, namespace: ns, region: 'eu' });
      new WorldPool(scope, 'grid', { game: race, namespace: ns, region: 'eu', buffer: 1, maxWorlds: 3 });
    },
    {
      regions: {
        eu: { nodeSelector: { [regionLabel]: 'eu' } },
        us: { nodeSelector: { [regionLabel]: 'us' } },
      },
    },
  );
}

function write(name: string, objects: readonly KubeObject[]): string {
  const file = path.join(scratch, name);
  fs.writeFileSync(file, objects.map((o) => `---\n${stringify(o)}`).join(''));
  return file;
}

const ofKind = (objs: readonly KubeObject[], kind: string) => objs.filter((o) => o.kind === kind);
const phase = async (world: string) => (await getJson(['worldinstances', world, '-n', ns]))?.status?.phase as string | undefined;
async function podOf(world: string, module: string): Promise<KubeObject> {
  return eventually(`a pod of ${module} in ${world}`, async () => {
    const pods = JSON.parse(await kubectlOk(['get', 'pods', '-n', ns, '-l', `anvil.dev/world=${world},anvil.dev/module=${module}`, '-o', 'json'])) as { items: KubeObject[] };
    return pods.items[0];
  }, 180_000);
}
/** A kubeconfig authenticating as a ServiceAccount of `namespace`. */
async function asServiceAccount(namespace: string, name: string): Promise<string> {
  const token = (await kubectlOk(['create', 'token', name, '-n', namespace, '--duration=1h'])).trim();
  return tokenKubeconfig(name, token);
}

beforeAll(async () => {
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'anvil-kart-'));
  out = kartRacing();
  expect(out.errors).toEqual([]);
  expect(out.warnings).toEqual([]);
  // Two nodes, one per region (labels of this file only).
  const nodes = (await kubectlOk(['get', 'nodes', '-o', 'jsonpath={.items[*].metadata.name}'])).split(' ').filter(Boolean).sort();
  expect(nodes.length).toBeGreaterThanOrEqual(2);
  await kubectlOk(['label', 'node', nodes[0]!, `${regionLabel}=eu`, '--overwrite']);
  await kubectlOk(['label', 'node', nodes[1]!, `${regionLabel}=us`, '--overwrite']);

  const crds = ofKind(out.platform, 'CustomResourceDefinition');
  await kubectlOk(['apply', '-f', write('crds.yaml', crds)]);
  await kubectlOk(['wait', '--for', 'condition=established', '--timeout=60s', ...crds.map((c) => `crd/${c.metadata.name}`)]);
  // The namespaces (restricted enforced; anvil-system holds the game revisions), the module
  // ClusterRoles synth wrote, and another namespace.
  const platform = out.platform.filter((o) => (o.kind === 'Namespace' && [ns, 'anvil-system'].includes(o.metadata.name)) || (o.kind === 'ClusterRole' && o.metadata.name.startsWith('anvil-module-')));
  expect(ofKind(platform, 'ClusterRole').map((r) => r.metadata.name)).toEqual([`anvil-module-${p}-engine`, `anvil-module-${p}-matchmaker`]);
  await kubectlOk(['apply', '-f', write('platform.yaml', platform)]);
  await kubectlOk(['create', 'namespace', other]);
  await kubectlOk(['create', 'secret', 'generic', 'race-secrets', '-n', ns, '--from-literal=api-key=s3cret', '--from-literal=tls.crt=CERT']);

  // The reconciler as its own process, with synth's settings (the regions) as dist hands them over.
  const settings = Testing.find(out.platform, 'ConfigMap', 'anvil-reconciler-settings')!;
  const settingsFile = path.join(scratch, 'settings.json');
  fs.writeFileSync(settingsFile, settings.data['settings.json']);
  rec = await startReconciler({ identity: `kart-${suffix}`, args: ['--settings', settingsFile] });
});

afterAll(async () => {
  await rec?.stop();
  await killAll();
  await cleanup([ns, other], p);
  await kubectl(['delete', 'clusterrole', `anvil-module-${p}-engine`, `anvil-module-${p}-matchmaker`, '--ignore-not-found']);
  const nodes = (await kubectlOk(['get', 'nodes', '-o', 'jsonpath={.items[*].metadata.name}'])).split(' ').filter(Boolean);
  for (const n of nodes) await kubectl(['label', 'node', n, `${regionLabel}-`]);
  if (scratch) fs.rmSync(scratch, { recursive: true, force: true });
});

describe('the kart-racing design', () => {
  test('anvil validate accepts what synth wrote, and anvil diff against the control plane refuses nothing', async () => {
    const defs = write('definitions.yaml', out.definitions);
    const v = await runAnvil(['validate', '-f', defs]);
    expect(v.stderr).toBe('');
    expect(v.code).toBe(0);
    const lobby = write('lobby.yaml', out.worlds[`${ns}/lobby`]!);
    const d = await runAnvil(['diff', '-f', lobby, '--kubeconfig', kubeconfigPath()]);
    expect(d.stdout).toMatch(/ 0 refused\n$/);
  });

  test('dynamic worlds in both regions reach Running, placed on their region\'s node', async () => {
    await kubectlOk(['apply', '-f', write('definitions-only.yaml', out.definitions.filter((o) => o.kind !== 'WorldInstance' && o.kind !== 'WorldPool'))]);
    await kubectlOk(['apply', '-f', '-'], { input: `${worldYaml('race-eu', ns, `${p}-race`)}  region: eu\n---\n${worldYaml('race-us', ns, `${p}-race`)}  region: us\n` });
    for (const w of ['race-eu', 'race-us']) await eventually(`${w} Running`, async () => (await phase(w)) === 'Running', 300_000);
    const eu = await podOf('race-eu', `${p}-engine`);
    const us = await podOf('race-us', `${p}-engine`);
    expect(eu.spec.nodeSelector).toEqual({ [regionLabel]: 'eu' });
    expect(us.spec.nodeSelector).toEqual({ [regionLabel]: 'us' });
    const node = async (n: string, r: string) => (await kubectlOk(['get', 'node', n, '-o', `jsonpath={.metadata.labels.${regionLabel.replace(/[./]/g, (c) => `\\${c}`)}}`])) === r;
    expect(await node(eu.spec.nodeName, 'eu')).toBe(true);
    expect(await node(us.spec.nodeName, 'us')).toBe(true);
  });

  test('a dynamic world in an undeclared region is refused by the reconciler as synth refuses it, and runs nothing', async () => {
    await kubectlOk(['apply', '-f', '-'], { input: `${worldYaml('race-typo', ns, `${p}-race`)}  region: euu\n` });
    const status = await eventually('race-typo Failed', async () => {
      const w = await getJson(['worldinstances', 'race-typo', '-n', ns]);
      return w?.status?.phase === 'Failed' ? w.status : undefined;
    });
    expect(JSON.stringify(status.conditions)).toContain('region euu is not declared in AnvilApp({regions}) (did you mean eu?)');
    expect(await kubectlOk(['get', 'deployments', '-n', ns, '-l', 'anvil.dev/world=race-typo', '-o', 'name'])).toBe('');
  });

  test("the engine's pod: the Secret through valueFrom and as a file, HTTP probes, its identity and security context", async () => {
    const pod = await podOf('race-eu', `${p}-engine`);
    const c = pod.spec.containers[0];
    expect(c.env).toContainEqual({ name: 'API_KEY', valueFrom: { secretKeyRef: { name: 'race-secrets', key: 'api-key' } } });
    expect(c.volumeMounts).toContainEqual({ name: 'v-tls', mountPath: '/etc/race/tls', readOnly: true });
    expect(pod.spec.volumes).toContainEqual({ name: 'v-tls', secret: { secretName: 'race-secrets', items: [{ key: 'tls.crt', path: 'tls.crt' }], defaultMode: 420 } });
    expect(c.readinessProbe.httpGet).toMatchObject({ path: '/ready', port: 'http' });
    expect(c.livenessProbe.httpGet).toMatchObject({ path: '/healthz', port: 'http' });
    expect(pod.spec.automountServiceAccountToken).toBe(true);
    expect(pod.spec.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 1000, runAsGroup: 1000 });
    expect(c.securityContext).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: false, capabilities: { drop: ['ALL'] } });
    expect(pod.spec.terminationGracePeriodSeconds).toBe(60);
  });

  test("the recorder's NetworkPolicy: DNS, its declared CIDR, its bound consumer, metrics from monitoring namespaces — nothing else", async () => {
    const policies = JSON.parse(await kubectlOk(['get', 'networkpolicy', '-n', ns, '-l', `anvil.dev/world=race-eu,anvil.dev/module=${p}-recorder`, '-o', 'json'])).items as KubeObject[];
    expect(policies).toHaveLength(1);
    const spec = policies[0]!.spec;
    expect(spec.egress).toEqual([
      { ports: [{ port: 53, protocol: 'UDP' }, { port: 53, protocol: 'TCP' }] },
      { to: [{ ipBlock: { cidr: '203.0.113.0/24' } }], ports: [{ port: 443, protocol: 'TCP' }] },
    ]);
    expect(spec.ingress).toEqual([
      { from: [{ podSelector: { matchLabels: { 'anvil.dev/module': `${p}-engine`, 'anvil.dev/world': 'race-eu' } } }], ports: [{ port: 50051, protocol: 'TCP' }, { port: 9090, protocol: 'TCP' }] },
      { from: [{ namespaceSelector: { matchLabels: { 'anvil.dev/monitoring': 'true' } } }], ports: [{ port: 9090, protocol: 'TCP' }] },
    ]);
  });

  test("the gateway's LoadBalancer Service carries its annotations and externalTrafficPolicy", async () => {
    const svcs = JSON.parse(await kubectlOk(['get', 'service', '-n', ns, '-l', `anvil.dev/world=race-eu,anvil.dev/module=${p}-gateway,anvil.dev/expose=LoadBalancer`, '-o', 'json'])).items as KubeObject[];
    expect(svcs).toHaveLength(1);
    expect(svcs[0]!.metadata.annotations['service.beta.kubernetes.io/aws-load-balancer-type']).toBe('nlb');
    expect(svcs[0]!.spec.externalTrafficPolicy).toBe('Local');
  });
});

describe('module identity', () => {
  test("the matchmaker's token can create a WorldClaim in its namespace and nothing in another", async () => {
    // The lobby is a static world: its ServiceAccount and RoleBinding come from dist.
    await kubectlOk(['apply', '-f', write('lobby-world.yaml', out.worlds[`${ns}/lobby`]!)]);
    const sa = ofKind(out.worlds[`${ns}/lobby`]!, 'ServiceAccount')[0]!.metadata.name;
    const kc = await asServiceAccount(ns, sa);
    const can = async (args: string[]) => (await kubectl(['auth', 'can-i', ...args], { kubeconfig: kc })).stdout.trim();
    expect(await can(['create', 'worldclaims.anvil.dev', '-n', ns])).toBe('yes');
    expect(await can(['delete', 'worldclaims.anvil.dev', '-n', ns])).toBe('yes');
    expect(await can(['create', 'worldclaims.anvil.dev', '-n', other])).toBe('no');
    expect(await can(['list', 'worldinstances.anvil.dev', '-n', ns])).toBe('no');
    expect(await can(['get', 'secrets', '-n', ns])).toBe('no');
    expect(await can(['create', 'rolebindings.rbac.authorization.k8s.io', '-n', ns])).toBe('no');

    // and it really claims a world of the pool
    await kubectlOk(['apply', '-f', write('pool.yaml', out.definitions.filter((o) => o.kind === 'WorldPool'))]);
    const claim = `apiVersion: anvil.dev/v1alpha1\nkind: WorldClaim\nmetadata: {name: match-1, namespace: ${ns}}\nspec: {poolRef: {name: grid}, timeoutSeconds: 600}\n`;
    await kubectlOk(['create', '-f', '-'], { input: claim, kubeconfig: kc });
    const refused = await kubectl(['create', '-f', '-'], { input: claim.replace(`namespace: ${ns}`, `namespace: ${other}`), kubeconfig: kc });
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/forbidden/);
  });

  test('the claimed world\'s server may delete its own claim, and the world is released', async () => {
    const world = await eventually('claim match-1 Bound', async () => {
      const c = await getJson(['worldclaims', 'match-1', '-n', ns]);
      return c?.status?.phase === 'Bound' ? (c.status.worldRef.name as string) : undefined;
    }, 300_000);
    // The server's ServiceAccount was applied by the reconciler for this dynamic world.
    const sa = await eventually(`the engine's ServiceAccount in ${world}`, async () => {
      const items = JSON.parse(await kubectlOk(['get', 'serviceaccounts', '-n', ns, '-l', `anvil.dev/world=${world},anvil.dev/module=${p}-engine`, '-o', 'json'])).items as KubeObject[];
      return items[0]?.metadata.name as string | undefined;
    });
    const kc = await asServiceAccount(ns, sa);
    // What the server does: read its world's claim label, delete that claim.
    const claimName = (await kubectlOk(['get', 'worldinstance', world, '-n', ns, '-o', 'jsonpath={.metadata.labels.anvil\\.dev/claim}'], { kubeconfig: kc })).trim();
    expect(claimName).toBe('match-1');
    expect((await kubectl(['auth', 'can-i', 'create', 'worldclaims.anvil.dev', '-n', ns], { kubeconfig: kc })).stdout.trim()).toBe('no');
    await kubectlOk(['delete', 'worldclaim', claimName, '-n', ns, '--wait=false'], { kubeconfig: kc });
    await eventually(`world ${world} released`, async () => (await getJson(['worldinstances', world, '-n', ns])) === undefined, 300_000);
  });
});
