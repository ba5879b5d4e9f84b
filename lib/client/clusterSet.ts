/**
 * Claims across clusters: a cluster set (`clusters.yaml`) and a claim that routes the way
 * Agones' GameServerAllocationPolicy does — lowest `priority` number first, weighted random
 * among equal priorities, each cluster tried at most once per claim, the next one on
 * PoolExhausted, PoolNotFound or a cluster that does not answer within its per-cluster
 * deadline, everything within the claim's own timeout. Like Agones after it deprecated its
 * cluster-to-cluster allocator, the client calls each cluster directly (the single-cluster
 * `claimWorld` of claims.ts): no federation, no cluster forwarding to another.
 *
 * Exactly once: a claim given up on a slow cluster is not forgotten. Its call is aborted and,
 * whatever it still returns — a late binding, or a failed claim the cluster could not delete
 * — the claim is deleted there (retried until `cleanupTimeoutSeconds`), so no world stays
 * claimed for nobody. Each cluster gets the claim with `timeoutSeconds` = its deadline, so its
 * reconciler also fails a claim nobody waits for any more.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { KubeConfig } from '@kubernetes/client-node';
import { Type, type Static } from '@sinclair/typebox';
import { Ajv } from 'ajv';
import { Counter, Registry } from 'prom-client';
import { parse } from 'yaml';
import { ClaimError, claimName, claimWorld, releaseWorld, type ClaimedWorld } from './claims.js';
import { ALLOCATION_FAILOVER_REASONS } from './allocationErrors.js';

const DNS_LABEL = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$';

export const ClusterTargetSchema = Type.Object(
  {
    name: Type.String({ pattern: DNS_LABEL, maxLength: 63, description: 'The cluster (as in AnvilApp({clusters}))' }),
    context: Type.Optional(Type.String({ minLength: 1, description: 'kubeconfig context; default: the current one' })),
    kubeconfig: Type.Optional(Type.String({ minLength: 1, description: 'kubeconfig file; default: KUBECONFIG or ~/.kube/config' })),
    allocationURL: Type.Optional(Type.String({ pattern: '^https?://', description: "The cluster's allocation endpoint, where one is served: claims without labels or annotations go through it (one round trip), the others through the WorldClaim resource" })),
    allocationCA: Type.Optional(Type.String({ minLength: 1, description: "PEM file of the CA the endpoint's certificate is checked against; default: the system's" })),
    regions: Type.Optional(Type.Array(Type.String({ pattern: DNS_LABEL }), { description: 'Regions it serves; a claim for another region skips it. Default: any' })),
    priority: Type.Optional(Type.Integer({ minimum: 0, default: 1, description: 'Lower first' })),
    weight: Type.Optional(Type.Integer({ minimum: 0, default: 100, description: 'Share among clusters of equal priority' })),
  },
  { additionalProperties: false },
);
export type ClusterTarget = Static<typeof ClusterTargetSchema>;

export const ClusterSetSchema = Type.Object(
  {
    clusters: Type.Array(ClusterTargetSchema, { minItems: 1 }),
    perClusterTimeoutSeconds: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 3600, description: 'How long one cluster may take before the next is tried. Default 5' })),
  },
  { additionalProperties: false },
);
export type ClusterSet = Static<typeof ClusterSetSchema>;

const validateSet = new Ajv({ allErrors: true, strict: false }).compile(ClusterSetSchema);

/** A cluster set from YAML (`clusters.yaml`); throws listing every problem, each with its field. */
export function parseClusterSet(text: string, source = 'clusters.yaml'): ClusterSet {
  const set = parse(text) as unknown;
  const problems = validateSet(set) ? [] : (validateSet.errors ?? []).map((e) => `${source}: ${e.instancePath.slice(1).replaceAll('/', '.') || '(top)'} ${e.message}${e.keyword === 'additionalProperties' ? ` (${(e.params as { additionalProperty: string }).additionalProperty})` : ''}`);
  if (problems.length === 0) {
    const names = (set as ClusterSet).clusters.map((c) => c.name);
    names.forEach((n, i) => names.indexOf(n) !== i && problems.push(`${source}: clusters.${i}.name ${n} is listed twice`));
  }
  if (problems.length > 0) throw new Error(`${problems.length} problem(s) in the cluster set:\n${problems.join('\n')}`);
  return set as ClusterSet;
}

/**
 * The order one claim tries the clusters in: those serving the region, by priority (lowest
 * first), and within a priority a weighted random order (each next pick in proportion to
 * weight among those left; weight 0 only after the others).
 */
export function attemptOrder(clusters: readonly ClusterTarget[], region: string | undefined, random: () => number = Math.random): ClusterTarget[] {
  const serving = clusters.filter((c) => !region || !c.regions || c.regions.includes(region));
  const priorities = [...new Set(serving.map((c) => c.priority ?? 1))].sort((a, b) => a - b);
  return priorities.flatMap((p) => weightedShuffle(serving.filter((c) => (c.priority ?? 1) === p), random));
}

