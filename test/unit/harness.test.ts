// Issue 8, item 10: the cluster tests' child processes never outlive their test. The
// mechanisms themselves, on real processes: a child past its timeout is killed, and
// killAll() (run after each file, and by load-test after each test) ends every tracked
// child — with SIGKILL when it ignores SIGTERM.
import { describe, expect, test } from '@jest/globals';
import { killAll, runTracked, spawnTracked } from '../cluster/reconcilerHarness.js';

const node = process.execPath;
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('child processes of the tests', () => {
  test('a child that runs past its timeout is killed, and the run says so', async () => {
    const r = await runTracked(node, ['-e', 'setInterval(() => {}, 1000)'], { timeoutMs: 500 });
    expect(r.code).toBe(128);
    expect(r.stderr).toContain('killed by SIGKILL after 500 ms');
  });

  test('killAll ends every tracked child, with SIGKILL when SIGTERM is ignored', async () => {
    const polite = spawnTracked(node, ['-e', 'setInterval(() => {}, 1000)'], { timeoutMs: 60_000, stdio: 'ignore' });
    const stubborn = spawnTracked(node, ['-e', "process.on('SIGTERM', () => {}); process.stdout.write('ready'); setInterval(() => {}, 1000)"], { timeoutMs: 60_000, stdio: ['ignore', 'pipe', 'ignore'] });
    await new Promise((r) => stubborn.stdout!.once('data', r));
    const exits = [polite, stubborn].map((c) => new Promise<NodeJS.Signals | null>((r) => c.once('exit', (_code, signal) => r(signal))));
    await killAll(500);
    expect(await Promise.all(exits)).toEqual(['SIGTERM', 'SIGKILL']);
    expect(alive(polite.pid!)).toBe(false);
    expect(alive(stubborn.pid!)).toBe(false);
  });
});
