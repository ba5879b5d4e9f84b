/**
 * Writing what was rendered: server-side apply of each object with one field manager,
 * skipped when the cached live object already is what we would write, and deletion of the
 * objects a owner no longer plans. A pass over a converged world makes no request at all.
 *
 * No-op detection has two parts, because each alone misses something:
 * - the hash of the desired object, kept in the annotation `anvil.dev/applied-hash`,
 *   changes when the plan changes, even when a field is only removed;
 * - `covers(live, desired)` finds an edit by someone else (kubectl edit, a deleted port)
 *   that left the annotation alone.
 *
 * Ownership: an existing object is written only when its owner says it is Anvil's
 * (`Owner.classify`); a foreign one makes the whole sync fail with ConflictError before
 * anything is written. The caches of owned objects list only objects labelled
 * managed-by=anvil; the others of the same kinds are known from metadata-only caches
 * (`foreign`: compact records, runtime/trim.ts trimToRecord), so a conflict is found with
 * no request and an object in neither is created (POST) without reading it first. POST
 * fails (409) for an object created since the caches last heard: someone else's is then a
 * conflict (objects of the sync already written stay: they are Anvil's), and one of ours
 * (created by an earlier pass, its watch event not here yet) is read and treated as live.
 * Objects this process created are remembered (compactly) until the cache shows them, so
 * the pass right after a first one does not POST them again. A converged pass finds
 * everything in the cache and still makes no request.
 *
 * Drift repair never deletes a stateful object: only STATELESS_KINDS are re-created, and
 * only when the API server rejects the apply because an immutable field changed. Drift
 * that cannot be repaired is returned (SyncResult.drift) for the status to report.
 */
import { createHash } from 'node:crypto';
import type { KubernetesObject } from '@kubernetes/client-node';
import { API_VERSION } from '../../api/schema.js';
import { ANNOTATION_WHEN_MODULE_REMOVED, ANNOTATION_WHEN_WORLD_DELETED, APPLIED_HASH, LABEL_ORPHANED, LABEL_WORLD } from '../../render/labels.js';
import type { Informer } from '../runtime/informer.js';
import { FIELD_MANAGER, errorMessage, statusCode, type Kube } from '../runtime/kube.js';
import { cachedContentDigest, compact, contentDigestOf, isCompact, type VerifiedContent } from '../runtime/trim.js';


/** The kinds the reconciler writes, with where their informers list them. */
export const OWNED_KINDS = [
  { kind: 'CapabilityBinding', apiVersion: API_VERSION, path: '/apis/anvil.dev/v1alpha1/capabilitybindings' },
  { kind: 'ConfigMap', apiVersion: 'v1', path: '/api/v1/configmaps' },
  { kind: 'PersistentVolumeClaim', apiVersion: 'v1', path: '/api/v1/persistentvolumeclaims' },
  { kind: 'Service', apiVersion: 'v1', path: '/api/v1/services' },
  { kind: 'NetworkPolicy', apiVersion: 'networking.k8s.io/v1', path: '/apis/networking.k8s.io/v1/networkpolicies' },
  { kind: 'PodDisruptionBudget', apiVersion: 'policy/v1', path: '/apis/policy/v1/poddisruptionbudgets' },
  // Module identity (issue 17): before the pods that use it.
  { kind: 'ServiceAccount', apiVersion: 'v1', path: '/api/v1/serviceaccounts' },
  { kind: 'RoleBinding', apiVersion: 'rbac.authorization.k8s.io/v1', path: '/apis/rbac.authorization.k8s.io/v1/rolebindings' },
  // Only with AnvilApp({monitoring: {podMonitors: true}}) (the Prometheus Operator's CRD): see OPTIONAL_KINDS.
  { kind: 'PodMonitor', apiVersion: 'monitoring.coreos.com/v1', path: '/apis/monitoring.coreos.com/v1/podmonitors' },
  { kind: 'Deployment', apiVersion: 'apps/v1', path: '/apis/apps/v1/deployments' },
] as const;

/**
 * Kinds of another project's CRD: watched only when the settings render them, so a cluster
 * without the Prometheus Operator runs the reconciler as before.
 */
