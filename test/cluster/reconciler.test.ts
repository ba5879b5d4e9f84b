// The reconciler (issue 4) against the real local control plane, as a separate process
// with the admin kubeconfig: dynamic worlds created, changed and deleted, status and
// events, drift repair, Failed worlds that recover, re-resolution after a new module
// version, static worlds left to synth, and a no-op resync that writes nothing.
import { workloadName } from '../../lib/render/topology.js';
import { kubectl, kubectlOk } from './kubectl.js';
import {
  afterResyncs,
  applyCrds,
  cleanup,
  createNamespace,
  definitions,
  eventually,
  getJson,
  listJson,
  quiet,
  startReconciler,
  worldYaml,
  writesBetween,
  type ReconcilerProcess,
} from './reconcilerHarness.js';

const P = 'rc';
/** A world module's workload name (lib/names/names.ts: readable, with the hash of its tuple). */
const wl = (world: string, module: string): string => workloadName({ metadata: { name: module }, spec: {} } as never, { namespace: NS, world });
const NS = `rc-${Math.random().toString(36).slice(2, 7)}`;
const TIMEOUT = 240_000;
let rec: ReconcilerProcess;

const world = (name: string) => getJson(['worldinstances', name, '-n', NS]);
const owned = (kind: string, w: string) => listJson(kind, NS, `anvil.dev/world=${w}`);
const names = (items: any[]) => items.map((o) => o.metadata.name).sort();
const phaseIs = (name: string, phase: string) => async () => ((await world(name))?.status?.phase === phase ? true : undefined);

beforeAll(async () => {
  await applyCrds();
  await createNamespace(NS);
  await kubectlOk(['apply', '-f', '-'], { input: definitions(P) });
  rec = await startReconciler({ identity: 'rc-main', args: ['--resync-seconds', '4'] });
}, TIMEOUT);

afterAll(async () => {
  if (rec) expect(await rec.stop()).toBe(0); // graceful: SIGTERM ends it with 0
  await cleanup([NS], P);
}, TIMEOUT);