function weightedShuffle(group: ClusterTarget[], random: () => number): ClusterTarget[] {
  const left = [...group];
  const out: ClusterTarget[] = [];
  while (left.length > 0) {
    const total = left.reduce((s, c) => s + (c.weight ?? 100), 0);
    let x = random() * total;
    let i = total === 0 ? 0 : left.findIndex((c) => (x -= c.weight ?? 100) < 0);
    if (i < 0) i = left.length - 1;
    out.push(...left.splice(i, 1));
  }
  return out;
}

/** Client-side metrics of claims across clusters, on a registry of their own. */
export class ClusterSetMetrics {
  readonly registry = new Registry();
  readonly claims = new Counter({
    name: 'anvil_client_cluster_claims_total',
    help: 'Claim attempts by cluster and outcome (Bound, PoolExhausted, PoolNotFound, Unreachable, Timeout, …)',
    labelNames: ['cluster', 'outcome'],
    registers: [this.registry],
  });
  readonly failovers = new Counter({
    name: 'anvil_client_cluster_failovers_total',
    help: 'Claims passed on from one cluster to the next, by the cluster left and why',
    labelNames: ['cluster', 'reason'],
    registers: [this.registry],
  });
  readonly abandoned = new Counter({
    name: 'anvil_client_cluster_abandoned_claims_total',
    help: 'Claims given up on a slow cluster, by cluster and what became of them (released; none: no claim was created; lost: not deleted before the cleanup timeout)',
    labelNames: ['cluster', 'result'],
    registers: [this.registry],
  });
}

/** What one cluster is asked: the single-cluster claim, with the cluster's own deadline. */
export interface ClusterClaimRequest {
  namespace: string;
  selector: { game: string; region?: string; matchLabels?: Record<string, string> };
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  timeoutSeconds: number;
  signal: AbortSignal;
}
export type ClusterClaimFn = (cluster: ClusterTarget, req: ClusterClaimRequest) => Promise<ClaimedWorld>;
/**
 * What to release: a WorldClaim by name, or an allocation endpoint's request id. A call to an
 * endpoint that failed may have left either (claimWorld falls back to a WorldClaim named from
 * the request id), so its cleanup releases both (`orClaim`).
 */
export type ClusterReleaseTarget = { namespace: string; claim: string; requestId?: string; orClaim?: boolean };
export type ClusterReleaseFn = (cluster: ClusterTarget, claim: ClusterReleaseTarget) => Promise<void>;

/** A world bound on one cluster of the set: release it there (releaseClusterWorld). */
export interface ClusterClaimedWorld extends ClaimedWorld {
  cluster: string;
  /** Each cluster tried, in order, and its outcome. */
  attempts: { cluster: string; outcome: string }[];
}

export interface ClusterClaimOptions {
  clusterSet: ClusterSet;
  namespace: string;
  selector: { game: string; region?: string; labels?: Record<string, string> };
  /** Stamped on the bound world. */
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  /** The whole claim, all clusters together (default 30). */
  timeoutSeconds?: number;
  /** Default: the set's perClusterTimeoutSeconds, or 5. */
  perClusterTimeoutSeconds?: number;
  /** How long an abandoned claim's deletion is retried (default 600). */
  cleanupTimeoutSeconds?: number;
  metrics?: ClusterSetMetrics;
  random?: () => number;
  /** Injected for tests; default: claimWorld / releaseWorld of claims.ts on the cluster's kubeconfig context. */
  claim?: ClusterClaimFn;
  release?: ClusterReleaseFn;
  /** Told about abandoned claims' cleanups as they finish (tests wait on it). */
  onCleanup?: (cluster: string, result: 'released' | 'none' | 'lost') => void;
}

/** Why a cluster is passed over for the next (with the allocation endpoint's own: allocationErrors.ts). */
export const FAILOVER_REASONS = ['PoolExhausted', 'PoolNotFound', 'Unreachable', 'Timeout', 'CreateFailed', ...ALLOCATION_FAILOVER_REASONS];

const kubeConfigs = new Map<string, KubeConfig>();

/**
 * The KubeConfig of a cluster of the set: its file (or the default one) at its context. One
 * per file and context for the process: claims.ts keeps a keep-alive connection pool per
 * KubeConfig, so a new one per claim would pay a TLS handshake on every claim.
 */
export function kubeConfigFor(cluster: ClusterTarget): KubeConfig {
  const key = `${cluster.kubeconfig ?? ''}\0${cluster.context ?? ''}`;
  let kc = kubeConfigs.get(key);
  if (!kc) {
    kc = new KubeConfig();
    if (cluster.kubeconfig) kc.loadFromFile(cluster.kubeconfig);
    else kc.loadFromDefault();
    if (cluster.context) kc.setCurrentContext(cluster.context);
    kubeConfigs.set(key, kc);
  }
  return kc;
}

