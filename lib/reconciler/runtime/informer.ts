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
 * A relist happens in place and never holds two copies of the objects: the watch is ended
 * as if the API server had said 410 Gone, and ListWatch relists into its own cache as it
 * does after a real 410 (deleting what is gone, adding what is new, updating what changed),
 * then watches again from the list. The list is read item by item (Kube.listRaw,
 * runtime/listItems.ts), and each item is either the cached object itself, when listed
 * again at the resourceVersion already cached (`reusing`), or trimmed to what the cache
 * keeps before the next is read. There is one cache and one index, never a second one
 * being filled beside them.
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

/**
 * A Watch whose events' objects are trimmed before ListWatch stores them, and whose watch in
 * progress can be ended as if the server had said 410 Gone (`gone`): ListWatch then relists
 * in place. A watch ended so reports nothing more (events, or its end when its request is
 * aborted): its ListWatch has moved on.
 */
class TrimmingWatch extends Watch {
  private current?: { ended: boolean; end: (err: unknown) => unknown };

  constructor(
    kc: KubeConfig,
    private readonly trim: <T extends KubernetesObject>(o: T) => T,
  ) {
    super(kc);
  }

  override watch(...[path, params, callback, done]: Parameters<Watch['watch']>): ReturnType<Watch['watch']> {
    const w = {
      ended: false,
      end: (err: unknown): unknown => {
        if (w.ended) return undefined;
        w.ended = true;
        // ListWatch's done handler: a promise that settles once it has relisted and watches again.
        return (done as (e: unknown) => unknown)(err);
      },
    };
    this.current = w;
    return super.watch(path, params, (phase, obj, watchObj) => {
      if (!w.ended) callback(phase, obj && typeof obj === 'object' && phase !== 'ERROR' ? this.trim(obj) : obj, watchObj);
    }, w.end);
  }

  /** Ends the watch in progress with 410 Gone; resolves once ListWatch has relisted. False: no watch in progress. */
  async gone(): Promise<boolean> {
    const w = this.current;
    if (!w || w.ended) return false;
    await w.end(Object.assign(new Error('relist asked for'), { statusCode: 410 }));
    return true;
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

/** One ListWatch, its watch and the index of its objects, kept by the same events. */
interface Cache<T extends KubernetesObject> {
  lw: ListWatch<T>;
  watch: TrimmingWatch;
  index?: CacheIndex<T>;
}


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
   * A fresh list, into the cache in place, as after a 410 Gone: objects gone meanwhile are
   * reported deleted, new ones added, changed ones updated; unchanged ones stay the very
   * objects cached (`reusing`), and every other item is trimmed as it is read. Only on
   * request (SIGHUP). Resolves once the cache holds the list and the watch runs again from it.
   */
  async relist(): Promise<void> {
    if (this.stopped || !this.cache) return;
    if (!(await this.cache.watch.gone())) this.o.log(`informer ${this.o.path}: no relist: its watch is restarting`);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.restartTimer);
    await this.current?.stop();
  }

  /** A ListWatch, its watch and its index. */
  private make(): Cache<T> {
    const trim = this.o.trim ?? trimMetadata;
    // An item listed again at the version cached is the cached object: a relist copies nothing unchanged.
    const listed = reusing<T>(trim, () => lw);
    const meta = this.o.metadataOnly === true;
    const listFn = async () => (await this.kube.listRaw<T>(this.o.path, this.o.labelSelector, listed, meta ? METADATA_LIST_ACCEPT : undefined)) as never;
    const watch = new TrimmingWatch(meta ? withAccept(this.kc, METADATA_WATCH_ACCEPT) : this.kc, trim);
    const lw: ListWatch<T> = new ListWatch<T>(this.o.path, watch, listFn, false, this.o.labelSelector);
    // The index follows every change of this ListWatch's cache (its initial list, watch events,
    // a relist and the deletions it finds).
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
      // Errors of a cache stopped (or replaced by a later start()) are not ours to handle.
      if (lw !== this.current || this.stopped) return;
      this.scheduleRestart(lw, err);
    });
    return index ? { lw, watch, index } : { lw, watch };
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