describe('a dynamic world', () => {
  test('is resolved, rendered and applied with owner references, and becomes Running when its pods are Ready', async () => {
    await kubectlOk(['apply', '-f', '-'], { input: worldYaml('w1', NS, `${P}-game`) });
    const w = await eventually('w1 Running', async () => ((await world('w1'))?.status?.phase === 'Running' ? world('w1') : undefined));
    const uid = w.metadata.uid;

    const deployments = await owned('deployments', 'w1');
    expect(names(deployments)).toEqual([wl('w1', `${P}-gateway`), wl('w1', `${P}-move`), wl('w1', `${P}-physics`)]);
    expect(names(await owned('services', 'w1'))).toEqual([wl('w1', `${P}-gateway`), wl('w1', `${P}-move`), wl('w1', `${P}-physics`)]);
    expect(names(await owned('networkpolicies', 'w1'))).toEqual([wl('w1', `${P}-gateway`), wl('w1', `${P}-move`), wl('w1', `${P}-physics`)]);
    expect(names(await owned('configmaps', 'w1'))).toEqual(['w1-action-routes']);
    const bindings = await owned('capabilitybindings', 'w1');
    expect(bindings.map((b) => `${b.spec.consumer.name} -${b.spec.capabilityId}-> ${b.spec.provider.module}@${b.spec.provider.capabilityVersion}`).sort()).toEqual([
      `${P}-gateway -${P}-bus-> ${P}-bus@1.0.0`,
      `${P}-gateway -${P}-mechanic-> ${P}-move@1.0.0`,
      `${P}-move -${P}-physics-> ${P}-physics@1.0.0`,
      `w1 -root-> ${P}-gateway@1.0.0`,
    ]);
    for (const o of [...deployments, ...bindings, ...(await owned('services', 'w1')), ...(await owned('networkpolicies', 'w1')), ...(await owned('configmaps', 'w1'))]) {
      expect(o.metadata.ownerReferences).toEqual([expect.objectContaining({ kind: 'WorldInstance', name: 'w1', uid, controller: true })]);
      // The reconciler wrote it and nobody else applied to it (a new object is created with POST:
      // an Update entry until its next apply turns it into an Apply one; the Deployment
      // controller's own Update of its revision annotation is not an apply).
      const writers = new Set(o.metadata.managedFields.filter((f: any) => f.operation === 'Apply' || f.manager === 'anvil-reconciler').map((f: any) => f.manager));
      expect([...writers]).toEqual(['anvil-reconciler']);
    }
    // The network policy admits exactly the bound consumer.
    const movePolicy = (await owned('networkpolicies', 'w1')).find((p) => p.metadata.name === wl('w1', `${P}-move`));
    expect(movePolicy.spec.ingress[0].from).toEqual([{ podSelector: { matchLabels: { 'anvil.dev/module': `${P}-gateway`, 'anvil.dev/world': 'w1' } } }]);

    // The cluster-scoped bus: once, in anvil-system, owned by no world.
    const bus = await getJson(['deployment', `${P}-bus`, '-n', 'anvil-system']);
    expect(bus.metadata.ownerReferences).toBeUndefined();

    // Status
    expect(w.status).toMatchObject({ phase: 'Running', observedGeneration: w.metadata.generation, bindings: 4, modules: 3, readyModules: 3, managedBy: 'reconciler' });
    expect(typeof w.status.runningSince).toBe('string');
    const cond = Object.fromEntries(w.status.conditions.map((c: any) => [c.type, c]));
    expect(cond.Resolved).toMatchObject({ status: 'True', reason: 'Resolved', observedGeneration: w.metadata.generation });
    expect(cond.Ready).toMatchObject({ status: 'True', reason: 'AllModulesReady', observedGeneration: w.metadata.generation });
    const events = (await listJson('events', NS)).filter((e) => e.involvedObject.kind === 'WorldInstance' && e.involvedObject.name === 'w1');
    expect(events.map((e) => e.reason)).toContain('Running');
  }, TIMEOUT);

  test('a no-op resync writes nothing, and reconciles from the caches without listing again', async () => {
    const passes = (m: Map<string, number>) => m.get('anvil_reconcile_total{result="success"}') ?? 0;
    const lists = (m: Map<string, number>) => [...m].filter(([k]) => k.startsWith('anvil_api_requests_total{verb="list"')).reduce((n, [, v]) => n + v, 0);
    // Quiet first: a completed resync (every 4 s) that wrote nothing — worlds of other test
    // files still being deleted may settle meanwhile.
    const before = await quiet(rec);
    // A Deployment's resourceVersion moves whenever the controller manager writes its status:
    // compare what only a writer of spec or metadata changes (generation and writers).
    const writers = (o: any) => (o.metadata.managedFields ?? []).filter((f: any) => f.subresource !== 'status').map((f: any) => `${f.manager}/${f.operation}@${f.time}`).sort().join(',');
    const rvs = async () => [
      ...(await owned('deployments', 'w1')).map((o) => `${o.metadata.name}@${o.metadata.generation}:${writers(o)}`),
      ...[...(await owned('capabilitybindings', 'w1')), ...(await owned('networkpolicies', 'w1'))].map((o) => `${o.metadata.name}@${o.metadata.resourceVersion}`),
    ].sort();
    const rvBefore = await rvs();
    const worldRv = (await world('w1')).metadata.resourceVersion;
    // Two more full passes over everything (observed, not slept for).
    const after = await afterResyncs(rec, 2);
    expect(passes(after)).toBeGreaterThan(passes(before));
    expect(writesBetween(before, after)).toEqual({});
    expect(lists(after)).toBe(lists(before));
    expect(await rvs()).toEqual(rvBefore);
    expect((await world('w1')).metadata.resourceVersion).toBe(worldRv);
    expect(after.get('anvil_workqueue_depth')).toBeDefined();
    expect([...after.keys()].some((k) => k.startsWith('anvil_capabilityresolver_resolution_duration_seconds_bucket'))).toBe(true);
    expect([...after.keys()].some((k) => k.startsWith('anvil_runtimeorchestrator_deployment_duration_seconds_bucket'))).toBe(true);
    expect(after.get('anvil_world_startup_seconds_count')).toBeGreaterThanOrEqual(1);
    // Every pass is timed, also those that wrote nothing; requests carry their status code.
    const timed = (m: Map<string, number>) => (m.get('anvil_reconcile_duration_seconds_count{kind="world"}') ?? 0) + (m.get('anvil_reconcile_duration_seconds_count{kind="platform"}') ?? 0);
    expect(timed(after) - timed(before)).toBeGreaterThanOrEqual(passes(after) - passes(before));
    expect([...after.keys()].some((k) => /^anvil_api_requests_total\{verb="list",code="200"\}$/.test(k))).toBe(true);
  }, TIMEOUT);

  test('drift is repaired: a deleted Deployment and an edited Service, binding and NetworkPolicy come back as planned', async () => {
    const svc = await getJson(['service', wl('w1', `${P}-move`), '-n', NS]);
    const uids = async () => Promise.all([getJson(['service', wl('w1', `${P}-move`), '-n', NS]), getJson(['networkpolicy', wl('w1', `${P}-move`), '-n', NS])]).then((os) => os.map((o) => o.metadata.uid));
    const uidsBefore = await uids();
    const binding = (await owned('capabilitybindings', 'w1')).find((b) => b.spec.capabilityId === `${P}-physics`);
    const policy = await getJson(['networkpolicy', wl('w1', `${P}-move`), '-n', NS]);
    await kubectlOk(['delete', 'deployment', wl('w1', `${P}-physics`), '-n', NS, '--wait=false']);
    await kubectlOk(['patch', 'service', wl('w1', `${P}-move`), '-n', NS, '--type=json', '-p', JSON.stringify([{ op: 'replace', path: '/spec/ports/0/targetPort', value: 5999 }])]);
    await kubectlOk(['patch', 'capabilitybinding', binding.metadata.name, '-n', NS, '--type=merge', '-p', JSON.stringify({ spec: { provider: { capabilityVersion: '9.9.9' } } })]);
    await kubectlOk(['patch', 'networkpolicy', wl('w1', `${P}-move`), '-n', NS, '--type=json', '-p', JSON.stringify([{ op: 'remove', path: '/spec/ingress/0/from' }])]);

    await eventually('the Deployment back', async () => {
      const d = await getJson(['deployment', wl('w1', `${P}-physics`), '-n', NS]);
      return d && !d.metadata.deletionTimestamp ? true : undefined;
    });
    await eventually('the Service port restored', async () => ((await getJson(['service', wl('w1', `${P}-move`), '-n', NS])).spec.ports[0].targetPort === 'grpc' ? true : undefined));
    await eventually('the binding restored', async () => ((await getJson(['capabilitybinding', binding.metadata.name, '-n', NS])).spec.provider.capabilityVersion === '1.0.0' ? true : undefined));
    await eventually('the policy restored', async () => {
      const p = await getJson(['networkpolicy', wl('w1', `${P}-move`), '-n', NS]);
      return JSON.stringify(p.spec) === JSON.stringify(policy.spec) ? true : undefined;
    });
    // Repaired in place by apply: the same objects (uid), nothing deleted to repair them.
    const restored = (await getJson(['service', wl('w1', `${P}-move`), '-n', NS])).spec;
    expect({ ports: restored.ports, selector: restored.selector, type: restored.type, clusterIP: restored.clusterIP }).toEqual({ ports: svc.spec.ports, selector: svc.spec.selector, type: svc.spec.type, clusterIP: svc.spec.clusterIP });
    expect(await uids()).toEqual(uidsBefore);
    await eventually('w1 Running again', phaseIs('w1', 'Running'));
  }, TIMEOUT);

  test('a new module version re-resolves every world that uses it', async () => {
    await kubectlOk(['apply', '-f', '-'], { input: definitions(P, { physicsVersion: '1.2.0' }) });
    await eventually('binding on physics 1.2.0', async () => {
      const b = (await owned('capabilitybindings', 'w1')).find((x) => x.spec.capabilityId === `${P}-physics`);
      return b?.spec.provider.capabilityVersion === '1.2.0' ? b : undefined;
    });
    await eventually('physics deployment at 1.2.0', async () => {
      const d = await getJson(['deployment', wl('w1', `${P}-physics`), '-n', NS]);
      return d.spec.template.spec.containers[0].image === 'example/physics:1.2.0' && d.metadata.labels['app.kubernetes.io/version'] === '1.2.0' ? true : undefined;
    });
    await eventually('w1 Running', phaseIs('w1', 'Running'));
  }, TIMEOUT);

  test('changing its game converges to the new plan; deleting it removes everything it owned', async () => {
    // A smaller game: the gateway alone needs a mechanic, so this one has move+physics only.
    await kubectlOk(['apply', '-f', '-'], {
      input: `apiVersion: anvil.dev/v1alpha1
kind: GameDefinition
metadata: {name: ${P}-solo}
spec:
  modules: [{name: ${P}-move}, {name: ${P}-physics}]
`,
    });
    const gen1 = (await world('w1')).metadata.generation;
    await kubectlOk(['patch', 'worldinstance', 'w1', '-n', NS, '--type=merge', '-p', JSON.stringify({ spec: { gameRef: { name: `${P}-solo` } } })]);
    await eventually('old workloads gone', async () => (names(await owned('deployments', 'w1')).join() === `${wl('w1', `${P}-move`)},${wl('w1', `${P}-physics`)}` ? true : undefined));
    const w = await eventually('w1 Running on the new game', async () => {
      const x = await world('w1');
      return x.status?.phase === 'Running' && x.status.observedGeneration === gen1 + 1 ? x : undefined;
    });
    expect(w.status).toMatchObject({ bindings: 2, modules: 2, readyModules: 2 });
    expect(names(await owned('services', 'w1'))).toEqual([wl('w1', `${P}-move`), wl('w1', `${P}-physics`)]);
    expect(await owned('configmaps', 'w1')).toEqual([]); // no gateway (routesActions) left: no route table
    expect((await owned('capabilitybindings', 'w1')).map((b) => `${b.spec.consumer.name}->${b.spec.provider.module}`).sort()).toEqual([
      `${P}-move->${P}-physics`,
      `w1->${P}-move`,
    ]);

    await kubectlOk(['delete', 'worldinstance', 'w1', '-n', NS]);
    await eventually('everything w1 owned garbage-collected', async () => {
      const left = (await Promise.all(['deployments', 'services', 'networkpolicies', 'configmaps', 'capabilitybindings'].map((k) => owned(k, 'w1')))).flat();
      return left.length === 0 ? true : undefined;
    });
    // The shared bus stays: it belongs to no world.
    expect(await getJson(['deployment', `${P}-bus`, '-n', 'anvil-system'])).toBeDefined();
  }, TIMEOUT);
});

