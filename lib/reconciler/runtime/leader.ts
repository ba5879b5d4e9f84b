/**
 * Fencing: every lease request has a timeout, and the leader may write only until its last
 * successful renewal (the time that renewal was sent) + the renew deadline, on this
 * process's monotonic clock: `writeDeadline` bounds every write (Kube.fence) and a timer
 * stops the leader then, whether or not a renewal is still hanging. A standby takes over
 * only a lease duration after it saw that renewal, later than the deadline.
 *
 * Leader election on a coordination.k8s.io/v1 Lease, with client-go's timing and rules:
 * a candidate takes the lease when it has no holder or when its record has not changed for
 * a lease duration (measured on the candidate's own clock, so clock skew between replicas
 * does not matter); the leader renews every retry period and gives up when it cannot renew
 * within the renew deadline. Writes use the lease's resourceVersion, so two candidates can
 * never both win. release() empties the holder so a standby takes over at its next retry.
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import { errorMessage, isConflict, isNotFound, type Kube } from './kube.js';

export interface LeaderOptions {
  kube: Kube;
  namespace: string;
  name: string;
  identity: string;
  leaseDurationSeconds?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  log: (msg: string) => void;
}

interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}
type Lease = KubernetesObject & { spec?: LeaseSpec };

/** metav1.MicroTime: RFC 3339 with microseconds. */
const microTime = (d: Date): string => d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
const asString = (v: unknown): string | undefined => (v instanceof Date ? microTime(v) : typeof v === 'string' ? v : undefined);
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref());

/** `p`, or a rejection once `ms` have passed (the request itself may still complete: lease writes are guarded by resourceVersion). */
function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_r, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
    timer.unref();
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

export class LeaderElector {
  private readonly o: Required<LeaderOptions>;
  private observed = '';
  private observedAt = 0;
  private leading = false;
  private stopped = false;
  /** performance.now() until which this replica may write: last successful renewal sent + renew deadline. */
  private deadline = -Infinity;
  private deadlineTimer?: NodeJS.Timeout;
  private onLost?: () => void;

  constructor(opts: LeaderOptions) {
    this.o = { leaseDurationSeconds: 15, renewDeadlineMs: 10_000, retryPeriodMs: 2_000, ...opts };
    if (this.o.renewDeadlineMs >= this.o.leaseDurationSeconds * 1000) throw new Error('leader election: the renew deadline must be shorter than the lease duration');
  }

  get isLeader(): boolean {
    return this.leading && performance.now() < this.deadline;
  }

  /**
   * How long before a standby may take over the lease this replica's writes stop: LD − RD.
   * Every write of a leader was sent at least this long before its successor leads.
   */
  get fenceMarginMs(): number {
    return this.o.leaseDurationSeconds * 1000 - this.o.renewDeadlineMs;
  }

  /** The monotonic time (performance.now()) from which this replica must not write: pass to Kube.fence. */
  readonly writeDeadline = (): number => (this.leading ? this.deadline : -Infinity);

  /** Each lease request may take at most this long: a hanging one counts as failed. */
  private get callTimeoutMs(): number {
    return Math.max(1, Math.min(this.o.retryPeriodMs, this.o.renewDeadlineMs / 2));
  }

  /** A renewal (or the acquisition) sent at `sentAt` succeeded: writes allowed until sentAt + renew deadline, and a timer that stops the leader then. */
  private renewed(sentAt: number): void {
    this.deadline = sentAt + this.o.renewDeadlineMs;
    clearTimeout(this.deadlineTimer);
    this.deadlineTimer = setTimeout(() => this.lose('its renew deadline passed without a renewal'), Math.max(0, this.deadline - performance.now()));
    this.deadlineTimer.unref();
  }

  private lose(why: string): void {
    clearTimeout(this.deadlineTimer);
    if (!this.leading) return;
    this.leading = false;
    this.deadline = -Infinity;
    this.o.log(`leader election: ${this.o.identity} lost the lease (${why}); writes stopped`);
    this.onLost?.();
  }

