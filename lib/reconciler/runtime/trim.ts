/**
 * What the informer caches keep of each object: only what the reconciler reads. Every
 * object loses metadata.managedFields (often half its size; owned objects keep only the
 * names of their managers, for the ownership rule). Owned objects
 * lose their status, except Deployments, which keep the four status fields readiness is
 * computed from (deploymentAvailable), and Services, which keep status.loadBalancer (the
 * addresses a world's endpoints publish). Everything else stays until the content is known
 * to be what the plan wants (apply.ts compares the rendered fields with the cached object;
 * fields the server added are simply not looked at); from then on only a digest of it
 * (compact records: `VerifiedContent`, below).
 *
 * Measured with a heap snapshot after a burst of worlds (bench `--heap-snapshot`), the owned
 * caches are nearly all of what a world costs the reconciler, and a third of them was copies
 * of the same strings (JSON.parse gives every value its own copy: "anvil.dev/v1alpha1", the
 * world's name in each label and selector, the reconciler's field manager, …). Owned objects
 * therefore also share one copy of each short string value (`internStrings`), keep only the
 * metadata that is read (OWNED_METADATA), and lose the fields the API server defaults that
 * the renderer never sets (SERVER_DEFAULTS: `covers` only reads fields the rendered object
 * has; a unit test checks that no object in dist/ sets one of them).
 *
 * Fields are dropped by building a new object without them, never with `delete` in the
 * middle of an object: that turns a V8 object into a dictionary, several times its size
 * (measured: deleting two metadata fields cost more than sharing the strings saved).
 */
import { createHash } from 'node:crypto';
import type { KubernetesObject } from '@kubernetes/client-node';
import { APPLIED_HASH } from '../../render/labels.js';

type Loose = KubernetesObject & { status?: Record<string, unknown> };

/**
 * One copy of each short string value in the caches. Bounded: when full it starts again
 * (strings already shared stay shared; the next ones are shared anew), so the strings of
 * objects long gone are not kept forever. Sharing an immutable string is invisible to readers.
 */
const INTERN_MAX_ENTRIES = 200_000;
const INTERN_MAX_LENGTH = 256;
const interned = new Map<string, string>();
function intern(s: string): string {
  if (s.length > INTERN_MAX_LENGTH) return s;
  const shared = interned.get(s);
  if (shared !== undefined) return shared;
  if (interned.size >= INTERN_MAX_ENTRIES) interned.clear();
  interned.set(s, s);
  return s;
}

const UNIQUE_VALUES: ReadonlySet<string> = new Set(['resourceVersion', APPLIED_HASH]);

/**
 * One shared, frozen copy of each small metadata value: the labels, owner references and
 * managers of a world's objects are mostly the same values (measured: ~0.4 KB of every
 * cached object were such copies). Frozen, because shared: a reader that tried to change
 * one would change every object's; it fails loudly instead. Bounded like `intern`.
 */
const INTERN_VALUE_MAX_JSON = 1024;
const sharedValues = new Map<string, unknown>();
export function internValue<T>(v: T): T {
  if (v === null || typeof v !== 'object') return v;
  const key = JSON.stringify(v);
  if (key.length > INTERN_VALUE_MAX_JSON) return v;
  const shared = sharedValues.get(key);
  if (shared !== undefined) return shared as T;
  if (sharedValues.size >= INTERN_MAX_ENTRIES) sharedValues.clear();
  sharedValues.set(key, deepFreeze(v));
  return v;
}

function deepFreeze<T>(v: T): T {
  if (v && typeof v === 'object' && !Object.isFrozen(v)) {
    for (const x of Object.values(v)) deepFreeze(x);
    Object.freeze(v);
  }
  return v;
}

/** The metadata values shared among objects (`internValue`); not annotations, which carry each object's applied hash. */
const SHARED_METADATA = ['labels', 'ownerReferences', 'managedFields'] as const;

