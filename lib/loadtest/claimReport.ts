/** The human-readable report of a claim load test (the JSON one is the result object itself). */
import type { ClaimLoadTestResult } from './claims.js';

const ms = (s: number) => `${(s * 1000).toFixed(1)}ms`;

export function formatClaimReport(r: ClaimLoadTestResult): string {
  const lines: string[] = [];
  lines.push(`claim load test ${r.runId}: ${r.claims} claims on pool ${r.namespace}/${r.pool}, concurrency ${r.concurrency}`);
  lines.push(`  Bound               ${r.bound}/${r.claims}${r.failed.length ? `, ${r.failed.length} failed` : ''}${r.lost.length ? `, ${r.lost.length} lost` : ''}`);
  const l = r.latencySeconds;
  lines.push(l ? `  created->Bound      p50 ${ms(l.p50)}  p95 ${ms(l.p95)}  p99 ${ms(l.p99)}  max ${ms(l.max)} (client: create request to Bound seen on the watch)` : '  created->Bound      no claim was bound');
  const s = r.serverLatencySeconds;
  lines.push(s ? `  server-side         mean ${ms(s.mean)}  p50 ${ms(s.p50)}  p95 ${ms(s.p95)}  p99 ${ms(s.p99)} (anvil_claim_duration_seconds: first seen by the reconciler to Bound, ${s.count} claims, bucket estimates)` : `  server-side         n/a${r.serverMetricsError ? ` (${r.serverMetricsError})` : ''}`);
  lines.push(`  throughput          ${r.claimsPerSecond.toFixed(1)} claims/s over ${r.durationSeconds.toFixed(3)}s`);
  const f = r.raw;
  if (f) {
    const fl = f.latencySeconds;
    lines.push(`  floor (raw PATCH)   ${f.patchesPerSecond.toFixed(1)} PATCHes/s${fl ? `, p50 ${ms(fl.p50)}  p99 ${ms(fl.p99)}` : ''}${f.errors ? `, ${f.errors} errors: ${f.firstError}` : ''}`);
    lines.push(`  ratios              claims/s ÷ PATCHes/s ${r.ratios.throughput ?? 'n/a'}; claim p50 ÷ PATCH p50 ${r.ratios.p50 ?? 'n/a'}`);
  }
  lines.push(`  double bindings     ${r.doubleBindings.count}${r.doubleBindings.count ? `: ${[...r.doubleBindings.worlds.map((w) => `world ${w.world} <- ${w.claims.join(', ')}`), ...r.doubleBindings.claims.map((c) => `claim ${c.claim} -> ${c.worlds.join(', ')}`)].join('; ')}` : ''}`);
  if (r.relabelledWorlds.length) lines.push(`  relabelled worlds   ${r.relabelledWorlds.map((w) => `${w.world} (${w.claims.join(' -> ')})`).join(', ')} (reservations the reconciler undid)`);
  if (r.mismatched.length) lines.push(`  mismatched          ${r.mismatched.join(', ')} (Bound, but their world does not carry their claim label)`);
  lines.push(`  refill              ${r.refill.reached ? `back to ${r.refill.buffer} ready in ${r.refill.seconds}s after the last binding` : `not back to ${r.refill.buffer} ready in time`} (${r.refill.readyAtLastBinding} ready at the last binding)`);
  if (r.cleanup.requested) lines.push(`  cleanup             ${r.cleanup.done ? 'done' : `${r.cleanup.remaining} claims still present`}`);
  if (r.failed.length) lines.push('  failed:', ...r.failed.map((p) => `    ${p.name}: ${p.reason}${p.message ? `: ${p.message}` : ''}`));
  if (r.lost.length) lines.push('  lost (neither Bound nor Failed):', ...r.lost.map((n) => `    ${n}`));
  return `${lines.join('\n')}\n`;
}
