/**
 * Static WorldPools at synth: each one validated against the CRD schema (the same messages
 * as every other definition), and its game looked up in the catalog, so a pool of an
 * unknown or invalid game is a synth error naming the pool, not a pool that never fills.
 * Pure: no I/O, no cdk8s.
 */
import { error, warning, type Diagnostic } from '../diagnostics/diagnostics.js';
import { validateObject } from '../api/validate.js';
import type { WorldPool } from '../api/schema.js';
import type { Catalog, Sourced } from './catalog.js';

export interface PoolCheck {
  /** The valid pools, with schema defaults filled in. */
  pools: WorldPool[];
  /** The same pools, each with where it was defined. */
  sourced: { pool: WorldPool; source: string }[];
  diagnostics: Diagnostic[];
}

export function checkPools(input: readonly Sourced[], catalog: Catalog): PoolCheck {
  const sourced: { pool: WorldPool; source: string }[] = [];
  const diagnostics: Diagnostic[] = [];
  for (const { object, source } of input) {
    // validateObject fills in defaults in place: give it a copy.
    const copy = structuredClone(object);
    const problems = validateObject(copy, source);
    diagnostics.push(...problems);
    if (problems.length > 0) continue;
    const pool = copy as WorldPool;
    diagnostics.push(...poolSemantics(pool, source, catalog));
    sourced.push({ pool, source });
  }
  return { pools: sourced.map((p) => p.pool), sourced, diagnostics };
}

/** What the schema cannot say: the game exists and is valid, minWorlds ≤ maxWorlds (a CEL rule in the CRD), a buffer that fits. */
function poolSemantics(pool: WorldPool, source: string, catalog: Catalog): Diagnostic[] {
  const out: Diagnostic[] = [];
  const game = pool.spec.gameRef.name;
  if (!catalog.games.has(game)) {
    const message = catalog.invalid.has(`GameDefinition/${game}`)
      ? `depends on invalid game ${game} (its own errors are listed with GameDefinition/${game})`
      : `game ${game} is not defined (no GameDefinition named ${game})`;
    out.push(error(source, 'spec.gameRef.name', message, 'GameNotFound'));
  }
  const { minWorlds = 0, maxWorlds = 100 } = pool.spec;
  if (minWorlds > maxWorlds) out.push(error(source, 'spec.minWorlds', `minWorlds (${minWorlds}) must not exceed maxWorlds (${maxWorlds})`));
  const ready = pool.spec.buffer?.ready ?? 1;
  if (ready > maxWorlds) {
    out.push(warning(source, 'spec.buffer.ready', `a buffer of ${ready} ready worlds cannot be kept with maxWorlds ${maxWorlds}: the pool stops at ${maxWorlds} worlds`));
  }
  return out;
}
