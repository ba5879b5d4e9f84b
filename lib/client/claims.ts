/**
 * Claiming a warm world from a WorldPool, for matchmakers and `anvil allocate`:
 *
 *   const { world, endpoints, latencyMs } = await claimWorld({ kubeconfig, namespace: 'roguelike', pool: 'crypt', labels: { 'match-id': id } });
 *
 * creates a WorldClaim, waits for the reconciler to bind it (the namespace's shared watches,
 * from the resourceVersion its create returned, so no transition is missed and nothing polls),
 * and returns the bound world and its endpoints: from the world as soon as the binding's
 * commit stamps it with the claim's uid, or from the claim's Bound status if that is seen first. A claim that fails (PoolExhausted,
 * PoolNotFound, …), or gets no verdict in time, throws a ClaimError with the reason; the
 * failed claim is deleted, so a late binding cannot leave a world nobody uses. Releasing a
 * world is deleting its claim (`releaseWorld`): the world goes with it and the pool refills.
 *
 * A claim is named from a request id (given, or a random one per call), so a create whose
 * reply was lost is found again by a retry rather than leaked, and a call retried with the
 * same `requestId` gets the same claim, and so the same world. Calls share one keep-alive
 * connection pool per kubeconfig.
 *
 * API calls, and so the RBAC a matchmaker needs (the `anvil-matchmaker` Role in dist):
 * create the claim; watch the namespace's claims (no list); get a claim only to resume after
 * the watch broke; delete it on failure or release; and watch the claimed worlds (label
 * selector, no get or list; without it, refused once, the client waits for the claim's status).
 */
