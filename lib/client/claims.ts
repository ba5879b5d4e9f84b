/**
 * Claiming a warm world from a WorldPool, for matchmakers and `anvil allocate`:
 *
 *   const { world, endpoints, latencyMs } = await claimWorld({ kubeconfig, namespace: 'roguelike', pool: 'crypt', labels: { 'match-id': id } });
 *
 * creates a WorldClaim, waits for the reconciler to bind it (a watch on that one claim, from
 * the resourceVersion its create returned, so no transition is missed and nothing polls),
 * and returns the bound world and its endpoints. A claim that fails (PoolExhausted,
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
 * create the claim; watch it (by `metadata.name` field selector, which RBAC authorizes as
 * a watch of that one object: no list); get it only to resume after the watch broke; delete
 * it on failure or release.
 */
import { createHash, randomUUID } from 'node:crypto';
import { CustomObjectsApi, KubeConfig, Watch } from '@kubernetes/client-node';
import { API_VERSION, GROUP, VERSION, type Endpoint, type WorldClaimStatus } from '../api/schema.js';
import { keepAliveClient, kubeConfigOf } from './kubeTransport.js';
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
};

export interface ClaimedWorld {
  claim: string;
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

/** A claim's name from its request id: the pool (or game) and a hash of the id; a DNS label. */
export function claimName(opts: PoolChoice, requestId: string): string {
  const prefix = (opts.pool ?? opts.selector?.game ?? 'claim').slice(0, 50).replace(/-+$/, '');
  return `${prefix}-${createHash('sha256').update(requestId).digest('hex').slice(0, 12)}`;
}

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
  const created = await createOrFind(api, { ...opts, requestId: opts.requestId ?? randomUUID() });
  const name = created.metadata!.name!;
  const waitMs = ((opts.timeoutSeconds ?? DEFAULT_CLAIM_TIMEOUT_SECONDS) + (opts.graceSeconds ?? 10)) * 1000;
  const outcome = await waitForVerdict(kc, api, opts.namespace, created, waitMs, opts.signal);
  if (outcome.state === 'Bound') {
    return { claim: name, namespace: opts.namespace, world: outcome.world, endpoints: outcome.endpoints, latencyMs: performance.now() - t0, ...(outcome.boundAt ? { boundAt: outcome.boundAt } : {}) };
  }
  if (outcome.reason !== 'Deleted') await releaseWorld({ kubeconfig: kc, namespace: opts.namespace, claim: name }).catch(() => undefined);
  throw new ClaimError(outcome.reason, `WorldClaim ${opts.namespace}/${name}: ${outcome.message}`, name, opts.namespace);
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

/** Deletes a claim: its world (and everything the world owns) goes with it, and the pool refills. */
export async function releaseWorld(opts: { kubeconfig?: KubeConfig | string; namespace: string; claim: string }): Promise<void> {
  const api = sharedClient(sharedConfig(opts.kubeconfig));
  try {
    await api.deleteNamespacedCustomObject({ ...claimsApi, namespace: opts.namespace, name: opts.claim });
  } catch (e) {
    if (statusOf(e) !== 404) throw new Error(`deleting WorldClaim ${opts.namespace}/${opts.claim}: ${apiErrorText(e)}`);
  }
}

type Verdict = Exclude<ClaimOutcome, { state: 'Pending' }>;

/**
 * Watches one claim until it is Bound or Failed, it is deleted, the deadline passes or the
 * signal aborts. A watch the server ends (timeout, restart, 410 Gone) is resumed from a
 * fresh GET of the claim.
 */
function waitForVerdict(kc: KubeConfig, api: CustomObjectsApi, namespace: string, created: ClaimObject, waitMs: number, signal?: AbortSignal): Promise<Verdict> {
  const name = created.metadata!.name!;
  const path = `/apis/${GROUP}/${VERSION}/namespaces/${namespace}/${CLAIM_PLURAL}`;
  const watch = new Watch(kc);
  return new Promise<Verdict>((resolve) => {
    let settled = false;
    let controller: AbortController | undefined;
    let resourceVersion = created.metadata?.resourceVersion;
    const finish = (v: Verdict) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      controller?.abort();
      resolve(v);
    };
    const timer = setTimeout(() => finish({ state: 'Failed', reason: 'Timeout', message: `no verdict within ${Math.round(waitMs / 1000)} s` }), waitMs);
    const onAbort = () => finish({ state: 'Failed', reason: 'Aborted', message: 'the caller gave up' });
    if (signal?.aborted) return onAbort();
    signal?.addEventListener('abort', onAbort);
    const observe = (obj: ClaimObject) => {
      if (obj.metadata?.resourceVersion) resourceVersion = obj.metadata.resourceVersion;
      const o = claimOutcome(obj);
      if (o.state !== 'Pending') finish(o);
    };
    const open = async (): Promise<void> => {
      if (settled) return;
      controller = await watch.watch(path, { fieldSelector: `metadata.name=${name}`, resourceVersion, allowWatchBookmarks: true }, (type, obj: ClaimObject) => {
        if (type === 'DELETED') finish({ state: 'Failed', reason: 'Deleted', message: 'the claim was deleted before it was bound' });
        else if (type === 'ADDED' || type === 'MODIFIED') observe(obj);
        else if (type === 'BOOKMARK' && obj?.metadata?.resourceVersion) resourceVersion = obj.metadata.resourceVersion;
        else if (type === 'ERROR') resourceVersion = undefined; // e.g. 410 Gone: resume from a fresh GET
      }, () => void resume());
      if (settled) controller.abort();
    };
    const resume = async (): Promise<void> => {
      for (let attempt = 0; !settled; attempt++) {
        try {
          observe((await api.getNamespacedCustomObject({ ...claimsApi, namespace, name })) as ClaimObject);
          return await open();
        } catch (e) {
          if (statusOf(e) === 404) return finish({ state: 'Failed', reason: 'Deleted', message: 'the claim was deleted before it was bound' });
          await new Promise((r) => setTimeout(r, Math.min(2000, 100 * 2 ** attempt)));
        }
      }
    };
    observe(created);
    void open().catch(() => resume());
  });
}
