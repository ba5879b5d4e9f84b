/**
 * The rollout benchmark (issue 10): a new module version rolled across 100 Running worlds of
 * a WorldPool, 20 of them claimed (players in them), on a control plane of its own, the
 * reconciler running from build/ as it ships. Measures the time from the ModuleManifest
 * patch to every unclaimed world Running on the new revision, the most unclaimed worlds
 * not Running at once (from a watch of every world event; must never exceed the policy's
 * maxUnavailableWorlds), and the claimed worlds disturbed (phase left Running, revision
 * moved, or a Deployment changed; must be 0).
 *
 *   npx tsx bench/rollout.ts            # alone (under the control-plane lock); or as the `rollout` case of npm run bench
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { startControlPlane, type ControlPlane } from '../test/cluster/controlPlane.js';
import { kubectl, machineNow, reconcilerArgv, spawnReconciler, type Machine } from './cluster.js';
import { machineLine } from './report.js';

export interface RolloutBenchOptions {
  worlds: number;
  claimed: number;
  maxUnavailableWorlds: number;
  nodes: number;
  timeoutSeconds: number;
  logDir: string;
  log: (line: string) => void;
}

export interface RolloutBenchResult {
  game: string;
  module: string;
  worlds: number;
  claimed: number;
  maxUnavailableWorlds: number;
  /** Worlds Running before the patch (claimed included). */
  runningAtStart: number;
  /** ModuleManifest patched → every unclaimed world Running on the new revision. */
  convergeSeconds: number | null;
  /** ModuleManifest patched → the game's RolloutComplete condition True. */
  completeSeconds: number | null;
  batches: number;
  /** The most unclaimed worlds not Running at once, while the rollout ran. */
  maxUnavailableObserved: number;
  claimedDisturbed: number;
  claimedDisturbedWorlds: string[];
  unclaimedOnNewRevision: number;
  policyKept: boolean;
  at: string;
  /** The machine at the start of the run (older records have none). */
  machine?: Machine;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const NS = 'bench-rollout';
const GAME = 'roguelike';
const MODULE = 'movement';

const getJson = async (cp: ControlPlane, args: string[]): Promise<any> => JSON.parse(await kubectl(cp, ['get', ...args, '-o', 'json']));

async function until<T>(what: string, deadline: number, check: () => Promise<T | undefined | false>): Promise<T> {
  for (;;) {
    const v = await check().catch(() => undefined);
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(500);
  }
}

/** The CRDs, namespaces and the definitions (ModuleManifests and GameDefinitions only) from dist. */
async function applyDefinitions(cp: ControlPlane): Promise<void> {
  await kubectl(cp, ['apply', '-f', 'dist/0000-crds.k8s.yaml']);
  await kubectl(cp, ['wait', '--for', 'condition=established', '--timeout=60s', 'crd', '-l', 'app.kubernetes.io/part-of=anvil']);
  await kubectl(cp, ['apply', '-f', 'dist/0001-namespaces.k8s.yaml']);
  const docs = parseAllDocuments(readFileSync('dist/0002-definitions.k8s.yaml', 'utf8')).map((d) => d.toJS());
  const defs = docs.filter((d) => d?.kind === 'ModuleManifest' || d?.kind === 'GameDefinition');
  await kubectl(cp, ['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: defs }));
}

/** The reconciler as it ships: reconcilerArgv builds build/ and the image's bundle when lib/ is newer. */
function startReconciler(cp: ControlPlane, port: number, logDir: string): ChildProcess {
  const log = openSync(join(logDir, 'rollout-reconciler.log'), 'a');
  return spawnReconciler(reconcilerArgv(cp, port), { stdio: ['ignore', log, log] });
}

/** Every world event, from `kubectl get -w`: phase, revision annotation and claim of each world, as they change. */
class WorldWatch {
  readonly worlds = new Map<string, { phase: string; revision: string; claim: string; phases: string[] }>();
  readonly child: ChildProcess;
  onChange: () => void = () => {};
  constructor(cp: ControlPlane) {
    const template = '{.metadata.name}|{.status.phase}|{.metadata.annotations.anvil\\.dev/revision}|{.metadata.labels.anvil\\.dev/claim}{"\\n"}';
    this.child = spawn(process.env.KUBECTL ?? 'kubectl', ['--kubeconfig', cp.kubeconfig, 'get', 'worldinstances', '-n', NS, '-w', '-o', `jsonpath=${template}`], { stdio: ['ignore', 'pipe', 'ignore'] });
    let buf = '';
    this.child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      const lines = buf.split('\n');
      buf = lines.pop() ?? '';
      for (const line of lines) {
        const [name, phase = '', revision = '', claim = ''] = line.split('|');
        if (!name) continue;
        const prev = this.worlds.get(name);
        const phases = prev ? (prev.phase === phase ? prev.phases : [...prev.phases, phase]) : [phase];
        this.worlds.set(name, { phase, revision, claim, phases });
      }
      this.onChange();
    });
  }
}