/** The endpoint's URL and CA for a claim that may use it: one with no labels or annotations (the endpoint's contract has none). */
function endpointOf(cluster: ClusterTarget, req: ClusterClaimRequest): { allocationURL: string; ca?: Buffer } | undefined {
  if (!cluster.allocationURL || Object.keys(req.labels ?? {}).length || Object.keys(req.annotations ?? {}).length) return undefined;
  return { allocationURL: cluster.allocationURL, ...(cluster.allocationCA ? { ca: readFileSync(cluster.allocationCA) } : {}) };
}

/**
 * One cluster's claim: through its allocation endpoint where it has one (claimWorld falls back
 * to the WorldClaim resource when the endpoint cannot be reached), else the WorldClaim. The
 * request id is chosen here so that a failed call still names what to clean up: the endpoint's
 * allocation of that id and the WorldClaim named from it (either may exist after a timeout).
 */
const defaultClaim: ClusterClaimFn = async (cluster, req) => {
  const endpoint = endpointOf(cluster, req);
  const requestId = randomUUID();
  const base = { kubeconfig: kubeConfigFor(cluster), ...req, requestId, graceSeconds: 0, ...(req.labels ? { labels: req.labels } : {}) };
  try {
    return await claimWorld({ ...base, ...(endpoint ?? {}) });
  } catch (e) {
    if (endpoint && e instanceof ClaimError && !e.claim) throw Object.assign(new ClaimError(e.reason, e.message, claimName({ selector: req.selector }, requestId), e.namespace ?? req.namespace), { requestId });
    throw e;
  }
};

const defaultRelease: ClusterReleaseFn = async (cluster, target) => {
  if (cluster.allocationURL && target.requestId) {
    const ca = cluster.allocationCA ? { ca: readFileSync(cluster.allocationCA) } : {};
    await releaseWorld({ kubeconfig: kubeConfigFor(cluster), namespace: target.namespace, allocationURL: cluster.allocationURL, requestId: target.requestId, ...ca });
    if (!target.orClaim) return;
  }
  await releaseWorld({ kubeconfig: kubeConfigFor(cluster), namespace: target.namespace, claim: target.claim });
};

/** The outcome name of a failed attempt: the claim's reason, or Unreachable for anything that is not a claim's verdict. */
export const outcomeOf = (e: unknown): string => (e instanceof ClaimError ? e.reason : 'Unreachable');

/** Cleanups of abandoned claims still under way in this process (see abandonedCleanups). */
const cleanups = new Set<Promise<void>>();

/** Resolves once every abandoned claim's cleanup has finished (released, nothing to do, or given up). */
export async function abandonedCleanups(): Promise<void> {
  while (cleanups.size > 0) await Promise.all([...cleanups]);
}

type Attempt = { world: ClaimedWorld } | { outcome: string; message: string };

/** Claims a world from the first cluster of the set that binds one (see the file's comment). */
export async function claimAcrossClusters(opts: ClusterClaimOptions): Promise<ClusterClaimedWorld> {
  const totalMs = (opts.timeoutSeconds ?? 30) * 1000;
  const perClusterMs = (opts.perClusterTimeoutSeconds ?? opts.clusterSet.perClusterTimeoutSeconds ?? 5) * 1000;
  const start = performance.now();
  const order = attemptOrder(opts.clusterSet.clusters, opts.selector.region, opts.random);
  if (order.length === 0) {
    const names = opts.clusterSet.clusters.map((c) => `${c.name} (${c.regions?.join(', ') ?? 'any'})`).join(', ');
    throw new ClaimError('PoolNotFound', `no cluster of the set serves region ${opts.selector.region}: ${names}`);
  }
  const attempts: { cluster: string; outcome: string }[] = [];
  let last = { outcome: 'Timeout', message: 'the claim\'s timeout passed before any cluster was tried' };
  for (const cluster of order) {
    const leftMs = totalMs - (performance.now() - start);
    if (leftMs <= 0) break;
    // Cut short by the claim's own timeout: when this attempt times out, so has the claim (a
    // timer may fire a little before the clock says the time is up: decide by which limit applied).
    const cappedByTotal = leftMs < perClusterMs;
    const r = await attemptOne(cluster, Math.min(perClusterMs, leftMs), opts);
    opts.metrics?.claims.inc({ cluster: cluster.name, outcome: 'world' in r ? 'Bound' : r.outcome });
    if ('world' in r) return { ...r.world, cluster: cluster.name, attempts: [...attempts, { cluster: cluster.name, outcome: 'Bound' }] };
    attempts.push({ cluster: cluster.name, outcome: r.outcome });
    last = r;
    if (cappedByTotal && r.outcome === 'Timeout') break;
    if (!FAILOVER_REASONS.includes(r.outcome)) throw new ClaimError(r.outcome, `cluster ${cluster.name}: ${r.message}`);
    opts.metrics?.failovers.inc({ cluster: cluster.name, reason: r.outcome });
  }
  const tried = attempts.map((a) => `${a.cluster}: ${a.outcome}`).join(', ');
  const outOfTime = attempts.length < order.length;
  throw new ClaimError(outOfTime ? 'Timeout' : last.outcome, `no cluster bound the claim${outOfTime ? ` within ${totalMs / 1000} s` : ''} (${tried || 'none tried'}): ${last.message}`);
}

