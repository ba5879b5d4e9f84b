// The allocation endpoint's takeover guard (issue 20; lib/reconciler/claims/takeover.ts): a
// commit of the old leader that lands after the standby took over must not let a retried
// request id get a second world. The decision is tested on a fake clock; the race itself
// through Allocations in front of the in-memory API server, with a watch that has not
// delivered the old leader's last commit (what the cache cannot show, the guard's
// consistent read must find). The real control plane's kill -9 test is
// test/cluster/allocation-endpoint.test.ts.
import { describe, expect, test } from '@jest/globals';
import { Allocations } from '../../lib/reconciler/claims/allocations.js';
import { COMMIT_SERVER_TIMEOUT_S, NETWORK_BOUND_MS, TakeoverGuard, settleMs, takeoverDecision, type StampedWorld } from '../../lib/reconciler/claims/takeover.js';
import type { Kube } from '../../lib/reconciler/runtime/kube.js';
import { FakeApi, NS, leadingClaimController } from './claimFakes.js';

/** A clock the test moves: sleepers wake when it passes their time. */
class FakeClock {
  t = 0;
  private sleepers: { at: number; wake: () => void }[] = [];
  now = () => this.t;
  sleep = (ms: number) => new Promise<void>((wake) => this.sleepers.push({ at: this.t + ms, wake }));
  async advanceTo(t: number): Promise<void> {
    this.t = t;
    // Wake the due sleepers, let them run to their next sleep (or end), again while any are due.
    for (let due = this.sleepers.filter((x) => x.at <= t); due.length; due = this.sleepers.filter((x) => x.at <= t)) {
      this.sleepers = this.sleepers.filter((x) => x.at > t);
      for (const s of due) s.wake();
      await new Promise((r) => setImmediate(r));
    }
    await new Promise((r) => setImmediate(r));
  }
}

const settled = async (p: Promise<unknown>) => {
  let done = false;
  void p.then(() => (done = true));
  await new Promise((r) => setImmediate(r));
  return done;
};

describe('the takeover decision', () => {
  test('settle: the network bound plus the commit timeout, less the old leader\'s fence margin (LD − RD)', () => {
    expect(COMMIT_SERVER_TIMEOUT_S).toBe(5);
    expect(NETWORK_BOUND_MS).toBe(5_000);
    expect(settleMs(15_000 - 10_000)).toBe(5_000); // client-go's timing: LD 15 s, RD 10 s
    expect(settleMs(0)).toBe(10_000); // no leader election: a restarted process has no margin
    expect(settleMs(60_000)).toBe(0);
  });

  test('closed before leading; an unknown id waits out the window; then the server is read; then open', () => {
    expect(takeoverDecision({ settleMs: 5_000, synced: false }, 1_000)).toEqual({ kind: 'closed' });
    expect(takeoverDecision({ leadingSince: 1_000, settleMs: 5_000, synced: false }, 1_000)).toEqual({ kind: 'wait', until: 6_000 });
    expect(takeoverDecision({ leadingSince: 1_000, settleMs: 5_000, synced: false }, 5_999)).toEqual({ kind: 'wait', until: 6_000 });
    expect(takeoverDecision({ leadingSince: 1_000, settleMs: 5_000, synced: false }, 6_000)).toEqual({ kind: 'read' });
    expect(takeoverDecision({ leadingSince: 1_000, settleMs: 5_000, synced: true }, 6_001)).toEqual({ kind: 'open' });
  });

  test('without leader election the window runs from the process\'s start: a reconciler whose caches took longer reads at once', async () => {
    const clock = new FakeClock();
    clock.t = 12_000;
    const reads: number[] = [];
    const guard = new TakeoverGuard({ now: clock.now, sleep: clock.sleep, listStamped: async () => (reads.push(clock.t), []), log: () => undefined });
    guard.begin(0, 0);
    expect(await guard.open(60_000)).toBe(true);
    expect(reads).toEqual([12_000]);
  });

  test('the guard reads the server only once the window has passed, retries a failed read, and opens after it', async () => {
    const clock = new FakeClock();
    const reads: number[] = [];
    let fail = true;
    const guard = new TakeoverGuard({
      now: clock.now,
      sleep: clock.sleep,
      listStamped: async (): Promise<StampedWorld[]> => {
        reads.push(clock.t);
        if (fail) {
          fail = false;
          throw new Error('connection reset');
        }
        return [{ namespace: NS, name: 'w1', requestId: 'x' }];
      },
      log: () => undefined,
    });
    const opened = guard.open(60_000);
    expect(guard.decision()).toEqual({ kind: 'closed' });
    guard.begin(5_000);
    await clock.advanceTo(4_999);
    expect(reads).toEqual([]);
    expect(await settled(opened)).toBe(false);
    expect(await guard.open(10)).toBe(false); // a request whose own wait runs out first: 503 TakingOver
    await clock.advanceTo(5_000);
    expect(reads).toEqual([5_000]); // failed
    await clock.advanceTo(5_100);
    expect(reads).toEqual([5_000, 5_100]);
    expect(await opened).toBe(true);
    expect(guard.decision()).toEqual({ kind: 'open' });
    expect(guard.learnedWorld(NS, 'x')).toBe('w1');
  });
});

