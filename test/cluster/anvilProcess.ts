// The real `node bin/anvil.js …` as a child process of a cluster test, tracked so that it
// dies when the test ends however it ends: after its own timeout (SIGKILL, and the result
// says so), in afterAll (killAnvilProcesses), and when the Jest worker exits.
import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { ROOT } from './reconcilerHarness.js';

export interface AnvilRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** True when the run was killed because it outlived timeoutMs. */
  timedOut: boolean;
}

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});

/** Starts `anvil ARGS`; `done` resolves when it exits (killed after timeoutMs). */
export function startAnvil(args: string[], opts: { timeoutMs?: number } = {}): { child: ChildProcess; done: Promise<AnvilRun> } {
  const child = spawn(process.execPath, [path.join(ROOT, 'bin/anvil.js'), ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(child);
  let stdout = '';
  let stderr = '';
  let timedOut = false;
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, opts.timeoutMs ?? 240_000);
  const done = new Promise<AnvilRun>((resolve, reject) => {
    child.on('error', (e) => {
      clearTimeout(timer);
      live.delete(child);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      live.delete(child);
      resolve({ code, signal, stdout, stderr, timedOut });
    });
  });
  return { child, done };
}

export const runAnvil = (args: string[], opts: { timeoutMs?: number } = {}): Promise<AnvilRun> => startAnvil(args, opts).done;

/** SIGKILLs every anvil process still running and waits until each is gone. */
export async function killAnvilProcesses(): Promise<void> {
  const waiting = [...live].map((c) => new Promise((r) => (c.exitCode !== null || c.signalCode !== null ? r(undefined) : c.once('close', r))));
  for (const c of live) c.kill('SIGKILL');
  await Promise.all(waiting);
}

/** Anvil processes started here that have not exited. */
export const liveAnvilProcesses = (): number => live.size;

/** Whether a process id is still alive (signal 0 probes without killing). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
