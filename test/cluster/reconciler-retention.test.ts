// Issue 19, item 1, on the real control plane (garbage collector included): a claim the plan
// drops is kept by its retention policy (labelled orphaned, reported in the world's status,
// never deleted); deleting the world deletes its claims unless whenWorldDeleted is Retain,
// and a new world of the same name adopts the claim it kept. Item 2: platform cleanup deletes
// nothing while a definition is invalid, and says why.
import { kubectlOk } from './kubectl.js';
import { afterResyncs, applyCrds, cleanup, createNamespace, definitions, eventually, getJson, listJson, startReconciler, worldYaml, type ReconcilerProcess } from './reconcilerHarness.js';

const P = 'rt';
const NS = `rt-${Math.random().toString(36).slice(2, 7)}`;
const TIMEOUT = 300_000;
let rec: ReconcilerProcess;

const world = (name: string) => getJson(['worldinstances', name, '-n', NS]);
const claims = async (w: string) => Object.fromEntries((await listJson('pvc', NS, `anvil.dev/world=${w}`)).map((c) => [c.metadata.labels['anvil.dev/module'], c]));

beforeAll(async () => {
  await applyCrds();
  await createNamespace(NS);
  await kubectlOk(['apply', '-f', '-'], {
    input: `${definitions(P)}
---
apiVersion: anvil.dev/v1alpha1
kind: ModuleManifest
metadata: {name: ${P}-vault}
spec:
  version: 1.0.0
  image: example/vault:1
  ports: [{name: grpc, port: 7000}]
  storage: {size: 1Gi, mountPath: /data}
---
apiVersion: anvil.dev/v1alpha1
kind: ModuleManifest
metadata: {name: ${P}-keep}
spec:
  version: 1.0.0
  image: example/keep:1
  ports: [{name: grpc, port: 7001}]
  storage: {size: 1Gi, mountPath: /data, retention: {whenWorldDeleted: Retain}}
---
apiVersion: anvil.dev/v1alpha1
kind: ModuleManifest
metadata: {name: ${P}-scratch}
spec:
  version: 1.0.0
  image: example/scratch:1
  ports: [{name: grpc, port: 7002}]
  storage: {size: 1Gi, mountPath: /data, retention: {whenModuleRemoved: Delete}}
---
apiVersion: anvil.dev/v1alpha1
kind: GameDefinition
metadata: {name: ${P}-stored}
spec:
  modules: [{name: ${P}-physics}, {name: ${P}-vault}, {name: ${P}-keep}, {name: ${P}-scratch}]
---
apiVersion: anvil.dev/v1alpha1
kind: GameDefinition
metadata: {name: ${P}-bare}
spec:
  modules: [{name: ${P}-physics}]
`,
  });
  rec = await startReconciler({ identity: 'rt-main', args: ['--resync-seconds', '4'] });
}, TIMEOUT);

afterAll(async () => {
  if (rec) expect(await rec.stop()).toBe(0);
  await cleanup([NS], P);
}, TIMEOUT);

test('a module dropped from the game keeps its claim (orphaned, in status) unless its policy says Delete; a deleted world keeps only the claim whose policy says Retain, and its successor adopts it', async () => {
  await kubectlOk(['apply', '-f', '-'], { input: worldYaml('w1', NS, `${P}-stored`) });
  const first = await eventually('three claims', async () => {
    const c = await claims('w1');
    return Object.keys(c).length === 3 ? c : undefined;
  });
  const uid1 = (await world('w1')).metadata.uid;
  expect(first[`${P}-vault`].metadata.ownerReferences).toEqual([expect.objectContaining({ kind: 'WorldInstance', uid: uid1 })]);
  expect(first[`${P}-keep`].metadata.ownerReferences).toBeUndefined();
  expect(first[`${P}-keep`].metadata.annotations['anvil.dev/world-uid']).toBe(uid1);

  // The plan drops all three.
  await kubectlOk(['patch', 'worldinstance', 'w1', '-n', NS, '--type=merge', '-p', JSON.stringify({ spec: { gameRef: { name: `${P}-bare` } } })]);
  const w = await eventually('w1 reports its orphaned claims', async () => {
    const x = await world('w1');
    return x?.status?.orphanedClaims?.length === 2 ? x : undefined;
  });
  expect(w.status.orphanedClaims).toEqual([first[`${P}-keep`].metadata.name, first[`${P}-vault`].metadata.name].sort());
  const after = await eventually('scratch deleted, the others labelled orphaned', async () => {
    const c = await claims('w1');
    return !c[`${P}-scratch`] && c[`${P}-vault`]?.metadata.labels['anvil.dev/orphaned'] === 'true' && c[`${P}-keep`]?.metadata.labels['anvil.dev/orphaned'] === 'true' ? c : undefined;
  });
  // The same claims (same uid): never deleted and re-created.
  expect(after[`${P}-vault`].metadata.uid).toBe(first[`${P}-vault`].metadata.uid);
  expect(after[`${P}-keep`].metadata.uid).toBe(first[`${P}-keep`].metadata.uid);

  // Deleting the world: the garbage collector deletes what it owns; the kept claim has no owner.
  await kubectlOk(['delete', 'worldinstance', 'w1', '-n', NS]);
  await eventually('vault claim garbage-collected', async () => (!(await claims('w1'))[`${P}-vault`] ? true : undefined), 180_000);
  await eventually('no w1 deployments left', async () => ((await listJson('deployments', NS, 'anvil.dev/world=w1')).length === 0 ? true : undefined), 180_000);
  const kept = (await claims('w1'))[`${P}-keep`];
  expect(kept?.metadata.uid).toBe(first[`${P}-keep`].metadata.uid);

  // A new world of the same name adopts it: unorphaned, its uid in the annotation.
  await kubectlOk(['apply', '-f', '-'], { input: worldYaml('w1', NS, `${P}-stored`) });
  const uid2 = await eventually('the new w1', async () => (await world('w1'))?.metadata.uid);
  const adopted = await eventually('kept claim adopted', async () => {
    const c = (await claims('w1'))[`${P}-keep`];
    return c?.metadata.annotations['anvil.dev/world-uid'] === uid2 && c.metadata.labels['anvil.dev/orphaned'] === undefined ? c : undefined;
  });
  expect(adopted.metadata.uid).toBe(first[`${P}-keep`].metadata.uid);
  await kubectlOk(['delete', 'worldinstance', 'w1', '-n', NS]);
}, TIMEOUT);

