/**
 * Follows the load test's WorldInstances by list+watch (no polling, see listWatch.ts): the
 * first time each one is seen in phase Running, and its last phase and Ready/Resolved reason
 * otherwise. A watch the server closes is resumed by a fresh list, so no transition is lost.
 */
import type { Kube } from '../client/kube.js';
import { ListWatch, type Watched } from './listWatch.js';

export interface WorldState {
  phase?: string;
  /** Reason and message of the first False condition (why it is not Running). */
  reason?: string;
  message?: string;
  /** performance.now() when Running was first observed. */
  runningAt?: number;
}

interface WatchedWorld extends Watched {
  status?: { phase?: string; conditions?: { type: string; status: string; reason?: string; message?: string }[] };
}

export class WorldTracker {
  readonly states = new Map<string, WorldState>();
  private readonly watch: ListWatch<WatchedWorld>;

  constructor(kube: Kube, namespace: string, labelSelector: string, onChange: () => void = () => {}) {
    this.watch = new ListWatch<WatchedWorld>(kube, { namespace, plural: 'worldinstances', labelSelector }, (type, obj) => {
      // A deleted world keeps its last state: the report counts what was seen.
      if (type === 'DELETED') return;
      this.observe(obj);
      onChange();
    });
  }

  /** Last watch error, for the report when the watch keeps failing. */
  get lastError(): string | undefined {
    return this.watch.lastError;
  }

  /** Lists, then watches from the list's resourceVersion; resolves once the watch is open. */
  start(): Promise<void> {
    return this.watch.start();
  }

  stop(): void {
    this.watch.stop();
  }

  /** Resolves at the next change (or stop), for a wait loop without polling. */
  changed(): Promise<void> {
    return this.watch.changed();
  }

  private observe(obj: WatchedWorld): void {
    const name = obj.metadata?.name;
    if (!name) return;
    const state = this.states.get(name) ?? {};
    state.phase = obj.status?.phase;
    const bad = obj.status?.conditions?.find((c) => c.status === 'False');
    state.reason = bad?.reason;
    state.message = bad?.message;
    if (state.phase === 'Running' && state.runningAt === undefined) state.runningAt = performance.now();
    this.states.set(name, state);
  }
}
