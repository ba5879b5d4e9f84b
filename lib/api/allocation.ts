/**
 * The allocation endpoint's wire contract (issue 20), one definition for both sides: the
 * reconciler's endpoint (lib/reconciler/claims/allocations.ts) and its client
 * (lib/client/allocation.ts). `POST /v1alpha1/namespaces/{ns}/allocations` takes an
 * AllocationBody (exactly one of pool and selector) and answers an AllocationReply.
 */
import type { Endpoint } from './schema.js';

export interface AllocationBody {
  requestId: string;
  pool?: string;
  selector?: { game: string; region?: string; matchLabels?: Record<string, string> };
  timeoutSeconds?: number;
}

export interface AllocationReply {
  requestId: string;
  namespace: string;
  world: string;
  claim: string;
  endpoints: Endpoint[];
  cluster?: string;
}

/** The Service in front of the endpoint (in the reconciler's namespace, anvil-system by default). */
export const ALLOCATOR_SERVICE = 'anvil-allocator';
export const ALLOCATOR_DEFAULT_NAMESPACE = 'anvil-system';
/**
 * Without a TLS Secret the reconciler serves a self-signed certificate it keeps in this
 * Secret, and publishes its CA in this ConfigMap (key `ca.crt`), which any authenticated
 * user may read: what clients trust when given no CA.
 */
export const ALLOCATOR_SELF_SIGNED_SECRET = 'anvil-allocator-selfsigned';
export const ALLOCATOR_CA_CONFIGMAP = 'anvil-allocator-ca';
export const ALLOCATOR_CA_KEY = 'ca.crt';
