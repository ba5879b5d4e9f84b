/**
 * Allocations through the endpoint (issue 20): a world for a request id, in one write.
 *
 * The allocator (allocator.ts) hands a spare world; the commit is the world's PATCH,
 * conditional on its resourceVersion (two allocations, or an allocation and a WorldClaim,
 * can never both win it), which stamps the request id (`anvil.dev/allocation`), the claim
 * name the reply gives (`anvil.dev/claim`, as a WorldClaim's world carries), the caller's
 * labels and annotations, and drops the pool as its owner (the pool refills; the world is
 * the caller's until released). No WorldClaim is created: the world's stamp is the durable
 * record, so the commit is the only write before the reply. A retried request id finds its
 * world from that stamp (the informer indexes it), also after a crash between the commit and
 * the reply, on whichever replica leads then. An Event on the world follows once claims stop
 * arriving (ClaimController.afterBurst).
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import { API_VERSION, type Endpoint, type WorldClaimSpec } from '../../api/schema.js';
import { claimName } from '../../api/claimName.js';
import type { AllocationBody as AllocationRequest, AllocationReply } from '../../api/allocation.js';
import { ANNOTATION_ALLOCATION, LABEL_CLAIM } from '../../render/labels.js';
import { candidatePools, type ClaimView } from './plan.js';
import type { ClaimController } from './controller.js';
import { objectEvent } from '../runtime/events.js';
import { trace } from '../runtime/trace.js';
import { errorMessage, isConflict, isNotFound, statusCode, type Kube } from '../runtime/kube.js';
import { COMMIT_SERVER_TIMEOUT_S, type TakeoverGuard } from './takeover.js';

export type { AllocationRequest, AllocationReply };

export type AllocationError = { status: 400 | 404 | 429 | 503 | 504; reason: 'Invalid' | 'PoolNotFound' | 'PoolExhausted' | 'NotLeader' | 'TakingOver' | 'Timeout'; message: string };

export type AllocationOutcome = { ok: true; reply: AllocationReply } | ({ ok: false } & AllocationError);

const REQUEST_ID = /^[A-Za-z0-9]([-A-Za-z0-9_.:]{0,251}[A-Za-z0-9])?$/;
const COMMIT_ATTEMPTS = 5;

/** The request as the contract has it (exactly one of pool and selector), every problem named. */
export function validateRequest(body: unknown): { ok: true; request: AllocationRequest } | { ok: false; message: string } {
  const b = body as Partial<AllocationRequest> | null;
  const problems: string[] = [];
  if (!b || typeof b !== 'object') return { ok: false, message: 'the body must be a JSON object: {"requestId": "...", "pool": "..."}' };
  if (typeof b.requestId !== 'string' || !REQUEST_ID.test(b.requestId)) problems.push('requestId: a string of 1-253 letters, digits, "-", "_", "." or ":" is required');
  if ((b.pool === undefined) === (b.selector === undefined)) problems.push('give exactly one of pool and selector');
  if (b.pool !== undefined && (typeof b.pool !== 'string' || !b.pool)) problems.push('pool: must be a WorldPool name');
  if (b.selector !== undefined && (typeof b.selector !== 'object' || typeof b.selector?.game !== 'string' || !b.selector.game)) problems.push('selector.game: the game name is required');
  if (b.timeoutSeconds !== undefined && (typeof b.timeoutSeconds !== 'number' || !(b.timeoutSeconds >= 0 && b.timeoutSeconds <= 3600))) problems.push('timeoutSeconds: a number from 0 to 3600');
  return problems.length ? { ok: false, message: problems.join('; ') } : { ok: true, request: b as AllocationRequest };
}

export interface AllocationsOptions {
  claims: ClaimController;
  kube: Kube;
  canWrite: () => boolean;
  /** New request ids wait for it after a takeover (takeover.ts). */
  takeover: TakeoverGuard;
  cluster?: string;
  log: (msg: string) => void;
  observe: (seconds: number) => void;
}

export class Allocations {
  /** `namespace/requestId` -> the allocation in flight: a retry arriving meanwhile waits for it. */
  private readonly inFlight = new Map<string, Promise<AllocationOutcome>>();

  constructor(private readonly o: AllocationsOptions) {}

