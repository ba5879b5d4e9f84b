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
  const f = r.floor;
  if (f) {
    const fl = f.latencySeconds;
    lines.push(`  floor               ${f.available}/${f.worlds} worlds' Deployments Available (${f.objectsPerWorld} objects each, ${f.concurrency} worlds at once)${f.errors ? `, ${f.errors} create errors: ${f.firstError}` : ''}`);
    lines.push(fl ? `  floor latency       p50 ${s(fl.p50)}  p95 ${s(fl.p95)}  p99 ${s(fl.p99)}  max ${s(fl.max)}` : '  floor latency       no world Available');
    lines.push(`  floor throughput    ${f.worldsPerSecond.toFixed(2)} worlds/s; creates done after ${s(f.createSeconds)}; client CPU ${s(f.clientCpuSeconds)}`);
    if (f.notAvailable.length) lines.push(`  floor stragglers    ${f.notAvailable.slice(0, 20).join(', ')}${f.notAvailable.length > 20 ? ', …' : ''}`);
  }
  lines.push(`  throughput          ${r.worldsPerSecond.toFixed(2)} worlds/s over ${s(r.durationSeconds)}`);
  if (r.ratios) lines.push(`  Anvil / floor       p50 ${r.ratios.p50 ?? 'n/a'}  p95 ${r.ratios.p95 ?? 'n/a'}  p99 ${r.ratios.p99 ?? 'n/a'}  throughput ${r.ratios.throughput ?? 'n/a'}`);
  const m = r.reconciler;
  if (!m.reachable) {
    lines.push(`  reconciler          metrics unavailable: ${m.error}`);
  } else {
    const verbs = m.apiRequestsByVerb ? ` (${Object.entries(m.apiRequestsByVerb).filter(([, n]) => n).map(([v, n]) => `${v} ${n}`).join(', ')})` : '';
    lines.push(`  reconcile errors    ${m.reconcileErrors ?? 'n/a (anvil_reconcile_total not exported)'}`);
    const codes = m.apiRequestsByCode ? `; by code ${Object.entries(m.apiRequestsByCode).filter(([, n]) => n).map(([c, n]) => `${c} ${n}`).join(', ')}` : '';
    lines.push(`  API requests/world  ${m.apiRequestsPerWorld ?? 'n/a (anvil_api_requests_total not exported)'}${verbs}${codes}`);
    if (m.apiWritesByKind) lines.push(`  writes by kind      ${Object.entries(m.apiWritesByKind).filter(([, n]) => n).map(([k, n]) => `${k} ${n}`).join(', ')}`);
    lines.push(`  reconciler CPU      ${m.cpuSeconds !== null ? `${s(m.cpuSeconds)} (${m.cpuSecondsPerWorld} s/world)` : 'n/a'}${m.lastApplySeconds !== null ? `; last apply ${s(m.lastApplySeconds)} after the first create` : ''}`);
    lines.push(`  reconciler memory   ${m.peakMemoryBytes !== null ? `${mib(m.peakMemoryBytes)} peak RSS` : 'n/a'}${m.peakQueueDepth !== null ? `; peak queue depth ${m.peakQueueDepth}` : ''}`);
    if (m.error) lines.push(`  warning: ${m.error}`);
  }
  if (r.cleanup.requested) lines.push(`  cleanup             ${r.cleanup.done ? 'done' : `${r.cleanup.remaining} worlds still present`}`);
  if (r.failed.length) lines.push(`  failed:`, ...r.failed.map(problem));
  if (r.timedOut.length) lines.push(`  not Running within ${r.timeoutSeconds}s:`, ...r.timedOut.map(problem));
  return `${lines.join('\n')}\n`;
}
