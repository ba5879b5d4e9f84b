/**
 * What a WorldPool's worlds are made of: the pool spec with the CRD's defaults, and the hash
 * that tells an up-to-date pool world from an old one. Shared by the pool controller (which
 * creates and replaces pool worlds) and the claim controller (which binds only current ones).
 */
import { createHash } from 'node:crypto';
import type { WorldPool } from '../../api/schema.js';
import { LABEL_POOL } from '../../render/labels.js';

/** The pool spec with the CRD's defaults, as the API server would have filled them. */
export function poolSpec(pool: WorldPool) {
  const s = pool.spec;
  return {
    game: s.gameRef.name,
    region: s.region ?? 'default',
    shards: s.shards ?? 1,
    worldLabels: s.worldLabels ?? {},
    buffer: s.buffer?.ready ?? 1,
    minWorlds: s.minWorlds ?? 0,
    maxWorlds: s.maxWorlds ?? 100,
  };
}

/** A hash of what a pool world is made of: a world with another hash is out of date. */
export function templateHash(pool: WorldPool): string {
  const s = poolSpec(pool);
  const labels = Object.entries(s.worldLabels).sort(([a], [b]) => a.localeCompare(b));
  return createHash('sha256').update(JSON.stringify([s.game, s.region, s.shards, labels])).digest('hex').slice(0, 16);
}

export const poolSelector = (pool: WorldPool): string => `${LABEL_POOL}=${pool.metadata.name}`;
