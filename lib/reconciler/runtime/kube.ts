/**
 * The reconciler's only door to the API server: client-node's KubernetesObjectApi (plus a
 * status-subresource patch), with every request counted by verb and HTTP status code for
 * `anvil_api_requests_total`, so a no-op pass can be proven to write nothing and conflicts,
 * throttling and server errors show as such. Writes are fenced: a replica that lost the
 * lease sends none.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import * as http from 'node:http';
import * as https from 'node:https';
import { KubeConfig, KubernetesObjectApi, Observable, PatchStrategy, type KubernetesObject, type RequestContext, type ResponseContext } from '@kubernetes/client-node';
import type { ReconcilerMetrics } from './metrics.js';
import { keepAliveAuth } from '../../client/kubeTransport.js';
import { ListItemSplitter } from './listItems.js';

export const FIELD_MANAGER = 'anvil-reconciler';

/** Loads --kubeconfig, else the in-cluster config, else KUBECONFIG / ~/.kube/config. */
export function loadKubeConfig(path?: string): KubeConfig {
  const kc = new KubeConfig();
  if (path) kc.loadFromFile(path);
  else kc.loadFromDefault();
  return kc;
}

/**
 * KubernetesObjectApi, with writes that send our JSON as it is. Its own patch()/create()
 * pass the body through the typed models, which drop fields whose TypeScript name differs
 * from the JSON one (NetworkPolicy `from` is `_from` there): a policy would lose its peers.
 */
class ObjectApi extends KubernetesObjectApi {
  async send<T extends KubernetesObject>(spec: T, action: 'patch' | 'create' | 'delete', opts: { subresource?: string; contentType: string; query: Record<string, string>; body?: unknown }): Promise<T> {
    const path = `${await this.specUriPath(spec, action)}${opts.subresource ? `/${opts.subresource}` : ''}`;
    const method = { patch: 'PATCH', create: 'POST', delete: 'DELETE' }[action];
    const ctx = this.configuration.baseServer.makeRequestContext(path, method as never);
    ctx.setHeaderParam('Accept', 'application/json');
    ctx.setHeaderParam('Content-Type', opts.contentType);
    for (const [k, v] of Object.entries(opts.query)) ctx.setQueryParam(k, v);
    ctx.setBody(JSON.stringify(opts.body ?? spec));
    return this.requestPromise<T>(ctx);
  }

  /** Calls `hook` before every request is sent; a hook that throws stops the request. */
  beforeRequest(hook: () => void): void {
    this.configuration.middleware.push({
      pre: (ctx: RequestContext) => {
        hook();
        return new Observable(Promise.resolve(ctx));
      },
      post: (rsp: ResponseContext) => new Observable(Promise.resolve(rsp)),
    });
  }

  /** Calls `hook` with the HTTP status code of every response, before its body is read. */
  onResponse(hook: (code: number) => void): void {
    this.configuration.middleware.push({
      pre: (ctx: RequestContext) => new Observable(Promise.resolve(ctx)),
      post: (rsp: ResponseContext) => {
        hook(rsp.httpStatusCode);
        return new Observable(Promise.resolve(rsp));
      },
    });
  }

  /**
   * Every request through one keep-alive agent. KubeConfig makes a new https.Agent for
   * each request, so each apply paid a TCP and TLS handshake and no socket was reused.
   * The agent is made from the options of the first one KubeConfig builds (CA, client
   * certificate, TLS server name), once; headers (tokens) are still set per request.
   * Agents through a proxy are left as KubeConfig makes them.
   */
  shareAgent(maxSockets: number): void {
    const auth = this.configuration.authMethods.default;
    if (auth) this.configuration.authMethods.default = keepAliveAuth(auth, maxSockets);
  }

  /** Server-side apply (JSON is YAML) with a field manager, forcing conflicts. */
  apply<T extends KubernetesObject>(spec: T, fieldManager: string, subresource?: string): Promise<T> {
    return this.send(spec, 'patch', {
      contentType: PatchStrategy.ServerSideApply,
      query: { fieldManager, force: 'true' },
      ...(subresource ? { subresource } : {}),
    });
  }
}

export interface ListResult<T> {
  items: T[];
  metadata?: { resourceVersion?: string };
}

/** HTTP status of a failed request (client-node ApiException or a raw response). */
export const statusCode = (e: unknown): number | undefined => (e as { code?: number; statusCode?: number })?.code ?? (e as { statusCode?: number })?.statusCode;
export const isNotFound = (e: unknown): boolean => statusCode(e) === 404;
export const isConflict = (e: unknown): boolean => statusCode(e) === 409;

