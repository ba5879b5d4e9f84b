// Issue 8, items 1–3, on the real control plane with the reconciler as its own process:
// it never writes an object that is not Anvil's (Conflict), every failed write shows on the
// world (Ready=False ReconcileFailed, one Warning Event counted up), and drift of a
// PersistentVolumeClaim is reported, never repaired by deleting the claim.
import { kubectl, kubectlOk } from './kubectl.js';
import { applyCrds, cleanup, createNamespace, definitions, eventually, getJson, listJson, startReconciler, worldYaml, type ReconcilerProcess } from './reconcilerHarness.js';
import { workloadName } from '../../lib/render/topology.js';

/** A world's workload name, as the renderer makes it. */
const wl = (world: string, module: string): string => workloadName({ metadata: { name: module }, spec: {} } as never, { namespace: NS, world });

const P = 'sf';
const NS = `sf-${Math.random().toString(36).slice(2, 7)}`;
const SC = `anvil-expandable-${NS}`;
const PV = `anvil-pv-${NS}`;
const TIMEOUT = 240_000;
let rec: ReconcilerProcess;

const world = (name: string) => getJson(['worldinstances', name, '-n', NS]);
const ready = (w: any) => w?.status?.conditions?.find((c: any) => c.type === 'Ready');
const warnings = async (name: string, reason: string) =>
  (await listJson('events', NS)).filter((e) => e.involvedObject.kind === 'WorldInstance' && e.involvedObject.name === name && e.reason === reason && e.type === 'Warning');

beforeAll(async () => {
  await applyCrds();
  await createNamespace(NS);
  await kubectlOk(['apply', '-f', '-'], {
    input: `${definitions(P)}
---
apiVersion: anvil.dev/v1alpha1
kind: ModuleManifest
metadata: {name: ${P}-store}
spec:
  version: 1.0.0
  image: example/store:1
  ports: [{name: grpc, port: 7000}]
  storage: {size: 1Gi, mountPath: /data, storageClassName: ${SC}}
---
apiVersion: anvil.dev/v1alpha1
kind: GameDefinition
metadata: {name: ${P}-vault}
spec:
  modules: [{name: ${P}-store}]
`,
  });
  rec = await startReconciler({ identity: 'sf-main', args: ['--resync-seconds', '4'] });
}, TIMEOUT);

afterAll(async () => {
  if (rec) expect(await rec.stop()).toBe(0);
  await cleanup([NS], P);
  await kubectl(['delete', 'pv', PV, '--wait=false']);
  await kubectl(['delete', 'storageclass', SC, '--wait=false']);
}, TIMEOUT);

/** What someone other than a status writer would have to change: spec, data, labels, annotations, generation, owners and non-status writers. */
const untouched = (o: any) => ({
  generation: o.metadata.generation,
  labels: o.metadata.labels,
  annotations: o.metadata.annotations,
  ownerReferences: o.metadata.ownerReferences,
  managers: (o.metadata.managedFields ?? []).filter((f: any) => f.subresource !== 'status').map((f: any) => `${f.manager}/${f.operation}`).sort(),
  spec: o.spec,
  data: o.data,
});