/** Every string value of `v` (not keys: JSON.parse shares those already) replaced by its shared copy, in place. */
export function internStrings<T>(v: T): T {
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const x: unknown = v[i];
      if (typeof x === 'string') v[i] = intern(x);
      else if (x && typeof x === 'object') internStrings(x);
    }
  } else if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    for (const k of Object.keys(o)) {
      const x = o[k];
      // Versions and applied hashes are unique to one object: sharing them saves nothing.
      if (typeof x === 'string') o[k] = UNIQUE_VALUES.has(k) ? x : intern(x);
      else if (x && typeof x === 'object') internStrings(x);
    }
  }
  return v;
}

/** The Deployment status fields deploymentAvailable reads. */
const DEPLOYMENT_STATUS = ['observedGeneration', 'availableReplicas', 'updatedReplicas', 'replicas'] as const;

/** `o` without `keys`: a new object (not `delete`, see above), or `o` itself when it has none of them. */
function without<T extends object>(o: T, keys: readonly string[]): T {
  if (!keys.some((k) => k in o)) return o;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) if (!keys.includes(k)) out[k] = v;
  return out as T;
}

/** Drops managedFields (the object is fresh from JSON.parse and ours alone). */
export function trimMetadata<T extends KubernetesObject>(o: T): T {
  if (o.metadata?.managedFields) o.metadata = without(o.metadata, ['managedFields']);
  return o;
}

/**
 * What is read of an owned object's metadata: its name and namespace, what apply compares
 * (labels, annotations, ownerReferences: the owner's uid is the ownership rule), the
 * resourceVersion (the informer's), the generation (deploymentAvailable), a pending deletion,
 * and the managers (the platform's ownership rule). Its uid is added after the strings are
 * shared (trimOwned: unique, sharing it saves nothing): every delete sends uid and
 * resourceVersion as preconditions. Not its creationTimestamp: nothing reports an owned object's age.
 */
const OWNED_METADATA = ['name', 'namespace', 'labels', 'annotations', 'ownerReferences', 'resourceVersion', 'generation', 'deletionTimestamp', 'managedFields'] as const;

function keepMetadata(m: NonNullable<KubernetesObject['metadata']>): NonNullable<KubernetesObject['metadata']> {
  // Always in this order: every cached metadata object has the same V8 shape.
  const out: Record<string, unknown> = {};
  for (const k of OWNED_METADATA) if (m[k] !== undefined) out[k] = m[k];
  return out as NonNullable<KubernetesObject['metadata']>;
}

/**
 * Fields the API server defaults and the renderer never sets (lib/render; checked against
 * dist/ by a unit test), by kind: `covers` never reads them, and nothing else does.
 */
export const SERVER_DEFAULTS = {
  podSpec: ['dnsPolicy', 'schedulerName', 'restartPolicy'],
  container: ['terminationMessagePath', 'terminationMessagePolicy', 'imagePullPolicy'],
  serviceSpec: ['clusterIP', 'clusterIPs', 'ipFamilies', 'ipFamilyPolicy', 'sessionAffinity', 'internalTrafficPolicy'],
} as const;

type PodTemplate = { metadata?: Record<string, unknown>; spec?: Record<string, unknown> & { containers?: object[]; initContainers?: object[] } };

function withoutServerDefaults(kind: string, o: KubernetesObject): void {
  const l = o as KubernetesObject & { spec?: Record<string, unknown> & { template?: PodTemplate } };
  if (kind === 'Service' && l.spec) l.spec = without(l.spec, SERVER_DEFAULTS.serviceSpec);
  const template = kind === 'Deployment' ? l.spec?.template : undefined;
  if (!template) return;
  if (template.metadata && 'creationTimestamp' in template.metadata) template.metadata = without(template.metadata, ['creationTimestamp']);
  const pod = template.spec;
  if (!pod) return;
  const containers = (list?: object[]) => list?.map((c) => without(c, SERVER_DEFAULTS.container));
  template.spec = {
    ...without(pod, SERVER_DEFAULTS.podSpec),
    ...(pod.containers ? { containers: containers(pod.containers) } : {}),
    ...(pod.initContainers ? { initContainers: containers(pod.initContainers) } : {}),
  };
}

/**
 * Keeps of managedFields only who manages the object and how (`{manager, operation}`): the
 * platform's ownership rule reads it (lib/reconciler/worlds/platform.ts), the field sets are never read.
 */