export function errorMessage(e: unknown): string {
  const body = (e as { body?: unknown })?.body;
  if (body && typeof body === 'object' && 'message' in body) return `${statusCode(e)}: ${String((body as { message: unknown }).message)}`;
  if (typeof body === 'string' && body.length > 0) {
    try {
      return `${statusCode(e)}: ${String(JSON.parse(body).message)}`;
    } catch {
      return `${statusCode(e)}: ${body.slice(0, 500)}`;
    }
  }
  return e instanceof Error ? e.message : String(e);
}

/**
 * Accept headers asking the API server for objects' metadata only (PartialObjectMetadata, as
 * client-go's metadata informers do): a list's items and a watch's objects arrive without
 * spec, data or status. For caches of objects whose content is never read.
 */
export const METADATA_LIST_ACCEPT = 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1';
export const METADATA_WATCH_ACCEPT = 'application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1';

/** Items per page of a list: a cache of 100,000 objects is never one response in memory. */
export const LIST_PAGE = 500;

/** A write refused because this replica may no longer write (it lost the leader lease). */
export class WriteFencedError extends Error {
  constructor(verb: string) {
    super(`${verb} refused: this replica is no longer the leader`);
    this.name = 'WriteFencedError';
  }
}

/** The request in flight: whether it is a fenced write, and its status code (set by a response middleware, see Kube.track). */
interface ResponseSlot {
  code?: number;
  write?: boolean;
}

export class Kube {
  readonly objects: ObjectApi;
  private fenceSignal?: AbortSignal;
  /** performance.now() from which no write may be sent (the leader's renew deadline), Infinity when unbounded. */
  private writeDeadline: () => number = () => Infinity;
  private readonly slot = new AsyncLocalStorage<ResponseSlot>();
  /** `maxSockets`: connections kept to the API server (at least the requests in flight at once). */
  constructor(
    readonly kc: KubeConfig,
    private readonly metrics: ReconcilerMetrics,
    opts: { maxSockets?: number } = {},
  ) {
    this.objects = ObjectApi.makeApiClient(kc) as ObjectApi;
    Object.setPrototypeOf(this.objects, ObjectApi.prototype);
    this.objects.shareAgent(opts.maxSockets ?? 64);
    // client-node returns bodies, not responses: a middleware hands the status code to the
    // track() call that made the request (AsyncLocalStorage follows its promise chain).
    this.objects.onResponse((code) => {
      const s = this.slot.getStore();
      if (s) s.code = code;
    });
    // Checked again right before a write goes on the wire: a process frozen (SIGSTOP, a long
    // GC pause) between the check in write() and the send must not send it late.
    this.objects.beforeRequest(() => {
      if (this.slot.getStore()?.write && this.fenced()) throw new WriteFencedError('request');
    });
  }

  /** True once writes must stop: the fence is down, or the write deadline has passed. */
  fenced(): boolean {
    return this.fenceSignal?.aborted === true || performance.now() >= this.writeDeadline();
  }

  /** Counts one request; `code` 0 when no response came (connection refused, timeout). */
  count(verb: string, code: number | string): void {
    this.metrics.apiRequests.inc({ verb, code: String(code) });
  }

  /** Runs one request and counts it by verb and the status code it got. */
  async track<T>(verb: string, request: () => Promise<T>, write = false): Promise<T> {
    const s: ResponseSlot = write ? { write } : {};
    try {
      const r = await this.slot.run(s, request);
      this.count(verb, s.code ?? 200);
      return r;
    } catch (e) {
      // A network error's `code` is a string (ECONNREFUSED): no response, code 0.
      const code = statusCode(e);
      this.count(verb, typeof code === 'number' ? code : (s.code ?? 0));
      throw e;
    }
  }

  /**
   * Once `signal` aborts, every write (apply, delete, create, update, patch) is refused
   * before it is sent: a replica that lost the lease stops writing at once, even in the
   * middle of a world. Lease requests go through `objects` and are not fenced.
   */
  fence(signal: AbortSignal, deadline?: () => number): void {
    this.fenceSignal = signal;
    if (deadline) this.writeDeadline = deadline;
  }

