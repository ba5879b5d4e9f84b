/**
 * A secondary index of an informer cache: from a key (an owner's uid) to the cached objects
 * that carry it, kept in step with the cache on every add, update and delete, from a list,
 * a watch or a relist alike. It lets the applier visit only the objects of the world it
 * syncs instead of every object of the namespace (the stale-object scan was O(objects in
 * the namespace) per pass, O(N²) for a burst of N worlds).
 *
 * It holds references to the cache's own objects, never copies: its cost is two map entries
 * per object.
 */
import type { KubernetesObject } from '@kubernetes/client-node';

/** The index keys of an object: the uid of each of its ownerReferences. */
export const ownerUids = (o: KubernetesObject): readonly string[] => (o.metadata?.ownerReferences ?? []).map((r) => r.uid).filter((uid): uid is string => !!uid);

const idOf = (o: KubernetesObject): string => `${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;

export class CacheIndex<T extends KubernetesObject> {
  /** Index key → object id (namespace/name) → the cached object. */
  private readonly byKey = new Map<string, Map<string, T>>();
  /** Object id → the keys it is filed under now (to unfile it when an update changes them). */
  private readonly keysOf = new Map<string, readonly string[]>();

  constructor(private readonly keys: (o: T) => readonly string[]) {}

  /** An object added or updated: filed under its keys now, and no longer under keys it lost. */
  set(o: T): void {
    const id = idOf(o);
    const keys = this.keys(o);
    const before = this.keysOf.get(id);
    if (before) for (const k of before) if (!keys.includes(k)) this.unfile(k, id);
    if (keys.length === 0) {
      this.keysOf.delete(id);
      return;
    }
    this.keysOf.set(id, keys);
    for (const k of keys) {
      let objects = this.byKey.get(k);
      if (!objects) this.byKey.set(k, (objects = new Map()));
      objects.set(id, o);
    }
  }

  delete(o: T): void {
    const id = idOf(o);
    for (const k of this.keysOf.get(id) ?? []) this.unfile(k, id);
    this.keysOf.delete(id);
  }

  /** The objects filed under `key` (a new array: the caller may keep it while the cache changes). */
  get(key: string): T[] {
    const objects = this.byKey.get(key);
    return objects ? [...objects.values()] : [];
  }

  /** How many keys hold objects (for tests: emptied keys are dropped, not kept as empty maps). */
  get size(): number {
    return this.byKey.size;
  }

  private unfile(key: string, id: string): void {
    const objects = this.byKey.get(key);
    if (!objects) return;
    objects.delete(id);
    if (objects.size === 0) this.byKey.delete(key);
  }
}
