/**
 * A secondary index of an informer cache: from a key (an owner's uid) to the cached objects
 * that carry it, kept in step with the cache on every add, update and delete, from a list,
 * a watch or a relist alike. It lets the applier visit only the objects of the world it
 * syncs instead of every object of the namespace (the stale-object scan was O(objects in
 * the namespace) per pass, O(N²) for a burst of N worlds).
 *
 * It holds references to the cache's own objects, never copies: its cost is a map entry per
 * object and a small array per key.
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import { ANNOTATION_WORLD_UID } from '../../render/labels.js';

/**
 * The index keys of an object: the uid of each of its ownerReferences, and the world uid of
 * a claim kept when its world is deleted (it has no owner reference: render/world.ts).
 */
export const ownerUids = (o: KubernetesObject): readonly string[] => {
  const uids = (o.metadata?.ownerReferences ?? []).map((r) => r.uid).filter((uid): uid is string => !!uid);
  const world = o.metadata?.annotations?.[ANNOTATION_WORLD_UID];
  return world ? [...uids, world] : uids;
};

/** Keys filed for one object: one key (the common case: one owner) kept as a plain string. */
type Keys = string | readonly string[];
const asList = (k: Keys | undefined): readonly string[] => (k === undefined ? [] : typeof k === 'string' ? [k] : k);
const sameObject = (a: KubernetesObject, ns: string, name: string) => (a.metadata?.namespace ?? '') === ns && (a.metadata?.name ?? '') === name;

export class CacheIndex<T extends KubernetesObject> {
  /** Index key → the cached objects filed under it (a few per key: one world's objects of a kind). */
  private readonly byKey = new Map<string, T[]>();
  /**
   * Namespace → name → the keys the object is filed under now (to unfile it when an update
   * changes them). Keyed by the object's own name and namespace strings: no new string per object.
   */
  private readonly keysOf = new Map<string, Map<string, Keys>>();

  constructor(private readonly keys: (o: T) => readonly string[]) {}

  /** An object added or updated: filed under its keys now, and no longer under keys it lost. */
  set(o: T): void {
    const ns = o.metadata?.namespace ?? '';
    const name = o.metadata?.name ?? '';
    const keys = this.keys(o);
    const inNs = this.keysOf.get(ns);
    for (const k of asList(inNs?.get(name))) if (!keys.includes(k)) this.unfile(k, ns, name);
    if (keys.length === 0) {
      this.forget(ns, name);
      return;
    }
    if (inNs) inNs.set(name, keys.length === 1 ? keys[0]! : keys);
    else this.keysOf.set(ns, new Map([[name, keys.length === 1 ? keys[0]! : keys]]));
    for (const k of keys) {
      const objects = this.byKey.get(k);
      if (!objects) {
        this.byKey.set(k, [o]);
        continue;
      }
      const i = objects.findIndex((x) => sameObject(x, ns, name));
      if (i >= 0) objects[i] = o;
      else objects.push(o);
    }
  }

  delete(o: T): void {
    const ns = o.metadata?.namespace ?? '';
    const name = o.metadata?.name ?? '';
    for (const k of asList(this.keysOf.get(ns)?.get(name))) this.unfile(k, ns, name);
    this.forget(ns, name);
  }

  /** The objects filed under `key` (a new array: the caller may keep it while the cache changes). */
  get(key: string): T[] {
    return [...(this.byKey.get(key) ?? [])];
  }

  /** How many keys hold objects (for tests: emptied keys are dropped, not kept). */
  get size(): number {
    return this.byKey.size;
  }

  private forget(ns: string, name: string): void {
    const inNs = this.keysOf.get(ns);
    if (!inNs?.delete(name)) return;
    if (inNs.size === 0) this.keysOf.delete(ns);
  }

  private unfile(key: string, ns: string, name: string): void {
    const objects = this.byKey.get(key);
    if (!objects) return;
    const i = objects.findIndex((x) => sameObject(x, ns, name));
    if (i >= 0) objects.splice(i, 1);
    if (objects.length === 0) this.byKey.delete(key);
  }
}