  /**
   * A write: refused before it is sent once the fence is down or the write deadline (the
   * leader's last renewal + renew deadline, on this process's monotonic clock) has passed,
   * checked here and again just before the request is sent; else sent and counted.
   */
  private write<T>(verb: string, obj: KubernetesObject, request: () => Promise<T>): Promise<T> {
    if (this.fenced()) {
      this.metrics.writesFenced.inc();
      return Promise.reject(new WriteFencedError(verb));
    }
    // By kind too: what a world costs beyond its objects (status, Events) is told apart from them.
    this.metrics.apiWrites.inc({ verb, kind: obj.kind ?? '' });
    return this.track(verb, request, true).catch((e: unknown) => {
      if (e instanceof WriteFencedError) this.metrics.writesFenced.inc();
      throw e;
    });
  }

  /** Server-side apply with the reconciler's field manager, taking over conflicting fields. */
  async apply<T extends KubernetesObject>(obj: T): Promise<T> {
    return this.write('apply', obj, () => this.objects.apply(obj, FIELD_MANAGER));
  }

  /** Server-side apply under another field manager of the reconciler's (the static worlds' rollout gate: shared/staticGate.ts). */
  async applyAs<T extends KubernetesObject>(obj: T, fieldManager: string): Promise<T> {
    return this.write('apply', obj, () => this.objects.apply(obj, fieldManager));
  }

  async applyStatus<T extends KubernetesObject>(obj: T): Promise<T> {
    return this.write('apply-status', obj, () => this.objects.apply(obj, FIELD_MANAGER, 'status'));
  }

