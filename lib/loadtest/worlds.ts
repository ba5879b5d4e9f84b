/**
 * Follows the load test's WorldInstances by list+watch (no polling): the first time each one
 * is seen in phase Running, and its last phase and Ready/Resolved reason otherwise. A watch
 * the server closes (timeouts, restarts) is resumed by a fresh list and a new watch, so no
 * transition is lost.
 */
import { anvil, errorText, type Kube } from './kube.js';

export interface WorldState {
  phase?: string;
  /** Reason and message of the first False condition (why it is not Running). */
  reason?: string;
  message?: string;
  /** performance.now() when Running was first observed. */
  runningAt?: number;
}

interface WatchedWorld {
  metadata?: { name?: string; resourceVersion?: string };
  status?: { phase?: string; conditions?: { type: string; status: string; reason?: string; message?: string }[] };
}

export class WorldTracker {
  readonly states = new Map<string, WorldState>();
  private controller?: AbortController;
  private stopped = false;
  private resourceVersion?: string;
  private waiters: (() => void)[] = [];
  /** Last watch error, for the report when the watch keeps failing. */
  lastError?: string;

  constructor(
    private readonly kube: Kube,
    private readonly namespace: string,
    private readonly labelSelector: string,
    private readonly onChange: () => void = () => {},
  ) {}

  /** Lists, then watches from the list's resourceVersion; resolves once the watch is open. */
  async start(): Promise<void> {
    await this.relist();
    await this.openWatch();
  }

  stop(): void {
    this.stopped = true;
    this.controller?.abort();
    this.notify();
  }

  /** Resolves at the next change (or stop), for a wait loop without polling. */
  changed(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private notify(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
    this.onChange();
  }

  private observe(obj: WatchedWorld): void {
    const name = obj.metadata?.name;
    if (!name) return;
    const state = this.states.get(name) ?? {};
    state.phase = obj.status?.phase;
    const bad = obj.status?.conditions?.find((c) => c.status === 'False');
    state.reason = bad?.reason;
    state.message = bad?.message;
    if (state.phase === 'Running' && state.runningAt === undefined) state.runningAt = performance.now();
    this.states.set(name, state);
  }

  private async relist(): Promise<void> {
    const list = (await this.kube.custom.listNamespacedCustomObject({
      ...anvil,
      namespace: this.namespace,
      plural: 'worldinstances',
      labelSelector: this.labelSelector,
    })) as { items: WatchedWorld[]; metadata?: { resourceVersion?: string } };
    for (const item of list.items) this.observe(item);
    this.resourceVersion = list.metadata?.resourceVersion;
    this.notify();
  }

  private async openWatch(): Promise<void> {
    const path = `/apis/${anvil.group}/${anvil.version}/namespaces/${this.namespace}/worldinstances`;
    this.controller = await this.kube.watch.watch(
      path,
      { labelSelector: this.labelSelector, resourceVersion: this.resourceVersion, allowWatchBookmarks: true },
      (type, obj: WatchedWorld) => {
        if (obj?.metadata?.resourceVersion) this.resourceVersion = obj.metadata.resourceVersion;
        if (type === 'ADDED' || type === 'MODIFIED') {
          this.observe(obj);
          this.notify();
        }
      },
      (err: unknown) => {
        if (this.stopped) return;
        if (err) this.lastError = errorText(err);
        void this.resume();
      },
    );
  }

  /** After the watch ended: relist (catches what was missed, a fresh resourceVersion) and rewatch. */
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