  /**
   * Campaigns until elected, calls onStarted, renews until the lease is lost (onStopped,
   * then resolves) or stop() is called.
   */
  async run(onStarted: () => void, onStopped: () => void): Promise<void> {
    const { retryPeriodMs, identity } = this.o;
    let sentAt = performance.now();
    for (;;) {
      if (this.stopped) return;
      sentAt = performance.now();
      if (await this.tryAcquireOrRenew()) break;
      await sleep(retryPeriodMs);
    }
    const lost = new Promise<void>((r) => (this.onLost = r));
    this.leading = true;
    this.renewed(sentAt);
    this.o.log(`leader election: ${identity} became the leader (lease ${this.o.namespace}/${this.o.name})`);
    onStarted();
    const renewals = (async () => {
      while (!this.stopped && this.leading) {
        await sleep(retryPeriodMs);
        if (this.stopped || !this.leading) break;
        const at = performance.now();
        // Renewed only if it returned before the deadline: a late success does not extend it.
        if ((await this.tryAcquireOrRenew()) && this.leading && performance.now() < this.deadline) this.renewed(at);
      }
    })();
    await Promise.race([lost, renewals]);
    if (!this.stopped) onStopped();
  }

  /** Stops campaigning and, when leading, hands the lease back. */
  async release(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.deadlineTimer);
    if (!this.leading) return;
    this.leading = false;
    if (performance.now() >= this.deadline) return; // past its deadline a standby may hold it already
    try {
      const lease = await this.read();
      if (!lease || lease.spec?.holderIdentity !== this.o.identity) return;
      const now = microTime(new Date());
      await this.write({ ...lease, spec: { leaseDurationSeconds: 1, acquireTime: now, renewTime: now, leaseTransitions: lease.spec?.leaseTransitions ?? 0 } });
      this.o.log(`leader election: ${this.o.identity} released the lease`);
    } catch (e) {
      this.o.log(`leader election: could not release the lease: ${errorMessage(e)}`);
    }
  }

  private async read(): Promise<Lease | undefined> {
    try {
      return await withTimeout(
        this.o.kube.track('lease-get', () => this.o.kube.objects.read<Lease>({ apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: this.o.name, namespace: this.o.namespace } })),
        this.callTimeoutMs,
        'lease get',
      );
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
  }

  private async write(lease: Lease): Promise<void> {
    await withTimeout(this.o.kube.track('lease-update', () => this.o.kube.objects.replace(lease)), this.callTimeoutMs, 'lease update');
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const { identity, leaseDurationSeconds, namespace, name } = this.o;
    const now = microTime(new Date());
    try {
      const lease = await this.read();
      if (!lease) {
        await withTimeout(
          this.o.kube.track('lease-create', () =>
            this.o.kube.objects.create<Lease>({
              apiVersion: 'coordination.k8s.io/v1',
              kind: 'Lease',
              metadata: { name, namespace },
              spec: { holderIdentity: identity, leaseDurationSeconds, acquireTime: now, renewTime: now, leaseTransitions: 0 },
            }),
          ),
          this.callTimeoutMs,
          'lease create',
        );
        return true;
      }
      const spec = lease.spec ?? {};
      const record = JSON.stringify([spec.holderIdentity, asString(spec.renewTime), spec.leaseDurationSeconds]);
      if (record !== this.observed) {
        this.observed = record;
        this.observedAt = Date.now();
      }
      const holder = spec.holderIdentity;
      const mine = holder === identity;
      if (holder && !mine && this.observedAt + (spec.leaseDurationSeconds ?? leaseDurationSeconds) * 1000 > Date.now()) return false;
      await this.write({
        ...lease,
        spec: {
          holderIdentity: identity,
          leaseDurationSeconds,
          acquireTime: mine ? asString(spec.acquireTime) ?? now : now,
          renewTime: now,
          leaseTransitions: mine ? spec.leaseTransitions ?? 0 : (spec.leaseTransitions ?? 0) + 1,
        },
      });
      return true;
    } catch (e) {
      if (!isConflict(e)) this.o.log(`leader election: ${errorMessage(e)}`);
      return false;
    }
  }
}
