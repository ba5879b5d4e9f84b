/**
 * Which of a game's revisions to delete (issue 10), pure. As a StatefulSet's
 * revisionHistoryLimit: revisions in use — the target, the pinned one (a rollback), one a
 * world (static or dynamic) is assigned or runs — are always kept and not counted; of the
 * others the newest `spec.rollout.revisionHistoryLimit` are kept (what undo goes back to),
 * and the older ones deleted, oldest first.
 */
export const DEFAULT_REVISION_HISTORY_LIMIT = 10;

export interface HistoryEntry {
  name: string;
  /** The ControllerRevision's `revision` number: higher is newer. */
  number: number;
}

export function revisionsToPrune(history: readonly HistoryEntry[], limit: number, inUse: ReadonlySet<string>): string[] {
  const free = history.filter((r) => !inUse.has(r.name)).sort((a, b) => a.number - b.number || (a.name < b.name ? -1 : 1));
  return free.slice(0, Math.max(0, free.length - Math.max(0, limit))).map((r) => r.name);
}
