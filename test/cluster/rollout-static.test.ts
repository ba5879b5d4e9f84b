// Static worlds (dist/, applied with the real kubectl) rolled out in batches (issue 10) on
// the real local control plane, the reconciler a real process. The gate is spec.paused on
// the static worlds' Deployments, owned by the reconciler's `anvil-rollout` field manager
// and nothing else of them: a new dist's template is held until the world's batch.
import { stringify } from 'yaml';
import { Game, Module, World } from '../../lib/definitions.js';
import { Testing, type KubeObject } from '../../lib/testing.js';
import { workloadName } from '../../lib/render/topology.js';
import { HOLD_NOT_READY } from './controlPlane.js';
import * as path from 'node:path';
import { kubeconfigPath, kubectlOk } from './kubectl.js';
import { ROOT, afterResyncs, applyCrds, runTracked, cleanup, eventually, getJson, listJson, quiet, startReconciler, writesBetween, type ReconcilerProcess } from './reconcilerHarness.js';
import { BatchesWatch, WorldsWatch, stopWatches, watch } from './rolloutWatch.js';

const P = 'rs';
const NS = `${P}-${Math.random().toString(36).slice(2, 7)}`;
const GAME = `${P}-game`;
const N = 5;
const WORLDS = Array.from({ length: N }, (_, i) => `${P}-w${i}`);
const TIMEOUT = 420_000;
let rec: ReconcilerProcess;

/** A dist of N static worlds of a two-module game, synthesized by the library (Testing: what `cdk8s synth` writes). */
function staticDist(physicsImage: string, version: string): string {
  const out = Testing.synthGame((scope) => {
    const physics = new Module(scope, `${P}-physics`, {
      version,
      image: physicsImage,
      ports: [{ name: 'grpc', port: 6000, protocol: 'TCP' }],
      provides: [{ capabilityId: `${P}-physics`, version }],
    });
    const gateway = new Module(scope, `${P}-gateway`, {
      version: '1.0.0',
      image: 'example/gateway:1',
      ports: [{ name: 'ws', port: 4000, protocol: 'TCP' }],
      requires: [{ capabilityId: `${P}-physics`, versionConstraint: '>=1.0.0', scope: 'world', multiplicity: '1', dependencyMode: 'required' }],
    });
    const game = new Game(scope, GAME, { modules: [gateway, physics], rollout: { maxUnavailableWorlds: 2, progressDeadlineSeconds: 20 } });
    for (const w of WORLDS) new World(scope, w, { game, namespace: NS });
  });
  if (!out.ok) throw new Error(`synth failed: ${out.errors.map((e) => e.message).join('; ')}`);
  const namespace = out.platform.filter((o) => o.kind === 'Namespace' && o.metadata.name === NS);
  const objects: KubeObject[] = [...namespace, ...out.definitions, ...out.global, ...Object.values(out.worlds).flat()];
  return objects.map((o) => stringify(o)).join('---\n');
}

const applyDist = (yaml: string) => kubectlOk(['apply', '-f', '-'], { input: yaml });
const physicsName = (w: string) => workloadName({ metadata: { name: `${P}-physics` }, spec: {} } as never, { namespace: NS, world: w });
const staticDeployments = async () => (await listJson('deployments', NS)).filter((d) => WORLDS.includes(d.metadata.labels?.['anvil.dev/world']));
const gameOf = () => getJson(['gamedefinition', GAME]);
const condition = (o: any, type: string) => o?.status?.conditions?.find((c: any) => c.type === type);
const rolledOut = (d: any) =>
  d.status?.observedGeneration >= d.metadata.generation && d.status?.updatedReplicas === d.spec.replicas && d.status?.availableReplicas === d.spec.replicas && d.status?.replicas === d.spec.replicas;

/** Every static world Running and current, every Deployment rolled out on `image` (physics) and armed (paused). */
async function settledOn(image: string, what: string): Promise<string> {
  return eventually(what, async () => {
    const g = await gameOf();
    const target = g?.status?.rollout?.targetRevision;
    const worlds = await Promise.all(WORLDS.map((w) => getJson(['worldinstance', w, '-n', NS])));
    const deps = await staticDeployments();
    const ok =
      condition(g, 'RolloutComplete')?.status === 'True' &&
      worlds.every((w) => w?.status?.phase === 'Running' && w.status.upToDate === true && w.status.revision === target && w.status.heldModules === undefined) &&
      deps.length === 2 * N &&
      deps.every((d) => d.spec.paused === true && rolledOut(d)) &&
      WORLDS.every((w) => deps.find((d) => d.metadata.name === physicsName(w))?.spec.template.spec.containers[0].image === image);
    return ok ? target : undefined;
  }, 240_000);
}

