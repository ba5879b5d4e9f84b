// Issue 11 on a real API server: `anvil diff` (server-side dry-run apply) says what applying
// would change and writes nothing; and a module port exposed as NodePort (TCP and UDP) gets
// a NodePort Service with node ports, selecting the module's pods, whose ports are right.
//
// Everything here lives in the namespace `author-<suffix>`, created and deleted by this file.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { stringify } from 'yaml';
import { Game, Module, Testing, World, type KubeObject } from '../../lib/index.js';
import { workloadName } from '../../lib/render/topology.js';
import { kubeconfigPath, kubectl, kubectlOk } from './kubectl.js';
import { startReconciler, worldYaml } from './reconcilerHarness.js';

const ROOT = process.cwd();
const suffix = Math.random().toString(36).slice(2, 7);
const ns = `author-${suffix}`;
/** The gateway's workload name in world a1, as the renderer makes it. */
const GW = workloadName({ metadata: { name: 'gw' }, spec: {} } as never, { namespace: ns, world: 'a1' });
const nodePort = 30000 + Math.floor(Math.random() * 2000);
let scratch: string;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function eventually<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 180_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000}s waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await sleep(1000);
  }
}

/** The built CLI as a process (killed after 2 minutes). */
function anvil(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['bin/anvil.js', ...args], { cwd: ROOT, timeout: 120_000 });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** A one-world game whose gateway exposes a TCP and a UDP port as NodePort. */
function synthArena(image: string) {
  return Testing.synthGame(
    (scope) => {
      const gw = new Module(scope, 'gw', {
        version: '1.0.0',
        image,
        ports: [
          { name: 'ws', port: 7000, protocol: 'TCP', expose: { type: 'NodePort', nodePort } },
          { name: 'rtp', port: 7001, protocol: 'UDP', expose: { type: 'NodePort' } },
        ],
      });
      new World(scope, 'a1', { game: new Game(scope, 'arena', { modules: [gw] }), namespace: ns });
    },
    { reconcilerImage: false },
  );
}

function writeManifests(name: string, objects: readonly KubeObject[]): string {
  const file = path.join(scratch, name);
  fs.writeFileSync(file, objects.map((o) => `---\n${stringify(o)}`).join(''));
  return file;
}

let worldFile: string;

beforeAll(async () => {
  // The built CLI is what users run.
  await kubectlOk(['version', '--client']);
  const build = spawn(process.execPath, [path.join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], { cwd: ROOT, stdio: 'inherit' });
  await new Promise((r) => build.on('close', r));
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'anvil-author-'));
  const out = synthArena('registry.example/gw:1');
  expect(out.errors).toEqual([]);
  const crds = Testing.ofKind(out.platform, 'CustomResourceDefinition');
  await kubectlOk(['apply', '-f', writeManifests('crds.yaml', crds)]);
  await kubectlOk(['wait', '--for', 'condition=established', '--timeout=60s', ...crds.map((c) => `crd/${c.metadata.name}`)]);
  const namespace = out.platform.find((o) => o.kind === 'Namespace' && o.metadata.name === ns)!;
  await kubectlOk(['apply', '-f', writeManifests('ns.yaml', [namespace])]);
  worldFile = writeManifests('world.yaml', [...out.definitions.filter((o) => o.kind === 'WorldInstance' || o.metadata.name === 'gw' || o.metadata.name === 'arena'), ...out.worlds[`${ns}/a1`]!]);
});

afterAll(async () => {
  await kubectl(['delete', 'namespace', ns, '--wait=false']);
  await kubectl(['delete', 'modulemanifest/gw', 'gamedefinition/arena', `modulemanifest/gwd-${suffix}`, `gamedefinition/arenad-${suffix}`, '--ignore-not-found']);
  if (scratch) fs.rmSync(scratch, { recursive: true, force: true });
});

