/**
 * The allocation endpoint's errors as the cluster set's claim outcomes. The endpoint (another
 * issue's; its contract: `POST {allocationURL}/v1alpha1/namespaces/{ns}/allocations`, a bearer
 * token, errors as `{"reason","message"}`) answers with an HTTP status and a reason; a claim
 * function that calls it throws `allocationError(...)`, and claimAcrossClusters decides from
 * the reason whether the next cluster is tried (FAILOVER_REASONS).
 *
 * - 404 PoolNotFound, 429 PoolExhausted: the pool's own verdicts, as over the API server.
 * - 503 NotLeader (or any 5xx): this cluster cannot serve now — like a cluster that does not
 *   answer, the next one is tried.
 * - 401 Unauthorized, 403 Forbidden: end the claim there, as a Forbidden from the API server
 *   does (clusterSet.ts): the same client and token would be refused by the next cluster too,
 *   and failing over would hide the mistake behind a slower claim.
 * - any other status (400: a request no cluster would take): the claim ends with that reason.
 */
import { ClaimError } from './claims.js';

/** Outcomes of the allocation endpoint that pass a claim on to the next cluster. */
export const ALLOCATION_FAILOVER_REASONS = ['NotLeader'];

const BY_STATUS: Record<number, string> = { 401: 'Unauthorized', 403: 'Forbidden', 404: 'PoolNotFound', 429: 'PoolExhausted', 503: 'NotLeader' };

/** The outcome name of an error answer: the status's reason (the body's when it names one we know for that status). */
export function allocationReason(status: number, body: unknown): string {
  const said = typeof body === 'object' && body !== null && typeof (body as { reason?: unknown }).reason === 'string' ? (body as { reason: string }).reason : undefined;
  const expected = BY_STATUS[status];
  if (expected) return expected;
  if (status >= 500) return 'Unreachable';
  return said ?? `HTTP${status}`;
}

/** A ClaimError for an error answer of `cluster`'s allocation endpoint, naming the cluster, the status and the server's message. */
export function allocationError(cluster: string, namespace: string, status: number, body: unknown): ClaimError {
  const message = typeof body === 'object' && body !== null && typeof (body as { message?: unknown }).message === 'string' ? (body as { message: string }).message : JSON.stringify(body);
  return new ClaimError(allocationReason(status, body), `cluster ${cluster}: allocation endpoint answered ${status}: ${message}`, undefined, namespace);
}