/** The physics Deployments as a watch sees them: the most released (not paused) at once, and those that ran `image`. */
class GateWatch {
  readonly paused = new Map<string, boolean>();
  maxReleased = 0;
  /** Resolves once the watch is established (await it before changing anything). */
  readonly ready: Promise<void>;
  constructor(readonly image: string) {
    this.ready = watch(['deployments', '-n', NS, '-l', `anvil.dev/module=${P}-physics`], '{.metadata.name}|{.spec.paused}', ([name, paused]) => {
      if (!name) return;
      this.paused.set(name, paused === 'true');
      this.maxReleased = Math.max(this.maxReleased, [...this.paused.values()].filter((p) => !p).length);
    });
  }
}

/** What a write changes on the static Deployments: generation, spec.paused and every writer but the status subresource's. */
async function fingerprints(): Promise<Record<string, string>> {
  const list = JSON.parse(await kubectlOk(['get', 'deployments', '-n', NS, '-o', 'json', '--show-managed-fields']));
  return Object.fromEntries(
    list.items.map((d: any) => [
      d.metadata.name,
      JSON.stringify([d.metadata.generation, d.spec.paused, (d.metadata.managedFields ?? []).filter((f: any) => f.subresource !== 'status').map((f: any) => `${f.manager}/${f.operation}@${f.time}`)]),
    ]),
  );
}

beforeAll(async () => {
  await applyCrds();
  rec = await startReconciler({ identity: 'rs-main', args: ['--resync-seconds', '4'] });
}, TIMEOUT);

afterEach(() => stopWatches());

afterAll(async () => {
  stopWatches();
  if (rec) await rec.stop();
  await cleanup([NS], P);
}, TIMEOUT);

test('static worlds: armed when rolled out; a new dist reaches them in batches of maxUnavailableWorlds; the gate is the only field the reconciler owns', async () => {
  const v1 = staticDist('example/physics:1.0.0', '1.0.0');
  await applyDist(v1);
  const rev1 = await settledOn('example/physics:1.0.0', 'static worlds Running and armed');
  // The reconciler's only field of synth's Deployments: spec.paused, under its own manager.
  const shown = JSON.parse(await kubectlOk(['get', 'deployment', physicsName(WORLDS[0]!), '-n', NS, '-o', 'json', '--show-managed-fields']));
  const mine = shown.metadata.managedFields.filter((f: any) => f.manager.startsWith('anvil'));
  expect(mine).toEqual([expect.objectContaining({ manager: 'anvil-rollout', operation: 'Apply', fieldsV1: { 'f:spec': { 'f:paused': {} } } })]);

  // kubectl apply of the same dist: nothing the reconciler owns changes, and it writes nothing after.
  const settled = await quiet(rec);
  const before = await fingerprints();
  await applyDist(v1);
  const after = await afterResyncs(rec, 2);
  expect(await fingerprints()).toEqual(before);
  expect(writesBetween(settled, after)).toEqual({});

  // A new dist: every Deployment gets the new template at once (kubectl), the gate holds it.
  const worldsWatch = new WorldsWatch(GAME, NS);
  const batches = new BatchesWatch(GAME);
  await Promise.all([worldsWatch.ready, batches.ready]);
  const gates = new GateWatch('example/physics:1.1.0');
  await gates.ready;
  await applyDist(staticDist('example/physics:1.1.0', '1.1.0'));
  const rev2 = await settledOn('example/physics:1.1.0', 'every static world on the new dist, re-armed');
  expect(rev2).not.toBe(rev1);
  await batches.seen(rev2, WORLDS.length);
  expect(gates.maxReleased).toBeGreaterThanOrEqual(1);
  expect(gates.maxReleased).toBeLessThanOrEqual(2);
  expect(worldsWatch.maxDown).toBeGreaterThanOrEqual(1);
  expect(worldsWatch.maxDown).toBeLessThanOrEqual(2);
  const numbers = batches.numbers(rev2);
  expect(numbers).toEqual(numbers.map((_, i) => i + 1));
  expect(numbers.length).toBeGreaterThanOrEqual(3);
  for (const n of numbers) expect(batches.worlds(n, rev2).length).toBeLessThanOrEqual(2);
  expect(numbers.flatMap((n) => batches.worlds(n, rev2)).sort()).toEqual(WORLDS.map((w) => `${NS}/${w}`).sort());
  expect(batches.changed).toEqual([]);
}, TIMEOUT);

