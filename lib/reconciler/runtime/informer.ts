/**
 * A cache of one resource kind kept by list+watch (client-node's makeInformer/ListWatch),
 * made to last: a watch or list that fails is restarted after a backoff; the restarted
 * watch resumes from the last resourceVersion, and ListWatch relists (delivering deletions
 * missed while disconnected as deletes) when that version is gone (410) or the list failed. Objects pass through `trim` (lib/reconciler/runtime/trim.ts) on their way
 * into the cache, from the list and from the watch alike, so the cache holds only what the
 * reconciler reads. An informer may keep a secondary index (`indexBy`, see cacheIndex.ts),
 * maintained by the same events that maintain the cache.
 *
 * A metadata-only informer (`metadataOnly`) asks the API server for PartialObjectMetadata
 * (the Accept headers of METADATA_LIST_ACCEPT / METADATA_WATCH_ACCEPT, as client-go's
 * metadata informers do): for kinds whose content is never read, nothing but metadata is
 * ever sent, parsed or cached. client-node's Watch has no way to set a header, so its
 * KubeConfig is wrapped (`withAccept`): the request machinery stays client-node's own.
 *
 * A relist never holds two copies of the objects: an object listed again at the
 * resourceVersion already cached is the cached object itself (`reusing`), so the fresh
 * cache shares every unchanged object with the old one, and the listed copy is dropped with
 * its page. The same holds for the relist ListWatch does itself after a 410.
 */
