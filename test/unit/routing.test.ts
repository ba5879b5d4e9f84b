// The reconciler's event routing (lib/reconciler/routing.ts): a burst of world events (a claim
// burst stamps one world per claim) queues each world once and its game's rollout once, a
// moment later, not one rollout pass (a walk over every world of the game) per event.
import { afterEach, describe, expect, test } from '@jest/globals';
import type { KubernetesObject } from '@kubernetes/client-node';
import { EventRouter, type Routed } from '../../lib/reconciler/routing.js';
import { WorkQueue } from '../../lib/reconciler/runtime/queue.js';
import type { DefinitionsCache } from '../../lib/reconciler/shared/definitions.js';

let queue: WorkQueue | undefined;
afterEach(() => queue?.shutdown());

const world = (i: number, rv: number): KubernetesObject =>
  ({
    apiVersion: 'anvil.dev/v1alpha1',
    kind: 'WorldInstance',
    metadata: { name: `w-${i}`, namespace: 'arena', uid: `uid-${i}`, resourceVersion: String(rv), labels: { 'anvil.dev/pool': 'p' }, annotations: {} },
    spec: { gameRef: { name: 'g' } },
    status: { phase: 'Running' },
  }) as KubernetesObject;

/** Takes every key queued now, in order, and marks each done. */
async function drain(q: WorkQueue): Promise<string[]> {
  const keys: string[] = [];
  while (q.depth > 0) {
    const k = (await q.get())!;
    keys.push(k);
    q.done(k);
  }
  return keys;
}

describe('event routing', () => {
  test("a burst of world events queues each world once and the game's rollout once, a moment later (ROLLOUT_COALESCE_MS)", async () => {
    queue = new WorkQueue({ baseDelayMs: 10, maxDelayMs: 100 });
    const router = new EventRouter(queue, { invalidate: () => undefined } as unknown as DefinitionsCache);
    router.attach({
      worlds: { list: () => [] },
      games: { list: () => [] },
      pools: { list: () => [] },
      poolCtl: { enqueue: () => undefined },
      claimCtl: { onWorld: () => undefined },
    } as unknown as Routed);
    for (let i = 0; i < 50; i++) router.onWorld('add', world(i, 10 + i));
    // A claim stamps each one: labels and annotations only, nothing a world pass reads.
    for (let i = 0; i < 50; i++) {
      const w = world(i, 100 + i);
      w.metadata!.labels!['anvil.dev/claim'] = `c-${i}`;
      router.onWorld('update', w);
    }
    const now = await drain(queue);
    expect(now.filter((k) => k.startsWith('arena/'))).toHaveLength(50);
    expect(now).not.toContain('rollout:g');
    // The next key is the rollout's, once its timer fires; and it is queued once.
    const next = await queue.get();
    expect(next).toBe('rollout:g');
    queue.done(next!);
    expect(queue.depth).toBe(0);
  });
});
