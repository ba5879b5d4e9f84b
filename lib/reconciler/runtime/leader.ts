/**
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

export class LeaderElector {
  private readonly o: Required<LeaderOptions>;
  private observed = '';
  private observedAt = 0;
  private leading = false;
  private stopped = false;

  constructor(opts: LeaderOptions) {
    this.o = { leaseDurationSeconds: 15, renewDeadlineMs: 10_000, retryPeriodMs: 2_000, ...opts };
  }

  get isLeader(): boolean {
    return this.leading;
  }

  /**
   * Campaigns until elected, calls onStarted, renews until the lease is lost (onStopped,
   * then resolves) or stop() is called.
   */
  async run(onStarted: () => void, onStopped: () => void): Promise<void> {
    const { retryPeriodMs, renewDeadlineMs, identity } = this.o;
    while (!this.stopped && !(await this.tryAcquireOrRenew())) await sleep(retryPeriodMs);
    if (this.stopped) return;
    this.leading = true;
    this.o.log(`leader election: ${identity} became the leader (lease ${this.o.namespace}/${this.o.name})`);
    onStarted();
    let lastRenew = Date.now();
    while (!this.stopped) {
      await sleep(retryPeriodMs);
      if (this.stopped) break;
      if (await this.tryAcquireOrRenew()) lastRenew = Date.now();
      else if (Date.now() - lastRenew > renewDeadlineMs) {
        this.leading = false;
        this.o.log(`leader election: ${identity} lost the lease`);
        onStopped();
        return;
      }
    }
  }

  /** Stops campaigning and, when leading, hands the lease back. */
  async release(): Promise<void> {
    this.stopped = true;
    if (!this.leading) return;
    this.leading = false;
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
      return await this.o.kube.track('lease-get', () => this.o.kube.objects.read<Lease>({ apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: this.o.name, namespace: this.o.namespace } }));
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
  }

  private async write(lease: Lease): Promise<void> {
    await this.o.kube.track('lease-update', () => this.o.kube.objects.replace(lease));
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const { identity, leaseDurationSeconds, namespace, name } = this.o;
    const now = microTime(new Date());
    try {
      const lease = await this.read();
      if (!lease) {
        await this.o.kube.track('lease-create', () =>
          this.o.kube.objects.create<Lease>({
            apiVersion: 'coordination.k8s.io/v1',
            kind: 'Lease',
            metadata: { name, namespace },
            spec: { holderIdentity: identity, leaseDurationSeconds, acquireTime: now, renewTime: now, leaseTransitions: 0 },
          }),
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
