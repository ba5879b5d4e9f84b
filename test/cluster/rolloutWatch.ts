// Watches for the rollout cluster tests (kubectl get -w, the real kubectl): the worlds of a
// game as they go down and up, and the game's batches as its status records them.
import { spawn, type ChildProcess } from 'node:child_process';
import { KUBECTL, kubeconfigPath } from './kubectl.js';
import { eventually } from './reconcilerHarness.js';

const watchers = new Set<ChildProcess>();

/** Kills every watch started so far (afterEach / afterAll). */
export function stopWatches(): void {
  for (const w of watchers) w.kill('SIGKILL');
  watchers.clear();
}

/**
 * `kubectl get -w` with a `|`-separated jsonpath template: every event's fields, as they come.
 * Resolves once kubectl has listed what exists (its first row, or "No resources found"): what
 * happens after that is seen; a test that starts a change before it could miss the first steps.
 */
export function watch(args: string[], template: string, onRow: (fields: string[]) => void): Promise<void> {
  const child = spawn(KUBECTL, ['--kubeconfig', kubeconfigPath(), 'get', ...args, '-w', '-o', `jsonpath=${template}{"\\n"}`], { stdio: ['ignore', 'pipe', 'pipe'] });
  watchers.add(child);
  let listed!: () => void;
  const ready = new Promise<void>((resolve, reject) => {
    listed = resolve;
    child.on('exit', (code) => reject(new Error(`kubectl get ${args.join(' ')} -w exited (${code}) before it listed anything`)));
  });
  child.stderr.on('data', (d: Buffer) => {
    if (/No resources found/.test(d.toString())) listed();
  });
  let buf = '';
  child.stdout.on('data', (d: Buffer) => {
    listed();
    buf += d.toString();
    const lines = buf.split('\n');
    buf = lines.pop() ?? '';
    for (const l of lines) if (l.trim()) onRow(l.split('|'));
  });
  ready.catch(() => undefined); // killed by stopWatches() before it listed: only an awaiting test cares
  return ready;
}

/** The worlds of one game as a watch sees them; the most of them not Running at once. */
export class WorldsWatch {
  readonly phase = new Map<string, string>();
  maxDown = 0;
  /** Phases each world went through (consecutive duplicates dropped). */
  readonly history = new Map<string, string[]>();
  /** Resolves once the watch is established (await it before changing anything). */
  readonly ready: Promise<void>;
  constructor(game: string, namespace: string) {
    this.ready = watch(['worldinstances', '-n', namespace], '{.metadata.name}|{.spec.gameRef.name}|{.status.phase}', ([name, g, phase]) => {
      if (g !== game || !name) return;
      this.phase.set(name, phase || 'None');
      const h = this.history.get(name) ?? [];
      if (h[h.length - 1] !== (phase || 'None')) this.history.set(name, [...h, phase || 'None']);
      this.maxDown = Math.max(this.maxDown, [...this.phase.values()].filter((p) => p !== 'Running').length);
    });
  }
}

/** The game's batches as a watch sees its status: per target revision, batch number → its worlds. */
export class BatchesWatch {
  readonly byTarget = new Map<string, Map<number, string>>();
  readonly changed: string[] = [];
  lastTarget = '';
  /** Resolves once the watch is established (await it before changing anything). */
  readonly ready: Promise<void>;
  constructor(game: string) {
    this.ready = watch(['gamedefinition', game], '{.status.rollout.targetRevision}|{.status.rollout.batch}|{.status.rollout.batchWorlds[*]}', ([target, batch, worlds]) => {
      const n = Number(batch);
      if (!target || !n) return;
      this.lastTarget = target;
      const batches = this.byTarget.get(target) ?? new Map<number, string>();
      this.byTarget.set(target, batches);
      const before = batches.get(n);
      if (before !== undefined && before !== worlds) this.changed.push(`${target}#${n}: ${before} -> ${worlds}`);
      batches.set(n, worlds ?? '');
    });
  }
  /**
   * Waits until the watch has delivered batches naming `worlds` worlds of the rollout to
   * `target`: the watch is its own stream, and may lag what a test read with kubectl get.
   */
  async seen(target: string, worlds: number, timeoutMs = 60_000): Promise<void> {
    const delivered = () => this.numbers(target).flatMap((n) => this.worlds(n, target)).length;
    await eventually(`the game status watch to deliver batches of ${worlds} worlds for ${target}`, async () => delivered() >= worlds, timeoutMs);
  }
  /** Batch numbers of the rollout to `target` (default: the latest seen). */
  numbers(target = this.lastTarget): number[] {
    return [...(this.byTarget.get(target)?.keys() ?? [])].sort((a, b) => a - b);
  }
  worlds(n: number, target = this.lastTarget): string[] {
    return (this.byTarget.get(target)?.get(n) ?? '').split(' ').filter(Boolean);
  }
}