  /**
   * Deletes (in the background: the garbage collector removes what the object owns) only the
   * version of the object given by its uid and resourceVersion: an object recreated or
   * changed by someone else since it was read survives (409, thrown). 404 is fine. Every
   * delete of the reconciler goes through here; an object without both is refused unsent.
   */
  async delete(obj: KubernetesObject): Promise<void> {
    const { uid, resourceVersion } = obj.metadata ?? {};
    if (!uid || !resourceVersion) throw new Error(`delete ${obj.kind}/${obj.metadata?.namespace ?? ''}/${obj.metadata?.name ?? ''} refused: it has no uid and resourceVersion to send as preconditions`);
    try {
      await this.write('delete', obj, () =>
        this.objects.send(obj, 'delete', {
          contentType: 'application/json',
          query: {},
          body: { apiVersion: 'v1', kind: 'DeleteOptions', propagationPolicy: 'Background', preconditions: { uid, resourceVersion } },
        }),
      );
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
  }

  /** delete(), for callers that hold the uid and resourceVersion in their types. */
  deleteExactly(obj: KubernetesObject & { metadata: { uid: string; resourceVersion: string } }): Promise<void> {
    return this.delete(obj);
  }

  /**
   * A JSON merge patch (of the status subresource with `subresource: 'status'`). With
   * `metadata.resourceVersion` in the patch, the API server applies it only to that version
   * (409 otherwise): the optimistic concurrency that claim binding relies on.
   */
  async mergePatch<T extends KubernetesObject>(patch: T, subresource?: string, opts: { timeoutSeconds?: number } = {}): Promise<T> {
    return this.write(subresource ? `merge-patch-${subresource}` : 'merge-patch', patch, () =>
      this.objects.send(patch, 'patch', {
        contentType: PatchStrategy.MergePatch,
        // `timeout`: the API server gives the request up that long after it arrives (its context is cancelled).
        query: { fieldManager: FIELD_MANAGER, ...(opts.timeoutSeconds !== undefined ? { timeout: `${opts.timeoutSeconds}s` } : {}) },
        ...(subresource ? { subresource } : {}),
      }),
    );
  }

  async read<T extends KubernetesObject>(apiVersion: string, kind: string, name: string, namespace?: string): Promise<T | undefined> {
    try {
      return await this.track('get', () => this.objects.read<T>({ apiVersion, kind, metadata: { name, ...(namespace ? { namespace } : {}) } } as never));
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
  }

  /**
   * The reconciler's managed-fields entry of an object it created with POST (an Update)
   * made an Apply, so the next server-side apply owns those fields and removes the ones it
   * no longer sends (client-go's csaupgrade does the same): read, then a JSON patch guarded
   * by the resourceVersion read. Nothing to do when there is no such entry.
   */
  async adoptAsApplied(obj: KubernetesObject): Promise<void> {
    const live = await this.read<KubernetesObject>(obj.apiVersion ?? '', obj.kind ?? '', obj.metadata?.name ?? '', obj.metadata?.namespace);
    const fields = live?.metadata?.managedFields ?? [];
    const i = fields.findIndex((f) => f.manager === FIELD_MANAGER && f.operation === 'Update' && !f.subresource);
    if (!live || i < 0 || fields.some((f) => f.manager === FIELD_MANAGER && f.operation === 'Apply' && !f.subresource)) return;
    const ops = [
      { op: 'test', path: '/metadata/resourceVersion', value: live.metadata?.resourceVersion },
      { op: 'replace', path: `/metadata/managedFields/${i}/operation`, value: 'Apply' },
    ];
    await this.write('json-patch', obj, () => this.objects.send(obj, 'patch', { contentType: PatchStrategy.JsonPatch, query: { fieldManager: FIELD_MANAGER }, body: ops }));
  }

  /**
   * A review (TokenReview, SubjectAccessReview): a create that stores nothing, so it is not
   * fenced (a standby may authenticate a caller before answering NotLeader).
   */
  async review<T extends KubernetesObject>(obj: T): Promise<T> {
    return this.track('create', () => this.objects.send(obj, 'create', { contentType: 'application/json', query: {} }));
  }

  async create<T extends KubernetesObject>(obj: T): Promise<T> {
    return this.write('create', obj, () => this.objects.send(obj, 'create', { contentType: 'application/json', query: { fieldManager: FIELD_MANAGER } }));
  }

  async replace<T extends KubernetesObject>(obj: T): Promise<T> {
    return this.write('update', obj, () => this.objects.replace(obj, undefined, undefined, FIELD_MANAGER));
  }

  /**
   * A raw GET of a collection, as plain JSON (the informers' list function: watch events are
   * plain JSON too, so the caches hold one shape, with string timestamps), page by page
   * (`limit`/`continue`), each item parsed alone as its bytes arrive and passed through
   * `trim` before the next is read (runtime/listItems.ts): what is alive beyond what the
   * caller keeps is one item, never a page. The list's resourceVersion is the snapshot the
   * pages were read from (the last page's). `accept`: the Accept header
   * (METADATA_LIST_ACCEPT: the items' metadata only, PartialObjectMetadata).
   */
  async listRaw<T>(path: string, labelSelector?: string, trim: (o: T) => T = (o) => o, accept = 'application/json'): Promise<ListResult<T>> {
    const items: T[] = [];
    let cont: string | undefined;
    let metadata: ListResult<T>['metadata'] & { continue?: string };
    do {
      metadata = await this.listPage<T>(path, labelSelector, cont, accept, (o) => items.push(trim(o)));
      cont = metadata.continue || undefined;
    } while (cont);
    return { items, metadata: { ...(metadata.resourceVersion ? { resourceVersion: metadata.resourceVersion } : {}) } };
  }

  /** One page: its items to `onItem` as they are read; resolves with the page's list metadata. */
  private async listPage<T>(path: string, labelSelector: string | undefined, cont: string | undefined, accept: string, onItem: (o: T) => void): Promise<ListResult<T>['metadata'] & { continue?: string }> {
    const cluster = this.kc.getCurrentCluster();
    if (!cluster) throw new Error('kubeconfig has no current cluster');
    const url = new URL(`${cluster.server.replace(/\/$/, '')}${path}`);
    if (labelSelector) url.searchParams.set('labelSelector', labelSelector);
    url.searchParams.set('limit', String(LIST_PAGE));
    if (cont) url.searchParams.set('continue', cont);
    const opts: https.RequestOptions = { method: 'GET', headers: { Accept: accept } };
    await this.kc.applyToHTTPSOptions(opts);
    const mod = url.protocol === 'https:' ? https : http;
    return new Promise((resolve, reject) => {
      const req = mod.request(url, opts, (res) => {
        const code = res.statusCode ?? 0;
        const failed = code >= 300;
        // A failure's body is a small Status, kept whole for the error; a list is read item by item.
        const chunks: Buffer[] = [];
        const splitter = new ListItemSplitter((o) => onItem(o as T));
        res.on('data', (c: Buffer) => {
          if (failed) chunks.push(c);
          else {
            try {
              splitter.feed(c);
            } catch (e) {
              res.destroy(e as Error);
            }
          }
        });
        res.on('error', reject);
        res.on('end', () => {
          this.count('list', code);
          if (failed) {
            const body = Buffer.concat(chunks).toString('utf8');
            reject(Object.assign(new Error(`GET ${path}: HTTP ${code}: ${body.slice(0, 300)}`), { statusCode: code, body }));
            return;
          }
          try {
            resolve(splitter.envelope<ListResult<T>>().metadata ?? {});
          } catch (e) {
            reject(e);
          }
        });
      });
      req.setTimeout(60_000, () => req.destroy(new Error(`GET ${path}: timeout`)));
      req.on('error', (e) => {
        this.count('list', 0);
        reject(e);
      });
      req.end();
    });
  }
}
