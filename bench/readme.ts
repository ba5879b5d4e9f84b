/**
 * The README's figure line, generated from bench/results.json and written between the
 * markers `<!-- bench-figures -->` and `<!-- /bench-figures -->`:
 *   tsx bench/readme.ts            # rewrite README.md from bench/results.json
 * (bench/run.ts calls it after every run).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { measured, type ClusterRun, type MemoryRun } from './cluster.js';
import { n } from './report.js';

const START = '<!-- bench-figures -->';
const END = '<!-- /bench-figures -->';

interface ResultsLike {
  resolver?: { size: number; medianMs: number; maxRssMb: number; bindings?: unknown }[];
  synth?: { size: number; medianMs: number; maxRssMb: number }[];
  cluster?: ClusterRun[] | { error: string };
  memory?: MemoryRun | { error: string };
}

export function figureLine(r: ResultsLike): string {
  const parts: string[] = [];
  const res = r.resolver?.find((c) => c.size === 1000);
  if (res) parts.push(`resolving 1,000 modules ${n(res.medianMs, 0)} ms (${n(res.maxRssMb, 0)} MB peak RSS)`);
  const syn = r.synth?.find((c) => c.size === 1000);
  if (syn) parts.push(`synth of 1,000 static worlds ${n(syn.medianMs / 1000, 1)} s (${n(syn.maxRssMb, 0)} MB)`);
  for (const c of Array.isArray(r.cluster) ? measured(r.cluster).sort((a, b) => a.worlds - b.worlds) : []) {
    const t = c.loadTest;
    const f = t.floor;
    parts.push(
      `${n(c.worlds)} worlds on the local control plane: ${n(t.running)}/${n(t.worlds)} Running, p50/p99 ${n(t.latencySeconds?.p50, 1)}/${n(t.latencySeconds?.p99, 1)} s ` +
        `(floor ${n(f?.latencySeconds?.p50, 1)}/${n(f?.latencySeconds?.p99, 1)} s, p99 ratio ${n(t.ratios?.p99, 2)}), ${n(t.worldsPerSecond, 2)} worlds/s (${n(t.ratios?.throughput, 2)} × the floor)` +
        (c.resync ? `, ${n(c.resync.writes)} writes on a no-op resync` : ''),
    );
  }
  const m = r.memory && !('error' in r.memory) ? r.memory : undefined;
  if (m) parts.push(`${n(m.worlds)} worlds without nodes${m.reconciled < m.worlds ? ` (only ${n(m.reconciled)} reconciled within the run)` : ''}: reconciler ${n(m.afterBurst.rssMb, 0)} MB RSS after the burst, ${n(m.resync.rssMb, 0)} MB after a resync, converged reconcile p99 ${n((m.resync.worldReconcileSeconds.p99 ?? NaN) * 1000, 1)} ms`);
  const machine = Array.isArray(r.cluster) ? r.cluster[0]?.machine : m?.machine;
  const on = machine ? ` on ${machine.cpus} cores` : '';
  return `Figures of the recorded runs${on} (generated from \`bench/results.json\`): ${parts.join('; ')}.`;
}

export function updateReadme(readmePath: string, results: ResultsLike): boolean {
  const text = readFileSync(readmePath, 'utf8');
  const a = text.indexOf(START);
  const b = text.indexOf(END);
  if (a < 0 || b < a) return false;
  const next = `${text.slice(0, a + START.length)}\n${figureLine(results)}\n${text.slice(b)}`;
  if (next !== text) writeFileSync(readmePath, next);
  return true;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  if (!updateReadme('README.md', JSON.parse(readFileSync('bench/results.json', 'utf8')) as ResultsLike)) {
    process.stderr.write(`README.md has no ${START} … ${END} markers\n`);
    process.exitCode = 1;
  }
}