test('a dist whose pods never become Ready pauses after the first batch, the other static worlds keep serving the old template; applying the previous dist undoes it', async () => {
  const previous = staticDist('example/physics:1.1.0', '1.1.0');
  const rev2 = await settledOn('example/physics:1.1.0', 'static worlds settled before the bad dist');
  const batches = new BatchesWatch(GAME);
  await batches.ready;
  await applyDist(staticDist(`example/physics-${HOLD_NOT_READY}:2.0.0`, '2.0.0'));
  const paused = await eventually('RolloutPaused (ProgressDeadlineExceeded)', async () => {
    const c = condition(await gameOf(), 'RolloutPaused');
    return c?.status === 'True' && c.reason === 'ProgressDeadlineExceeded' ? c : undefined;
  }, 180_000);
  const g = await gameOf();
  const rev3 = g.status.rollout.targetRevision;
  expect(g.status.rollout.batch).toBe(1);
  const stuck: string[] = g.status.rollout.batchWorlds;
  // The first batch: the worlds held when it started (kubectl applies them one by one), at most 2.
  expect(stuck.length).toBeGreaterThanOrEqual(1);
  expect(stuck.length).toBeLessThanOrEqual(2);
  for (const k of stuck) expect(paused.message).toContain(k);
  // The Warning follows the status write that paused it: waited for.
  await eventually('a RolloutPaused Warning', async () =>
    (await listJson('events', 'default')).some((e) => e.involvedObject.kind === 'GameDefinition' && e.involvedObject.name === GAME && e.type === 'Warning' && e.reason === 'RolloutPaused') ? true : undefined,
  );

  // No next batch, even after full resyncs: the others hold the new template and serve the old one.
  await afterResyncs(rec, 2);
  expect(batches.numbers(rev3)).toEqual([1]);
  for (const w of WORLDS.filter((x) => !stuck.includes(`${NS}/${x}`))) {
    // The Deployment's status is its controller's: wait until it has seen the new template.
    const d = await eventually(`${w}'s Deployment observed by its controller`, async () => {
      const o = await getJson(['deployment', physicsName(w), '-n', NS]);
      return o.status?.observedGeneration >= o.metadata.generation ? o : undefined;
    });
    expect(d.spec.template.spec.containers[0].image).toContain(HOLD_NOT_READY); // kubectl wrote it
    expect(d.spec.paused).toBe(true);
    // Held: seen by its controller, no replica on the new template (omitted when 0), the old one available.
    expect(d.status).toMatchObject({ observedGeneration: d.metadata.generation, availableReplicas: 1 });
    expect(d.status.updatedReplicas ?? 0).toBe(0);
    const world = await getJson(['worldinstance', w, '-n', NS]);
    expect(world.status).toMatchObject({ phase: 'Running', upToDate: false, heldModules: 1, revision: rev2 });
  }
  // anvil rollout status: the held static worlds, the stuck batch and what blocks.
  const status = await runTracked(process.execPath, [path.join(ROOT, 'bin/anvil.js'), 'rollout', 'status', GAME, '--kubeconfig', kubeconfigPath()], { cwd: ROOT, timeoutMs: 60_000 });
  expect(status.stderr).toBe('');
  expect(status.stdout).toContain('blocked: ProgressDeadlineExceeded');
  expect(status.stdout).toContain(`batch 1 (started`);
  expect(status.stdout).toMatch(/\(static, 1 held\)/);

  // Undo for static worlds: apply the previous dist. The held ones find their template again.
  await applyDist(previous);
  expect(await settledOn('example/physics:1.1.0', 'every static world back on the previous dist')).toBe(rev2);
  expect(condition(await gameOf(), 'RolloutPaused')).toMatchObject({ status: 'False' });
}, TIMEOUT);
