/**
 * A work queue like client-go's: a key is queued at most once however often it is added,
 * is never handed to two workers at once (added again while being processed, it is queued
 * again when done), and failures come back after a per-key exponential backoff, all under
 * an overall token bucket so a storm of failures cannot flood the API server.
 */
export interface QueueOptions {
  /** First retry delay (ms); doubled per consecutive failure of the key. */
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** Overall retry rate: tokens per second and burst. */
  qps?: number;
  burst?: number;
  onDepth?: (depth: number) => void;
}

export class WorkQueue {
  private readonly queue: string[] = [];
  /** Keys added with `first`: handed out before the others (see add). */
  private readonly urgent: string[] = [];
  private readonly urgentKeys = new Set<string>();
  private readonly dirty = new Set<string>();
  private readonly processing = new Set<string>();
  /** Keys added with `first` while being processed. */
  private readonly requeueFirst = new Set<string>();
  private readonly failures = new Map<string, number>();
  private readonly timers = new Map<string, { at: number; timer: NodeJS.Timeout }>();
  private readonly waiters: ((key: string | undefined) => void)[] = [];
  private shuttingDown = false;
  private tokens: number;
  private lastRefill = Date.now();
  private readonly o: Required<Omit<QueueOptions, 'onDepth'>> & Pick<QueueOptions, 'onDepth'>;

  constructor(opts: QueueOptions = {}) {
    this.o = { baseDelayMs: 100, maxDelayMs: 300_000, qps: 50, burst: 200, ...opts };
    this.tokens = this.o.burst;
  }

  get depth(): number {
    return this.queue.length + this.urgent.length;
  }

  /**
   * Queues `key` once. `first`: ahead of the keys queued without it (FIFO among themselves),
   * for passes that are cheap and make a user wait, such as noticing that a world's
   * workloads became ready while a burst of new worlds is still queued. A key already
   * queued without `first` moves ahead when added with it.
   */
  add(key: string, opts: { first?: boolean } = {}): void {
    if (this.shuttingDown) return;
    if (this.dirty.has(key)) {
      if (opts.first) this.promote(key);
      return;
    }
    this.dirty.add(key);
    if (this.processing.has(key)) {
      if (opts.first) this.requeueFirst.add(key);
      return; // queued again by done()
    }
    const waiter = this.waiters.shift();
    if (waiter) waiter(key);
    else if (opts.first) {
      this.urgent.push(key);
      this.urgentKeys.add(key);
      this.o.onDepth?.(this.depth);
    } else {
      this.queue.push(key);
      this.o.onDepth?.(this.depth);
    }
  }

  /** A queued key moves ahead; one being processed comes back ahead (see done). */
  private promote(key: string): void {
    if (this.processing.has(key)) {
      this.requeueFirst.add(key);
      return;
    }
    if (this.urgentKeys.has(key)) return;
    const i = this.queue.indexOf(key);
    if (i < 0) return;
    this.queue.splice(i, 1);
    this.urgent.push(key);
    this.urgentKeys.add(key);
  }

  /** Adds the key after `ms`; an earlier pending addAfter of the same key wins. */
  addAfter(key: string, ms: number): void {
    if (this.shuttingDown) return;
    if (ms <= 0) return this.add(key);
    const at = Date.now() + ms;
    const pending = this.timers.get(key);
    if (pending && pending.at <= at) return;
    if (pending) clearTimeout(pending.timer);
    const timer = setTimeout(() => {
      this.timers.delete(key);
      this.add(key);
    }, ms);
    timer.unref();
    this.timers.set(key, { at, timer });
  }

  /** Adds the key after its backoff (and the overall rate limit): for failures. */
  addRateLimited(key: string): void {
    const n = this.failures.get(key) ?? 0;
    this.failures.set(key, n + 1);
    const backoff = Math.min(this.o.baseDelayMs * 2 ** n, this.o.maxDelayMs);
    this.addAfter(key, Math.max(backoff, this.bucketDelay()));
  }

  /** The key succeeded: its next failure starts from the base delay again. */
  forget(key: string): void {
    this.failures.delete(key);
  }

  retries(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  /** The next key, waiting for one; undefined once shut down. */
  get(): Promise<string | undefined> {
    if (this.shuttingDown) return Promise.resolve(undefined);
    const key = this.urgent.shift() ?? this.queue.shift();
    if (key !== undefined) {
      this.urgentKeys.delete(key);
      this.o.onDepth?.(this.depth);
      this.take(key);
      return Promise.resolve(key);
    }
    return new Promise((resolve) =>
      this.waiters.push((k) => {
        if (k !== undefined) this.take(k);
        resolve(k);
      }),
    );
  }

  /** The worker finished `key`; if it was added meanwhile, it is queued again. */
  done(key: string): void {
    this.processing.delete(key);
    const first = this.requeueFirst.delete(key);
    if (this.dirty.has(key)) {
      this.dirty.delete(key);
      this.add(key, { first });
    }
  }

  shutdown(): void {
    this.shuttingDown = true;
    for (const { timer } of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    for (const w of this.waiters.splice(0)) w(undefined);
  }

  private take(key: string): void {
    this.dirty.delete(key);
    this.processing.add(key);
  }

  /** Token bucket: 0 while tokens last, else the wait until the next one. */
  private bucketDelay(): number {
    const now = Date.now();
    this.tokens = Math.min(this.o.burst, this.tokens + ((now - this.lastRefill) / 1000) * this.o.qps);
    this.lastRefill = now;
    this.tokens -= 1;
    return this.tokens >= 0 ? 0 : (-this.tokens / this.o.qps) * 1000;
  }
}

/** Resolves in the event loop's check phase, after the I/O that is ready has been handled. */
const yieldToIO = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * Runs `worker` on keys from `queue` with at most `concurrency` at once, until shutdown.
 *
 * Each worker yields to the event loop between keys. A pass that finds nothing to write does
 * no I/O, so without the yield a queue of them runs as one chain of microtasks: measured in
 * the claims bench, the refill's world passes held the event loop for up to 950 ms, and every
 * allocation request, commit reply and watch event waited behind them.
 */
export async function runWorkers(queue: WorkQueue, concurrency: number, worker: (key: string) => Promise<void>): Promise<void> {
  const loop = async (): Promise<void> => {
    for (;;) {
      const key = await queue.get();
      if (key === undefined) return;
      try {
        await worker(key);
      } finally {
        queue.done(key);
      }
      await yieldToIO();
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, concurrency) }, loop));
}