describe('a world that cannot be planned', () => {
  test('is Failed with GameNotFound, and recovers when the game appears', async () => {
    await kubectlOk(['apply', '-f', '-'], { input: worldYaml('lost', NS, `${P}-later`) });
    const w = await eventually('lost Failed', async () => ((await world('lost'))?.status?.phase === 'Failed' ? world('lost') : undefined));
    const resolved = w.status.conditions.find((c: any) => c.type === 'Resolved');
    expect(resolved).toMatchObject({ status: 'False', reason: 'GameNotFound' });
    expect(resolved.message).toContain(`${P}-later`);
    expect(w.status.conditions.find((c: any) => c.type === 'Ready')).toMatchObject({ status: 'False' });
    expect(await owned('deployments', 'lost')).toEqual([]);
    // The Warning follows the status write: waited for.
    await eventually('a Failed Warning for lost', async () => ((await listJson('events', NS)).some((e) => e.involvedObject.name === 'lost' && e.reason === 'Failed' && e.type === 'Warning') ? true : undefined));

    await kubectlOk(['apply', '-f', '-'], {
      input: `apiVersion: anvil.dev/v1alpha1
kind: GameDefinition
metadata: {name: ${P}-later}
spec:
  modules: [{name: ${P}-move}, {name: ${P}-physics}]
`,
    });
    await eventually('lost Running', phaseIs('lost', 'Running'));
    const after = await world('lost');
    expect(after.status.conditions.find((c: any) => c.type === 'Resolved')).toMatchObject({ status: 'True', reason: 'Resolved' });
  }, TIMEOUT);

  test('is Failed with Unresolved naming the missing capability, and recovers when a provider is listed', async () => {
    await kubectlOk(['apply', '-f', '-'], {
      input: `apiVersion: anvil.dev/v1alpha1
kind: GameDefinition
metadata: {name: ${P}-partial}
spec:
  modules: [{name: ${P}-move}]
---
${worldYaml('partial', NS, `${P}-partial`)}`,
    });
    const w = await eventually('partial Failed', async () => ((await world('partial'))?.status?.phase === 'Failed' ? world('partial') : undefined));
    const resolved = w.status.conditions.find((c: any) => c.type === 'Resolved');
    expect(resolved).toMatchObject({ status: 'False', reason: 'Unresolved' });
    expect(resolved.message).toContain(`missing capabilities: ${P}-physics >=1.0.0`);

    await kubectlOk(['patch', 'gamedefinition', `${P}-partial`, '--type=merge', '-p', JSON.stringify({ spec: { modules: [{ name: `${P}-move` }, { name: `${P}-physics` }] } })]);
    await eventually('partial Running', phaseIs('partial', 'Running'));
  }, TIMEOUT);

  test('a malformed definition is reported on the world, and the reconciler keeps running', async () => {
    // Valid for the CRD (any non-empty string), but not a SemVer range: the library rejects it.
    await kubectlOk(['apply', '-f', '-'], {
      input: `apiVersion: anvil.dev/v1alpha1
kind: ModuleManifest
metadata: {name: ${P}-broken}
spec:
  version: 1.0.0
  image: example/broken:1
  requires: [{capabilityId: x, versionConstraint: "not a range", scope: world}]
---
apiVersion: anvil.dev/v1alpha1
kind: GameDefinition
metadata: {name: ${P}-broken}
spec:
  modules: [{name: ${P}-broken}]
---
${worldYaml('broken', NS, `${P}-broken`)}`,
    });
    const w = await eventually('broken Failed', async () => ((await world('broken'))?.status?.phase === 'Failed' ? world('broken') : undefined));
    const resolved = w.status.conditions.find((c: any) => c.type === 'Resolved');
    expect(resolved.status).toBe('False');
    expect(resolved.message).toContain('not a valid SemVer range');
    expect(rec.child.exitCode).toBeNull();
    // Others are unaffected.
    await eventually('partial still Running', phaseIs('partial', 'Running'));
  }, TIMEOUT);
});

describe('a static world (rendered by synth)', () => {
  test('is not rendered or applied; only its status is reported', async () => {
    await kubectlOk(['apply', '-f', '-'], { input: worldYaml('fixed', NS, `${P}-game`, { labels: { 'anvil.dev/static': 'true' } }) });
    const w = await eventually('fixed has a status', async () => ((await world('fixed'))?.status?.phase ? world('fixed') : undefined));
    expect(w.status).toMatchObject({ managedBy: 'synth', phase: 'Pending', modules: 3, readyModules: 0 });
    await afterResyncs(rec, 2); // two full passes, and still nothing rendered for it
    expect(await owned('deployments', 'fixed')).toEqual([]);
    expect(await owned('capabilitybindings', 'fixed')).toEqual([]);
    const r = await kubectl(['get', 'deployments', '-n', NS, '-l', 'anvil.dev/world=fixed', '-o', 'name']);
    expect(r.stdout.trim()).toBe('');
  }, TIMEOUT);
});