describe('the race: the old leader\'s last commit lands after the standby took over', () => {
  function setup() {
    const api = new FakeApi();
    // The watch: delivers while `watch.on`; what it misses never reaches this replica's cache.
    const { ctl, watch } = leadingClaimController(api, ['w0', 'w1', 'w2']);
    const clock = new FakeClock();
    // The consistent read: the server's objects, not the cache.
    const listStamped = async () =>
      [...api.objects.values()].flatMap((w) => (w.kind === 'WorldInstance' && w.metadata.annotations?.['anvil.dev/allocation'] ? [{ namespace: NS, name: w.metadata.name as string, requestId: w.metadata.annotations['anvil.dev/allocation'] as string }] : []));
    const takeover = new TakeoverGuard({ now: clock.now, sleep: clock.sleep, listStamped, log: () => undefined });
    const allocations = new Allocations({ claims: ctl, kube: api.kube as unknown as Kube, canWrite: () => true, takeover, log: () => undefined, observe: () => undefined });
    /** The old leader's commit, stamping `world` for `requestId`, landing on the server unseen by this replica's watch. */
    const oldLeaderCommit = (world: string, requestId: string) => {
      watch.on = false;
      const w = api.get('WorldInstance', world)!;
      api.put({ ...w, metadata: { ...w.metadata, labels: { ...w.metadata.labels, 'anvil.dev/claim': `p-${requestId}` }, annotations: { ...w.metadata.annotations, 'anvil.dev/allocation': requestId }, ownerReferences: [] } });
      watch.on = true;
    };
    const stampedFor = (id: string) => [...api.objects.values()].filter((w) => w.metadata.annotations?.['anvil.dev/allocation'] === id).map((w) => w.metadata.name);
    return { allocations, takeover, clock, oldLeaderCommit, stampedFor };
  }

  test('landing inside the settle window: the retried id waits, then gets the world the old leader gave it; a new id gets another', async () => {
    const { allocations, takeover, clock, oldLeaderCommit, stampedFor } = setup();
    takeover.begin(5_000);
    const retried = allocations.allocate(NS, { requestId: 'x', pool: 'p' });
    await clock.advanceTo(2_000);
    expect(await settled(retried)).toBe(false); // not answered from a cache that may be behind
    oldLeaderCommit('w1', 'x');
    await clock.advanceTo(5_000);
    const got = await retried;
    expect(got).toMatchObject({ ok: true, reply: { world: 'w1', requestId: 'x' } });
    expect(stampedFor('x')).toEqual(['w1']);
    // A new id: another world (w1 still looks spare in the cache; its commit loses the conflict and moves on).
    const other = await allocations.allocate(NS, { requestId: 'y', pool: 'p' });
    expect(other.ok && other.reply.world).not.toBe('w1');
    expect(stampedFor('y')).toHaveLength(1);
    expect(stampedFor('x')).toEqual(['w1']);
  });

  test('landed before the takeover but never delivered by the watch: the server read finds it', async () => {
    const { allocations, takeover, clock, oldLeaderCommit, stampedFor } = setup();
    oldLeaderCommit('w2', 'z');
    takeover.begin(5_000);
    const retried = allocations.allocate(NS, { requestId: 'z', pool: 'p' });
    expect(await settled(retried)).toBe(false); // the cache does not know z: it waits for the server read
    await clock.advanceTo(5_000);
    expect(await retried).toMatchObject({ ok: true, reply: { world: 'w2' } });
    expect(stampedFor('z')).toEqual(['w2']);
    // Released by its id through the same lookup (the cache still does not show the stamp).
    expect(await allocations.release(NS, 'z')).toEqual({ world: 'w2' });
  });
});
