// Rollouts (issue 10) on the real local control plane, the reconciler a real process:
// batches no larger than maxUnavailableWorlds, claimed worlds kept until released, a
// version that never becomes Ready pauses the rollout and `anvil rollout undo` brings the
// worlds back, Immediate, pause/resume, and a reconciler killed mid-rollout.
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { HOLD_NOT_READY } from './controlPlane.js';
import { kubeconfigPath, kubectlOk } from './kubectl.js';
import { BatchesWatch, WorldsWatch, stopWatches } from './rolloutWatch.js';
import { workloadName } from '../../lib/render/topology.js';
import {
  ROOT,
  applyCrds,
  cleanup,
  createNamespace,
  definitions,
  eventually,
  getJson,
  listJson,
  startReconciler,
  worldYaml,
  type ReconcilerProcess,
} from './reconcilerHarness.js';

const NS = `ro-${Math.random().toString(36).slice(2, 7)}`;
const PREFIXES = ['ra', 'rb', 'rx', 'rd', 're', 'rf'];
const TIMEOUT = 300_000;
let rec: ReconcilerProcess;

/** `node bin/anvil.js …` against the test cluster. */
function anvil(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(ROOT, 'bin/anvil.js'), ...args, '--kubeconfig', kubeconfigPath()], { cwd: ROOT });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('exit', (code) => (clearTimeout(timer), resolve({ code, stdout, stderr })));
  });
}

const world = (name: string) => getJson(['worldinstances', name, '-n', NS]);
const gameOf = (g: string) => getJson(['gamedefinition', g]);
/** The revision a world is assigned: the annotation a rollout set, else the one its status records (shared/assignedRevision.ts). */
const assigned = (w: any): string | undefined => w.metadata.annotations?.['anvil.dev/revision'] ?? w.status?.revision;
const condition = (o: any, type: string) => o?.status?.conditions?.find((c: any) => c.type === type);
const worldsOf = async (game: string) => (await listJson('worldinstances', NS)).filter((w) => w.spec.gameRef.name === game);
const physicsImage = async (w: string, p: string) =>
  (await getJson(['deployment', workloadName({ metadata: { name: `${p}-physics` }, spec: {} } as never, { namespace: NS, world: w }), '-n', NS]))?.spec.template.spec.containers[0].image;

async function setup(p: string, rollout: Record<string, unknown>, worlds: number): Promise<string[]> {
  await kubectlOk(['apply', '-f', '-'], { input: definitions(p) });
  await kubectlOk(['patch', 'gamedefinition', `${p}-game`, '--type', 'merge', '-p', JSON.stringify({ spec: { rollout } })]);
  const names = Array.from({ length: worlds }, (_, i) => `${p}-w${i}`);
  if (names.length) await kubectlOk(['apply', '-f', '-'], { input: names.map((n) => worldYaml(n, NS, `${p}-game`)).join('---\n') });
  return names;
}

/** Every listed world Running on its game's target revision; that revision. */
async function allCurrent(game: string, names?: string[], what = 'worlds Running and current'): Promise<string> {
  return eventually(`${game}: ${what}`, async () => {
    const ws = names ? await Promise.all(names.map(world)) : await worldsOf(game);
    const g = await gameOf(game);
    const target = g?.status?.rollout?.targetRevision;
    const ok = ws.length > 0 && ws.every((w) => w?.status?.phase === 'Running' && w.status.upToDate === true && w.status.revision === target);
    return ok && condition(g, 'RolloutComplete')?.status === 'True' ? target : undefined;
  }, 240_000);
}

const newPhysics = (p: string, version: string, image = `example/physics:${version}`) =>
  kubectlOk(['patch', 'modulemanifest', `${p}-physics`, '--type', 'merge', '-p', JSON.stringify({ spec: { version, image } })]);

beforeAll(async () => {
  await applyCrds();
  await createNamespace(NS);
  rec = await startReconciler({ identity: 'ro-main', args: ['--resync-seconds', '4'] });
}, TIMEOUT);

afterEach(() => stopWatches());

afterAll(async () => {
  stopWatches();
  if (rec) await rec.stop();
  await cleanup([NS], PREFIXES[0]!);
  for (const p of PREFIXES.slice(1)) await cleanup([], p);
}, TIMEOUT);