test('objects of the plan that someone else owns are left untouched; the world is Failed with Conflict naming them, and a Warning Event', async () => {
  // Not labelled as Anvil's (so not in the reconciler's caches) …
  await kubectlOk(['create', 'configmap', 'tk-action-routes', '-n', NS, '--from-literal=theirs=1']);
  // … and labelled as Anvil's, but owned by no world (in the caches).
  await kubectlOk(['create', 'deployment', wl('tk', `${P}-physics`), '-n', NS, '--image=example/theirs:1']);
  await kubectlOk(['label', 'deployment', wl('tk', `${P}-physics`), '-n', NS, 'app.kubernetes.io/managed-by=anvil']);
  const cmBefore = await getJson(['configmap', 'tk-action-routes', '-n', NS]);
  // The controller manager marks a new Deployment's revision in its annotations (through the
  // status subresource): the Deployment as it is once that has happened is the baseline.
  const depBefore = await eventually('the controller manager has synced their Deployment', async () => {
    const d = await getJson(['deployment', wl('tk', `${P}-physics`), '-n', NS]);
    return d?.status?.observedGeneration >= d?.metadata?.generation && d?.metadata?.annotations?.['deployment.kubernetes.io/revision'] ? d : undefined;
  });

  await kubectlOk(['apply', '-f', '-'], { input: worldYaml('tk', NS, `${P}-game`) });
  const w = await eventually('tk Failed', async () => ((await world('tk'))?.status?.phase === 'Failed' ? world('tk') : undefined));
  expect(ready(w)).toMatchObject({ status: 'False', reason: 'Conflict' });
  expect(ready(w).message).toContain(`ConfigMap/${NS}/tk-action-routes`);
  expect(ready(w).message).toContain(`Deployment/${NS}/${wl('tk', `${P}-physics`)}`);
  expect(w.status.conditions.find((c: any) => c.type === 'Resolved')).toMatchObject({ status: 'True' });
  const events = await eventually('a Conflict Warning', async () => ((await warnings('tk', 'Conflict')).length > 0 ? warnings('tk', 'Conflict') : undefined));
  expect(events[0].message).toContain(`ConfigMap/${NS}/tk-action-routes`);

  // Untouched: what only a writer of spec or metadata could change is as it was — not the
  // resourceVersion, which the controller manager moves when it writes the Deployment's status.
  const cm = await getJson(['configmap', 'tk-action-routes', '-n', NS]);
  const dep = await getJson(['deployment', wl('tk', `${P}-physics`), '-n', NS]);
  expect(untouched(cm)).toEqual(untouched(cmBefore));
  expect(untouched(dep)).toEqual(untouched(depBefore));
  expect(cm.metadata.ownerReferences).toBeUndefined();
  expect(dep.metadata.ownerReferences).toBeUndefined();
  expect(Object.keys(cm.data)).toEqual(['theirs']);
  expect(cm.metadata.managedFields.map((f: any) => f.manager)).not.toContain('anvil-reconciler');
  expect(dep.metadata.managedFields.map((f: any) => f.manager)).not.toContain('anvil-reconciler');
  // Nothing of the world was written at all.
  for (const kind of ['deployments', 'services', 'configmaps', 'capabilitybindings', 'networkpolicies']) expect(await listJson(kind, NS, 'anvil.dev/world=tk')).toEqual([]);

  // Once they are gone, the world converges by itself.
  await kubectlOk(['delete', 'configmap', 'tk-action-routes', '-n', NS]);
  await kubectlOk(['delete', 'deployment', wl('tk', `${P}-physics`), '-n', NS]);
  await eventually('tk Running', async () => ((await world('tk'))?.status?.phase === 'Running' ? true : undefined));
  const routes = await getJson(['configmap', 'tk-action-routes', '-n', NS]);
  expect(routes.metadata.ownerReferences).toEqual([expect.objectContaining({ kind: 'WorldInstance', name: 'tk', uid: w.metadata.uid })]);
}, TIMEOUT);