test('a malformed ModuleManifest makes no global object stale: platform cleanup is skipped and the platform status says why', async () => {
  await kubectlOk(['apply', '-f', '-'], { input: worldYaml('w2', NS, `${P}-game`) });
  const bus = await eventually('the bus deployment', () => getJson(['deployment', `${P}-bus`, '-n', 'anvil-system']));
  // Valid for the CRD (any non-empty string), but not a SemVer range: the library rejects the manifest.
  await kubectlOk(['patch', 'modulemanifest', `${P}-bus`, '--type=json', '-p', JSON.stringify([{ op: 'add', path: '/spec/requires', value: [{ capabilityId: 'x', versionConstraint: 'not a range', scope: 'cluster' }] }])]);
  const status = await eventually('platform status names the invalid definition', async () => {
    const cm = await getJson(['configmap', 'anvil-platform-status', '-n', 'anvil-system']);
    return cm?.data?.cleanup?.includes(`ModuleManifest/${P}-bus`) ? cm : undefined;
  });
  expect(status.data.cleanup).toMatch(/^Skipped/);
  // Wait for a few more passes: the bus is still there, the same object.
  await afterResyncs(rec, 2);
  expect((await getJson(['deployment', `${P}-bus`, '-n', 'anvil-system']))?.metadata.uid).toBe(bus.metadata.uid);
  await kubectlOk(['patch', 'modulemanifest', `${P}-bus`, '--type=json', '-p', JSON.stringify([{ op: 'remove', path: '/spec/requires' }])]);
  await eventually('cleanup done again', async () => ((await getJson(['configmap', 'anvil-platform-status', '-n', 'anvil-system']))?.data?.cleanup === 'Done' ? true : undefined));
}, TIMEOUT);

test('issue 19 item 8: a world using a global provider in a namespace not labelled for worlds says so (condition and Event) instead of running unreachable; labelling it lets it run', async () => {
  const bare = `${NS}-bare`;
  await createNamespace(bare, { forWorlds: false });
  try {
    await kubectlOk(['apply', '-f', '-'], { input: worldYaml('lost', bare, `${P}-game`) });
    const w = await eventually('lost reports its namespace', async () => {
      const x = await getJson(['worldinstances', 'lost', '-n', bare]);
      return x?.status?.conditions?.find((c: any) => c.type === 'Ready' && c.reason === 'NamespaceNotForWorlds') ? x : undefined;
    });
    expect(w.status.conditions.find((c: any) => c.type === 'Ready').message).toContain(`kubectl label namespace ${bare} anvil.dev/worlds=true`);
    const events = await eventually('a Warning Event', async () => {
      const es = (await listJson('events', bare)).filter((e) => e.involvedObject.name === 'lost' && e.reason === 'NamespaceNotForWorlds' && e.type === 'Warning');
      return es.length > 0 ? es : undefined;
    });
    expect(events[0].message).toContain(`${P}-bus`);
    expect(await listJson('deployments', bare)).toEqual([]);
    await kubectlOk(['label', 'namespace', bare, 'anvil.dev/worlds=true']);
    await eventually('lost deployed once labelled', async () => ((await listJson('deployments', bare, 'anvil.dev/world=lost')).length > 0 ? true : undefined));
  } finally {
    await kubectlOk(['delete', 'namespace', bare, '--wait=false']);
  }
}, TIMEOUT);
