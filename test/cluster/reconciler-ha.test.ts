// The reconciler under its own ServiceAccount (the ClusterRole and lease Role of
// dist/0003-reconciler.k8s.yaml, nothing more), killed with SIGKILL in the middle of 50
// worlds and restarted, and as two leader-elected replicas where only the leader writes; a
// leader frozen (SIGSTOP) past its renew deadline writes nothing once it runs again (issue 19).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';
import { kubectlOk } from './kubectl.js';
import {
  ROOT,
  applyCrds,
  quiet,
  cleanup,
  createNamespace,
  definitions,
  eventually,
  getJson,
  listJson,
  rbacDenials,
  serviceAccountKubeconfig,
  startReconciler,
  worldYaml,
  writes,
  type ReconcilerProcess,
} from './reconcilerHarness.js';

const P = 'ha';
const NS = `ha-${Math.random().toString(36).slice(2, 7)}`;
const TIMEOUT = 400_000;
const WORLDS = 50;
let saKubeconfig: string;
const procs: ReconcilerProcess[] = [];
const leaderArgs = ['--leader-elect', '--lease-namespace', 'anvil-system'];

const lease = () => getJson(['lease', 'anvil-reconciler', '-n', 'anvil-system']);
async function start(identity: string, args: string[] = []): Promise<ReconcilerProcess> {
  const p = await startReconciler({ identity, kubeconfig: saKubeconfig, args: [...leaderArgs, ...args] });
  procs.push(p);
  return p;
}

beforeAll(async () => {
  await applyCrds();
  await createNamespace(NS);
  await kubectlOk(['apply', '-f', '-'], { input: definitions(P) });
  // The reconciler's RBAC exactly as synthesized (its Deployment left out: no image here).
  const docs = parseAllDocuments(fs.readFileSync(path.join(ROOT, 'dist/0003-reconciler.k8s.yaml'), 'utf8'))
    .map((d) => d.toJSON())
    .filter((o) => o && o.kind !== 'Deployment');
  expect(docs.map((d) => d.kind).sort()).toEqual(expect.arrayContaining(['ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding', 'ServiceAccount']));
  await kubectlOk(['apply', '-f', '-'], { input: docs.map((d) => stringify(d)).join('---\n') });
  saKubeconfig = await serviceAccountKubeconfig('anvil-system', 'anvil-reconciler');
  // The token's identity is the ServiceAccount, and it is not an admin.
  const r = await kubectlOk(['auth', 'can-i', '--list', '-n', NS], { kubeconfig: saKubeconfig });
  expect(r).toContain('worldinstances.anvil.dev');
  expect((await kubectlOk(['auth', 'can-i', 'get', 'secrets', '-n', NS], { kubeconfig: saKubeconfig }).catch(() => 'no')).trim()).toBe('no');
}, TIMEOUT);

afterAll(async () => {
  for (const p of procs) if (p.child.exitCode === null) await p.stop();
  await cleanup([NS], P);
}, TIMEOUT);

test(`with only its ClusterRole, killed (SIGKILL) while creating ${WORLDS} worlds and restarted, it converges with nothing missing or duplicated`, async () => {
  const first = await start('ha-first', ['--concurrency', '1']);
  await eventually('ha-first leads', async () => ((await lease())?.spec?.holderIdentity === 'ha-first' ? true : undefined));
  const names = Array.from({ length: WORLDS }, (_, i) => `w${String(i).padStart(2, '0')}`);
  await kubectlOk(['apply', '-f', '-'], { input: names.map((n) => worldYaml(n, NS, `${P}-game`)).join('---\n') });
  await eventually('some progress', async () => ((await listJson('deployments', NS)).length >= 6 ? true : undefined));
  await first.kill9();
  const runningAtKill = (await listJson('worldinstances', NS)).filter((w) => w.status?.phase === 'Running').length;
  process.stderr.write(`[reconciler-ha] killed with ${runningAtKill}/${WORLDS} worlds Running\n`);

  // The dead leader's lease expires (15 s), then the restarted one takes over.
  const second = await start('ha-second');
  await eventually(`all ${WORLDS} worlds Running`, async () => {
    const ws = await listJson('worldinstances', NS);
    return ws.length === WORLDS && ws.every((w) => w.status?.phase === 'Running') ? ws : undefined;
  }, 300_000);
  expect((await lease()).spec.holderIdentity).toBe('ha-second');

  const worlds = await listJson('worldinstances', NS);
  const uids = new Map(worlds.map((w) => [w.metadata.name, w.metadata.uid]));
  const perKind = { deployments: 3, services: 3, networkpolicies: 3, configmaps: 1, capabilitybindings: 4 } as const;
  for (const [kind, n] of Object.entries(perKind)) {
    const items = (await listJson(kind, NS)).filter((o) => o.metadata.labels?.['anvil.dev/world']);
    expect(items.length).toBe(WORLDS * n);
    const byWorld = new Map<string, string[]>();
    for (const o of items) {
      const w = o.metadata.labels['anvil.dev/world'];
      byWorld.set(w, [...(byWorld.get(w) ?? []), o.metadata.name]);
      // Exactly one owner: its own world, as it is now (not a stale uid).
      expect(o.metadata.ownerReferences.map((r: any) => r.uid)).toEqual([uids.get(w)]);
    }
    for (const name of names) expect(byWorld.get(name)?.length).toBe(n);
  }
  for (const w of worlds) expect(w.status).toMatchObject({ bindings: 4, modules: 3, readyModules: 3, observedGeneration: w.metadata.generation });
  // Nothing it needed was forbidden by RBAC.
  expect(rbacDenials(second.log())).toEqual([]);
  await second.stop();
}, TIMEOUT);

