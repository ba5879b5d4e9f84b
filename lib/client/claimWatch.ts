/**
 * The watches claimWorld() shares across calls (issue 20): a matchmaker making 45 claims a
 * second holds one watch per namespace and kind, not 45. A watch is opened at its first
 * waiter, from the resourceVersion that waiter's create returned, and closed a while after
 * its last waiter is done. Each event goes to the waiters of its key (others' are ignored).
 *
 * - `claimWatch`: the namespace's WorldClaims, keyed by name; the verdict (Bound, Failed) the
 *   client must not miss. A waiter whose claim was created before the watch (re)opened is read
 *   once, so no verdict between its create and the watch is missed; a watch the server ends
 *   (timeout, 410 Gone) is reopened and every waiter read once. RBAC: `watch`, `get` on
 *   worldclaims (the anvil-matchmaker Role has them).
 * - `stampWatch`: the namespace's claimed WorldInstances (label `anvil.dev/claim`), keyed by
 *   the claim uid the binding's commit stamps on the world. The commit is the binding; the
 *   claim's Bound status is written after it, so a client that sees the stamp has its world
 *   one write sooner. Only a shortcut: the claim watch still decides when it is first, and a
 *   caller without `watch` on worldinstances (401/403) simply does without it.
 *
 * A waiter joins after its create returned, but the watch is already streaming: the claim's
 * events (its stamp, its Bound status) can arrive between the create's reply and `follow`,
 * when the reconciler is faster than the caller's event loop (measured: 1 claim of 150 at
 * 45/s waited out its deadline so). So the latest event of each key nobody follows yet is kept
 * a short while (RECENT_MS, at most RECENT_MAX keys), and a waiter that joins finds it there.
 */
import { CustomObjectsApi, KubeConfig, Watch } from '@kubernetes/client-node';
import { GROUP, VERSION } from '../api/schema.js';
import { ANNOTATION_CLAIM_UID, LABEL_CLAIM } from '../render/labels.js';
import { statusOf } from './kube.js';

export interface WatchedObject {
  metadata?: { name?: string; resourceVersion?: string; deletionTimestamp?: string; annotations?: Record<string, string> };
  status?: unknown;
}

type Listener = (type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'GONE', obj?: WatchedObject) => void;

interface WatchSpec {
  plural: string;
  labelSelector?: string;
  /** The waiter key an object's events go to. */
  keyOf: (obj: WatchedObject) => string | undefined;
  /** One read of a waiter's object after the watch (re)opened ('gone': it does not exist); none for a shortcut watch. */
  read?: (key: string) => Promise<WatchedObject | 'gone' | undefined>;
  /** Refused (401, 403): the caller does without this watch instead of retrying it. */
  optional?: boolean;
}

/** How long a watch with no waiter stays open. */
const IDLE_MS = 30_000;
/** How long, and for how many keys, the latest event of a key nobody follows is kept for a waiter about to join. */
const RECENT_MS = 30_000;
const RECENT_MAX = 2048;

type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';
interface Recent {
  type: EventType;
  obj: WatchedObject;
  at: number;
}

/**
 * True when resourceVersion `a` is known to be at or after `b`. resourceVersions are opaque
 * to clients; kube-apiserver's are etcd revisions (integers), and anything else compares as
 * unknown, which costs one GET, never a missed verdict.
 */
const after = (a: string | undefined, b: string | undefined): boolean => !!a && !!b && /^\d+$/.test(a) && /^\d+$/.test(b) && BigInt(a) >= BigInt(b);

export class NamespaceWatch {
  /** Key -> its waiters (calls retried with one request id at once follow one claim). */
  private readonly waiters = new Map<string, Set<Listener>>();
  private controller?: AbortController;
  private opening?: Promise<void>;
  private resourceVersion?: string;
  /** The resourceVersion the watch began from. */
  private startedAt?: string;
  private generation = 0;
  private idle?: NodeJS.Timeout;
  /** An optional watch the server refused: not asked again by this process. */
  private refused = false;
  /** The latest event of each key that had no waiter when it came (oldest first). */
  private readonly recent = new Map<string, Recent>();

  constructor(
    private readonly kc: KubeConfig,
    private readonly namespace: string,
    private readonly spec: WatchSpec,
  ) {}

  /** Follows `key` (its object created at `createdRv`) until the returned stop function is called. */
  follow(key: string, createdRv: string | undefined, listener: Listener): () => void {
    if (this.refused) return () => undefined;
    if (!this.waiters.has(key)) this.waiters.set(key, new Set());
    this.waiters.get(key)!.add(listener);
    clearTimeout(this.idle);
    if (!this.controller && !this.opening) {
      this.resourceVersion = createdRv;
      this.startedAt = createdRv;
      this.reopen();
    } else if (!after(createdRv, this.startedAt)) {
      // Created before the watch's start (or not comparable): its verdict may precede the watch.
      void (this.opening ?? Promise.resolve()).then(() => this.read(key));
    } else {
      this.replayRecent(key, createdRv);
    }
    return () => {
      const set = this.waiters.get(key);
      set?.delete(listener);
      if (set?.size === 0) this.waiters.delete(key);
      // Kept open a while when idle: claims one after another share it too.
      if (this.waiters.size === 0) this.idle = setTimeout(() => this.close(), IDLE_MS).unref();
    };
  }

  private reopen(): void {
    const p: Promise<void> = this.open().finally(() => {
      if (this.opening === p) this.opening = undefined;
    });
    this.opening = p;
  }

  private close(): void {
    if (this.waiters.size > 0) return;
    this.generation++;
    this.controller?.abort();
    this.controller = undefined;
    this.opening = undefined;
  }