test('a write the API server refuses sets Ready=False ReconcileFailed with its message, and one Warning Event counts the retries', async () => {
  await kubectlOk(['apply', '-f', '-'], { input: `apiVersion: v1\nkind: ResourceQuota\nmetadata: {name: no-deployments, namespace: ${NS}}\nspec: {hard: {count/deployments.apps: "0"}}\n` });
  await eventually('the quota counted', async () => ((await getJson(['resourcequota', 'no-deployments', '-n', NS]))?.status?.used ? true : undefined));
  await kubectlOk(['apply', '-f', '-'], { input: worldYaml('qt', NS, `${P}-game`) });
  const w = await eventually('qt ReconcileFailed', async () => {
    const x = await world('qt');
    return ready(x)?.reason === 'ReconcileFailed' ? x : undefined;
  });
  expect(ready(w).status).toBe('False');
  expect(ready(w).message).toMatch(/403: .*exceeded quota: no-deployments/);
  try {
    // Retried with backoff: one Event, its count growing and stamped again by later retries
    // (timestamps have seconds precision: the first retries may share the first second).
    const event = await eventually('the Warning counted up and stamped again', async () => {
      const es = await warnings('qt', 'ReconcileFailed');
      return es.length === 1 && es[0].count >= 3 && Date.parse(es[0].lastTimestamp) > Date.parse(es[0].firstTimestamp) ? es[0] : undefined;
    });
    expect(event.message).toContain('exceeded quota');
    expect(await warnings('qt', 'ReconcileFailed')).toHaveLength(1);
  } finally {
    // The quota must not outlive this test: the next ones create Deployments here.
    await kubectlOk(['delete', 'resourcequota', 'no-deployments', '-n', NS]);
  }
  const ok = await eventually('qt Running', async () => ((await world('qt'))?.status?.phase === 'Running' ? world('qt') : undefined));
  expect(ready(ok)).toMatchObject({ status: 'True', reason: 'AllModulesReady' });
}, TIMEOUT);

test('a claim resized by hand is reported as Drift and never deleted', async () => {
  const claim = `${wl('vt', `${P}-store`)}-data`;
  await kubectlOk(['apply', '-f', '-'], {
    input: `apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: ${SC}}
provisioner: example.com/none
allowVolumeExpansion: true
volumeBindingMode: Immediate
---
apiVersion: v1
kind: PersistentVolume
metadata: {name: ${PV}}
spec:
  capacity: {storage: 5Gi}
  accessModes: [ReadWriteOnce]
  storageClassName: ${SC}
  persistentVolumeReclaimPolicy: Retain
  hostPath: {path: /tmp/${PV}}
  claimRef: {namespace: ${NS}, name: ${claim}}
`,
  });
  await kubectlOk(['apply', '-f', '-'], { input: worldYaml('vt', NS, `${P}-vault`) });
  const bound = await eventually('the claim Bound', async () => {
    const c = await getJson(['pvc', claim, '-n', NS]);
    return c?.status?.phase === 'Bound' ? c : undefined;
  });
  await eventually('vt Running', async () => ((await world('vt'))?.status?.phase === 'Running' ? true : undefined));

  // Resized by hand: Anvil's hash annotation stays, and applying 1Gi again is refused (422).
  await kubectlOk(['patch', 'pvc', claim, '-n', NS, '--type=merge', '-p', JSON.stringify({ spec: { resources: { requests: { storage: '6Gi' } } } })]);
  const w = await eventually('vt reports Drift', async () => {
    const x = await world('vt');
    return ready(x)?.reason === 'Drift' ? x : undefined;
  });
  expect(ready(w).status).toBe('False');
  expect(ready(w).message).toContain(`PersistentVolumeClaim/${NS}/${claim}`);
  expect(ready(w).message).toContain('spec.resources.requests.storage');
  // The Event follows the status write: waited for, then still exactly one after more passes.
  await eventually('a Drift Warning', async () => ((await warnings('vt', 'Drift')).length > 0 ? true : undefined));

  // Two more full passes: still the same claim, not being deleted, as the user left it.
  const m = await rec.metrics();
  const target = (m.get('anvil_resyncs_completed_total') ?? 0) + 2;
  await eventually('two resyncs', async () => ((await rec.metrics()).get('anvil_resyncs_completed_total')! >= target ? true : undefined));
  const after = await getJson(['pvc', claim, '-n', NS]);
  expect(after.metadata.uid).toBe(bound.metadata.uid);
  expect(after.metadata.deletionTimestamp).toBeUndefined();
  expect(after.spec.resources.requests.storage).toBe('6Gi');
  expect(after.spec.volumeName).toBe(PV);
  // One drift, one Warning (counted up by every pass), not one per wording.
  expect(await warnings('vt', 'Drift')).toHaveLength(1);
}, TIMEOUT);