test('a new version reaches the worlds in batches no larger than maxUnavailableWorlds; each world records its revision; pause and resume', async () => {
  const names = await setup('ra', { maxUnavailableWorlds: 2 }, 6);
  const rev1 = await allCurrent('ra-game', names);
  // The revision: an immutable ControllerRevision in anvil-system, owned by the game.
  const cr = await getJson(['controllerrevision', rev1, '-n', 'anvil-system']);
  expect(cr.metadata.ownerReferences).toEqual([expect.objectContaining({ kind: 'GameDefinition', name: 'ra-game' })]);
  expect(cr.data.modules.map((m: any) => `${m.name}@${m.spec.version}`)).toEqual(['ra-bus@1.0.0', 'ra-gateway@1.0.0', 'ra-move@1.0.0', 'ra-physics@1.0.0']);
  const w0 = await world('ra-w0');
  // A new world's revision is recorded by its first status write, not a PATCH of the annotation (issue 19).
  expect(w0.status.revision).toBe(rev1);
  expect(assigned(w0)).toBe(rev1);
  expect(w0.status.moduleVersions).toContainEqual({ name: 'ra-physics', version: '1.0.0', image: 'example/physics:1.0.0' });
  const table = await kubectlOk(['get', 'world', '-n', NS, 'ra-w0']);
  expect(table.split('\n')[0]).toMatch(/CURRENT/);
  expect(table.split('\n')[1]).toMatch(/\btrue\b/);

  // Paused: the new revision is made, but no world moves.
  expect((await anvil(['rollout', 'pause', 'ra-game'])).code).toBe(0);
  const watched = new WorldsWatch('ra-game', NS);
  const batches = new BatchesWatch('ra-game');
  await Promise.all([watched.ready, batches.ready]);
  await newPhysics('ra', '1.1.0');
  await eventually('RolloutPaused (Paused)', async () => condition(await gameOf('ra-game'), 'RolloutPaused')?.reason === 'Paused');
  const resyncs = async () => (await rec.metrics()).get('anvil_resyncs_completed_total') ?? 0;
  const r0 = await resyncs();
  await eventually('two full resyncs', async () => (await resyncs()) >= r0 + 2);
  expect((await worldsOf('ra-game')).map(assigned)).toEqual(names.map(() => rev1));
  expect(watched.maxDown).toBe(0);

  expect((await anvil(['rollout', 'resume', 'ra-game'])).code).toBe(0);
  const rev2 = await allCurrent('ra-game', names, 'every world on the new revision');
  expect(rev2).not.toBe(rev1);
  await batches.seen(rev2, names.length);
  expect(watched.maxDown).toBeGreaterThanOrEqual(1);
  expect(watched.maxDown).toBeLessThanOrEqual(2);
  // The batches: consecutive, at most 2 worlds each, every world in exactly one.
  const numbers = batches.numbers(rev2);
  expect(numbers).toEqual(numbers.map((_, i) => i + 1));
  expect(numbers.length).toBeGreaterThanOrEqual(3);
  for (const n of numbers) expect(batches.worlds(n, rev2).length).toBeLessThanOrEqual(2);
  const moved = numbers.flatMap((n) => batches.worlds(n, rev2)).sort();
  expect(moved).toEqual(names.map((n) => `${NS}/${n}`).sort());
  expect(batches.changed).toEqual([]);
  for (const n of names) expect(await physicsImage(n, 'ra')).toBe('example/physics:1.1.0');
  expect((await world('ra-w3')).status.moduleVersions).toContainEqual({ name: 'ra-physics', version: '1.1.0', image: 'example/physics:1.1.0' });

  const status = await anvil(['rollout', 'status', 'ra-game']);
  expect(status.code).toBe(0);
  expect(status.stdout).toContain(`${rev2} (target)`);
  expect(status.stdout).toMatch(/6 world\(s\)/);
  expect(status.stdout).toMatch(/complete: 6\/6/);
}, TIMEOUT);

