/**
 * What the informer caches keep of each object: only what the reconciler reads. Every
 * object loses metadata.managedFields (often half its size; owned objects keep only the
 * names of their managers, for the ownership rule). Owned objects
 * lose their status, except Deployments, which keep the four status fields readiness is
 * computed from (deploymentAvailable), and Services, which keep status.loadBalancer (the
 * addresses a world's endpoints publish). Everything else stays: apply.ts compares the rendered
 * fields (spec, data, labels, annotations, ownerReferences) with the cached object, and
 * fields the server added are simply not looked at.
 */
import type { KubernetesObject } from '@kubernetes/client-node';

type Loose = KubernetesObject & { status?: Record<string, unknown> };

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
    return trim(o);
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
