/**
 * Namespaces being deleted. The namespace controller removes everything in them, and the API
 * server refuses new content there (403 "unable to create new content in namespace … because it
 * is being terminated"): a pass that would create a world's objects, a pool's refill or an Event
 * in such a namespace can only fail, and would report a failure that is not one. Passes skip them.
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import type { Informer } from './informer.js';

/** True when the cached namespace carries a deletionTimestamp (unknown or uncached: false). */
export function namespaceTerminating(namespaces: Pick<Informer<KubernetesObject>, 'get'> | undefined, name: string): boolean {
  return Boolean(namespaces?.get(name)?.metadata?.deletionTimestamp);
}