  /** Opens the watch; a refused or failed attempt is tried again with backoff while anyone waits. */
  private async open(): Promise<void> {
    const generation = ++this.generation;
    for (let attempt = 0; this.waiters.size > 0 && generation === this.generation; attempt++) {
      const failure = await this.connect(generation);
      if (failure === undefined) return;
      if (this.spec.optional && (statusOf(failure) === 401 || statusOf(failure) === 403)) return this.refuse();
      this.resourceVersion = undefined;
      await new Promise((r) => setTimeout(r, Math.min(2000, 100 * 2 ** attempt)));
    }
  }

  /** One watch request: undefined once it streams, else why not (client-node reports a refusal through `done`, before it returns). */
  private async connect(generation: number): Promise<unknown> {
    const path = `/apis/${GROUP}/${VERSION}/namespaces/${this.namespace}/${this.spec.plural}`;
    let streaming = false;
    let refusal: unknown;
    try {
      const controller = await new Watch(this.kc).watch(
        path,
        { ...(this.resourceVersion ? { resourceVersion: this.resourceVersion } : {}), ...(this.spec.labelSelector ? { labelSelector: this.spec.labelSelector } : {}), allowWatchBookmarks: true },
        (type, obj: WatchedObject) => this.onEvent(type, obj),
        (err) => {
          if (!streaming) return void (refusal = err ?? new Error('the watch closed at once'));
          if (generation !== this.generation) return;
          this.controller = undefined;
          if (this.waiters.size > 0) this.reopen();
        },
      );
      if (refusal !== undefined) return refusal;
      streaming = true;
      this.controller = controller;
      if (generation !== this.generation) controller.abort();
    } catch (e) {
      return e;
    }
    this.startedAt = this.resourceVersion;
    // Objects created before this watch began may have moved meanwhile: read each once.
    for (const key of this.waiters.keys()) void this.read(key);
    return undefined;
  }

  /** Stops following everyone: a shortcut the server refuses is not asked again. */
  private refuse(): void {
    this.refused = true;
    this.waiters.clear();
  }

  private onEvent(type: string, obj: WatchedObject): void {
    if (obj?.metadata?.resourceVersion) this.resourceVersion = obj.metadata.resourceVersion;
    if (type === 'ERROR') this.resourceVersion = undefined; // e.g. 410 Gone: reopen from now, and read every waiter
    if (type !== 'ADDED' && type !== 'MODIFIED' && type !== 'DELETED') return;
    const key = this.spec.keyOf(obj) ?? '';
    const listeners = this.waiters.get(key);
    if (!listeners) return this.keepRecent(key, type, obj);
    for (const l of [...listeners]) l(type, obj);
  }

  private keepRecent(key: string, type: EventType, obj: WatchedObject): void {
    if (!key) return;
    const now = performance.now();
    this.recent.delete(key);
    this.recent.set(key, { type, obj, at: now });
    for (const [k, r] of this.recent) {
      if (this.recent.size <= RECENT_MAX && now - r.at < RECENT_MS) break;
      this.recent.delete(k);
    }
  }

  /**
   * A waiter joining a streaming watch: the event its key had before it joined, if that came
   * at or after its create (an older one is another object of the same name), is handed to it
   * on the next tick (its caller has its stop function by then).
   */
  private replayRecent(key: string, createdRv: string | undefined): void {
    const r = this.recent.get(key);
    if (!r || performance.now() - r.at >= RECENT_MS || !after(r.obj.metadata?.resourceVersion, createdRv)) return;
    this.recent.delete(key);
    queueMicrotask(() => {
      for (const l of [...(this.waiters.get(key) ?? [])]) l(r.type, r.obj);
    });
  }

  /** One read of a followed object: its state now, or GONE. */
  private async read(key: string): Promise<void> {
    if (!this.spec.read || !this.waiters.has(key)) return;
    const found = await this.spec.read(key).catch(() => undefined);
    if (found === undefined) return;
    for (const l of [...(this.waiters.get(key) ?? [])]) (found === 'gone' ? l('GONE') : l('MODIFIED', found));
  }
}

const watches = new WeakMap<KubeConfig, Map<string, NamespaceWatch>>();

function shared(kc: KubeConfig, id: string, make: () => NamespaceWatch): NamespaceWatch {
  if (!watches.has(kc)) watches.set(kc, new Map());
  const m = watches.get(kc)!;
  if (!m.has(id)) m.set(id, make());
  return m.get(id)!;
}

/** The process's one watch on `namespace`'s claims for this kubeconfig (keys: claim names). */
export function claimWatch(kc: KubeConfig, api: CustomObjectsApi, namespace: string): NamespaceWatch {
  const plural = 'worldclaims';
  const read = async (name: string) => {
    try {
      return (await api.getNamespacedCustomObject({ group: GROUP, version: VERSION, plural, namespace, name })) as WatchedObject;
    } catch (e) {
      return statusOf(e) === 404 ? ('gone' as const) : undefined;
    }
  };
  return shared(kc, `claims/${namespace}`, () => new NamespaceWatch(kc, namespace, { plural, keyOf: (o) => o.metadata?.name, read }));
}

/** The process's one watch on `namespace`'s claimed worlds for this kubeconfig (keys: the claim uids they are stamped for). */
export function stampWatch(kc: KubeConfig, namespace: string): NamespaceWatch {
  return shared(kc, `stamps/${namespace}`, () => new NamespaceWatch(kc, namespace, { plural: 'worldinstances', labelSelector: LABEL_CLAIM, keyOf: (o) => o.metadata?.annotations?.[ANNOTATION_CLAIM_UID], optional: true }));
}