export function trimManagers<T extends KubernetesObject>(o: T): T {
  const fields = o.metadata?.managedFields;
  if (!fields) return o;
  const seen = new Set<string>();
  o.metadata!.managedFields = fields
    .map((f) => ({ manager: f.manager, operation: f.operation }))
    .filter((f) => !seen.has(`${f.manager}/${f.operation}`) && seen.add(`${f.manager}/${f.operation}`));
  return o;
}

/**
 * A trimmer for objects of an owned kind: managers only, status only where read, and the
 * kind set (list items come without it), so that code reading the cache can tell kinds apart
 * without copying each object: a namespace may hold the objects of thousands of worlds.
 */
export function trimOwned(kind: string, verified?: VerifiedContent): <T extends KubernetesObject>(o: T) => T {
  const trim = trimStatus(kind);
  return (o) => {
    o.kind ??= kind;
    const t = trim(o);
    const uid = t.metadata?.uid;
    if (t.metadata) t.metadata = keepMetadata(t.metadata);
    withoutServerDefaults(kind, t);
    if (verified) {
      const digest = digestOfContent(t);
      (t as Compactable)[CONTENT] = digest;
      // Content the reconciler already knows to be what it wants: only its digest is kept.
      if (uid && verified.get(uid) === digest) compact(kind, t);
    }
    internStrings(t);
    const m = t.metadata as Record<string, unknown> | undefined;
    if (m) for (const k of SHARED_METADATA) if (m[k] !== undefined) m[k] = internValue(m[k]);
    if (uid && t.metadata) t.metadata.uid = uid;
    return t;
  };
}

/**
 * Compact records of owned objects. Of an owned object the reconciler reads its metadata,
 * a few status fields, a Deployment's spec.replicas and spec.paused and a Service's ports;
 * the rest of its content (a pod template, a ConfigMap's data, …) only to tell whether it
 * still is what the plan wants (`covers`, worlds/apply.ts). Once it is known to be (the
 * reconciler wrote it, or compared it once), only a digest of that content is kept:
 * `VerifiedContent` maps the object's uid to the digest of the content known good, and
 * a cached object whose content has that digest is compacted (its content dropped, the
 * digest kept under CONTENT). Content that changed since (an edit by someone else, a field
 * set by another controller) has another digest: the object is cached whole until the
 * applier has compared it again. Status changes (most watch events) leave the content alone.
 */
export const CONTENT: unique symbol = Symbol('anvil.contentDigest');
type Compactable = KubernetesObject & { [CONTENT]?: string } & Record<string, unknown>;

/** The digest of an object's content, as cached (`covers` reads): all but apiVersion, kind, metadata and status. */
export function digestOfContent(o: KubernetesObject): string {
  const content: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) if (k !== 'apiVersion' && k !== 'kind' && k !== 'metadata' && k !== 'status') content[k] = v;
  // 15 bytes as 20 base64 characters: a flat string (a slice of a longer one would keep it alive).
  return createHash('sha1').update(canonicalJson(content)).digest().toString('base64', 0, 15);
}

/** The digest of `o`'s content as the cache would hold it (the server's defaults left out), `o` left untouched. */
export function cachedContentDigest(kind: string, o: KubernetesObject): string {
  const l = o as KubernetesObject & { spec?: Record<string, unknown> & { template?: object } };
  const copy = { ...l, ...(l.spec ? { spec: { ...l.spec, ...(l.spec.template ? { template: { ...l.spec.template } } : {}) } } : {}) };
  withoutServerDefaults(kind, copy);
  return digestOfContent(copy);
}

/** The digest kept for a compacted object, when it is one or could be (undefined for objects cached without VerifiedContent). */
export const contentDigestOf = (o: KubernetesObject): string | undefined => (o as Compactable)[CONTENT];

/**
 * Drops `o`'s content but what is read of it (a Deployment's replicas and paused, a
 * Service's ports), in place, by assignment (never `delete`: see the header).
 */
export function compact(kind: string, o: KubernetesObject): void {
  const l = o as Compactable & { spec?: Record<string, unknown> };
  for (const k of Object.keys(l)) if (!NOT_CONTENT.has(k)) l[k] = undefined;
  const spec = l.spec;
  if (!spec) return;
  const keep = keptOfSpec(kind);
  const kept = keep.filter((k) => spec[k] !== undefined);
  l.spec = kept.length > 0 ? Object.fromEntries(kept.map((k) => [k, spec[k]])) : undefined;
}