import { randomUUID } from 'node:crypto';
import { CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import { API_VERSION, GROUP, VERSION, type Endpoint, type WorldClaimStatus } from '../api/schema.js';
import { claimName } from '../api/claimName.js';
import { keepAliveClient, kubeConfigOf } from './kubeTransport.js';
import { claimWatch, stampWatch } from './claimWatch.js';
import { bearerOf, callEndpoint, endpointTrust, retryable, type AllocationBody } from './allocation.js';
import { errorText as apiErrorText, statusOf } from './kube.js';

export const CLAIM_PLURAL = 'worldclaims';
const claimsApi = { group: GROUP, version: VERSION, plural: CLAIM_PLURAL };

export type { Endpoint };

/** The fields of a WorldClaim that a client reads (the full type is the CRD's). */
export interface ClaimObject {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string; namespace?: string; uid?: string; resourceVersion?: string; creationTimestamp?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: Record<string, unknown>;
  status?: WorldClaimStatus;
}

/** Which pool to claim from: by name, or any pool whose worlds match a game (and region, labels). */
export type PoolChoice = { pool: string; selector?: undefined } | { pool?: undefined; selector: { game: string; region?: string; matchLabels?: Record<string, string> } };

export type ClaimWorldOptions = PoolChoice & {
  /** A KubeConfig, or a kubeconfig path; default KUBECONFIG, ~/.kube/config or in-cluster. */
  kubeconfig?: KubeConfig | string;
  namespace: string;
  /** Stamped on the bound world (a match id, say). */
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  /** On the claim itself. */
  claimLabels?: Record<string, string>;
  /** The claim's spec.timeoutSeconds: how long it may wait for a ready world (default 30). */
  timeoutSeconds?: number;
  /** Extra time to wait for the reconciler's verdict after the timeout (default 10 s). */
  graceSeconds?: number;
  /**
   * Names the claim (default: a random id per call): a call retried with the same id (after a
   * lost reply, a crash of the caller) gets the same claim, and so the same world.
   */
  requestId?: string;
  signal?: AbortSignal;
  /**
   * The allocation endpoint (`https://anvil-allocator.anvil-system:8443`, say): the world in
   * one round trip, authenticated with the kubeconfig user's token. Falls back to the
   * WorldClaim resource only when the endpoint cannot be reached at all (nothing was sent);
   * its 4xx answers are final. The endpoint's contract has no labels or annotations.
   */
  allocationURL?: string;
  /**
   * The CA (PEM) the endpoint's certificate is checked against; default: the system's roots
   * plus the CA the reconciler publishes for its self-signed certificate (ConfigMap
   * anvil-allocator-ca in its namespace), when there is one.
   */
  ca?: string | Buffer;
};

export interface ClaimedWorld {
  claim: string;
  /** Set when the world came from the allocation endpoint (the request id it is released by). */
  requestId?: string;
  /** The endpoint's cluster name, when it gives one. */
  cluster?: string;
  namespace: string;
  world: string;
  endpoints: Endpoint[];
  /** From the create request to Bound seen by this client. */
  latencyMs: number;
  boundAt?: string;
}

/** Why a claim did not get a world: the claim's own reason (PoolExhausted, PoolNotFound, …) or the client's. */
export type ClaimFailureReason = string;

export class ClaimError extends Error {
  constructor(
    /** `PoolExhausted`, `PoolNotFound`, … from the claim; `Timeout`, `Deleted`, `Aborted`, `CreateFailed` from the client. */
    readonly reason: ClaimFailureReason,
    message: string,
    readonly claim?: string,
    readonly namespace?: string,
  ) {
    super(`${reason}: ${message}`);
    this.name = 'ClaimError';
  }
}

export const DEFAULT_CLAIM_TIMEOUT_SECONDS = 30;

/** The annotation a claim created by claimWorld carries: the request id its name is made from. */
export const ANNOTATION_REQUEST_ID = 'anvil.dev/request-id';

export { claimName };

/** The WorldClaim a claimWorld call creates, named from its request id. */
export function claimBody(opts: ClaimWorldOptions & { requestId: string }): ClaimObject {
  return {
    apiVersion: API_VERSION,
    kind: 'WorldClaim',
    metadata: {
      name: claimName(opts, opts.requestId),
      namespace: opts.namespace,
      annotations: { [ANNOTATION_REQUEST_ID]: opts.requestId },
      ...(opts.claimLabels ? { labels: opts.claimLabels } : {}),
    },
    spec: {
      ...(opts.pool !== undefined
        ? { poolRef: { name: opts.pool } }
        : { selector: { gameRef: { name: opts.selector.game }, ...(opts.selector.region ? { region: opts.selector.region } : {}), ...(opts.selector.matchLabels ? { matchLabels: opts.selector.matchLabels } : {}) } }),
      timeoutSeconds: opts.timeoutSeconds ?? DEFAULT_CLAIM_TIMEOUT_SECONDS,
      ...(opts.labels && Object.keys(opts.labels).length ? { worldLabels: opts.labels } : {}),
      ...(opts.annotations && Object.keys(opts.annotations).length ? { worldAnnotations: opts.annotations } : {}),
    },
  };
}

export type ClaimOutcome = { state: 'Bound'; world: string; endpoints: Endpoint[]; boundAt?: string } | { state: 'Failed'; reason: string; message: string } | { state: 'Pending' };

/** What a claim's status says: Bound (with its world), Failed (with the Bound condition's reason), or still Pending. */
export function claimOutcome(claim: ClaimObject): ClaimOutcome {
  const s = claim.status;
  if (s?.phase === 'Bound' && s.worldRef?.name) return { state: 'Bound', world: s.worldRef.name, endpoints: s.endpoints ?? [], ...(s.boundAt ? { boundAt: s.boundAt } : {}) };
  if (s?.phase === 'Failed') {
    const c = s.conditions?.find((x) => x.type === 'Bound') ?? s.conditions?.find((x) => x.status === 'False');
    return { state: 'Failed', reason: c?.reason ?? 'Failed', message: c?.message ?? 'the claim failed' };
  }
  return { state: 'Pending' };
}

/** One keep-alive connection pool per kubeconfig, shared by every call (a new TLS handshake per claim is not free). */
const clients = new WeakMap<KubeConfig, CustomObjectsApi>();
const configs = new Map<string, KubeConfig>();

function sharedConfig(from?: KubeConfig | string): KubeConfig {
  if (from instanceof KubeConfig) return from;
  const key = from ?? '';
  if (!configs.has(key)) configs.set(key, kubeConfigOf(from));
  return configs.get(key)!;
}

function sharedClient(kc: KubeConfig): CustomObjectsApi {
  if (!clients.has(kc)) clients.set(kc, keepAliveClient(kc, CustomObjectsApi, 16));
  return clients.get(kc)!;
}

/** Creates a WorldClaim and waits until it is Bound; throws ClaimError otherwise (see the file's comment). */
export async function claimWorld(opts: ClaimWorldOptions): Promise<ClaimedWorld> {
  if ((opts.pool === undefined) === (opts.selector === undefined)) throw new TypeError('claimWorld: give exactly one of pool or selector');
  const kc = sharedConfig(opts.kubeconfig);
  const api = sharedClient(kc);
  const t0 = performance.now();
  const requestId = opts.requestId ?? randomUUID();
  if (opts.allocationURL) {
    const got = await viaEndpoint(kc, { ...opts, allocationURL: opts.allocationURL }, requestId, t0);
    if (got) return got;
  }
  const created = await createOrFind(api, { ...opts, requestId });
  const name = created.metadata!.name!;
  const waitMs = ((opts.timeoutSeconds ?? DEFAULT_CLAIM_TIMEOUT_SECONDS) + (opts.graceSeconds ?? 10)) * 1000;
  const outcome = await waitForVerdict(kc, api, opts.namespace, created, waitMs, opts.signal);
  if (outcome.state === 'Bound') {
    return { claim: name, namespace: opts.namespace, world: outcome.world, endpoints: outcome.endpoints, latencyMs: performance.now() - t0, ...(outcome.boundAt ? { boundAt: outcome.boundAt } : {}) };
  }
  if (outcome.reason !== 'Deleted') await releaseWorld({ kubeconfig: kc, namespace: opts.namespace, claim: name }).catch(() => undefined);
  throw new ClaimError(outcome.reason, `WorldClaim ${opts.namespace}/${name}: ${outcome.message}`, name, opts.namespace);
}

/**
 * The endpoint's answer as a ClaimedWorld; a ClaimError for a 4xx (final); the same request
 * id again after a 5xx or a broken connection (the endpoint gives the same world if one was
 * committed) until the deadline; undefined when it cannot be reached and nothing was ever
 * sent (the WorldClaim resource is safe to use then).
 */
async function viaEndpoint(kc: KubeConfig, opts: ClaimWorldOptions & { allocationURL: string }, requestId: string, t0: number): Promise<ClaimedWorld | undefined> {
  if (Object.keys(opts.labels ?? {}).length || Object.keys(opts.annotations ?? {}).length) throw new TypeError('claimWorld: labels and annotations are not part of the allocation endpoint; leave out allocationURL to stamp them through a WorldClaim');
  const authorization = await bearerOf(kc);
  const ca = await endpointTrust(kc, opts.allocationURL, opts.ca);
  const timeoutSeconds = opts.timeoutSeconds ?? 0;
  const body: AllocationBody = { requestId, ...(opts.pool !== undefined ? { pool: opts.pool } : { selector: opts.selector }), ...(timeoutSeconds ? { timeoutSeconds } : {}) };
  const deadline = t0 + (timeoutSeconds + (opts.graceSeconds ?? 10)) * 1000;
  const path = `v1alpha1/namespaces/${encodeURIComponent(opts.namespace)}/allocations`;
  let sent = false;
  for (let attempt = 0; ; attempt++) {
    const left = deadline - performance.now();
    const r = await callEndpoint({ url: opts.allocationURL, ...(ca ? { ca } : {}), method: 'POST', path, ...(authorization ? { authorization } : {}), body, timeoutMs: Math.max(1000, left), ...(opts.signal ? { signal: opts.signal } : {}) });
    if (r.kind === 'reply') {
      const w = r.reply;
      return { claim: w.claim, namespace: w.namespace, world: w.world, endpoints: w.endpoints, latencyMs: performance.now() - t0, requestId, ...(w.cluster ? { cluster: w.cluster } : {}) };
    }
    if (r.kind === 'unreachable' && !sent) return undefined;
    if (r.kind === 'error' && !retryable(r)) throw new ClaimError(r.reason, `allocation ${requestId} in ${opts.namespace} (${opts.allocationURL}): ${r.message}`, undefined, opts.namespace);
    // 503 NotLeader committed nothing; anything else may have.
    if (!(r.kind === 'error' && r.status === 503)) sent = true;
    if (opts.signal?.aborted) throw new ClaimError('Aborted', 'the caller gave up', undefined, opts.namespace);
    if (performance.now() >= deadline) throw new ClaimError('Timeout', `allocation ${requestId} in ${opts.namespace}: ${r.message}; retry with the same requestId`, undefined, opts.namespace);
    await new Promise((res) => setTimeout(res, Math.min(1000, 50 * 2 ** attempt)));
  }
}

const CREATE_ATTEMPTS = 4;

/**
 * Creates the claim of this request id, or finds it: when the name exists already (a retry,
 * or a create whose reply was lost and that is sent again), the existing claim is this
 * request's if it carries the same request id. A create that got no answer is retried.
 */
async function createOrFind(api: CustomObjectsApi, opts: ClaimWorldOptions & { requestId: string }): Promise<ClaimObject> {
  const body = claimBody(opts);
  const name = body.metadata!.name!;
  for (let attempt = 1; ; attempt++) {
    try {
      return (await api.createNamespacedCustomObject({ ...claimsApi, namespace: opts.namespace, body })) as ClaimObject;
    } catch (e) {
      const code = statusOf(e);
      if (code === 409) return findOwn(api, opts.namespace, name, opts.requestId);
      if (code !== undefined || attempt >= CREATE_ATTEMPTS) throw new ClaimError('CreateFailed', `creating WorldClaim ${opts.namespace}/${name}: ${apiErrorText(e)}`, name, opts.namespace);
      await new Promise((r) => setTimeout(r, 100 * 2 ** attempt));
    }
  }
}

async function findOwn(api: CustomObjectsApi, namespace: string, name: string, requestId: string): Promise<ClaimObject> {
  const found = (await api.getNamespacedCustomObject({ ...claimsApi, namespace, name }).catch((e: unknown) => {
    throw new ClaimError('CreateFailed', `WorldClaim ${namespace}/${name} exists but cannot be read: ${apiErrorText(e)}`, name, namespace);
  })) as ClaimObject;
  if (found.metadata?.annotations?.[ANNOTATION_REQUEST_ID] !== requestId) {
    throw new ClaimError('CreateFailed', `WorldClaim ${namespace}/${name} exists for another request (annotation ${ANNOTATION_REQUEST_ID}); use another request id`, name, namespace);
  }
  return found;
}

/**
 * Deletes a claim: its world (and everything the world owns) goes with it, and the pool
 * refills. A world from the allocation endpoint is released through it, by its request id.
 */
export async function releaseWorld(
  opts: { kubeconfig?: KubeConfig | string; namespace: string } & ({ claim: string; allocationURL?: undefined } | { allocationURL: string; ca?: string | Buffer; requestId: string; claim?: undefined }),
): Promise<void> {
  if (opts.allocationURL !== undefined) return releaseAllocation(opts);
  const api = sharedClient(sharedConfig(opts.kubeconfig));
  try {
    await api.deleteNamespacedCustomObject({ ...claimsApi, namespace: opts.namespace, name: opts.claim });
  } catch (e) {
    if (statusOf(e) !== 404) throw new Error(`deleting WorldClaim ${opts.namespace}/${opts.claim}: ${apiErrorText(e)}`);
  }
}

type Verdict = Exclude<ClaimOutcome, { state: 'Pending' }>;

/**
 * Follows one claim on the namespace's shared watch (claimWatch.ts) until it is Bound or
 * Failed, it is deleted, the deadline passes or the signal aborts.
 */
function waitForVerdict(kc: KubeConfig, api: CustomObjectsApi, namespace: string, created: ClaimObject, waitMs: number, signal?: AbortSignal): Promise<Verdict> {
  const name = created.metadata!.name!;
  return new Promise<Verdict>((resolve) => {
    let settled = false;
    let stop = () => undefined as void;
    const finish = (v: Verdict) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      stop();
      resolve(v);
    };
    const timer = setTimeout(() => finish({ state: 'Failed', reason: 'Timeout', message: `no verdict within ${Math.round(waitMs / 1000)} s` }), waitMs);
    const onAbort = () => finish({ state: 'Failed', reason: 'Aborted', message: 'the caller gave up' });
    if (signal?.aborted) return onAbort();
    signal?.addEventListener('abort', onAbort);
    const observe = (obj: ClaimObject) => {
      const o = claimOutcome(obj);
      if (o.state !== 'Pending') finish(o);
    };
    observe(created);
    if (settled) return;
    const stopClaim = claimWatch(kc, api, namespace).follow(name, created.metadata?.resourceVersion, (type, obj) => {
      if (type === 'DELETED' || type === 'GONE') finish({ state: 'Failed', reason: 'Deleted', message: 'the claim was deleted before it was bound' });
      else if (obj) observe(obj as ClaimObject);
    });
    // The binding's commit stamps the world with this claim's uid: seen there, the world is ours
    // one write before the claim's status says so.
    const uid = created.metadata?.uid;
    const stopStamp = uid
      ? stampWatch(kc, namespace).follow(uid, created.metadata?.resourceVersion, (type, obj) => {
          const world = obj as StampedWorld | undefined;
          if (type !== 'DELETED' && world?.metadata?.name && !world.metadata.deletionTimestamp) finish({ state: 'Bound', world: world.metadata.name, endpoints: world.status?.endpoints ?? [] });
        })
      : () => undefined;
    stop = () => (stopClaim(), stopStamp());
  });
}

