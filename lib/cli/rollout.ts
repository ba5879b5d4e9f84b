/**
 * `anvil rollout status|pause|resume|undo GAME` (issue 10): how a game's rollout stands and
 * plain-field control of it. Every change is a merge patch of the GameDefinition's
 * `spec.rollout` (what a kubectl user would patch): `paused`, and `revision` (the pinned
 * revision of a rollback). The reconciler does the rest.
 */
import { PatchStrategy, type KubernetesObject } from '@kubernetes/client-node';
import type { Command } from 'commander';
import { API_VERSION, type GameDefinition, type WorldInstance } from '../api/schema.js';
import { connect, errorText, statusOf, type Kube } from '../client/kube.js';
import { LABEL_GAME } from '../render/labels.js';
import { PLATFORM_NAMESPACE } from '../resolve/resolve.js';
import type { RevisionData } from '../resolve/revision.js';
import { EXIT_INPUT_ERROR, type CliContext, type RegisterCommand } from './context.js';
import { formatRolloutStatus, previousRevision, type RevisionSummary } from './rolloutFormat.js';

interface Flags {
  kubeconfig?: string;
  output?: string;
  toRevision?: string;
  latest?: boolean;
}

async function readGame(kube: Kube, name: string): Promise<GameDefinition | undefined> {
  try {
    return (await kube.objects.read({ apiVersion: API_VERSION, kind: 'GameDefinition', metadata: { name } })) as unknown as GameDefinition;
  } catch (e) {
    if (statusOf(e) === 404) return undefined;
    throw e;
  }
}

async function revisionsOf(kube: Kube, game: string): Promise<RevisionSummary[]> {
  const list = await kube.objects.list('apps/v1', 'ControllerRevision', PLATFORM_NAMESPACE, undefined, undefined, undefined, undefined, `${LABEL_GAME}=${game}`);
  return (list.items as (KubernetesObject & { revision: number; data: RevisionData })[])
    .map((r) => ({ name: r.metadata!.name!, number: r.revision, modules: r.data.modules.map((m) => ({ name: m.name, version: m.spec.version, image: m.spec.image })) }))
    .sort((a, b) => a.number - b.number);
}

async function worldsOf(kube: Kube, game: string): Promise<WorldInstance[]> {
  const list = await kube.objects.list(API_VERSION, 'WorldInstance');
  return (list.items as unknown as WorldInstance[]).filter((w) => w.spec.gameRef.name === game);
}

async function patchRollout(kube: Kube, game: string, rollout: Record<string, unknown>): Promise<void> {
  await kube.objects.patch(
    { apiVersion: API_VERSION, kind: 'GameDefinition', metadata: { name: game }, spec: { rollout } } as KubernetesObject,
    undefined,
    undefined,
    'anvil-cli',
    undefined,
    PatchStrategy.MergePatch,
  );
}

async function act(verb: string, gameName: string, flags: Flags, ctx: CliContext): Promise<void> {
  const kube = connect(flags.kubeconfig);
  const game = await readGame(kube, gameName);
  if (!game) {
    ctx.err(`error: GameDefinition ${gameName} not found\n`);
    ctx.exitCode = EXIT_INPUT_ERROR;
    return;
  }
  if (verb === 'status') {
    const [revisions, worlds] = await Promise.all([revisionsOf(kube, gameName), worldsOf(kube, gameName)]);
    ctx.out(flags.output === 'json' ? `${JSON.stringify({ game: gameName, spec: game.spec.rollout ?? {}, status: game.status ?? {}, revisions, worlds: worlds.map((w) => ({ namespace: w.metadata.namespace, name: w.metadata.name, revision: w.status?.revision, phase: w.status?.phase })) }, null, 2)}\n` : formatRolloutStatus(game, revisions, worlds));
    return;
  }
  if (verb === 'pause') await patchRollout(kube, gameName, { paused: true });
  if (verb === 'resume') await patchRollout(kube, gameName, { paused: null, ...(flags.latest ? { revision: null } : {}) });
  if (verb === 'undo') {
    const revisions = await revisionsOf(kube, gameName);
    const to = flags.toRevision ? revisions.find((r) => r.name === flags.toRevision || String(r.number) === flags.toRevision) : previousRevision(revisions, game.status?.rollout?.targetRevision);
    if (!to) {
      ctx.err(`error: GameDefinition ${gameName}: ${flags.toRevision ? `no revision ${flags.toRevision} (revisions: ${revisions.map((r) => `${r.number} ${r.name}`).join(', ') || 'none'})` : 'no revision before the current target to go back to'}\n`);
      ctx.exitCode = EXIT_INPUT_ERROR;
      return;
    }
    await patchRollout(kube, gameName, { revision: to.name, paused: null });
    ctx.out(`gamedefinition/${gameName}: rolling back to revision ${to.number} (${to.name}); "anvil rollout resume ${gameName} --latest" goes back to the latest definitions\n`);
    return;
  }
  ctx.out(`gamedefinition/${gameName}: rollout ${verb === 'pause' ? 'paused' : 'resumed'}\n`);
}

export const registerRollout: RegisterCommand = (program: Command, ctx) => {
  const rollout = program.command('rollout').description("a game's rollout of new module versions across its worlds");
  const add = (verb: string, description: string) =>
    rollout
      .command(`${verb} <game>`)
      .description(description)
      .option('--kubeconfig <path>', 'kubeconfig (default: $KUBECONFIG or ~/.kube/config)');
  add('status', 'worlds per revision, the current batch and what blocks').option('-o, --output <format>', 'text or json', 'text');
  add('pause', 'start no new batch (spec.rollout.paused: true)');
  add('resume', 'start batches again (spec.rollout.paused unset)').option('--latest', 'also drop a rollback pin (spec.rollout.revision): roll to the latest definitions');
  add('undo', 'roll back to the revision before the current target (spec.rollout.revision)').option('--to-revision <n|name>', 'the revision to go back to');
  for (const verb of ['status', 'pause', 'resume', 'undo']) {
    rollout.commands.find((c) => c.name() === verb)!.action(async (game: string, flags: Flags) => {
      try {
        await act(verb, game, flags, ctx);
      } catch (e) {
        ctx.err(`error: anvil rollout ${verb} ${game}: ${errorText(e)}\n`);
        ctx.exitCode = EXIT_INPUT_ERROR;
      }
    });
  }
};