export async function runRolloutBench(opts: RolloutBenchOptions): Promise<RolloutBenchResult> {
  mkdirSync(opts.logDir, { recursive: true });
  const deadline = () => Date.now() + opts.timeoutSeconds * 1000;
  opts.log(`rollout: starting a control plane with ${opts.nodes} kwok nodes`);
  const machine = machineNow();
  const cp = await startControlPlane({ withNodes: true, nodes: opts.nodes, timeoutMs: 300_000 });
  let reconciler: ChildProcess | undefined;
  let watch: WorldWatch | undefined;
  try {
    await applyDefinitions(cp);
    await kubectl(cp, ['patch', 'gamedefinition', GAME, '--type', 'merge', '-p', JSON.stringify({ spec: { rollout: { maxUnavailableWorlds: opts.maxUnavailableWorlds } } })]);
    await kubectl(cp, ['create', 'namespace', NS]);
    // A namespace for worlds: global providers admit it, and the reconciler runs its worlds (issue 19).
    await kubectl(cp, ['label', 'namespace', NS, 'anvil.dev/worlds=true']);
    const ready = opts.worlds - opts.claimed;
    // The pool keeps `ready` unclaimed worlds Running (plus one per waiting claim), so with the claims it holds `worlds` in all.
    await kubectl(cp, ['apply', '-f', '-'], JSON.stringify({ apiVersion: 'anvil.dev/v1alpha1', kind: 'WorldPool', metadata: { name: 'pool', namespace: NS }, spec: { gameRef: { name: GAME }, buffer: { ready }, maxWorlds: opts.worlds } }));
    const port = 19080 + (process.pid % 1000);
    reconciler = startReconciler(cp, port, opts.logDir);
    const claims = Array.from({ length: opts.claimed }, (_, i) => ({ apiVersion: 'anvil.dev/v1alpha1', kind: 'WorldClaim', metadata: { name: `match-${i}`, namespace: NS }, spec: { poolRef: { name: 'pool' }, timeoutSeconds: 900 } }));
    await kubectl(cp, ['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: claims }));
    opts.log(`rollout: filling the pool: ${ready} ready worlds and ${opts.claimed} claimed`);
    await until('every claim Bound', deadline(), async () => (await getJson(cp, ['worldclaims', '-n', NS])).items.filter((c: any) => c.status?.phase === 'Bound').length === opts.claimed);
    await until(`${opts.worlds} worlds Running and current`, deadline(), async () => {
      const ws = (await getJson(cp, ['worldinstances', '-n', NS])).items;
      return ws.length === opts.worlds && ws.every((w: any) => w.status?.phase === 'Running' && w.status?.upToDate === true);
    });
    const before = (await getJson(cp, ['worldinstances', '-n', NS])).items;
    const rev1 = before[0].status.revision as string;
    const claimedNames = new Set<string>(before.filter((w: any) => w.metadata.labels?.['anvil.dev/claim']).map((w: any) => w.metadata.name));
    const generations = async () => new Map<string, number>((await getJson(cp, ['deployments', '-n', NS])).items.map((d: any) => [d.metadata.name, d.metadata.generation]));
    const gen0 = await generations();

    watch = new WorldWatch(cp);
    await until('the watch to list every world', deadline(), async () => watch!.worlds.size === opts.worlds);
    let maxDown = 0;
    let convergedAt: number | null = null;
    let target = '';
    watch.onChange = () => {
      const unclaimed = [...watch!.worlds.entries()].filter(([n]) => !claimedNames.has(n));
      maxDown = Math.max(maxDown, unclaimed.filter(([, w]) => w.phase !== 'Running').length);
      if (convergedAt === null && target && unclaimed.every(([, w]) => w.revision === target && w.phase === 'Running')) convergedAt = performance.now();
    };

    opts.log(`rollout: patching ModuleManifest ${MODULE}`);
    const mm = await getJson(cp, ['modulemanifest', MODULE]);
    const version = `${mm.spec.version.split('.')[0]}.${Number(mm.spec.version.split('.')[1]) + 1}.0`;
    const t0 = performance.now();
    await kubectl(cp, ['patch', 'modulemanifest', MODULE, '--type', 'merge', '-p', JSON.stringify({ spec: { version, image: mm.spec.image.replace(/:[^:]+$/, `:${version}`) } })]);
    const game = await until('the new revision', deadline(), async () => {
      const g = await getJson(cp, ['gamedefinition', GAME]);
      return g.status?.rollout?.targetRevision && g.status.rollout.targetRevision !== rev1 ? g : undefined;
    });
    target = game.status.rollout.targetRevision;
    watch.onChange();
    const completeAt = await until('RolloutComplete', deadline(), async () => {
      const g = await getJson(cp, ['gamedefinition', GAME]);
      return g.status?.conditions?.some((c: any) => c.type === 'RolloutComplete' && c.status === 'True') && g.status.rollout.targetRevision === target ? performance.now() : undefined;
    });
    await until('every unclaimed world on the new revision', deadline(), async () => convergedAt !== null);
    const final = await getJson(cp, ['gamedefinition', GAME]);
    const gen1 = await generations();
    const disturbed = [...claimedNames].filter((n) => {
      const w = watch!.worlds.get(n);
      const changedDeployments = [...gen0].some(([d, g]) => d.startsWith(`${n}-`) && gen1.get(d) !== g);
      return !w || w.phases.some((p) => p !== 'Running') || w.revision !== rev1 || changedDeployments;
    });
    const unclaimedOnNew = [...watch.worlds.entries()].filter(([n, w]) => !claimedNames.has(n) && w.revision === target).length;
    return {
      game: GAME,
      module: MODULE,
      worlds: opts.worlds,
      claimed: claimedNames.size,
      maxUnavailableWorlds: opts.maxUnavailableWorlds,
      runningAtStart: before.filter((w: any) => w.status?.phase === 'Running').length,
      convergeSeconds: convergedAt === null ? null : Math.round((convergedAt - t0) / 100) / 10,
      completeSeconds: Math.round((completeAt - t0) / 100) / 10,
      batches: final.status.rollout.batch ?? 0,
      maxUnavailableObserved: maxDown,
      claimedDisturbed: disturbed.length,
      claimedDisturbedWorlds: disturbed,
      unclaimedOnNewRevision: unclaimedOnNew,
      policyKept: maxDown <= opts.maxUnavailableWorlds,
      at: new Date().toISOString(),
      machine,
    };
  } finally {
    watch?.child.kill('SIGKILL');
    if (reconciler && reconciler.exitCode === null) {
      reconciler.kill('SIGTERM');
      await Promise.race([new Promise((r) => reconciler!.once('exit', r)), sleep(15_000)]);
      if (reconciler.exitCode === null) reconciler.kill('SIGKILL');
    }
    await cp.stop();
  }
}

/** The RESULTS.md section, from the recorded result alone. */
export function rolloutMarkdown(r: RolloutBenchResult): string[] {
  const yes = (ok: boolean) => (ok ? 'met' : '**missed**');
  return [
    '## Rollout of a new module version (issue 10)',
    '',
    `${r.worlds} Running worlds of \`${r.game}\` in one WorldPool, ${r.claimed} of them claimed; ModuleManifest \`${r.module}\` patched to a new version; policy Rolling, maxUnavailableWorlds ${r.maxUnavailableWorlds}, claimedWorlds OnRelease. Recorded ${r.at}${r.machine ? `; machine: ${machineLine(r.machine)}` : ''}.`,
    '',
    '| figure | value | target |',
    '| --- | --- | --- |',
    `| worlds Running before the patch | ${r.runningAtStart} | |`,
    `| time to converge (patch → every unclaimed world Running on the new revision) | ${r.convergeSeconds ?? 'did not converge'} s | |`,
    `| patch → RolloutComplete | ${r.completeSeconds ?? '—'} s | |`,
    `| batches | ${r.batches} | |`,
    `| most unclaimed worlds not Running at once | ${r.maxUnavailableObserved} | ≤ ${r.maxUnavailableWorlds}: ${yes(r.policyKept)} |`,
    `| claimed worlds disturbed | ${r.claimedDisturbed}${r.claimedDisturbedWorlds.length ? ` (${r.claimedDisturbedWorlds.join(', ')})` : ''} | 0: ${yes(r.claimedDisturbed === 0)} |`,
    `| unclaimed worlds on the new revision | ${r.unclaimedOnNewRevision} | ${r.worlds - r.claimed} |`,
    '',
  ];
}

// Alone: `npx tsx bench/rollout.ts` prints the result as JSON.
if (import.meta.url === `file://${process.argv[1]}`) {
  runRolloutBench({ worlds: 100, claimed: 20, maxUnavailableWorlds: 10, nodes: 10, timeoutSeconds: 600, logDir: '/tmp/anvil-bench-rollout', log: (l) => process.stderr.write(`[bench] ${l}\n`) })
    .then((r) => process.stdout.write(`${JSON.stringify(r, null, 2)}\n`))
    .catch((e: unknown) => {
      process.stderr.write(`${e instanceof Error ? e.stack : String(e)}\n`);
      process.exitCode = 1;
    });
}

/** The `rollout` case in the shape of branch bench's bench/run.ts CASES list (one entry there). */
export const rolloutCase = {
  name: 'rollout',
  run: (_previous: RolloutBenchResult | undefined, log: (line: string) => void = (l) => process.stderr.write(`[bench] ${l}\n`)) =>
    runRolloutBench({ worlds: 100, claimed: 20, maxUnavailableWorlds: 10, nodes: 10, timeoutSeconds: 600, logDir: '/tmp/anvil-bench-rollout', log }),
  markdown: (r: RolloutBenchResult) => rolloutMarkdown(r),
};
