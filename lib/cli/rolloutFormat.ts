/** What `anvil rollout status` prints, pure: worlds per revision, the batch, what blocks. */
import type { GameDefinition, WorldInstance } from '../api/schema.js';
import { rolloutPolicy } from '../reconciler/rollouts/plan.js';

export interface RevisionSummary {
  name: string;
  number: number;
  modules: { name: string; version: string; image: string }[];
}

/** The newest revision older than `target` (what undo goes back to). */
export function previousRevision(revisions: readonly RevisionSummary[], target: string | undefined): RevisionSummary | undefined {
  const current = revisions.find((r) => r.name === target);
  if (!current) return undefined;
  return [...revisions].filter((r) => r.number < current.number).sort((a, b) => b.number - a.number)[0];
}

export function formatRolloutStatus(game: GameDefinition, revisions: readonly RevisionSummary[], worlds: readonly WorldInstance[]): string {
  const st = game.status?.rollout ?? {};
  const p = rolloutPolicy(game.spec.rollout);
  const lines = [
    `game ${game.metadata.name}: target revision ${st.targetRevision ?? '(none yet)'}${game.spec.rollout?.revision ? ' (pinned: a rollback)' : ''}; ${st.updatedWorlds ?? 0}/${st.totalWorlds ?? worlds.length} world(s) updated`,
    `policy: ${p.strategy}, maxUnavailableWorlds ${p.maxUnavailableWorlds}, claimedWorlds ${p.claimedWorlds}, progressDeadlineSeconds ${p.progressDeadlineSeconds}${p.paused ? ', paused' : ''}`,
  ];
  if (st.batch) lines.push(`batch ${st.batch} (started ${st.batchStartedAt ?? '?'}): ${(st.batchWorlds ?? []).join(', ') || '(none)'}`);
  lines.push('revisions:');
  const byRevision = new Map<string, WorldInstance[]>();
  for (const w of worlds) byRevision.set(w.status?.revision ?? '(none)', [...(byRevision.get(w.status?.revision ?? '(none)') ?? []), w]);
  const known = new Set(revisions.map((r) => r.name));
  for (const r of [...revisions].reverse()) {
    const ws = byRevision.get(r.name) ?? [];
    if (ws.length === 0 && r.name !== st.targetRevision) continue;
    lines.push(`  ${r.number} ${r.name}${r.name === st.targetRevision ? ' (target)' : ''}: ${r.modules.map((m) => `${m.name}@${m.version}`).join(' ')}`);
    lines.push(`    ${worldList(ws)}`);
  }
  for (const [name, ws] of byRevision) if (!known.has(name)) lines.push(`  ${name}: ${worldList(ws)}`);
  const paused = game.status?.conditions?.find((c) => c.type === 'RolloutPaused');
  const complete = game.status?.conditions?.find((c) => c.type === 'RolloutComplete');
  if (paused?.status === 'True') lines.push(`blocked: ${paused.reason}: ${paused.message}`);
  else if (complete) lines.push(`${complete.status === 'True' ? 'complete' : 'progressing'}: ${complete.message}`);
  return `${lines.join('\n')}\n`;
}

/** Claimed; or static, and whether the rollout gate holds a newer dist's template for it (its batch releases it). */
function worldNote(w: WorldInstance): string {
  if (w.metadata.labels?.['anvil.dev/claim']) return ' (claimed)';
  if (w.metadata.labels?.['anvil.dev/static'] !== 'true') return '';
  return w.status?.heldModules ? ` (static, ${w.status.heldModules} held)` : ' (static)';
}

function worldList(ws: readonly WorldInstance[]): string {
  if (ws.length === 0) return 'no worlds';
  const shown = ws
    .slice(0, 30)
    .map((w) => `${w.metadata.namespace}/${w.metadata.name} ${w.status?.phase ?? '?'}${worldNote(w)}`)
    .join(', ');
  return `${ws.length} world(s): ${shown}${ws.length > 30 ? ', …' : ''}`;
}