test('two replicas: only the leader writes; SIGTERM hands the lease to the other', async () => {
  const a = await start('ha-a');
  await eventually('ha-a leads', async () => ((await lease())?.spec?.holderIdentity === 'ha-a' ? true : undefined));
  const b = await start('ha-b');
  await kubectlOk(['apply', '-f', '-'], { input: worldYaml('duo-1', NS, `${P}-game`) });
  await eventually('duo-1 Running', async () => ((await getJson(['worldinstances', 'duo-1', '-n', NS]))?.status?.phase === 'Running' ? true : undefined));
  expect(writes(await a.metrics())).toBeGreaterThan(0);
  expect(writes(await b.metrics())).toBe(0);
  expect((await b.metrics()).get('anvil_leader')).toBe(0);
  expect((await lease()).spec.holderIdentity).toBe('ha-a');

  expect(await a.stop()).toBe(0);
  // Released on shutdown: the standby does not wait for the lease to expire.
  await eventually('ha-b leads', async () => ((await lease())?.spec?.holderIdentity === 'ha-b' ? true : undefined));
  expect(a.log()).toContain('released the lease');
  await kubectlOk(['apply', '-f', '-'], { input: worldYaml('duo-2', NS, `${P}-game`) });
  const w = await eventually('duo-2 Running', async () => {
    const x = await getJson(['worldinstances', 'duo-2', '-n', NS]);
    return x?.status?.phase === 'Running' ? x : undefined;
  });
  expect(writes(await b.metrics())).toBeGreaterThan(0);
  expect(w.metadata.managedFields.filter((f: any) => f.subresource === 'status').map((f: any) => f.manager)).toEqual(['anvil-reconciler']);
  await b.stop();
}, TIMEOUT);

/** Every write request a replica sent (its /metrics: all verbs but reads and its lease's own), as its shutdown log counts them. */
const writesSent = (m: Map<string, number>): number => {
  let n = 0;
  for (const [key, value] of m) {
    const verb = /^anvil_api_requests_total\{.*\bverb="([^"]*)"/.exec(key)?.[1];
    if (verb !== undefined && !/^(get|list|watch|lease-)/.test(verb)) n += value;
  }
  return n;
};

test('a leader frozen (SIGSTOP) past its renew deadline: the standby takes over and binds a claim; thawed (SIGCONT), the old leader sends no write', async () => {
  await kubectlOk(['apply', '-f', '-'], {
    input: `apiVersion: anvil.dev/v1alpha1
kind: GameDefinition
metadata: {name: ${P}-light}
spec:
  modules: [{name: ${P}-physics}]
---
apiVersion: anvil.dev/v1alpha1
kind: WorldPool
metadata: {name: frozen, namespace: ${NS}}
spec:
  gameRef: {name: ${P}-light}
  buffer: {ready: 2}
`,
  });
  // Frequent resyncs: quiet() below waits for a full pass that writes nothing.
  const a = await start('ha-frozen', ['--resync-seconds', '4']);
  await eventually('ha-frozen leads', async () => ((await lease())?.spec?.holderIdentity === 'ha-frozen' ? true : undefined));
  const b = await start('ha-standby', ['--resync-seconds', '4']);
  await kubectlOk(['wait', '--for=jsonpath={.status.ready}=2', '--timeout=240s', '-n', NS, 'worldpool/frozen'], { timeoutMs: 270_000 });
  // Nothing left to do: what it has sent so far is all it may ever send.
  const before = writesSent(await quiet(a));
  process.kill(a.child.pid!, 'SIGSTOP');
  try {
    await kubectlOk(['apply', '-f', '-'], { input: `apiVersion: anvil.dev/v1alpha1\nkind: WorldClaim\nmetadata: {name: after-freeze, namespace: ${NS}}\nspec:\n  poolRef: {name: frozen}\n` });
    // The frozen leader's lease expires (15 s after its last renewal), the standby takes it and binds the claim.
    await eventually('ha-standby leads', async () => ((await lease())?.spec?.holderIdentity === 'ha-standby' ? true : undefined), 120_000);
    await eventually('claim Bound by the new leader', async () => ((await getJson(['worldclaim', 'after-freeze', '-n', NS]))?.status?.phase === 'Bound' ? true : undefined), 120_000);
  } finally {
    process.kill(a.child.pid!, 'SIGCONT');
  }
  // Thawed: its renew deadline passed long ago. It stops, and says how many writes it sent in all.
  const line = await eventually('ha-frozen stopped', async () => /stopped; writes sent: (\d+), refused by the fence: (\d+)/.exec(a.log()) ?? undefined, 120_000);
  expect(Number(line[1])).toBe(before);
  expect(a.log()).toMatch(/lost the lease \(its renew deadline passed without a renewal\); writes stopped/);
  expect((await lease()).spec.holderIdentity).toBe('ha-standby');
  expect(writesSent(await b.metrics())).toBeGreaterThan(0);
  await b.stop();
}, TIMEOUT);
