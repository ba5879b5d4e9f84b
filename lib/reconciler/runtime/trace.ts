/**
 * `ANVIL_TRACE=1`: one line on stderr per step of the claim path, with its timing, for
 * finding where a claim's time goes (issue 20; `bench/claims.ts` turns it on and sums the
 * lines up per arrival pattern in RESULTS.md). Off by default: nothing is measured then.
 *
 *   TRACE <epoch ms> <event> key=value …
 *
 * Events: `allocation` (auth, allocate: ms), `commit` (slot, patch: ms; an endpoint
 * allocation's world PATCH), `claim-add` (name), `claim-commit` / `claim-status` (name,
 * patch: ms; a WorldClaim's world PATCH and its status write), `pool-create` (n: worlds),
 * `world-pass` (ms), and every second `event-loop` (p99, max: ms of event-loop delay).
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';

export const TRACE = process.env.ANVIL_TRACE === '1';

export function trace(event: string, fields: Record<string, string | number>): void {
  if (!TRACE) return;
  const kv = Object.entries(fields).map(([k, v]) => `${k}=${typeof v === 'number' ? Math.round(v * 10) / 10 : v}`);
  process.stderr.write(`TRACE ${Date.now()} ${event} ${kv.join(' ')}\n`);
}

if (TRACE) {
  const h = monitorEventLoopDelay({ resolution: 5 });
  h.enable();
  setInterval(() => {
    trace('event-loop', { p99: h.percentile(99) / 1e6, max: h.max / 1e6 });
    h.reset();
  }, 1000).unref();
}

/** A parsed trace line. */
export interface TraceLine {
  at: number;
  event: string;
  fields: Record<string, string>;
}

/** The trace lines of a log (other lines skipped). */
export function parseTrace(log: string): TraceLine[] {
  const out: TraceLine[] = [];
  for (const line of log.split('\n')) {
    const m = /^TRACE (\d+) (\S+) ?(.*)$/.exec(line);
    if (!m) continue;
    const fields: Record<string, string> = {};
    for (const kv of m[3]!.split(' ')) {
      const i = kv.indexOf('=');
      if (i > 0) fields[kv.slice(0, i)] = kv.slice(i + 1);
    }
    out.push({ at: Number(m[1]), event: m[2]!, fields });
  }
  return out;
}
