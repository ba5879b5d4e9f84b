/**
 * What the claim load test saw of bindings, over the whole run: every world a claim ever
 * named in its status (what a matchmaker is handed), and every claim a world ever carried
 * in its `anvil.dev/claim` label. Exactly once means no world was ever named by two claims
 * and no claim ever named two worlds; a history, not the final state, so that a binding
 * that was undone still counts. A world label that moved from one claim to another is a
 * reservation the reconciler undid (a lost race, a crash between its two writes): reported
 * apart, as it was never handed out twice.
 */

export interface DoubleBindings {
  /** Worlds named by more than one claim's status. */
  worlds: { world: string; claims: string[] }[];
  /** Claims that named more than one world. */
  claims: { claim: string; worlds: string[] }[];
  count: number;
}

const add = (m: Map<string, Set<string>>, k: string, v: string) => {
  const s = m.get(k) ?? new Set<string>();
  s.add(v);
  m.set(k, s);
};

export class BindingLedger {
  private readonly claimWorlds = new Map<string, Set<string>>();
  private readonly worldClaims = new Map<string, Set<string>>();
  private readonly labelClaims = new Map<string, Set<string>>();

  /** A claim's status named `world` (undefined: no world yet). */
  claimSaw(claim: string, world: string | undefined): void {
    if (world === undefined) return;
    add(this.claimWorlds, claim, world);
    add(this.worldClaims, world, claim);
  }

  /** A world carried the claim label `claim` (undefined: unclaimed). */
  worldSaw(world: string, claim: string | undefined): void {
    if (claim !== undefined) add(this.labelClaims, world, claim);
  }

  /** The world a claim was bound to, when it named exactly one. */
  worldOf(claim: string): string | undefined {
    const s = this.claimWorlds.get(claim);
    return s?.size === 1 ? [...s][0] : undefined;
  }

  /** Worlds whose claim label named more than one claim over the run. */
  relabelled(): { world: string; claims: string[] }[] {
    return [...this.labelClaims].filter(([, c]) => c.size > 1).map(([world, c]) => ({ world, claims: [...c].sort() })).sort((a, b) => a.world.localeCompare(b.world));
  }

  doubleBindings(): DoubleBindings {
    const sorted = (s: Set<string>) => [...s].sort();
    const worlds = [...this.worldClaims].filter(([, c]) => c.size > 1).map(([world, c]) => ({ world, claims: sorted(c) })).sort((a, b) => a.world.localeCompare(b.world));
    const claims = [...this.claimWorlds].filter(([, w]) => w.size > 1).map(([claim, w]) => ({ claim, worlds: sorted(w) })).sort((a, b) => a.claim.localeCompare(b.claim));
    return { worlds, claims, count: worlds.length + claims.length };
  }
}

/** A pool world as the load test follows it. */
export interface PoolWorldState {
  phase?: string;
  claim?: string;
  deleting: boolean;
}

/** Unclaimed, Running and not being deleted: what the pool's buffer counts. */
export const readyUnclaimed = (worlds: Iterable<PoolWorldState>): number => {
  let n = 0;
  for (const w of worlds) if (w.phase === 'Running' && w.claim === undefined && !w.deleting) n++;
  return n;
};