import { ListWatch, Watch, type KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import { CacheIndex } from './cacheIndex.js';
import { METADATA_LIST_ACCEPT, METADATA_WATCH_ACCEPT, type Kube } from './kube.js';
import { trimMetadata } from './trim.js';

/** `kc`, with `accept` as the Accept header of every request made through applyToFetchOptions (client-node's Watch). */
export function withAccept(kc: KubeConfig, accept: string): KubeConfig {
  const wrapped = Object.create(kc) as KubeConfig;
  wrapped.applyToFetchOptions = (opts) => kc.applyToFetchOptions({ ...opts, headers: { ...opts.headers, Accept: accept } });
  return wrapped;
}

/**
 * `trim`, except that an object whose uid and resourceVersion are those of the object cached
 * under its name (in `cached()`) is that cached object: unchanged objects are not copied.
 */
export function reusing<T extends KubernetesObject>(trim: (o: T) => T, cached: () => ListWatch<T> | undefined): (o: T) => T {
  return (o) => {
    const m = o.metadata;
    const old = m?.name ? cached()?.get(m.name, m.namespace) : undefined;
    if (old && m?.resourceVersion && old.metadata?.resourceVersion === m.resourceVersion && old.metadata?.uid === m.uid) return old;
    return trim(o);
  };
}

/** A Watch whose events' objects are trimmed before ListWatch stores them. */
class TrimmingWatch extends Watch {
  constructor(
    kc: KubeConfig,
    private readonly trim: <T extends KubernetesObject>(o: T) => T,
  ) {
    super(kc);
  }

  override watch(...[path, params, callback, done]: Parameters<Watch['watch']>): ReturnType<Watch['watch']> {
    return super.watch(path, params, (phase, obj, watchObj) => callback(phase, obj && typeof obj === 'object' && phase !== 'ERROR' ? this.trim(obj) : obj, watchObj), done);
  }
}
export type InformerEvent = 'add' | 'update' | 'delete';

export interface InformerOptions<T> {
  /** Collection path, e.g. `/apis/apps/v1/deployments`. */
  path: string;
  labelSelector?: string;
  onEvent: (event: InformerEvent, obj: T) => void;
  log: (msg: string) => void;
  /** Cuts an object down to what is read, in place; default: drops managedFields. */
  trim?: <U extends KubernetesObject>(o: U) => U;
  /** Keys to index the cached objects by (`byIndex`), e.g. their owners' uids (ownerUids). */
  indexBy?: (o: T) => readonly string[];
  /** Lists and watches metadata only (PartialObjectMetadata): for kinds whose content is never read. */
  metadataOnly?: boolean;
}

/** One ListWatch and the index of its objects: a relist builds a new pair and swaps both at once. */
interface Cache<T extends KubernetesObject> {
  lw: ListWatch<T>;
  index?: CacheIndex<T>;
}


const keyOf = (o: KubernetesObject): string => `${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;

export class Informer<T extends KubernetesObject> {
  private cache?: Cache<T>;
  private restartTimer?: NodeJS.Timeout;
  private failures = 0;
  private stopped = false;
  private synced = false;

  constructor(
    private readonly kc: KubeConfig,
    private readonly kube: Kube,
    private readonly o: InformerOptions<T>,
  ) {}

  get hasSynced(): boolean {
    return this.synced;
  }

  private get current(): ListWatch<T> | undefined {
    return this.cache?.lw;
  }

  get(name: string, namespace?: string): T | undefined {
    return this.current?.get(name, namespace);
  }

  list(namespace?: string): readonly T[] {
    return this.current?.list(namespace) ?? [];
  }

  /** The cached objects filed under `key` by `indexBy` (none without an indexBy). */
  byIndex(key: string): readonly T[] {
    return this.cache?.index?.get(key) ?? [];
  }

  /** Lists and starts watching; resolves once the first list is in the cache. */
  async start(): Promise<void> {
    this.stopped = false;
    this.cache = this.make();
    await this.startOrRetry(this.cache.lw);
  }

  /**
   * A fresh list, swapped in when complete (never a half-filled cache); objects gone
   * meanwhile are reported deleted. Only on request (SIGHUP). Unchanged objects are shared
   * with the old cache (`reusing`): while it runs, only the changed ones exist twice.
   */
  async relist(): Promise<void> {
    if (this.stopped) return;
    const old = this.current;
    const next = this.make(old);
    const fresh = next.lw;
    let failed = false;
    fresh.on('error', () => (failed = true));
    await fresh.start();
    if (failed || this.stopped) {
      await fresh.stop();
      return;
    }
    // The fresh list filled its own index as it filled its cache: both are swapped in together.
    this.cache = next;
    if (old) {
      await old.stop();
      const now = new Set(fresh.list().map(keyOf));
      for (const o of old.list()) if (!now.has(keyOf(o))) this.o.onEvent('delete', o);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.restartTimer);
    await this.current?.stop();
  }

  /** A ListWatch and its index; `previous`: the cache it replaces, whose unchanged objects it shares. */
  private make(previous?: ListWatch<T>): Cache<T> {
    const trim = this.o.trim ?? trimMetadata;
    // Before its first list the fresh cache is empty: objects are looked up in the one it
    // replaces; afterwards (ListWatch's own relist after a 410) in itself.
    let listedOnce = false;
    const listed = reusing<T>(trim, () => (listedOnce ? lw : previous));
    const meta = this.o.metadataOnly === true;
    const listFn = async () => {
      const list = await this.kube.listRaw<T>(this.o.path, this.o.labelSelector, listed, meta ? METADATA_LIST_ACCEPT : undefined);
      listedOnce = true;
      return list as never;
    };
    const watch = new TrimmingWatch(meta ? withAccept(this.kc, METADATA_WATCH_ACCEPT) : this.kc, trim);
    const lw: ListWatch<T> = new ListWatch<T>(this.o.path, watch, listFn, false, this.o.labelSelector);
    // The index follows every change of this ListWatch's cache (its initial list, watch events,
    // the relist after a 410 and the deletions it finds), whether or not it is current yet.
    const index = this.o.indexBy ? new CacheIndex<T>(this.o.indexBy) : undefined;
    if (index) {
      lw.on('add', (o: T) => index.set(o));
      lw.on('update', (o: T) => index.set(o));
      lw.on('delete', (o: T) => index.delete(o));
    }
    const forward = (event: InformerEvent) => (obj: T) => {
      if (lw === this.current) this.o.onEvent(event, obj);
    };
    lw.on('add', forward('add'));
    lw.on('update', forward('update'));
    lw.on('delete', forward('delete'));
    lw.on('connect', () => this.kube.count('watch', 200));
    lw.on('error', (err: unknown) => {
      // Errors of a cache that was swapped out (its watch aborted) are not ours to handle.
      if (lw !== this.current || this.stopped) return;
      this.scheduleRestart(lw, err);
    });
    return index ? { lw, index } : { lw };
  }

  private async startOrRetry(lw: ListWatch<T>): Promise<void> {
    let failed = false;
    const onError = () => (failed = true);
    lw.on('error', onError);
    await lw.start().catch(() => (failed = true));
    lw.off('error', onError);
    if (!failed) {
      this.synced = true;
      this.failures = 0;
      return;
    }
    // The error handler has scheduled a restart; wait for a successful one.
    await new Promise<void>((resolve) => {
      const poll = setInterval(() => {
        if (this.synced || this.stopped) {
          clearInterval(poll);
          resolve();
        }
      }, 100);
    });
  }

  private scheduleRestart(lw: ListWatch<T>, err: unknown): void {
    if (this.restartTimer) return;
    const delay = Math.min(500 * 2 ** this.failures, 30_000);
    this.failures++;
    this.o.log(`informer ${this.o.path}: ${err instanceof Error ? err.message : String(err)}; restarting in ${delay} ms`);
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      if (lw !== this.current || this.stopped) return;
      let failed = false;
      const onError = () => (failed = true);
      lw.on('error', onError);
      lw.start()
        .catch(() => (failed = true))
        .finally(() => {
          lw.off('error', onError);
          if (!failed) {
            this.synced = true;
            this.failures = 0;
          }
        });
    }, delay);
    this.restartTimer.unref();
  }
}
