/**
 * The takeover guard of the allocation endpoint (issue 20): no request id gets a second
 * world because the previous leader's last commit landed after this replica took over.
 *
 * The race: the old leader sends a commit (the world PATCH stamping request id X) just
 * before it dies (kill -9) or is cut off; the standby takes the lease over; X is retried
 * against it; its cache does not show the stamp yet (the PATCH is still on its way, or its
 * watch event is), so it would give X a second world. The rule that closes it: after
 * becoming the leader, a request id this replica cannot find is not allocated until
 *   1. the settle window has passed, by when every commit of the old leader has landed or
 *      never will, and
 *   2. one consistent read from the API server (a List of the claimed worlds' metadata, not
 *      the cache: the watch may lag any amount) has indexed every request id stamped by then.
 * Ids found in the cache are answered at once (a stamp is durable); unknown ids wait (or get
 * a retryable 503 TakingOver when their own timeout comes first).
 *
 * The bound, with client-go's timing (lease duration LD 15 s, renew deadline RD 10 s):
 * - the old leader's write fence (runtime/leader.ts, runtime/kube.ts) sends no write after
 *   its last successful renewal t_r + RD; the standby takes over at T ≥ t_r + LD (it waits a
 *   lease duration after it saw that renewal, which happened after t_r). So every write of
 *   the old leader was sent at least LD − RD = 5 s before T;
 * - a commit carries the API server's own `timeout` (COMMIT_SERVER_TIMEOUT_S: the server
 *   abandons the request that long after it arrives, its context cancelled before etcd);
 * - so a commit sent by t_r + RD that reaches the API server within NETWORK_BOUND_MS of
 *   being sent lands by t_r + RD + NETWORK_BOUND_MS + COMMIT_SERVER_TIMEOUT ≤ T + settle,
 *   with settle = NETWORK_BOUND_MS + COMMIT_SERVER_TIMEOUT − (LD − RD) = 5 s.
 * Without leader election (one replica, restarted after a crash) there is no margin: the
 * predecessor's writes were sent before this process started, and settle is 10 s from the
 * process's start (its cache sync counts).
 * What this does not cover, honestly: a request delayed on the network for longer than
 * NETWORK_BOUND_MS (a partition that holds a TCP segment and delivers it later), and an
 * etcd proposal made before the server's deadline that commits long after it. Kubernetes
 * offers no fencing token on writes (client-go's leader election says the same); closing
 * those would take a per-request object (a WorldClaim: a second write), which the endpoint
 * exists to avoid.
 */

/** The API server's `timeout` on a commit PATCH: it gives the request up that long after it arrives. */
export const COMMIT_SERVER_TIMEOUT_S = 5;
/** What the bound assumes of the network: a request reaches the API server within this of being sent. */
export const NETWORK_BOUND_MS = 5_000;

/** How long after leading unknown ids wait, given the old leader's fence margin (LD − RD; 0 without leader election). */
export const settleMs = (fenceMarginMs: number): number => Math.max(0, NETWORK_BOUND_MS + COMMIT_SERVER_TIMEOUT_S * 1000 - fenceMarginMs);

/** A world stamped for a request id, as the API server lists it. */
export interface StampedWorld {
  namespace: string;
  name: string;
  requestId: string;
}

export type TakeoverDecision =
  /** Not leading (yet): nothing may be allocated. */
  | { kind: 'closed' }
  /** In the settle window: an unknown id waits until `until`. */
  | { kind: 'wait'; until: number }
  /** The window has passed: the server's list of stamped worlds is due (or under way). */
  | { kind: 'read' }
  /** The list is in: the cache plus what it found are the whole truth; unknown ids are new. */
  | { kind: 'open' };

/** Pure: what an allocation of a request id unknown to this replica must do at `now` (monotonic ms). */
export function takeoverDecision(state: { leadingSince?: number; settleMs: number; synced: boolean }, now: number): TakeoverDecision {
  if (state.leadingSince === undefined) return { kind: 'closed' };
  if (state.synced) return { kind: 'open' };
  const until = state.leadingSince + state.settleMs;
  return now < until ? { kind: 'wait', until } : { kind: 'read' };
}

export interface TakeoverOptions {
  /** Monotonic milliseconds (performance.now()). */
  now: () => number;
  sleep: (ms: number) => Promise<void>;
  /** A consistent read (not the cache) of every world stamped for a request id. */
  listStamped: () => Promise<StampedWorld[]>;
  log: (msg: string) => void;
}

const RETRY_MAX_MS = 2_000;

export class TakeoverGuard {
  private leadingSince?: number;
  private settle = 0;
  private synced = false;
  private resolveSynced!: () => void;
  private readonly syncedP = new Promise<void>((r) => (this.resolveSynced = r));
  /** `namespace/requestId` -> world, from the takeover's list: kept (a late, older watch event must not hide it). */
  private readonly learned = new Map<string, string>();

  constructor(private readonly o: TakeoverOptions) {}

  /**
   * This replica leads from `since` (default now): `fenceMarginMs` is the old leader's LD − RD.
   * Without leader election: margin 0 and `since` the process's start (performance.now()'s
   * zero), before which every write of the process it replaces was sent.
   */
  begin(fenceMarginMs: number, since = this.o.now()): void {
    if (this.leadingSince !== undefined) return;
    this.leadingSince = since;
    this.settle = settleMs(fenceMarginMs);
    void this.run();
  }

  decision(): TakeoverDecision {
    return takeoverDecision({ ...(this.leadingSince !== undefined ? { leadingSince: this.leadingSince } : {}), settleMs: this.settle, synced: this.synced }, this.o.now());
  }

  private async run(): Promise<void> {
    let retryMs = 100;
    for (;;) {
      const d = this.decision();
      if (d.kind === 'open') return;
      if (d.kind === 'wait') {
        await this.o.sleep(d.until - this.o.now());
        continue;
      }
      try {
        const stamped = await this.o.listStamped();
        for (const s of stamped) this.learned.set(`${s.namespace}/${s.requestId}`, s.name);
        this.synced = true;
        this.o.log(`allocation endpoint: takeover settled: ${stamped.length} allocated worlds read from the API server; new request ids are allocated from now on`);
        this.resolveSynced();
      } catch (e) {
        this.o.log(`allocation endpoint: takeover: listing the allocated worlds failed (retrying; new request ids wait): ${e instanceof Error ? e.message : String(e)}`);
        await this.o.sleep(retryMs);
        retryMs = Math.min(retryMs * 2, RETRY_MAX_MS);
      }
    }
  }

  /** The world the takeover's list found stamped for this request id. */
  learnedWorld(namespace: string, requestId: string): string | undefined {
    return this.learned.get(`${namespace}/${requestId}`);
  }

  /** Resolves true once unknown request ids may be allocated; false when `waitMs` pass first. */
  async open(waitMs: number): Promise<boolean> {
    if (this.synced) return true;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<false>((r) => {
      timer = setTimeout(() => r(false), Math.max(0, waitMs));
      timer.unref();
    });
    try {
      return await Promise.race([this.syncedP.then(() => true as const), late]);
    } finally {
      clearTimeout(timer);
    }
  }
}