export const OPTIONAL_KINDS: ReadonlySet<string> = new Set(['PodMonitor']);

/** Kinds that hold no data: the only ones drift repair may delete and re-create. */
export const STATELESS_KINDS: ReadonlySet<string> = new Set(['Deployment', 'Service', 'ConfigMap', 'NetworkPolicy', 'CapabilityBinding', 'PodDisruptionBudget', 'ServiceAccount', 'RoleBinding', 'PodMonitor']);

/**
 * Whose an existing object is: `ours` (write it), `synth` (Anvil's, but `kubectl apply -f
 * dist/` owns it: leave it alone), `previous` (owned by an earlier world of the same name,
 * about to be garbage-collected: wait), `foreign` (someone else's: never write it).
 */
export type Ownership = 'ours' | 'synth' | 'previous' | 'foreign';
export interface Owner {
  classify(live: KubernetesObject): Ownership;
  /** For messages: "WorldInstance ns/w1". */
  describe: string;
  /**
   * The uid every object this owner calls `ours` carries in an ownerReference (a world's
   * uid), when there is one: the stale-object scan then visits only the objects the caches
   * index under it (`indexBy: ownerUids`) instead of the whole namespace. `classify` still
   * decides. Without it (the platform) the scan walks the namespace.
   */
  ownerUid?: string;
}

/** Existing objects that are not Anvil's: nothing of the sync was written. */
export class ConflictError extends Error {
  constructor(readonly objects: readonly string[], owner: string) {
    super(`${objects.join(', ')} already exist${objects.length === 1 ? 's' : ''} and ${objects.length === 1 ? 'is' : 'are'} not managed by ${owner}; nothing was written`);
    this.name = 'ConflictError';
  }
}

/** An object whose drift apply cannot repair and that may not be re-created. */
export interface Drift {
  object: string;
  field: string;
  message: string;
}
export type OwnedKind = (typeof OWNED_KINDS)[number]['kind'];
/** Apply order: what others refer to first (bindings, route tables, claims), workloads last. */
const ORDER = new Map<string, number>(OWNED_KINDS.map((k, i) => [k.kind, i]));

export type Caches = ReadonlyMap<string, Informer<KubernetesObject>>;