  async allocate(namespace: string, req: AllocationRequest, who = 'unknown'): Promise<AllocationOutcome> {
    if (!this.o.canWrite()) return { ok: false, status: 503, reason: 'NotLeader', message: 'this replica is a standby: retry (the Service reaches the leader)' };
    this.o.claims.noteArrival();
    const known = await this.existing(namespace, req);
    if (known) return known;
    const key = `${namespace}/${req.requestId}`;
    const running = this.inFlight.get(key);
    if (running) return running;
    const p = this.admitted(namespace, req, who).finally(() => this.inFlight.delete(key));
    this.inFlight.set(key, p);
    return p;
  }

  /** A request id this replica does not know: allocated once the takeover guard says every earlier stamp is known. */
  private async admitted(namespace: string, req: AllocationRequest, who: string): Promise<AllocationOutcome> {
    if (!(await this.o.takeover.open(Math.max(req.timeoutSeconds ?? 0, 10) * 1000))) {
      return { ok: false, status: 503, reason: 'TakingOver', message: `this replica has just become the leader and is still reading which worlds the previous one allocated: retry with the same requestId ${req.requestId}` };
    }
    return (await this.existing(namespace, req)) ?? this.run(namespace, req, who);
  }

  /** The world this request id was given, when there is one. */
  private async existing(namespace: string, req: AllocationRequest): Promise<AllocationOutcome | undefined> {
    const w = await this.stampedWorld(namespace, req.requestId);
    return w && { ok: true, reply: this.reply(namespace, req, w) };
  }

  /**
   * The world stamped for a request id: the informer's index (or the takeover's list) names
   * it; the cache shows the stamp, or else the server does (the list found a stamp the
   * watch has not delivered yet).
   */
  private async stampedWorld(namespace: string, requestId: string): Promise<StampedObject | undefined> {
    const name = this.o.claims.allocator.worldOfRequest(namespace, requestId) ?? this.o.takeover.learnedWorld(namespace, requestId);
    if (!name) return undefined;
    const stamped = (w: KubernetesObject | undefined) => (w?.metadata?.annotations?.[ANNOTATION_ALLOCATION] === requestId ? (w as StampedObject) : undefined);
    return stamped(this.o.claims.currentWorld(namespace, name)) ?? stamped(await this.o.kube.read<KubernetesObject>(API_VERSION, 'WorldInstance', name, namespace));
  }

  private reply(namespace: string, req: AllocationRequest, w: StampedObject): AllocationReply {
    return {
      requestId: req.requestId,
      namespace,
      world: w.metadata?.name ?? '',
      claim: w.metadata?.labels?.[LABEL_CLAIM] ?? claimName(req, req.requestId),
      endpoints: w.status?.endpoints ?? [],
      ...(this.o.cluster ? { cluster: this.o.cluster } : {}),
    };
  }

  private async run(namespace: string, req: AllocationRequest, who: string): Promise<AllocationOutcome> {
    const t0 = performance.now();
    const deadline = t0 + (req.timeoutSeconds ?? 0) * 1000;
    const commitBy = t0 + Math.max(req.timeoutSeconds ?? 0, 10) * 1000;
    const pools = candidatePools(asClaim(req), this.o.claims.poolInfos(namespace));
    if (pools.length === 0) return { ok: false, status: 404, reason: 'PoolNotFound', message: `no ${req.pool ? `WorldPool ${req.pool}` : `WorldPool of game ${req.selector!.game}${req.selector!.region ? ` in region ${req.selector!.region}` : ''}`} in namespace ${namespace}` };
    for (let attempt = 1; ; attempt++) {
      const holder = `request:${req.requestId}`;
      const got = this.o.claims.takeWorld(namespace, pools, holder);
      if (!got) {
        if (performance.now() >= deadline) return { ok: false, status: 429, reason: 'PoolExhausted', message: `no ready world in ${pools.map((p) => `pool ${p.name}`).join(', ')}${req.timeoutSeconds ? ` within ${req.timeoutSeconds}s` : ''}: retry later, or give timeoutSeconds to wait for one` };
        await new Promise((r) => setTimeout(r, 20));
        continue;
      }
      try {
        const written = await this.commit(namespace, req, got.world, commitBy);
        if (written === 'timeout') return { ok: false, status: 504, reason: 'Timeout', message: `the API server did not confirm the commit of world ${got.world.name} in time: retry with the same requestId` };
        // Indexed now, not at the informer's event: a retry right after the reply finds it.
        this.o.claims.allocator.observe(namespace, got.world.name, undefined, req.requestId);
        this.o.observe((performance.now() - t0) / 1000);
        this.o.claims.afterBurst(() => this.event(namespace, written, `allocated to request ${req.requestId} of ${who}`));
        return { ok: true, reply: this.reply(namespace, req, written) };
      } catch (e) {
        // Lost the world to another writer (409), or it is gone (404, a scale-down): another one. Anything else is the caller's to retry.
        if (!(isConflict(e) || isNotFound(e)) || attempt >= COMMIT_ATTEMPTS) throw e;
      } finally {
        this.o.claims.allocator.release(got.world.uid, holder);
      }
    }
  }

