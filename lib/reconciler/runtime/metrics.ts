/**
 * The reconciler's Prometheus metrics, on a registry of its own (so tests and the CLI can
 * run several in one process). Names follow seed 000 (`anvil_capabilityresolver_…`,
 * `anvil_runtimeorchestrator_…`) and issue 4.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { WORLD_PHASES } from '../../api/schema.js';

export class ReconcilerMetrics {
  readonly registry = new Registry();
  readonly resolution = new Histogram({
    name: 'anvil_capabilityresolver_resolution_duration_seconds',
    help: 'Time to resolve one world (catalog lookup and resolveWorld)',
    buckets: [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1],
    registers: [this.registry],
  });
  readonly deployment = new Histogram({
    name: 'anvil_runtimeorchestrator_deployment_duration_seconds',
    help: 'Time to render and apply one world (or the platform) and prune what left the plan',
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly worldStartup = new Histogram({
    name: 'anvil_world_startup_seconds',
    help: 'From a WorldInstance creationTimestamp to its first Running phase',
    buckets: [0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600],
    registers: [this.registry],
  });
  /** Every pass, whether it wrote or not: the cost of a converged world is visible here. */
  readonly reconcileDuration = new Histogram({
    name: 'anvil_reconcile_duration_seconds',
    help: 'Time of one reconcile pass (any result), by key kind (world or platform)',
    labelNames: ['kind'],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly reconciles = new Counter({
    name: 'anvil_reconcile_total',
    help: 'Reconciles by result (success, requeue, error)',
    labelNames: ['result'],
    registers: [this.registry],
  });
  readonly queueDepth = new Gauge({
    name: 'anvil_workqueue_depth',
    help: 'Keys waiting in the work queue',
    registers: [this.registry],
  });
  readonly apiRequests = new Counter({
    name: 'anvil_api_requests_total',
    help: 'Requests to the Kubernetes API server by verb and HTTP status code (0: no response)',
    labelNames: ['verb', 'code'],
    registers: [this.registry],
  });
  readonly apiWrites = new Counter({
    name: 'anvil_api_writes_total',
    help: 'Writes sent to the Kubernetes API server by verb and kind (Event, WorldInstance, Deployment, …), whatever their answer',
    labelNames: ['verb', 'kind'],
    registers: [this.registry],
  });
  readonly resyncs = new Counter({
    name: 'anvil_resyncs_completed_total',
    help: 'Full passes (the first one, then every --resync-seconds) in which every key was reconciled once',
    registers: [this.registry],
  });
  readonly writesFenced = new Counter({
    name: 'anvil_writes_fenced_total',
    help: 'Writes refused unsent because this replica lost the lease or passed its renew deadline',
    registers: [this.registry],
  });
  readonly isLeader = new Gauge({
    name: 'anvil_leader',
    help: '1 while this replica holds the leader lease (or runs without leader election)',
    registers: [this.registry],
  });

  readonly claimDuration = new Histogram({
    name: 'anvil_claim_duration_seconds',
    help: 'From a WorldClaim being created (first seen by this reconciler; creationTimestamp after a restart) to Bound',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [this.registry],
  });
  readonly poolWorlds = new Gauge({
    name: 'anvil_pool_worlds',
    help: 'Worlds of a WorldPool by state (ready: unclaimed Running; claimed; starting: unclaimed not Running yet)',
    labelNames: ['namespace', 'pool', 'state'],
    registers: [this.registry],
  });
  readonly claimsPending = new Gauge({
    name: 'anvil_claims_pending',
    help: 'WorldClaims waiting for a world, by the pool they wait for',
    labelNames: ['namespace', 'pool'],
    registers: [this.registry],
  });

  /** Read at scrape time from the world cache (see countWorlds): no bookkeeping on every event. */
  private worldPhases?: () => Iterable<string | undefined>;
  readonly worlds = (() => {
    const metrics = this;
    return new Gauge({
      name: 'anvil_worlds',
      help: 'WorldInstances by status.phase (Unknown: no phase yet), counted in the reconciler\'s cache when scraped',
      labelNames: ['phase'],
      registers: [this.registry],
      collect() {
        if (!metrics.worldPhases) return;
        const counts = new Map<string, number>(WORLD_PHASES.map((p) => [p, 0]));
        for (const p of metrics.worldPhases()) counts.set(p ?? 'Unknown', (counts.get(p ?? 'Unknown') ?? 0) + 1);
        this.reset();
        for (const [phase, n] of counts) this.set({ phase }, n);
      },
    });
  })();

  /** Read at scrape time from the status memory (worlds/statusMemory.ts). */
  private statusHeld?: () => number;
  readonly worldStatusHeld = (() => {
    const metrics = this;
    return new Gauge({
      name: 'anvil_world_status_held',
      help: 'Worlds whose new status is computed but held back (waiting for the echo of the last write, or coalescing progress): 0 when nothing is left to write',
      registers: [this.registry],
      collect() {
        if (metrics.statusHeld) this.set(metrics.statusHeld());
      },
    });
  })();

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }

  /** Writes sent to the API server so far (every verb but reads and the lease's own requests). */
  async writesSent(): Promise<number> {
    const { values } = await this.apiRequests.get();
    return values.filter((v) => !/^(get|list|watch|lease-)/.test(String(v.labels.verb))).reduce((n, v) => n + v.value, 0);
  }

  /** Where `anvil_worlds` counts from: the phases of the worlds in the cache. */
  countWorlds(phases: () => Iterable<string | undefined>): void {
    this.worldPhases = phases;
  }

  /** Where `anvil_world_status_held` counts from. */
  countHeldStatuses(held: () => number): void {
    this.statusHeld = held;
  }
}
