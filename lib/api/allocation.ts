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