  /**
   * The one write: the world's PATCH on its resourceVersion. An outcome that is not known
   * (no status) is settled by reading the world: stamped for this request, it is ours.
   */
  private async commit(namespace: string, req: AllocationRequest, world: { name: string; uid: string; resourceVersion: string }, by: number): Promise<KubernetesObject | 'timeout'> {
    const patch = {
      apiVersion: API_VERSION,
      kind: 'WorldInstance',
      metadata: {
        name: world.name,
        namespace,
        resourceVersion: world.resourceVersion,
        labels: { [LABEL_CLAIM]: claimName(req, req.requestId) },
        annotations: { [ANNOTATION_ALLOCATION]: req.requestId },
        ownerReferences: [],
      },
    } as KubernetesObject;
    try {
      // The server's own timeout bounds when a commit can still land (takeover.ts: the takeover bound).
      const t0 = performance.now();
      let sent = t0;
      const written = await this.o.claims.inSlot(() => ((sent = performance.now()), this.o.kube.mergePatch(patch, undefined, { timeoutSeconds: COMMIT_SERVER_TIMEOUT_S })));
      trace('commit', { slot: sent - t0, patch: performance.now() - sent });
      this.o.claims.recordWorld(world.uid, world.resourceVersion, written);
      return written;
    } catch (e) {
      if (statusCode(e) !== undefined) throw e;
      for (let delay = 50; performance.now() < by; delay = Math.min(delay * 2, 1000)) {
        const fresh = await this.o.kube.read<KubernetesObject>(API_VERSION, 'WorldInstance', world.name, namespace).catch(() => 'unread' as const);
        if (fresh === 'unread') {
          await new Promise((r) => setTimeout(r, delay));
          continue;
        }
        if (fresh?.metadata?.uid === world.uid && fresh.metadata.annotations?.[ANNOTATION_ALLOCATION] === req.requestId) return fresh;
        throw Object.assign(new Error(`world ${world.name} was not stamped`), { code: 409 });
      }
      return 'timeout';
    }
  }

  /** Releases the world of a request id: deletes it (its pool refills). No world when the id has none. */
  async release(namespace: string, requestId: string): Promise<{ world?: string } | 'NotLeader'> {
    if (!this.o.canWrite()) return 'NotLeader';
    let w = await this.stampedWorld(namespace, requestId);
    // Unknown right after a takeover: the previous leader's last commit may still be landing (takeover.ts).
    if (!w && !(await this.o.takeover.open(10_000))) return 'NotLeader';
    w ??= await this.stampedWorld(namespace, requestId);
    if (!w) return {};
    const ref = { apiVersion: API_VERSION, kind: 'WorldInstance', metadata: { name: w.metadata!.name!, namespace, uid: w.metadata!.uid!, resourceVersion: w.metadata!.resourceVersion! } };
    await this.o.claims.inSlot(() => this.o.kube.deleteExactly(ref));
    return { world: w.metadata!.name! };
  }

  private async event(namespace: string, w: KubernetesObject, message: string): Promise<void> {
    const ref = { apiVersion: API_VERSION, kind: 'WorldInstance', metadata: { name: w.metadata?.name ?? '', namespace, uid: w.metadata?.uid ?? '' } };
    await this.o.kube.create(objectEvent(ref, 'Allocated', message, 'Normal')).catch((e: unknown) => this.o.log(`world ${namespace}/${ref.metadata.name}: could not record event: ${errorMessage(e)}`));
  }
}

type StampedObject = KubernetesObject & { status?: { endpoints?: Endpoint[] } };

/** The request as a claim, for the planner's pool choice. */
function asClaim(req: AllocationRequest): ClaimView {
  const spec: WorldClaimSpec = req.pool
    ? { poolRef: { name: req.pool } }
    : { selector: { gameRef: { name: req.selector!.game }, ...(req.selector!.region ? { region: req.selector!.region } : {}), ...(req.selector!.matchLabels ? { matchLabels: req.selector!.matchLabels } : {}) } };
  return { name: req.requestId, uid: '', resourceVersion: '', creationTimestamp: '', spec };
}