describe('anvil diff', () => {
  test('before apply: every object is a create (checked by the server); nothing is written; exit 1', async () => {
    const r = await anvil(['diff', '-f', worldFile, '--kubeconfig', kubeconfigPath()]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(`+ Deployment/${ns}/${GW}\n`);
    expect(r.stdout).toContain(`+ Service/${ns}/${GW}-np\n`);
    expect(r.stdout).toMatch(/\n\d+ to create, 0 to change, 0 unchanged, 0 refused\n$/);
    // a dry run: nothing was created
    expect((await kubectl(['get', 'deployment', GW, '-n', ns])).code).not.toBe(0);
  });

  test('after apply: no changes, exit 0; a changed image is shown field by field and not applied', async () => {
    await kubectlOk(['apply', '-f', worldFile]);
    const same = await anvil(['diff', '-f', worldFile, '--kubeconfig', kubeconfigPath()]);
    expect(same.stdout).toMatch(/^0 to create, 0 to change, \d+ unchanged, 0 refused\n$/);
    expect(same.code).toBe(0);

    const changed = synthArena('registry.example/gw:2').worlds[`${ns}/a1`]!;
    const r = await anvil(['diff', '-f', writeManifests('changed.yaml', changed), '--kubeconfig', kubeconfigPath()]);
    expect(r.code).toBe(1);
    // A static world's Deployment also names the game revision it was rendered from (the
    // rollout gate tells a held template from a rolled-out one by it): the new image is a new revision.
    expect(r.stdout).toMatch(
      new RegExp(
        `~ Deployment/${ns}/${GW}\\n    metadata\\.annotations\\.anvil\\.dev/revision: "arena-[0-9a-f]+" -> "arena-[0-9a-f]+"\\n    spec\\.template\\.spec\\.containers\\[0\\]\\.image: "registry\\.example/gw:1" -> "registry\\.example/gw:2"\\n`,
      ),
    );
    expect(r.stdout).toMatch(/0 to create, 1 to change, \d+ unchanged, 0 refused\n$/);
    expect(await kubectlOk(['get', 'deployment', GW, '-n', ns, '-o', 'jsonpath={.spec.template.spec.containers[0].image}'])).toBe('registry.example/gw:1');
  });

  test('an object the server refuses is reported, exit 2', async () => {
    // Server-side validation (a port name must be a DNS label), run by the dry run.
    const bad = { apiVersion: 'v1', kind: 'Service', metadata: { name: 'bad-np', namespace: ns }, spec: { ports: [{ name: 'Bad_Name', port: 80 }] } };
    const r = await anvil(['diff', '-f', writeManifests('bad.yaml', [bad as KubeObject]), '--kubeconfig', kubeconfigPath()]);
    expect(r.code).toBe(2);
    expect(r.stdout).toMatch(new RegExp(`! Service/${ns}/bad-np \\(.*spec\\.ports\\[0\\]\\.name.*Bad_Name.*\\)`));
  });
});

describe('expose: NodePort on the local control plane', () => {
  test('the Service gets node ports (the chosen one for ws, one assigned for the UDP port) and selects the gateway pods', async () => {
    await kubectlOk(['apply', '-f', worldFile]);
    const svc = JSON.parse(await kubectlOk(['get', 'service', `${GW}-np`, '-n', ns, '-o', 'json'])) as KubeObject;
    expect(svc.spec.type).toBe('NodePort');
    const ports = svc.spec.ports as { name: string; protocol: string; port: number; nodePort: number }[];
    expect(ports.map((p) => [p.name, p.protocol, p.port])).toEqual([
      ['ws', 'TCP', 7000],
      ['rtp', 'UDP', 7001],
    ]);
    expect(ports[0]!.nodePort).toBe(nodePort);
    expect(ports[1]!.nodePort).toBeGreaterThanOrEqual(30000);
    expect(ports[1]!.nodePort).toBeLessThanOrEqual(32767);
    // The in-cluster Service stays ClusterIP.
    expect(await kubectlOk(['get', 'service', GW, '-n', ns, '-o', 'jsonpath={.spec.type}'])).toBe('ClusterIP');

    // The pods the Service selects carry the named ports it targets, with their protocols.
    const selector = Object.entries(svc.spec.selector as Record<string, string>).map(([k, v]) => `${k}=${v}`).join(',');
    const pod = await eventually('a gateway pod', async () => {
      const pods = JSON.parse(await kubectlOk(['get', 'pods', '-n', ns, '-l', selector, '-o', 'json'])) as { items: KubeObject[] };
      return pods.items[0];
    });
    expect(pod.spec.containers[0].ports).toEqual([
      { name: 'ws', containerPort: 7000, protocol: 'TCP' },
      { name: 'rtp', containerPort: 7001, protocol: 'UDP' },
    ]);
    // and the endpoint slice of the NodePort Service lists those ports by name
    const slicePorts = await eventually(`an EndpointSlice of ${GW}-np with its ports`, async () => {
      const slices = JSON.parse(await kubectlOk(['get', 'endpointslices', '-n', ns, '-l', `kubernetes.io/service-name=${GW}-np`, '-o', 'json'])) as { items: { ports?: { name: string; protocol: string }[] }[] };
      const found = slices.items.flatMap((s) => s.ports ?? []);
      return found.length > 0 ? found : undefined;
    });
    expect(slicePorts.map((p) => `${p.name}/${p.protocol}`).sort()).toEqual(['rtp/UDP', 'ws/TCP']);
  });
});

describe('endpoints: the node ports the cluster assigned, published by the reconciler', () => {
  test("a dynamic world's status.endpoints carry its exposed Service's node ports; a static world's too", async () => {
    await kubectlOk(['apply', '-f', worldFile]);
    // A game of its own without a chosen node port (the static world holds that one).
    const defs = `apiVersion: anvil.dev/v1alpha1
kind: ModuleManifest
metadata: {name: gwd-${suffix}}
spec:
  version: 1.0.0
  image: registry.example/gw:1
  ports:
    - {name: ws, port: 7000, protocol: TCP, expose: {type: NodePort}}
    - {name: rtp, port: 7001, protocol: UDP, expose: {type: NodePort}}
    - {name: admin, port: 9000, protocol: TCP}
---
apiVersion: anvil.dev/v1alpha1
kind: GameDefinition
metadata: {name: arenad-${suffix}}
spec:
  modules: [{name: gwd-${suffix}}]
---
${worldYaml('d1', ns, `arenad-${suffix}`)}`;
    const file = path.join(scratch, 'dynamic.yaml');
    fs.writeFileSync(file, defs);
    const rec = await startReconciler({ identity: `author-${suffix}` });
    await kubectlOk(['apply', '-f', file]);

    type Ep = { module: string; host: string; ports: { name: string; port: number; protocol: string; nodePort?: number }[] };
    const endpointsOf = async (world: string, svc: string, count: number) =>
      eventually(`${world}'s status.endpoints with the node ports of ${svc} (reconciler log: /tmp/anvil-reconciler-author-${suffix}.log)`, async () => {
        const eps = JSON.parse((await kubectlOk(['get', 'worldinstance', world, '-n', ns, '-o', 'jsonpath={.status.endpoints}'])) || '[]') as Ep[];
        return eps[0] && eps[0].ports.filter((p) => p.nodePort !== undefined).length === count ? eps : undefined;
      });
    const live = async (svc: string) =>
      Object.fromEntries(
        (JSON.parse(await kubectlOk(['get', 'service', svc, '-n', ns, '-o', 'jsonpath={.spec.ports}'])) as { name: string; nodePort: number }[]).map((p) => [p.name, p.nodePort]),
      );

    // The dynamic world: the reconciler renders and applies its NodePort Service, the API
    // server assigns the node ports, the Service's change brings the world back, and its
    // status says them; the port that is not exposed has none.
    const dynGw = workloadName({ metadata: { name: `gwd-${suffix}` }, spec: {} } as never, { namespace: ns, world: 'd1' });
    const dyn = await endpointsOf('d1', `${dynGw}-np`, 2);
    const assigned = await live(`${dynGw}-np`);
    expect(dyn).toEqual([
      {
        module: `gwd-${suffix}`,
        host: `${dynGw}.${ns}.svc`,
        ports: [
          { name: 'ws', port: 7000, protocol: 'TCP', nodePort: assigned.ws },
          { name: 'rtp', port: 7001, protocol: 'UDP', nodePort: assigned.rtp },
          { name: 'admin', port: 9000, protocol: 'TCP' },
        ],
      },
    ]);
    expect(assigned.ws).toBeGreaterThanOrEqual(30000);
    expect(assigned.rtp).toBeGreaterThanOrEqual(30000);

    // The static world (applied by kubectl, reported by the reconciler): the chosen node port.
    const stat = await endpointsOf('a1', `${GW}-np`, 2);
    expect(stat[0]!.ports.map((p) => [p.name, p.nodePort])).toEqual([
      ['ws', nodePort],
      ['rtp', (await live(`${GW}-np`)).rtp],
    ]);
    expect(await rec.stop()).toBe(0);
  });
});
