/**
 * The revision a world is assigned (issue 10), as the world, rollout and claim controllers all
 * read it: its `anvil.dev/revision` annotation — set by synth on a static world and by a
 * rollout when it moves a world — or else, for a dynamic world started on its game's target,
 * the revision its status records. The world reconciler records a new world's revision with
 * its first status write rather than by a separate PATCH of the annotation (issue 19, lean):
 * one request per world fewer, and the annotation stays what a rollout decided.
 */
import { ANNOTATION_REVISION, LABEL_STATIC } from '../../render/labels.js';

/** What it reads of a world (a WorldInstance, or a cached KubernetesObject). */
interface WorldLike {
  metadata?: { annotations?: Record<string, string>; labels?: Record<string, string> };
  status?: { revision?: string };
}

export function assignedRevision(w: WorldLike): string | undefined {
  const annotated = w.metadata?.annotations?.[ANNOTATION_REVISION];
  if (annotated !== undefined) return annotated;
  // A static world without the annotation has no revision of synth's: its status says what the reconciler found.
  return w.metadata?.labels?.[LABEL_STATIC] === 'true' ? undefined : w.status?.revision;
}
