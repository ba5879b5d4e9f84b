/** Runs `task(i)` for i in [0, n) with at most `concurrency` in flight; never rejects. */
export async function forEachBounded(n: number, concurrency: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < n) {
      const i = next++;
      await task(i).catch(() => undefined); // the task records its own failure
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, n)) }, worker));
}
