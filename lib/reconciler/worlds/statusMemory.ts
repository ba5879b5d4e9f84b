/**
 * What this reconciler last wrote to each world's status, so that a world's status is written
 * once per observable change (issue 19, lean): the status write is most of what a world costs
 * the API server beyond its own objects.
 *
 * - A pass that runs before the world cache has seen our last status write (a Deployment's
 *   event came first) would compute the same status from the old one and write it again. The
 *   memory knows which resourceVersion the write was based on: while the cache still holds that
 *   one, the write's own watch event is on its way and brings another pass, so this one waits.
 * - While a world converges (Pending, Provisioning), its ready count moves with every
 *   Deployment that becomes available. Those progress-only changes (same phase, same condition
 *   statuses and reasons) are written at most once per PROGRESS_WINDOW_MS; a phase or condition
 *   transition (Running, a failure) is written at once.
 *
 * Kept small on purpose (a resourceVersion and a time per world), and only for the worlds
 * written in the last ECHO_WAIT_MS: older entries, and a world that is gone, are forgotten.
 */
import type { WorldInstanceStatus } from '../../api/schema.js';

/** How long progress-only status changes of a converging world are held back, at most. */
export const PROGRESS_WINDOW_MS = 5000;
/** How long the memory trusts that the watch will bring our write back; after that it writes again. */
export const ECHO_WAIT_MS = 10_000;

interface Written {
  /** The world's resourceVersion the write was computed from. */
  basedOn: string;
  at: number;
}

/** The part of a status whose change is a transition, not progress. */
const shapeOf = (s: WorldInstanceStatus | undefined): string =>
  JSON.stringify([
    s?.phase,
    s?.observedGeneration,
    s?.revision,
    s?.upToDate,
    [...(s?.conditions ?? [])].sort((a, b) => a.type.localeCompare(b.type)).map((c) => [c.type, c.status, c.reason, c.observedGeneration]),
  ]);

const CONVERGING = new Set(['Pending', 'Provisioning']);

export type StatusDecision = { write: true } | { write: false; retryAfterMs: number };

export class StatusMemory {
  private readonly written = new Map<string, Written>();
  /** Worlds whose last computed status change was held back: work still to do (metrics: anvil_world_status_held). */
  private readonly held = new Set<string>();

  constructor(private readonly clock: () => number = Date.now) {}

  /**
   * Whether a status that differs from the cached one (`live`, at `resourceVersion`) is written
   * now, or held back (and looked at again after retryAfterMs).
   */
  decide(key: string, resourceVersion: string | undefined, live: WorldInstanceStatus | undefined, next: WorldInstanceStatus): StatusDecision {
    const d = this.decision(key, resourceVersion, live, next);
    if (d.write) this.held.delete(key);
    else this.held.add(key);
    return d;
  }

  private decision(key: string, resourceVersion: string | undefined, live: WorldInstanceStatus | undefined, next: WorldInstanceStatus): StatusDecision {
    const last = this.written.get(key);
    if (!last) return { write: true };
    const since = this.clock() - last.at;
    // The cache has not seen our last write yet: its watch event brings the next pass.
    if (resourceVersion === last.basedOn && since < ECHO_WAIT_MS) return { write: false, retryAfterMs: ECHO_WAIT_MS - since };
    const progressOnly = CONVERGING.has(next.phase ?? '') && live?.phase === next.phase && shapeOf(live) === shapeOf(next);
    if (progressOnly && since < PROGRESS_WINDOW_MS) return { write: false, retryAfterMs: PROGRESS_WINDOW_MS - since };
    return { write: true };
  }

  /** A status write computed from `basedOn` was answered with `wrote`. */
  wrote(key: string, basedOn: string | undefined, wrote: string | undefined): void {
    // Without both (or when the server changed nothing) there is no echo to wait for.
    this.written.delete(key);
    const now = this.clock();
    if (basedOn && wrote && basedOn !== wrote) this.written.set(key, { basedOn, at: now });
    // Oldest first (insertion order): what no decision reads any more is let go.
    for (const [k, w] of this.written) {
      if (now - w.at < ECHO_WAIT_MS) break;
      this.written.delete(k);
    }
  }

  /** A pass found the world's status as it should be: nothing of it is held back any more. */
  upToDate(key: string): void {
    this.held.delete(key);
  }

  forget(key: string): void {
    this.written.delete(key);
    this.held.delete(key);
  }

  /** How many worlds have a status change computed but not written yet (held back). */
  get heldBack(): number {
    return this.held.size;
  }

  get size(): number {
    return this.written.size;
  }
}