test('claimed worlds keep their revision until released, then their replacement is current', async () => {
  await setup('rb', {}, 0);
  await kubectlOk(['apply', '-f', '-'], {
    input: `apiVersion: anvil.dev/v1alpha1
kind: WorldPool
metadata: {name: rb-pool, namespace: ${NS}}
spec: {gameRef: {name: rb-game}, buffer: {ready: 3}}
`,
  });
  await eventually('pool ready 3', async () => (await getJson(['worldpool', 'rb-pool', '-n', NS]))?.status?.ready === 3);
  await kubectlOk(['apply', '-f', '-'], {
    input: `apiVersion: anvil.dev/v1alpha1
kind: WorldClaim
metadata: {name: rb-c1, namespace: ${NS}}
spec: {poolRef: {name: rb-pool}}
`,
  });
  const claimed: string = await eventually('claim Bound', async () => {
    const c = await getJson(['worldclaim', 'rb-c1', '-n', NS]);
    return c?.status?.phase === 'Bound' ? c.status.worldRef.name : undefined;
  });
  await eventually('pool refilled', async () => (await getJson(['worldpool', 'rb-pool', '-n', NS]))?.status?.ready === 3);
  const rev1 = await allCurrent('rb-game');
  const watched = new WorldsWatch('rb-game', NS);
  await watched.ready;

  await newPhysics('rb', '1.1.0');
  const done = await eventually('the unclaimed worlds moved, the claimed one waiting', async () => {
    const g = await gameOf('rb-game');
    const ws = await worldsOf('rb-game');
    const unclaimed = ws.filter((w) => w.metadata.name !== claimed);
    const target = g?.status?.rollout?.targetRevision;
    return target !== rev1 &&
      condition(g, 'RolloutComplete')?.status === 'True' &&
      g.status.rollout.waitingClaimedWorlds === 1 &&
      unclaimed.length >= 3 &&
      unclaimed.every((w) => w.status?.revision === target && w.status?.phase === 'Running')
      ? target
      : undefined;
  }, 240_000);
  const kept = await world(claimed);
  expect(assigned(kept)).toBe(rev1);
  expect(kept.status).toMatchObject({ revision: rev1, upToDate: false, phase: 'Running' });
  expect(await physicsImage(claimed, 'rb')).toBe('example/physics:1.0.0');
  // Never disturbed: the claimed world stayed Running all along.
  expect(watched.history.get(claimed)).toEqual(['Running']);

  // Released: the claim's world goes; a world the pool makes now is current.
  const before = new Set((await worldsOf('rb-game')).map((w) => w.metadata.name));
  await kubectlOk(['delete', 'worldclaim', 'rb-c1', '-n', NS]);
  await eventually('claimed world gone', async () => (await world(claimed)) === undefined);
  await kubectlOk(['patch', 'worldpool', 'rb-pool', '-n', NS, '--type', 'merge', '-p', '{"spec":{"buffer":{"ready":4}}}']);
  await eventually('pool at 4 ready', async () => (await getJson(['worldpool', 'rb-pool', '-n', NS]))?.status?.ready === 4);
  expect(await allCurrent('rb-game')).toBe(done);
  const fresh = (await worldsOf('rb-game')).filter((w) => !before.has(w.metadata.name));
  expect(fresh.length).toBeGreaterThanOrEqual(1);
  for (const w of fresh) expect(w.status).toMatchObject({ revision: done, upToDate: true });
  const g = await gameOf('rb-game');
  expect(g.status.rollout.waitingClaimedWorlds).toBe(0);
}, TIMEOUT);

test('a version that never becomes Ready pauses the rollout after the first batch; undo brings those worlds back', async () => {
  const names = await setup('rx', { maxUnavailableWorlds: 1, progressDeadlineSeconds: 15 }, 4);
  const rev1 = await allCurrent('rx-game', names);
  const batches = new BatchesWatch('rx-game');
  await batches.ready;
  await newPhysics('rx', '2.0.0', `example/physics-${HOLD_NOT_READY}:2.0.0`);
  const paused = await eventually('RolloutPaused (ProgressDeadlineExceeded)', async () => {
    const c = condition(await gameOf('rx-game'), 'RolloutPaused');
    return c?.status === 'True' && c.reason === 'ProgressDeadlineExceeded' ? c : undefined;
  }, 180_000);
  const g = await gameOf('rx-game');
  const rev2 = g.status.rollout.targetRevision;
  expect(g.status.rollout.batch).toBe(1);
  const stuck = g.status.rollout.batchWorlds;
  expect(stuck).toHaveLength(1);
  expect(paused.message).toContain(stuck[0]);
  // No next batch, even after full resyncs.
  const resyncs = async () => (await rec.metrics()).get('anvil_resyncs_completed_total') ?? 0;
  const r0 = await resyncs();
  await eventually('two full resyncs', async () => (await resyncs()) >= r0 + 2);
  const ws = await worldsOf('rx-game');
  expect(ws.filter((w) => w.metadata.annotations['anvil.dev/revision'] === rev2).map((w) => `${NS}/${w.metadata.name}`)).toEqual(stuck);
  expect(ws.filter((w) => w.status.phase === 'Running')).toHaveLength(3);
  expect(batches.numbers(rev2)).toEqual([1]);
  // The Warning follows the status write that paused it: waited for.
  await eventually('a RolloutPaused Warning', async () =>
    (await listJson('events', 'default')).some((e) => e.involvedObject.kind === 'GameDefinition' && e.involvedObject.name === 'rx-game' && e.type === 'Warning' && e.reason === 'RolloutPaused') ? true : undefined,
  );
  const status = await anvil(['rollout', 'status', 'rx-game']);
  expect(status.stderr).toBe('');
  expect(status.stdout).toContain('blocked: ProgressDeadlineExceeded');
  expect(status.stdout).toContain(stuck[0]);

  const undo = await anvil(['rollout', 'undo', 'rx-game']);
  expect(undo.code).toBe(0);
  expect(undo.stdout).toContain(rev1);
  expect((await gameOf('rx-game')).spec.rollout.revision).toBe(rev1);
  expect(await allCurrent('rx-game', names, 'every world back on the old revision')).toBe(rev1);
  const after = await gameOf('rx-game');
  expect(condition(after, 'RolloutPaused')).toMatchObject({ status: 'False' });
  for (const n of names) expect(await physicsImage(n, 'rx')).toBe('example/physics:1.0.0');
}, TIMEOUT);

