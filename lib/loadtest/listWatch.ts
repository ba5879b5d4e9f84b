/**
 * List, then watch from the list's resourceVersion, for one collection of custom objects
 * (namespace, label or field selector): every ADDED/MODIFIED/DELETED object goes to
 * `onEvent`, and `changed()` wakes a wait loop without polling. A watch the server closes
 * (timeouts, restarts, 410 Gone) is resumed with a fresh list, so no transition is lost
 * (a resumed list reports what changed meanwhile as ADDED).
 */
import { errorText, type Kube } from '../client/kube.js';
import { anvil } from '../client/kube.js';

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface Watched {
  metadata?: { name?: string; resourceVersion?: string; labels?: Record<string, string>; deletionTimestamp?: string };
  [k: string]: unknown;
}

export interface ListWatchOptions {
  namespace: string;
  plural: string;
  labelSelector?: string;
  fieldSelector?: string;
}

export class ListWatch<T extends Watched = Watched> {
  private controller?: AbortController;
  private stopped = false;
  private resourceVersion?: string;
  private waiters: (() => void)[] = [];
  /** Last watch error, for the report when the watch keeps failing. */
  lastError?: string;

  constructor(
    private readonly kube: Kube,
    private readonly opts: ListWatchOptions,
    private readonly onEvent: (type: WatchEventType, obj: T) => void,
  ) {}

  /** Lists, then watches; resolves once the watch is open. */
  async start(): Promise<void> {
    await this.relist();
    await this.openWatch();
  }

  stop(): void {
    this.stopped = true;
    this.controller?.abort();
    this.notify();
  }

  /** Resolves at the next change (or stop). */
  changed(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private notify(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  private selectors(): Record<string, string> {
    return {
      ...(this.opts.labelSelector ? { labelSelector: this.opts.labelSelector } : {}),
      ...(this.opts.fieldSelector ? { fieldSelector: this.opts.fieldSelector } : {}),
    };
  }

  private async relist(): Promise<void> {
    const list = (await this.kube.custom.listNamespacedCustomObject({ ...anvil, namespace: this.opts.namespace, plural: this.opts.plural, ...this.selectors() })) as {
      items: T[];
      metadata?: { resourceVersion?: string };
    };
    for (const item of list.items) this.onEvent('ADDED', item);
    this.resourceVersion = list.metadata?.resourceVersion;
    this.notify();
  }

  private async openWatch(): Promise<void> {
    const path = `/apis/${anvil.group}/${anvil.version}/namespaces/${this.opts.namespace}/${this.opts.plural}`;
    this.controller = await this.kube.watch.watch(
      path,
      { ...this.selectors(), resourceVersion: this.resourceVersion, allowWatchBookmarks: true },
      (type: string, obj: T) => {
        if (obj?.metadata?.resourceVersion) this.resourceVersion = obj.metadata.resourceVersion;
        if (type === 'ADDED' || type === 'MODIFIED' || type === 'DELETED') {
          this.onEvent(type, obj);
          this.notify();
        }
      },
      (err: unknown) => {
        if (this.stopped) return;
        if (err) this.lastError = errorText(err);
        void this.resume();
      },
    );
    if (this.stopped) this.controller.abort();
  }

  private async resume(): Promise<void> {
    for (let attempt = 0; !this.stopped; attempt++) {
      try {
        await this.relist();
        if (!this.stopped) await this.openWatch();
        return;
      } catch (e) {
        this.lastError = errorText(e);
        await new Promise((r) => setTimeout(r, Math.min(5000, 250 * 2 ** attempt)));
      }
    }
  }
}