/** Whether `o` holds no more content than `compact` leaves. */
export function isCompact(kind: string, o: KubernetesObject): boolean {
  const l = o as Compactable & { spec?: Record<string, unknown> };
  for (const k of Object.keys(l)) if (!NOT_CONTENT.has(k) && l[k] !== undefined) return false;
  const keep = keptOfSpec(kind);
  return !l.spec || Object.keys(l.spec).every((k) => keep.includes(k));
}

const NOT_CONTENT: ReadonlySet<string> = new Set(['apiVersion', 'kind', 'metadata', 'status', 'spec']);
const keptOfSpec = (kind: string): readonly string[] => (kind === 'Deployment' ? ['replicas', 'paused'] : kind === 'Service' ? ['ports'] : []);

/** By uid: the digest of the content each owned object has when it is what the reconciler wants. */
export class VerifiedContent {
  private readonly digests = new Map<string, string>();

  get(uid: string): string | undefined {
    return this.digests.get(uid);
  }

  set(uid: string, digest: string): void {
    this.digests.set(uid, digest);
  }

  /** The object is gone: its entry too. */
  forget(uid: string | undefined): void {
    if (uid) this.digests.delete(uid);
  }

  get size(): number {
    return this.digests.size;
  }
}

function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.keys(v as object).sort().map((k) => [k, (v as Record<string, unknown>)[k]]))
      : v,
  );
}

function trimStatus(kind: string): <T extends KubernetesObject>(o: T) => T {
  if (kind === 'Deployment') {
    return (o) => {
      const l = trimManagers(o) as Loose;
      if (l.status) {
        const st = l.status;
        l.status = Object.fromEntries(DEPLOYMENT_STATUS.filter((k) => st[k] !== undefined).map((k) => [k, st[k]]));
      }
      return o;
    };
  }
  if (kind === 'Service') {
    // An exposed Service's load balancer addresses go into the world's endpoints (withExternal).
    return (o) => {
      const l = trimManagers(o) as Loose;
      const lb = l.status?.loadBalancer as { ingress?: unknown[] } | undefined;
      if (lb?.ingress?.length) {
        l.status = { loadBalancer: lb };
        return o;
      }
      return without(o, ['status']);
    };
  }
  return (o) => without(trimManagers(o), ['status']);
}

/**
 * A compact record of an object known from a metadata-only informer (PartialObjectMetadata):
 * its kind (the record's own is PartialObjectMetadata), name, namespace, uid and
 * resourceVersion, its labels and owner references (what ownership rules read), Anvil's own
 * annotations (its retention policy, the applied hash; never another tool's, such as
 * kubectl's last-applied-configuration) and who manages it (`{manager, operation}`). Nothing
 * else of the object is ever read from such a cache.
 */
export function trimToRecord(kind: string): <T extends KubernetesObject>(o: T) => T {
  return <T extends KubernetesObject>(o: T): T => {
    const m = o.metadata ?? {};
    const anvil = Object.entries(m.annotations ?? {}).filter(([k]) => k.startsWith('anvil.dev/'));
    const managers = trimManagers({ metadata: { managedFields: m.managedFields } } as KubernetesObject).metadata?.managedFields;
    // Always in this order: every record has the same V8 shape.
    const metadata: Record<string, unknown> = {
      name: m.name,
      namespace: m.namespace,
      labels: m.labels,
      annotations: anvil.length > 0 ? Object.fromEntries(anvil) : undefined,
      ownerReferences: m.ownerReferences?.map(({ apiVersion, kind: k, name, uid }) => ({ apiVersion, kind: k, name, uid })),
      managedFields: managers,
      deletionTimestamp: m.deletionTimestamp,
    };
    const record = internStrings({ kind, metadata }) as { kind: string; metadata: Record<string, unknown> };
    record.metadata.uid = m.uid;
    record.metadata.resourceVersion = m.resourceVersion;
    return record as unknown as T;
  };
}