export const objectKey = (o: KubernetesObject): string => `${o.kind}/${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;

function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.keys(v as object).sort().map((k) => [k, (v as Record<string, unknown>)[k]]))
      : v,
  );
}

export const desiredHash = (o: KubernetesObject): string => createHash('sha256').update(canonicalJson(o)).digest('hex').slice(0, 16);

/** The object as it will be applied: with the hash of its content in an annotation. */
export function withHash(o: KubernetesObject): KubernetesObject {
  const hash = desiredHash(o);
  return { ...o, metadata: { ...o.metadata, annotations: { ...o.metadata?.annotations, [APPLIED_HASH]: hash } } };
}

/**
 * True when every field of `want` has the same value in `live` (fields the server or other
 * controllers add are ignored). An empty list or map matches an absent one, and a number
 * matches its string form (quantities).
 */
export function covers(live: unknown, want: unknown): boolean {
  if (want === null || want === undefined) return true;
  if (Array.isArray(want)) {
    if (want.length === 0) return live === undefined || live === null || (Array.isArray(live) && live.length === 0);
    return Array.isArray(live) && live.length === want.length && want.every((w, i) => covers(live[i], w));
  }
  if (typeof want === 'object') {
    const keys = Object.keys(want as object);
    if (keys.length === 0) return live === undefined || live === null || (typeof live === 'object' && !Array.isArray(live));
    if (typeof live !== 'object' || live === null || Array.isArray(live)) return false;
    return keys.every((k) => covers((live as Record<string, unknown>)[k], (want as Record<string, unknown>)[k]));
  }
  if (typeof want === 'number' && typeof live === 'string') return String(want) === live;
  return want === live;
}

/** The first path where `live` does not cover `want` (for the debug log), or undefined. */
export function firstDifference(live: unknown, want: unknown, path = ''): string | undefined {
  if (covers(live, want)) return undefined;
  if (want && typeof want === 'object' && live && typeof live === 'object' && (!Array.isArray(want) || (Array.isArray(live) && live.length === want.length))) {
    for (const k of Object.keys(want as object)) {
      const d = firstDifference((live as Record<string, unknown>)[k], (want as Record<string, unknown>)[k], `${path}.${k}`);
      if (d) return d;
    }
  }
  return `${path}: live ${JSON.stringify(live)?.slice(0, 200)} want ${JSON.stringify(want)?.slice(0, 200)}`;
}

/**
 * Does the live object already hold what `desired` (with its hash annotation) says?
 * `contentKnownGood`: its content is known to be what the plan wants (VerifiedContent, a
 * compacted cache entry): only its metadata is compared.
 */
export function upToDate(live: KubernetesObject | undefined, desired: KubernetesObject, contentKnownGood = false): boolean {
  if (!live || live.metadata?.deletionTimestamp) return false;
  const want = desired.metadata?.annotations?.[APPLIED_HASH];
  if (!want || live.metadata?.annotations?.[APPLIED_HASH] !== want) return false;
  const { metadata, ...rest } = desired as KubernetesObject & Record<string, unknown>;
  // Items of a list come without apiVersion and kind: compare the content only.
  const { status: _status, apiVersion: _v, kind: _k, ...fields } = rest as Record<string, unknown>;
  return (
    covers(live.metadata?.labels, metadata?.labels) &&
    covers(live.metadata?.annotations, metadata?.annotations) &&
    covers(live.metadata?.ownerReferences, metadata?.ownerReferences) &&
    (contentKnownGood || covers(live, fields))
  );
}

/**
 * Requests in flight at once for one sync (one world). With the worker count this bounds
 * what the reconciler asks of the API server: workers × APPLY_PARALLELISM requests.
 */
export const APPLY_PARALLELISM = 8;
/** Kinds from this position of OWNED_KINDS on are workloads, applied after the rest. */
const WORKLOADS_FROM = ORDER.get('Deployment') ?? 99;

interface Outcome {
  wrote: boolean;
  error?: unknown;
  drift?: Drift;
  /** The object as the API server returned it from the apply. */
  live?: KubernetesObject;
  /** It exists and belongs to a previous owner of the same name (see Ownership 'previous'). */
  waiting?: boolean;
  /** Created (POST) by this pass: what a conflict found only by a later POST takes back. */
  created?: KubernetesObject;
}

/** `task` over `items` with at most `limit` running at once; results in the items' order. */
export async function inParallel<T, R>(items: readonly T[], limit: number, task: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const run = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await task(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(Math.max(1, limit), items.length) }, run));
  return results;
}

/** A returned object keyed like the one sent (a response without kind gets the sent one's). */
const withKind = (live: KubernetesObject | undefined, sent: KubernetesObject): KubernetesObject | undefined =>
  live && typeof live === 'object' && live.metadata ? { ...live, kind: live.kind ?? sent.kind, apiVersion: live.apiVersion ?? sent.apiVersion } : undefined;

export interface SyncResult {
  applied: number;
  deleted: number;
  /**
   * What the applies returned, by objectKey: newer than the caches until their watch
   * events arrive, so the status written right after a first apply already counts them.
   */
  written: ReadonlyMap<string, KubernetesObject>;
  /** Drift left in place (a stateful object, or a change apply cannot take back). */
  drift: Drift[];
  /** Some objects still belong to a previous world of this name: try again shortly. */
  waiting: boolean;
  /** Claims the plan no longer has, kept by their retention policy and labelled orphaned (names). */
  orphaned: string[];
  /** With SyncOptions.skipDeletions: what would have been deleted (objectKey), left in place. */
  skipped?: string[];
}

export interface SyncOptions {
  /** Why nothing may be deleted this pass (the plan is incomplete: invalid definitions); apply still runs. */
  skipDeletions?: string;
}

/**
 * Stale claims are deleted only when their own retention policy says so (the annotation the
 * renderer puts on them): without it, or with Retain, the data stays.
 */
export function splitRetained(stale: readonly KubernetesObject[]): { retained: KubernetesObject[]; deletable: KubernetesObject[] } {
  const retained = stale.filter((o) => o.kind === 'PersistentVolumeClaim' && o.metadata?.annotations?.[ANNOTATION_WHEN_MODULE_REMOVED] !== 'Delete');
  return { retained, deletable: stale.filter((o) => !retained.includes(o)) };
}

/** The API server's Status body of a failed request, parsed. */
function statusBody(e: unknown): { message?: string; details?: { causes?: { field?: string; message?: string }[] } } {
  const body = (e as { body?: unknown })?.body;
  if (typeof body === 'string') {
    try {
      return JSON.parse(body);
    } catch {
      return { message: body };
    }
  }
  return body && typeof body === 'object' ? (body as never) : {};
}

/** True for a 422 whose cause is a change of an immutable field (a Deployment's selector, …). */
export function immutableFieldChanged(e: unknown): boolean {
  if (statusCode(e) !== 422) return false;
  const b = statusBody(e);
  return [b.message, ...(b.details?.causes ?? []).map((c) => c.message)].some((m) => /field is immutable/.test(m ?? ''));
}

/** What to do when applying `kind` failed: re-create (stateless, immutable field), report, or fail. */
export function repairAction(kind: string, drifted: boolean, e: unknown): 'recreate' | 'report' | 'fail' {
  if (statusCode(e) !== 422) return 'fail';
  if (STATELESS_KINDS.has(kind) && immutableFieldChanged(e)) return 'recreate';
  return drifted ? 'report' : 'fail';
}

/** The field a 422 names (its first cause), else the first field that differs. */
function driftField(e: unknown, live: KubernetesObject | undefined, want: KubernetesObject): string {
  const cause = statusBody(e).details?.causes?.find((c) => c.field);
  if (cause?.field) return cause.field;
  const { apiVersion: _v, kind: _k, metadata: _m, ...content } = want as KubernetesObject & Record<string, unknown>;
  return firstDifference(live, content)?.split(':')[0]?.replace(/^\./, '') ?? '(unknown)';
}

/** Created with POST (an Update by the reconciler's manager) and never applied since. */
export function createdNotApplied(live: KubernetesObject): boolean {
  const ours = (live.metadata?.managedFields ?? []).filter((f) => f.manager === FIELD_MANAGER);
  return ours.some((f) => f.operation === 'Update') && !ours.some((f) => f.operation === 'Apply');
}

/** Repairs by apply in a row that left the object drifted before it is reported instead. */
const MAX_REPAIRS = 2;

export class Applier {
  /**
   * Repairs by apply that did not take, by object and desired hash, with the drift the last
   * one reported: once repairs stop, the same drift is reported with the same words (one
   * Warning Event counted up, one status), not a second message for the same edit.
   */
  private readonly repairs = new Map<string, { tries: number; drift?: Drift }>();
  private readonly created = new CreatedObjects();

  /**
   * `foreign`: by kind, metadata-only caches of the objects of that kind not labelled
   * managed-by=anvil. For a kind without one, an object in no cache is read (GET) first.
   */
  /**
   * `verified`: the content digests the owned caches compact objects by (runtime/trim.ts):
   * set here when an object is known to be what the plan wants (compared whole once, or as
   * the API server answered our write), so the caches keep only its digest from then on.
   */
  constructor(
    private readonly kube: Kube,
    private readonly caches: Caches,
    private readonly foreign: Caches = new Map(),
    private readonly verified?: VerifiedContent,
  ) {}

  /** upToDate, by the verified digest when the cache holds only that; a whole object found up to date is verified and compacted. */
  private upToDate(live: KubernetesObject | undefined, o: KubernetesObject): boolean {
    if (!live) return false;
    const uid = live.metadata?.uid;
    const digest = contentDigestOf(live);
    const known = uid !== undefined && digest !== undefined && this.verified?.get(uid) === digest;
    if (!upToDate(live, o, known)) return false;
    if (!uid || digest === undefined || !this.verified) return true;
    if (!known) this.verified.set(uid, digest);
    // Known good but cached whole: its watch event came before our write's answer said what
    // it holds (trim had nothing to compare it with then). Compacted now, not on its next change.
    if (!isCompact(o.kind ?? '', live)) compact(o.kind ?? '', live);
    return true;
  }

  /** What the API server answered our write: its content is known good when it holds the plan (a field someone else keeps is not). */
  private wrote(sent: KubernetesObject, answer: KubernetesObject | undefined): KubernetesObject | undefined {
    const uid = answer?.metadata?.uid;
    if (this.verified && uid && upToDate(answer, sent)) this.verified.set(uid, cachedContentDigest(sent.kind ?? '', answer!));
    return answer;
  }

  live(o: KubernetesObject): KubernetesObject | undefined {
    return this.caches.get(o.kind ?? '')?.get(o.metadata?.name ?? '', o.metadata?.namespace);
  }

  /**
   * The cached object; else one this process created that the cache does not show yet; else
   * the foreign cache's record of it (metadata only); else, for a kind without a foreign
   * cache, what the API server has. Undefined: it does not exist as far as anyone here knows.
   */
  private async existing(o: KubernetesObject): Promise<KubernetesObject | undefined> {
    const cached = this.live(o);
    if (cached) {
      this.created.forget(cached);
      return cached;
    }
    const mine = this.created.get(o);
    if (mine) return mine;
    const foreign = this.foreign.get(o.kind ?? '');
    if (foreign) {
      const record = foreign.get(o.metadata?.name ?? '', o.metadata?.namespace);
      return record ? { ...record, kind: o.kind, apiVersion: o.apiVersion } : undefined;
    }
    return this.read(o);
  }

  private async read(o: KubernetesObject): Promise<KubernetesObject | undefined> {
    const read = await this.kube.read(o.apiVersion ?? '', o.kind ?? '', o.metadata?.name ?? '', o.metadata?.namespace);
    return read ? { ...read, kind: o.kind, apiVersion: o.apiVersion } : undefined;
  }

  /**
   * Applies every desired object that is not up to date, then deletes each cached object
   * in `namespace` that `owner` calls ours and the plan no longer has. First every object's
   * owner is checked: one foreign object fails the sync with ConflictError and nothing is
   * written. Requests go out concurrently, at most APPLY_PARALLELISM at once: everything
   * but the workloads, then the workloads (a Deployment's pods never start before the
   * bindings, route tables and claims they mount), then the deletions. One object failing
   * does not stop the others; the error of the first failed object is thrown at the end.
   */
  async sync(desired: readonly KubernetesObject[], namespace: string, owner: Owner, opts: SyncOptions = {}): Promise<SyncResult> {
    const objects = desired.map(withHash).sort((a, b) => (ORDER.get(a.kind ?? '') ?? 99) - (ORDER.get(b.kind ?? '') ?? 99));
    const lives = await inParallel(objects, APPLY_PARALLELISM, (o) => this.existing(o));
    const ownership = lives.map((l) => (l ? owner.classify(l) : 'ours'));
    const foreign = objects.filter((_o, i) => ownership[i] === 'foreign').map(objectKey);
    if (foreign.length > 0) throw new ConflictError(foreign, owner.describe);
    const live = new Map(objects.map((o, i) => [o, lives[i]]));
    const mine = objects.filter((_o, i) => ownership[i] === 'ours');

    const errors: unknown[] = [];
    const drift: Drift[] = [];
    let applied = 0;
    let waiting = ownership.includes('previous');
    const written = new Map<string, KubernetesObject>();
    const collect = (results: readonly Outcome[]) => {
      for (const r of results) {
        if (r.waiting) waiting = true;
        if (r.error !== undefined) errors.push(r.error);
        else if (r.wrote) applied++;
        if (r.drift) drift.push(r.drift);
        if (r.live) written.set(objectKey(r.live), r.live);
      }
    };
    const workload = (o: KubernetesObject) => (ORDER.get(o.kind ?? '') ?? 99) >= WORKLOADS_FROM;
    const first = await inParallel(mine.filter((o) => !workload(o)), APPLY_PARALLELISM, (o) => this.applyOne(o, live.get(o), owner));
    collect(first);
    // A conflict found only by POST (the foreign cache had not heard of it yet): the workloads are not written.
    const workloads = errors.some((e) => e instanceof ConflictError) ? [] : await inParallel(mine.filter(workload), APPLY_PARALLELISM, (o) => this.applyOne(o, live.get(o), owner));
    collect(workloads);
    const conflicts = errors.filter((e): e is ConflictError => e instanceof ConflictError);
    if (conflicts.length > 0) throw await this.takeBack([...first, ...workloads], conflicts, owner);

    for (const e of await this.unorphan(mine.map((o) => live.get(o)))) errors.push(e);
    const stale = this.stale(new Set(objects.map(objectKey)), namespace, owner);
    const { retained, deletable } = splitRetained(stale);
    // Held back (the plan may be incomplete): nothing deleted, and no claim newly called orphaned.
    const hold = opts.skipDeletions !== undefined;
    const cleanup = hold ? { deleted: 0, errors: [] } : await this.deleteAll(deletable);
    errors.push(...cleanup.errors);
    if (!hold) errors.push(...(await this.orphan(retained)));
    if (errors.length > 0) throw errors[0];
    const orphaned = hold ? retained.filter((o) => o.metadata?.labels?.[LABEL_ORPHANED] === 'true') : retained;
    return {
      applied,
      deleted: cleanup.deleted,
      written,
      drift,
      waiting,
      orphaned: orphaned.map((o) => o.metadata?.name ?? '').sort(),
      ...(hold && stale.length > 0 ? { skipped: stale.map(objectKey).sort() } : {}),
    };
  }

  /**
   * POST found objects someone else created since the caches last heard (a conflict the
   * up-front check could not see): what this pass created is deleted again (exactly those
   * versions: uid and resourceVersion), so that, as with a conflict found up front, nothing
   * of the sync stays written. Returns the conflict naming every such object.
   */
  private async takeBack(outcomes: readonly Outcome[], conflicts: readonly ConflictError[], owner: Owner): Promise<ConflictError> {
    const created = outcomes.flatMap((r) => (r.created ? [r.created] : []));
    for (const o of created) this.created.forget(o);
    const { errors } = await this.deleteAll(created);
    if (errors.length > 0) throw errors[0];
    return new ConflictError(conflicts.flatMap((c) => c.objects), owner.describe);
  }

  /** Deletes each object (uid and resourceVersion preconditions: kube.delete). */
  private async deleteAll(objects: readonly KubernetesObject[]): Promise<{ deleted: number; errors: unknown[] }> {
    const out = { deleted: 0, errors: [] as unknown[] };
    await inParallel(objects, APPLY_PARALLELISM, async (o) => {
      try {
        await this.kube.delete(o);
        out.deleted++;
      } catch (error) {
        out.errors.push(error);
      }
    });
    return out;
  }

  /**
   * The claims a deleted world kept (whenWorldDeleted: Retain: no owner reference, so the
   * garbage collector leaves them), labelled orphaned, unless a world of that name is back.
   */
  async orphanWorldClaims(namespace: string, world: string): Promise<void> {
    const claims = (this.caches.get('PersistentVolumeClaim')?.list(namespace) ?? []).filter(
      (o) => o.metadata?.labels?.[LABEL_WORLD] === world && o.metadata.annotations?.[ANNOTATION_WHEN_WORLD_DELETED] === 'Retain' && !o.metadata.ownerReferences?.length,
    );
    const errors = await this.orphan(claims.map((o) => ({ ...o, kind: 'PersistentVolumeClaim', apiVersion: 'v1' })));
    if (errors.length > 0) throw errors[0];
  }

  /** Labels each retained claim orphaned (once; only that version of it: resourceVersion). */
  private async orphan(claims: readonly KubernetesObject[]): Promise<unknown[]> {
    const todo = claims.filter((o) => o.metadata?.labels?.[LABEL_ORPHANED] !== 'true');
    return this.labelAll(todo, 'true');
  }

  /** A claim planned again (its module is back): no longer orphaned. */
  private async unorphan(lives: readonly (KubernetesObject | undefined)[]): Promise<unknown[]> {
    const todo = lives.filter((o): o is KubernetesObject => o?.kind === 'PersistentVolumeClaim' && o.metadata?.labels?.[LABEL_ORPHANED] !== undefined);
    return this.labelAll(todo, null);
  }

  private async labelAll(objects: readonly KubernetesObject[], value: string | null): Promise<unknown[]> {
    const errors: unknown[] = [];
    await inParallel(objects, APPLY_PARALLELISM, async (o) => {
      try {
        const { name, namespace, resourceVersion } = o.metadata ?? {};
        await this.kube.mergePatch({ apiVersion: o.apiVersion ?? 'v1', kind: o.kind ?? '', metadata: { name, namespace, resourceVersion, labels: { [LABEL_ORPHANED]: value } } } as KubernetesObject);
      } catch (e) {
        errors.push(e);
      }
    });
    return errors;
  }

  /**
   * Cached objects of `namespace` that `owner` calls ours and the plan (`wanted`) no longer
   * has, workloads first. With an ownerUid only the objects indexed under it are visited
   * (a world's own, O(its objects)); else every object of the namespace.
   */
  private stale(wanted: ReadonlySet<string>, namespace: string, owner: Owner): KubernetesObject[] {
    const stale: KubernetesObject[] = [];
    for (const { kind, apiVersion } of [...OWNED_KINDS].reverse()) {
      const cache = this.caches.get(kind);
      const candidates = owner.ownerUid !== undefined ? (cache?.byIndex(owner.ownerUid) ?? []) : (cache?.list(namespace) ?? []);
      for (const o of candidates) {
        if (o.metadata?.namespace !== namespace || o.metadata?.deletionTimestamp) continue;
        if (wanted.has(`${kind}/${namespace}/${o.metadata?.name ?? ''}`)) continue;
        // The caches set kind (trim.ts): no copy of an object that is not stale.
        if (owner.classify(o.kind === kind ? o : { ...o, kind, apiVersion }) !== 'ours') continue;
        stale.push({ ...o, kind, apiVersion });
      }
    }
    return stale;
  }

  /**
   * One object of ours: nothing when up to date, else apply. A change apply cannot make
   * (422) re-creates a stateless object whose immutable field changed; drift of anything
   * else is reported, never repaired by deleting it.
   */
  private async applyOne(o: KubernetesObject, live: KubernetesObject | undefined, owner: Owner): Promise<Outcome> {
    const key = `${objectKey(o)}@${o.metadata?.annotations?.[APPLIED_HASH]}`;
    if (this.upToDate(live, o) || (live && this.created.justCreated(live, o))) {
      this.repairs.delete(key);
      return { wrote: false };
    }
    if (!live) return this.createOne(o, owner);
    if (createdNotApplied(live)) await this.kube.adoptAsApplied(o);
    const { apiVersion: _v, kind: _k, ...content } = o;
    if (process.env.ANVIL_DEBUG_APPLY) {
      process.stderr.write(`apply ${objectKey(o)}: ${live ? (firstDifference(live, content) ?? 'hash annotation differs') : 'new'}\n`);
    }
    // Someone edited what we applied. Apply usually repairs it; when it did not take twice
    // (a list-map key edited by someone else stays theirs), it is reported, not retried forever.
    const drifted = live !== undefined && live.metadata?.annotations?.[APPLIED_HASH] === o.metadata?.annotations?.[APPLIED_HASH];
    const before = drifted ? this.repairs.get(key) : undefined;
    const tries = drifted ? (before?.tries ?? 0) + 1 : 0;
    if (drifted) this.repairs.set(key, { tries, ...(before?.drift ? { drift: before.drift } : {}) });
    if (tries > MAX_REPAIRS) {
      return { wrote: false, drift: before?.drift ?? { object: objectKey(o), field: driftField(undefined, live, o), message: `changed by someone else; applying ${MAX_REPAIRS} times did not repair it` } };
    }
    try {
      return { wrote: true, live: this.wrote(o, withKind(await this.kube.apply(o), o)) };
    } catch (e) {
      switch (repairAction(o.kind ?? '', drifted, e)) {
        case 'recreate':
          try {
            return { wrote: true, live: this.wrote(o, withKind(await this.recreate(o, live), o)) };
          } catch (e2) {
            return { wrote: false, error: e2 };
          }
        case 'report': {
          const drift = { object: objectKey(o), field: driftField(e, live, o), message: errorMessage(e) };
          if (drifted) this.repairs.set(key, { tries, drift });
          return { wrote: false, drift };
        }
        default:
          return { wrote: false, error: e };
      }
    }
  }

  /**
   * An object read as absent (not in the cache, GET 404) is created with POST, which fails
   * (409) when someone created it in between: server-side apply with force would have taken
   * their object over. The create records the reconciler's manager as an Update; the first
   * later apply turns it into an Apply first (createdNotApplied), so fields dropped from the
   * plan are removed as with any apply.
   */
  private async createOne(o: KubernetesObject, owner: Owner): Promise<Outcome> {
    try {
      const live = this.wrote(o, withKind(await this.kube.create(o), o));
      if (live) this.created.record(live, o);
      return { wrote: true, ...(live ? { live, created: live } : {}) };
    } catch (e) {
      if (statusCode(e) === 409) return this.alreadyExists(o, owner);
      return { wrote: false, error: e };
    }
  }

  /**
   * POST said the object exists though no cache knew it: created a moment ago, by someone
   * else (a conflict) or by an earlier pass of ours whose watch event has not arrived (read,
   * and treated like a cached object: usually up to date, nothing written).
   */
  private async alreadyExists(o: KubernetesObject, owner: Owner): Promise<Outcome> {
    const live = await this.read(o).catch(() => undefined);
    const ownership = live ? owner.classify(live) : 'foreign';
    if (live && ownership === 'ours') return this.applyOne(o, live, owner);
    if (ownership === 'previous') return { wrote: false, waiting: true };
    return { wrote: false, error: new ConflictError([objectKey(o)], owner.describe) };
  }

  /** Deletes exactly the version that was read (`live`: uid and resourceVersion), then applies. */
  private async recreate(o: KubernetesObject, live: KubernetesObject | undefined): Promise<KubernetesObject> {
    if (live) await this.kube.delete({ ...live, kind: o.kind, apiVersion: o.apiVersion });
    return this.kube.apply(o);
  }
}

/**
 * Objects this process created (POST) that its cache may not show yet, as compact records
 * (name, uid, resourceVersion, the applied hash and the manager: what upToDate and
 * createdNotApplied read; `covers` finds nothing to compare in a record without content,
 * so only the hash decides, as it should for what was just written from that hash). An
 * entry goes once the cache shows the object, or after MAX_AGE_MS (pruned now and then),
 * so a burst of thousands of worlds holds only small records, and not for long.
 */
class CreatedObjects {
  private static readonly MAX_AGE_MS = 60_000;
  private readonly entries = new Map<string, { record: KubernetesObject; at: number }>();
  private readonly records = new WeakSet<KubernetesObject>();
  private prunedAt = 0;

  /** `live` is the record of an object this process created from `desired`'s very hash. */
  justCreated(live: KubernetesObject, desired: KubernetesObject): boolean {
    return this.records.has(live) && live.metadata?.annotations?.[APPLIED_HASH] === desired.metadata?.annotations?.[APPLIED_HASH];
  }

  record(live: KubernetesObject, sent: KubernetesObject): void {
    const m = live.metadata ?? {};
    const hash = sent.metadata?.annotations?.[APPLIED_HASH];
    const record: KubernetesObject = {
      apiVersion: sent.apiVersion,
      kind: sent.kind,
      metadata: { name: m.name, namespace: m.namespace, uid: m.uid, resourceVersion: m.resourceVersion, labels: sent.metadata?.labels, annotations: hash ? { [APPLIED_HASH]: hash } : {}, ownerReferences: sent.metadata?.ownerReferences, managedFields: [{ manager: FIELD_MANAGER, operation: 'Update' }] },
    };
    this.entries.set(objectKey(sent), { record, at: performance.now() });
    this.records.add(record);
    this.prune();
  }

  get(o: KubernetesObject): KubernetesObject | undefined {
    const e = this.entries.get(objectKey(o));
    if (e && performance.now() - e.at < CreatedObjects.MAX_AGE_MS) return e.record;
    if (e) this.entries.delete(objectKey(o));
    return undefined;
  }

  forget(cached: KubernetesObject): void {
    if (this.entries.size > 0) this.entries.delete(objectKey(cached));
  }

  private prune(): void {
    const now = performance.now();
    if (now - this.prunedAt < 10_000) return;
    this.prunedAt = now;
    for (const [k, e] of this.entries) if (now - e.at >= CreatedObjects.MAX_AGE_MS) this.entries.delete(k);
  }
}
