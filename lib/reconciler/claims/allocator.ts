/**
 * The allocator's bookkeeping (issue 20), pure: no I/O, no clock. Per pool, the worlds the
 * informers last showed as spare candidates, in the order they became candidates; the
 * reservations of worlds whose commit write is in flight; and, per namespace, which world
 * each endpoint request id was given (from the world's `anvil.dev/allocation` stamp, so a
 * retried request finds its world after a restart too).
 *
 * A candidate is only a hint: `take` asks the caller to check each one against the cache
 * with the planner's own rule (plan.ts `isSpare`), so the hot path needs no List and no
 * planning pass, and can never give a world the namespace pass would not.
 */
import type { WorldView } from './plan.js';

const key = (namespace: string, name: string) => `${namespace}/${name}`;

export class Allocator {
  /** `namespace/pool` -> candidate world names (insertion order: when they became candidates). */
  private readonly candidates = new Map<string, Set<string>>();
  /** world name key -> the pool queue it sits in. */
  private readonly queueOf = new Map<string, string>();
  /** world uid -> who holds it (a claim uid, or `request:<id>`). */
  private readonly reservations = new Map<string, string>();
  /** `namespace/requestId` -> world name. */
  private readonly byRequest = new Map<string, string>();
  private readonly requestOf = new Map<string, string>();
  /** world name key -> the claim uid it is stamped for; claim uid -> how many worlds. */
  private readonly claimOf = new Map<string, string>();
  private readonly stampedFor = new Map<string, number>();

  /**
   * What an informer event shows of a world: `pool` when it may be a spare of that pool (a
   * pool world, not claimed, not allocated, not being deleted), undefined otherwise;
   * `requestId` its allocation stamp.
   */
  observe(namespace: string, world: string, pool: string | undefined, requestId?: string, claimUid?: string): void {
    const wk = key(namespace, world);
    const queue = pool ? key(namespace, pool) : undefined;
    const was = this.queueOf.get(wk);
    if (was !== queue) {
      if (was) this.candidates.get(was)?.delete(wk);
      if (queue) {
        if (!this.candidates.has(queue)) this.candidates.set(queue, new Set());
        this.candidates.get(queue)!.add(wk);
        this.queueOf.set(wk, queue);
      } else this.queueOf.delete(wk);
    }
    const oldRequest = this.requestOf.get(wk);
    if (oldRequest !== requestId) {
      if (oldRequest) this.byRequest.delete(key(namespace, oldRequest));
      if (requestId) {
        this.byRequest.set(key(namespace, requestId), world);
        this.requestOf.set(wk, requestId);
      } else this.requestOf.delete(wk);
    }
    const oldClaim = this.claimOf.get(wk);
    if (oldClaim !== claimUid) {
      if (oldClaim) this.count(oldClaim, -1);
      if (claimUid) {
        this.claimOf.set(wk, claimUid);
        this.count(claimUid, 1);
      } else this.claimOf.delete(wk);
    }
  }

  private count(claimUid: string, by: number): void {
    const n = (this.stampedFor.get(claimUid) ?? 0) + by;
    if (n > 0) this.stampedFor.set(claimUid, n);
    else this.stampedFor.delete(claimUid);
  }

  /** A world is stamped for this claim already (a half-done binding: the namespace pass repairs it, nothing else binds it). */
  hasWorld(claimUid: string): boolean {
    return this.stampedFor.has(claimUid);
  }

  /** The world is gone. */
  forget(namespace: string, world: string): void {
    this.observe(namespace, world, undefined, undefined, undefined);
  }

  /** The world an endpoint request id was given, as the informers show it. */
  worldOfRequest(namespace: string, requestId: string): string | undefined {
    return this.byRequest.get(key(namespace, requestId));
  }

  /** Candidate world names of a pool, oldest candidate first. */
  candidatesOf(namespace: string, pool: string): string[] {
    return [...(this.candidates.get(key(namespace, pool)) ?? [])].map((wk) => wk.slice(namespace.length + 1));
  }

  /**
   * Picks and reserves a world for `holder` from the first of `pools` (in order) that has a
   * spare: `view` turns a candidate name into its current view (undefined when the cache no
   * longer has it), `spare` is the planner's rule, `better` orders the spares of one pool.
   */
  take(
    namespace: string,
    pools: readonly string[],
    holder: string,
    view: (world: string) => WorldView | undefined,
    spare: (w: WorldView, pool: string) => boolean,
    better: (pool: string) => (a: WorldView, b: WorldView) => number,
  ): { world: WorldView; pool: string } | undefined {
    for (const pool of pools) {
      const spares: WorldView[] = [];
      for (const name of this.candidatesOf(namespace, pool)) {
        const w = view(name);
        if (w && !this.reservations.has(w.uid) && spare(w, pool)) spares.push(w);
      }
      if (spares.length === 0) continue;
      const world = spares.sort(better(pool))[0]!;
      this.reservations.set(world.uid, holder);
      return { world, pool };
    }
    return undefined;
  }

  reserve(worldUid: string, holder: string): void {
    this.reservations.set(worldUid, holder);
  }

  /** The reservation of a world (its commit is done, or failed with a known outcome). */
  release(worldUid: string, holder?: string): void {
    if (holder === undefined || this.reservations.get(worldUid) === holder) this.reservations.delete(worldUid);
  }

  holderOf(worldUid: string): string | undefined {
    return this.reservations.get(worldUid);
  }
}
