/**
 * One watch on a namespace's WorldClaims shared by every claimWorld() call of the process
 * (issue 20): a matchmaker making 45 claims a second holds one watch, not 45. The watch is
 * opened at the first waiter, from the resourceVersion its create returned, and closed when
 * the last waiter is done. Each event goes to the waiter of that claim name (others' claims
 * are ignored). A waiter whose claim was created before the watch (re)opened is read once,
 * so no verdict between its create and the watch is missed; a watch the server ends
 * (timeout, 410 Gone) is reopened and every waiter read once.
 *
 * RBAC: `watch` on worldclaims of the namespace (the anvil-matchmaker Role has it), `get`.
 */
import { CustomObjectsApi, KubeConfig, Watch } from '@kubernetes/client-node';
import { GROUP, VERSION } from '../api/schema.js';

export interface WatchedClaim {
  metadata?: { name?: string; resourceVersion?: string };
}

type Listener = (type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'GONE', obj?: WatchedClaim) => void;

const PLURAL = 'worldclaims';
/** How long a watch with no waiter stays open. */
const IDLE_MS = 30_000;

/**
 * True when resourceVersion `a` is known to be at or after `b`. resourceVersions are opaque
 * to clients; kube-apiserver's are etcd revisions (integers), and anything else compares as
 * unknown, which costs one GET, never a missed verdict.
 */
const after = (a: string | undefined, b: string | undefined): boolean => !!a && !!b && /^\d+$/.test(a) && /^\d+$/.test(b) && BigInt(a) >= BigInt(b);

export class NamespaceClaimWatch {
  /** Claim name -> its waiters (calls retried with one request id at once follow one claim). */
  private readonly waiters = new Map<string, Set<Listener>>();
  private controller?: AbortController;
  private opening?: Promise<void>;
  private resourceVersion?: string;
  /** The resourceVersion the watch began from. */
  private startedAt?: string;
  private generation = 0;
  private idle?: NodeJS.Timeout;

  constructor(
    private readonly kc: KubeConfig,
    private readonly api: CustomObjectsApi,
    private readonly namespace: string,
  ) {}

  /** Follows claim `name` (created at `createdRv`) until the returned stop function is called. */
  follow(name: string, createdRv: string | undefined, listener: Listener): () => void {
    if (!this.waiters.has(name)) this.waiters.set(name, new Set());
    this.waiters.get(name)!.add(listener);
    clearTimeout(this.idle);
    if (!this.controller && !this.opening) {
      this.resourceVersion = createdRv;
      this.startedAt = createdRv;
      this.reopen();
    } else if (!after(createdRv, this.startedAt)) {
      // Created before the watch's start (or not comparable): its verdict may precede the watch.
      void (this.opening ?? Promise.resolve()).then(() => this.read(name));
    }
    return () => {
      const set = this.waiters.get(name);
      set?.delete(listener);
      if (set?.size === 0) this.waiters.delete(name);
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

  private async open(): Promise<void> {
    const path = `/apis/${GROUP}/${VERSION}/namespaces/${this.namespace}/${PLURAL}`;
    const generation = ++this.generation;
    for (let attempt = 0; this.waiters.size > 0 && generation === this.generation; attempt++) {
      try {
        this.controller = await new Watch(this.kc).watch(
          path,
          { ...(this.resourceVersion ? { resourceVersion: this.resourceVersion } : {}), allowWatchBookmarks: true },
          (type, obj: WatchedClaim) => this.onEvent(type, obj),
          () => {
            if (generation !== this.generation) return;
            this.controller = undefined;
            if (this.waiters.size > 0) this.reopen();
          },
        );
        if (generation !== this.generation) this.controller.abort();
        this.startedAt = this.resourceVersion;
        // Claims created before this watch began may have moved meanwhile: read each once.
        for (const name of this.waiters.keys()) void this.read(name);
        return;
      } catch {
        this.resourceVersion = undefined;
        await new Promise((r) => setTimeout(r, Math.min(2000, 100 * 2 ** attempt)));
      }
    }
  }

  private onEvent(type: string, obj: WatchedClaim): void {
    if (obj?.metadata?.resourceVersion) this.resourceVersion = obj.metadata.resourceVersion;
    if (type === 'ERROR') this.resourceVersion = undefined; // e.g. 410 Gone: reopen from now, and read every waiter
    if (type !== 'ADDED' && type !== 'MODIFIED' && type !== 'DELETED') return;
    for (const l of [...(this.waiters.get(obj?.metadata?.name ?? '') ?? [])]) l(type, obj);
  }

  /** One GET of a followed claim: its state now, or GONE. */
  private async read(name: string): Promise<void> {
    if (!this.waiters.has(name)) return;
    const tell = (type: 'MODIFIED' | 'GONE', obj?: WatchedClaim) => {
      for (const l of [...(this.waiters.get(name) ?? [])]) l(type, obj);
    };
    try {
      tell('MODIFIED', (await this.api.getNamespacedCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, namespace: this.namespace, name })) as WatchedClaim);
    } catch (e) {
      if ((e as { code?: number }).code === 404) tell('GONE');
    }
  }
}

const watches = new WeakMap<KubeConfig, Map<string, NamespaceClaimWatch>>();

/** The process's one watch on `namespace`'s claims for this kubeconfig. */
export function claimWatch(kc: KubeConfig, api: CustomObjectsApi, namespace: string): NamespaceClaimWatch {
  if (!watches.has(kc)) watches.set(kc, new Map());
  const m = watches.get(kc)!;
  if (!m.has(namespace)) m.set(namespace, new NamespaceClaimWatch(kc, api, namespace));
  return m.get(namespace)!;
}
