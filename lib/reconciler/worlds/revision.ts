/**
 * Which revision a world is rendered from (issue 10): the one it is assigned
 * (shared/assignedRevision.ts) — its game's target when it is first reconciled (so a new
 * world, a pool's replacement for a released one included, is current), recorded by its first
 * status write (status.revision), and moved only by the rollout controller (the
 * `anvil.dev/revision` annotation) when its rollout reaches the world. Static worlds carry the
 * revision synth resolved.
 */
import type { WorldInstance, WorldInstanceStatus } from '../../api/schema.js';
import { ANNOTATION_REVISION, LABEL_STATIC } from '../../render/labels.js';
import { assignedRevision } from '../shared/assignedRevision.js';
import { PLATFORM_NAMESPACE } from '../../resolve/resolve.js';
import { moduleVersions } from '../../resolve/revision.js';
import type { DefinitionsCache } from '../shared/definitions.js';
import type { Kube } from '../runtime/kube.js';
import type { RevisionEntry, Revisions } from '../shared/revisions.js';
import type { Resolution } from './status.js';

export interface WorldRevision {
  /** The revision to render from; absent: no revision can be had, resolve the live definitions (and report why). */
  entry?: RevisionEntry;
  /** The game's target revision, when it has one. */
  target?: string;
  /**
   * The annotation names another game's revision (the world moved to another game): rewrite it
   * before applying. A new world's revision is not written here: its status write records it.
   */
  record: boolean;
  /** A static world's revision (synth's) that the reconciler has not made (yet): reported, rendered from the live definitions. */
  staticName?: string;
  problem?: Resolution;
}

export async function worldRevision(world: WorldInstance, definitions: DefinitionsCache, revisions: Revisions): Promise<WorldRevision> {
  const defs = definitions.get();
  const gameName = world.spec.gameRef.name;
  const game = defs.catalog.games.get(gameName);
  const target = game ? (await revisions.target(game, defs.catalog)).name : undefined;
  const assigned = assignedRevision(world);
  const isStatic = world.metadata.labels?.[LABEL_STATIC] === 'true';
  // No game (deleted, or not there yet): resolve the live definitions, which say so (GameNotFound).
  if (!game) return { record: false };
  // Not recorded yet (new, or never applied: it failed to resolve): it follows the target.
  let name = assigned ?? (isStatic ? undefined : target);
  let record = false;
  // A world moved to another game starts on that game's target.
  if (name && revisions.get(name) && revisions.get(name)!.data.game.name !== gameName && !isStatic) {
    name = target;
    record = name !== undefined && world.metadata.annotations?.[ANNOTATION_REVISION] !== undefined;
  }
  if (!name) return { record: false, ...(target ? { target } : {}) };
  const entry = revisions.get(name);
  if (!entry && isStatic) return { record: false, staticName: name, ...(target ? { target } : {}) };
  if (!entry) {
    const message = `revision ${name} (annotation ${ANNOTATION_REVISION}) is not a ControllerRevision in ${PLATFORM_NAMESPACE}`;
    return { record: false, ...(target ? { target } : {}), problem: { ok: false, reason: 'RevisionNotFound', message } };
  }
  if (entry.problems.length > 0) {
    return { record: false, ...(target ? { target } : {}), problem: { ok: false, reason: 'InvalidRevision', message: `revision ${name}: ${entry.problems.join('; ')}` } };
  }
  return { entry, record, ...(target ? { target } : {}) };
}

/** What the world's status says of its revision. */
export function revisionStatus(rev: WorldRevision): Pick<WorldInstanceStatus, 'revision' | 'upToDate' | 'moduleVersions'> {
  if (!rev.entry) return rev.staticName ? { revision: rev.staticName, upToDate: rev.staticName === rev.target } : {};
  return { revision: rev.entry.name, upToDate: rev.target !== undefined && rev.entry.name === rev.target, moduleVersions: moduleVersions(rev.entry.data) };
}

/** Records the world's revision on it (a merge patch of one annotation): only when it moved to another game. */
export async function recordRevision(world: WorldInstance, name: string, kube: Kube): Promise<void> {
  await kube.mergePatch({
    apiVersion: world.apiVersion,
    kind: 'WorldInstance',
    metadata: { name: world.metadata.name, namespace: world.metadata.namespace, annotations: { [ANNOTATION_REVISION]: name } },
  });
}