/** What a stamped world tells the client: its name and endpoints. */
type StampedWorld = { metadata?: { name?: string; deletionTimestamp?: string }; status?: { endpoints?: Endpoint[] } };

/** DELETE on the endpoint; an id with no world (404) is released already. A standby (503) is asked again. */
async function releaseAllocation(opts: { kubeconfig?: KubeConfig | string; namespace: string; allocationURL: string; ca?: string | Buffer; requestId: string }): Promise<void> {
  const kc = sharedConfig(opts.kubeconfig);
  const authorization = await bearerOf(kc);
  const ca = await endpointTrust(kc, opts.allocationURL, opts.ca);
  const path = `v1alpha1/namespaces/${encodeURIComponent(opts.namespace)}/allocations/${encodeURIComponent(opts.requestId)}`;
  for (let attempt = 0; ; attempt++) {
    const r = await callEndpoint({ url: opts.allocationURL, ...(ca ? { ca } : {}), method: 'DELETE', path, ...(authorization ? { authorization } : {}), timeoutMs: 10_000 });
    if (r.kind === 'reply' || (r.kind === 'error' && r.status === 404)) return;
    if ((r.kind === 'error' && !retryable(r)) || attempt >= 5) throw new Error(`releasing allocation ${opts.requestId} in ${opts.namespace} (${opts.allocationURL}): ${r.kind === 'error' ? `${r.reason}: ` : ''}${r.message}`);
    await new Promise((res) => setTimeout(res, 100 * 2 ** attempt));
  }
}