/** One cluster within its deadline; past it, the call is aborted and its claim cleaned up in the background. */
async function attemptOne(cluster: ClusterTarget, deadlineMs: number, opts: ClusterClaimOptions): Promise<Attempt> {
  const abort = new AbortController();
  const claim = opts.claim ?? defaultClaim;
  const request: ClusterClaimRequest = {
    namespace: opts.namespace,
    selector: { game: opts.selector.game, ...(opts.selector.region ? { region: opts.selector.region } : {}), ...(opts.selector.labels ? { matchLabels: opts.selector.labels } : {}) },
    ...(opts.labels ? { labels: opts.labels } : {}),
    ...(opts.annotations ? { annotations: opts.annotations } : {}),
    timeoutSeconds: Math.max(1, Math.ceil(deadlineMs / 1000)),
    signal: abort.signal,
  };
  const call = Promise.resolve().then(() => claim(cluster, request));
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<'deadline'>((resolve) => (timer = setTimeout(() => resolve('deadline'), deadlineMs)));
  const settled = call.then(
    (world): Attempt => ({ world }),
    (e: unknown): Attempt => ({ outcome: outcomeOf(e), message: e instanceof Error ? e.message : String(e) }),
  );
  const r = await Promise.race([settled, deadline]);
  clearTimeout(timer);
  if (r !== 'deadline') return r;
  abort.abort();
  track(cleanUpAbandoned(cluster, call, opts));
  return { outcome: 'Timeout', message: `no verdict within the per-cluster deadline of ${deadlineMs / 1000} s` };
}

function track(p: Promise<void>): void {
  cleanups.add(p);
  void p.finally(() => cleanups.delete(p));
}

/** Whatever an abandoned call ends with, its claim is deleted on that cluster (retried: the cluster may be down). */
async function cleanUpAbandoned(cluster: ClusterTarget, call: Promise<ClaimedWorld>, opts: ClusterClaimOptions): Promise<void> {
  const target = await call.then(
    (w): ClusterReleaseTarget => ({ namespace: w.namespace, claim: w.claim, ...(w.requestId ? { requestId: w.requestId } : {}) }),
    (e: unknown): ClusterReleaseTarget | undefined => {
      if (!(e instanceof ClaimError && e.claim)) return undefined;
      const { requestId, orClaim } = e as ClaimError & { requestId?: string; orClaim?: boolean };
      return { namespace: e.namespace ?? opts.namespace, claim: e.claim, ...(requestId ? { requestId, orClaim } : {}) };
    },
  );
  const result = target ? await releaseUntil(cluster, target, opts) : 'none';
  opts.metrics?.abandoned.inc({ cluster: cluster.name, result });
  opts.onCleanup?.(cluster.name, result);
}

async function releaseUntil(cluster: ClusterTarget, target: ClusterReleaseTarget, opts: ClusterClaimOptions): Promise<'released' | 'lost'> {
  const release = opts.release ?? defaultRelease;
  const giveUpAt = performance.now() + (opts.cleanupTimeoutSeconds ?? 600) * 1000;
  for (let delayMs = 250; ; delayMs = Math.min(delayMs * 2, 15_000)) {
    try {
      await release(cluster, target);
      return 'released';
    } catch {
      if (performance.now() + delayMs > giveUpAt) return 'lost';
      await new Promise((r) => setTimeout(r, delayMs));
    }
  }
}

/** Releases a world claimed across clusters: deletes its claim on the cluster that bound it. */
export async function releaseClusterWorld(clusterSet: ClusterSet, claimed: { cluster: string; namespace: string; claim: string; requestId?: string }, release: ClusterReleaseFn = defaultRelease): Promise<void> {
  const cluster = clusterSet.clusters.find((c) => c.name === claimed.cluster);
  if (!cluster) throw new Error(`cluster ${claimed.cluster} is not in the cluster set (${clusterSet.clusters.map((c) => c.name).join(', ')})`);
  await release(cluster, { namespace: claimed.namespace, claim: claimed.claim, ...(claimed.requestId ? { requestId: claimed.requestId } : {}) });
}