test('Immediate updates every world at once', async () => {
  const names = await setup('rd', { strategy: 'Immediate', maxUnavailableWorlds: 1 }, 4);
  await allCurrent('rd-game', names);
  const batches = new BatchesWatch('rd-game');
  await batches.ready;
  await newPhysics('rd', '1.1.0');
  const rev2 = await allCurrent('rd-game', names, 'every world on the new revision');
  await batches.seen(rev2, names.length);
  expect(batches.numbers(rev2)).toEqual([1]);
  expect(batches.worlds(1, rev2).sort()).toEqual(names.map((n) => `${NS}/${n}`).sort());
  for (const n of names) expect(await physicsImage(n, 'rd')).toBe('example/physics:1.1.0');
}, TIMEOUT);

test('a reconciler killed (-9) mid-rollout resumes without skipping or repeating a batch', async () => {
  const names = await setup('re', { maxUnavailableWorlds: 1 }, 5);
  const rev1 = await allCurrent('re-game', names);
  const watched = new WorldsWatch('re-game', NS);
  const batches = new BatchesWatch('re-game');
  await Promise.all([watched.ready, batches.ready]);
  await newPhysics('re', '1.1.0');
  await eventually('batch 2 started', async () => batches.numbers().includes(2) && batches.lastTarget !== rev1);
  await rec.kill9();
  rec = await startReconciler({ identity: 're-second', args: ['--resync-seconds', '4'] });
  const rev2 = await allCurrent('re-game', names, 'every world on the new revision after the restart');
  await batches.seen(rev2, names.length);
  const numbers = batches.numbers(rev2);
  expect(numbers).toEqual([1, 2, 3, 4, 5]);
  for (const n of numbers) expect(batches.worlds(n, rev2)).toHaveLength(1);
  expect(numbers.flatMap((n) => batches.worlds(n, rev2)).sort()).toEqual(names.map((n) => `${NS}/${n}`).sort());
  expect(batches.changed).toEqual([]);
  expect(watched.maxDown).toBeLessThanOrEqual(1);
  expect((await gameOf('re-game')).status.rollout.batch).toBe(5);
}, TIMEOUT);

test('revisions beyond revisionHistoryLimit are deleted, oldest first, never one a world still names', async () => {
  const names = await setup('rf', { revisionHistoryLimit: 1, maxUnavailableWorlds: 2 }, 2);
  const revs = [await allCurrent('rf-game', names)];
  // A static world of an older dist names the first revision: it is in use.
  await kubectlOk(['apply', '-f', '-'], {
    input: `apiVersion: anvil.dev/v1alpha1
kind: WorldInstance
metadata:
  name: rf-static
  namespace: ${NS}
  labels: {anvil.dev/static: "true"}
  annotations: {anvil.dev/revision: ${revs[0]}}
spec: {gameRef: {name: rf-game}}
`,
  });
  for (const v of ['1.1.0', '1.2.0', '1.3.0']) {
    await newPhysics('rf', v);
    await eventually(`a new target for ${v}`, async () => !revs.includes((await gameOf('rf-game'))?.status?.rollout?.targetRevision));
    revs.push(await allCurrent('rf-game', names, `every world on ${v}`));
  }
  expect(new Set(revs).size).toBe(4);
  const history = async () => (await listJson('controllerrevisions', 'anvil-system', 'anvil.dev/game=rf-game')).map((r) => r.metadata.name).sort();
  // Kept: the target, the one the static world names, and the newest other one (the limit); the older one deleted.
  await eventually('revision 2 deleted', async () => !(await history()).includes(revs[1]));
  expect(await history()).toEqual([revs[0], revs[2], revs[3]].sort());
  // Once no world names it, the static world's revision goes too.
  await kubectlOk(['delete', 'worldinstance', 'rf-static', '-n', NS]);
  await eventually('revision 1 deleted once free', async () => !(await history()).includes(revs[0]));
  expect(await history()).toEqual([revs[2], revs[3]].sort());
}, TIMEOUT);
