/**
 * What the informer caches keep of each object: only what the reconciler reads. Every
 * object loses metadata.managedFields (often half its size; owned objects keep only the
 * names of their managers, for the ownership rule). Owned objects
 * lose their status, except Deployments, which keep the four status fields readiness is
 * computed from (deploymentAvailable), and Services, which keep status.loadBalancer (the
 * addresses a world's endpoints publish). Everything else stays: apply.ts compares the rendered
 * fields (spec, data, labels, annotations, ownerReferences) with the cached object, and
 * fields the server added are simply not looked at.
 *
 * Measured with a heap snapshot after a burst of worlds (bench `--heap-snapshot`), the owned
 * caches are nearly all of what a world costs the reconciler, and a third of them was copies
 * of the same strings (JSON.parse gives every value its own copy: "anvil.dev/v1alpha1", the
 * world's name in each label and selector, the reconciler's field manager, …). Owned objects
 * therefore also share one copy of each short string value (`internStrings`), and lose the
 * metadata nothing reads of them (uid, creationTimestamp).
 */
import type { KubernetesObject } from '@kubernetes/client-node';

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
      if (typeof x === 'string') o[k] = k === 'resourceVersion' ? x : intern(x); // versions are unique: kept out of the table
      else if (x && typeof x === 'object') internStrings(x);
    }
  }
  return v;
}

/** The Deployment status fields deploymentAvailable reads. */
const DEPLOYMENT_STATUS = ['observedGeneration', 'availableReplicas', 'updatedReplicas', 'replicas'] as const;

/** Drops managedFields in place (the object is fresh from JSON.parse and ours alone). */
export function trimMetadata<T extends KubernetesObject>(o: T): T {
  if (o.metadata?.managedFields) delete o.metadata.managedFields;
  return o;
}

/**
 * Keeps of managedFields only who manages the object and how (`{manager, operation}`): the
 * platform's ownership rule reads it (lib/reconciler/global.ts), the field sets are never read.
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
export function trimOwned(kind: string): <T extends KubernetesObject>(o: T) => T {
  const trim = trimStatus(kind);
  return (o) => {
    o.kind ??= kind;
    // Never read of an owned object: ownership is its ownerReferences' uid, not its own;
    // deletes go by name (Kube.delete), and nothing reports an owned object's age.
    if (o.metadata) {
      delete o.metadata.uid;
      delete o.metadata.creationTimestamp;
    }
    return internStrings(trim(o));
  };
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
      if (lb?.ingress?.length) l.status = { loadBalancer: lb };
      else delete l.status;
      return o;
    };
  }
  return (o) => {
    delete (trimManagers(o) as Loose).status;
    return o;
  };
}
