/** The human-readable report of a load test (the JSON one is the result object itself). */
import type { LoadTestResult, WorldProblem } from './run.js';

const s = (v: number) => `${v.toFixed(3)}s`;
const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;
const problem = (p: WorldProblem) =>
  `    ${p.name}: ${p.phase ?? 'no status'}${p.reason ? ` (${p.reason}${p.message ? `: ${p.message}` : ''})` : ''}`;

export function formatReport(r: LoadTestResult): string {
  const lines: string[] = [];
  lines.push(`load test ${r.runId}: ${r.worlds} worlds of game ${r.game} in namespace ${r.namespace}, concurrency ${r.concurrency}`);
  lines.push(`  Running             ${r.running}/${r.worlds}${r.failed.length ? `, ${r.failed.length} failed` : ''}${r.timedOut.length ? `, ${r.timedOut.length} not Running after ${r.timeoutSeconds}s` : ''}`);
  const l = r.latencySeconds;
  lines.push(l ? `  creation->Running   p50 ${s(l.p50)}  p95 ${s(l.p95)}  p99 ${s(l.p99)}  max ${s(l.max)}` : '  creation->Running   no world reached Running');
  const raw = r.raw ? `; raw API ${r.raw.worldsPerSecond.toFixed(2)} worlds/s (${r.raw.objectsPerWorld} objects each, ${r.raw.objectsPerSecond.toFixed(1)} objects/s${r.raw.errors ? `, ${r.raw.errors} errors: ${r.raw.firstError}` : ''}); ratio ${r.throughputRatio?.toFixed(2)}` : '';
  lines.push(`  throughput          ${r.worldsPerSecond.toFixed(2)} worlds/s over ${s(r.durationSeconds)}${raw}`);
  const m = r.reconciler;
  if (!m.reachable) {
    lines.push(`  reconciler          metrics unavailable: ${m.error}`);
  } else {
    const verbs = m.apiRequestsByVerb ? ` (${Object.entries(m.apiRequestsByVerb).filter(([, n]) => n).map(([v, n]) => `${v} ${n}`).join(', ')})` : '';
    lines.push(`  reconcile errors    ${m.reconcileErrors ?? 'n/a (anvil_reconcile_total not exported)'}`);
    lines.push(`  API requests/world  ${m.apiRequestsPerWorld ?? 'n/a (anvil_api_requests_total not exported)'}${verbs}`);
    lines.push(`  reconciler memory   ${m.peakMemoryBytes !== null ? `${mib(m.peakMemoryBytes)} peak RSS` : 'n/a'}${m.peakQueueDepth !== null ? `; peak queue depth ${m.peakQueueDepth}` : ''}`);
    if (m.error) lines.push(`  warning: ${m.error}`);
  }
  if (r.cleanup.requested) lines.push(`  cleanup             ${r.cleanup.done ? 'done' : `${r.cleanup.remaining} worlds still present`}`);
  if (r.failed.length) lines.push(`  failed:`, ...r.failed.map(problem));
  if (r.timedOut.length) lines.push(`  not Running within ${r.timeoutSeconds}s:`, ...r.timedOut.map(problem));
  return `${lines.join('\n')}\n`;
}
