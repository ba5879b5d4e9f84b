/**
 * What this process has just written and its informer cache does not show yet. After a
 * write based on version V of an object, the cache holds V (or older) until the watch
 * delivers the write; until then, readers see the written object instead. The first
 * version after V that the cache shows is our write (it was conditional on V) or a later
 * one, so the entry is dropped as soon as the cache's version differs from V. Entries
 * left behind (the object deleted meanwhile) are pruned after a while.
 */
import type { KubernetesObject } from '@kubernetes/client-node';

interface Entry<T> {
  basedOn: string;
  written: T;
  at: number;
}

export class WriteOverlay<T extends KubernetesObject = KubernetesObject> {
  private readonly entries = new Map<string, Entry<T>>();

  constructor(private readonly maxAgeMs = 120_000) {}

  /** `basedOn`: the resourceVersion the write was conditional on; `written`: the server's answer. */
  record(uid: string, basedOn: string, written: T): void {
    this.entries.set(uid, { basedOn, written, at: Date.now() });
  }

  view(cached: T): T {
    const uid = cached.metadata?.uid;
    const e = uid ? this.entries.get(uid) : undefined;
    if (!e || !uid) return cached;
    if (cached.metadata?.resourceVersion === e.basedOn && Date.now() - e.at < this.maxAgeMs) return e.written;
    this.entries.delete(uid);
    return cached;
  }

  get size(): number {
    return this.entries.size;
  }

  prune(now = Date.now()): void {
    for (const [uid, e] of this.entries) if (now - e.at >= this.maxAgeMs) this.entries.delete(uid);
  }
}
