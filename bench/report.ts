/**
 * RESULTS.md sections for the cluster runs, the memory run, cost per world and the issue-9
 * targets, every figure read from results.json (the recorded runs), none typed by hand.
 */
import { ENTRYPOINT_FILES, measured, type ClusterRun, type Machine, type MeasuredRun, type MemoryFigures, type MemoryRun } from './cluster.js';
import type { Summary } from '../lib/loadtest/stats.js';

export const n = (v: number | null | undefined, d = 0): string =>
  v === null || v === undefined || Number.isNaN(v) ? 'n/a' : v === Number.POSITIVE_INFINITY ? '∞' : v.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });
const mb = (bytes: number | null | undefined) => (bytes === null || bytes === undefined ? 'n/a' : n(bytes / 2 ** 20, 1));
const ms = (s: number | null | undefined) => (s === null || s === undefined ? 'n/a' : n(s * 1000, 1));
const pct = (v: number) => `${n(Math.abs(v) * 100, 0)} %`;

export const machineLine = (m: Machine): string =>
  `${m.cpus} × ${m.cpuModel}, ${n(m.memoryGb, 1)} GB (${n(m.freeMemoryGb, 1)} GB free), load average ${m.loadAverage.map((v) => n(v, 2)).join(' / ')} (1/5/15 min) at the start (${m.startedAt.slice(0, 16).replace('T', ' ')} UTC), Node ${m.node}, revision ${m.revision ?? 'not recorded'}`;

const latency = (l: Summary | null) => (l ? [n(l.p50, 2), n(l.p95, 2), n(l.p99, 2), n(l.max, 2)] : ['n/a', 'n/a', 'n/a', 'n/a']);

function clusterRun(r: MeasuredRun): string[] {
  const t = r.loadTest;
  const f = t.floor;
  const m = t.reconciler;
  const md = [
    `### ${n(r.worlds)} worlds`,
    '',
    `Control plane ${r.kubernetes} with ${r.nodes} kwok nodes, reconciler \`--concurrency ${r.reconcileConcurrency}\`, game \`${t.game}\`, ${f ? `${f.objectsPerWorld} objects and ${f.kinds.Deployment ?? 0} Deployments per world` : 'no floor'}. Machine: ${machineLine(r.machine)}.` +
      (r.floorHold ? ` **The floor was measured by an invocation of its own** (\`--phase floor\`: a fresh control plane with the same configuration, instead of deleting the floor's namespace and waiting for its pods to go), just before Anvil's: ${r.floorHold.kubernetes}, ${r.floorHold.nodes} kwok nodes, machine: ${machineLine(r.floorHold.machine)}.` : ''),
    '',
    '| | Running / Available | p50 s | p95 s | p99 s | max s | worlds/s | last write s | API requests/world | client CPU s/world | peak RSS MB |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    `| Anvil | ${n(t.running)}/${n(t.worlds)} | ${latency(t.latencySeconds).join(' | ')} | ${n(t.worldsPerSecond, 2)} | ${n(m.lastApplySeconds, 1)} | ${n(m.apiRequestsPerWorld, 1)} | ${n(m.cpuSecondsPerWorld, 4)} | ${mb(m.peakMemoryBytes)} |`,
  ];
  if (f) {
    md.push(`| floor | ${n(f.available)}/${n(f.worlds)} | ${latency(f.latencySeconds).join(' | ')} | ${n(f.worldsPerSecond, 2)} | ${n(f.createSeconds, 1)} | ${n(f.requestsPerWorld, 1)} | ${n(f.clientCpuSeconds / f.worlds, 4)} | |`);
    const q = t.ratios;
    md.push(`| Anvil / floor | | ${n(q?.p50, 2)} | ${n(q?.p95, 2)} | ${n(q?.p99, 2)} | | ${n(q?.throughput, 2)} | | | | |`);
  }
  md.push('');
  md.push(`Latency: Anvil from each WorldInstance's create call to Running; the floor from the start of its phase (all worlds asked for at once) to the world's Deployments all Available. Last write: the reconciler's last apply (sampled every 0.5 s) or the floor's last create, after the start. Reconciler over the run: ${n(m.cpuSeconds, 1)} CPU s, requests by verb ${fmtCounts(m.apiRequestsByVerb)}, by code ${fmtCounts(m.apiRequestsByCode)}, ${n(m.reconcileErrors)} reconcile errors. Floor client: ${f ? `${n(f.clientCpuSeconds, 1)} CPU s, requests by code ${fmtCounts(f.requestsByCode)}, ${n(f.errors)} create errors${f.firstError ? ` (first: ${f.firstError})` : ''}` : 'n/a'}. Namespaces deleted and gone after: floor ${f ? `${n(f.cleanupSeconds, 1)} s` : 'n/a'}, Anvil ${r.cleanupSeconds === null ? 'not deleted (last count of the invocation: the control plane stopped)' : `${n(r.cleanupSeconds, 1)} s`}.`);
  md.push('');
  const stragglers = [...t.failed.map((w) => `${w.name} (${w.phase ?? 'no status'}${w.reason ? `, ${w.reason}` : ''})`), ...t.timedOut.map((w) => `${w.name} (${w.phase ?? 'no status'}${w.reason ? `, ${w.reason}` : ''})`)];
  if (stragglers.length) md.push(`Anvil stragglers (not Running within ${t.timeoutSeconds} s): ${stragglers.join(', ')}.`, '');
  if (f?.notAvailable.length) md.push(`Floor stragglers (Deployments not all Available within ${t.timeoutSeconds} s): ${f.notAvailable.join(', ')}.`, '');
  if (r.resync) md.push(resyncLine(r.resync, 'Running'), '');
  if (r.profile) {
    const p = r.profile;
    md.push(`CPU profile of the reconciler (\`--cpu-prof\`, the process of the load tests: its start, idle through the floor, Anvil's burst; not the restarted one of the resync window): ${n(p.busySeconds, 1)} s busy of ${n(p.seconds, 1)} s. By origin: ${p.byOrigin.map((o) => `${o.origin} ${n(o.percent, 1)} %`).join(', ')}.`, '');
    md.push('| function | where | self s | % of busy |', '|---|---|---:|---:|');
    for (const fr of p.topFrames) md.push(`| \`${fr.function}\` | ${fr.location} | ${n(fr.selfSeconds, 2)} | ${n(fr.percent, 1)} |`);
    md.push('');
  }
  return md;
}

const fmtCounts = (c: Record<string, number> | null | undefined) =>
  c ? Object.entries(c).filter(([, v]) => v).map(([k, v]) => `${k} ${n(v)}`).join(', ') || 'none' : 'n/a';

function resyncLine(r: ClusterRun['resync'] & object, state: string): string {
  const h = r.worldReconcileSeconds;
  const how = r.resyncSeconds > 0 ? `${r.windowSeconds} s window (resync every ${r.resyncSeconds} s)` : `one resync asked for by SIGHUP, ${n(r.windowSeconds, 1)} s until every world was passed again`;
  return `No-op resync: ${n(r.worlds)} ${state} worlds, nothing changed, ${how}: ${n(r.reconciles)} reconciles, **${n(r.writes)} write requests** (requests by verb: ${fmtCounts(r.requestsByVerb)}; by code: ${fmtCounts(r.requestsByCode)}); world reconcile passes ${n(h.count)}, p50 ${ms(h.p50)} ms, p99 ${ms(h.p99)} ms (histogram estimate; slowest bucket ≤ ${h.maxBucket === null ? 'n/a' : `${ms(h.maxBucket)} ms`}); reconciler CPU ${n(r.cpuSeconds, 1)} s in the window (${n(r.cpuMsPerReconcile, 2)} ms per pass, including the relists), ${n(r.rssMb, 1)} MB RSS, ${n(r.heapUsedMb, 1)} MB heap used at the end.`;
}

export function clusterSection(runs: readonly ClusterRun[]): string[] {
  const md = ['## Cluster: Anvil next to the control plane\'s floor (`anvil load-test`)', ''];
  for (const r of [...runs].sort((a, b) => a.worlds - b.worlds)) {
    if (r.loadTest) md.push(...clusterRun(r as MeasuredRun));
    else md.push(`### ${n(r.worlds)} worlds`, '', `Only the floor is measured so far (\`--phase floor\`, ${machineLine(r.machine)}); Anvil's phase is not.`, '');
  }
  return md;
}

/** A run's V8/Node flags for the reconciler, as a table cell. */
const entrypoint = (r: MemoryRun) => `\`${ENTRYPOINT_FILES[r.entrypoint ?? 'package']}\``;
const flags = (r: MemoryRun) => (r.nodeFlags?.length ? r.nodeFlags.map((f) => `\`${f}\``).join(' ') : '(none: V8 defaults)');

export function memorySection(m: MemoryRun): string[] {
  const runs = m.runs ?? [m];
  const row = (r: MemoryRun) =>
    `| ${n(r.worlds)} | ${fmtCounts(r.phases)} | ${n(r.settleSeconds, 1)} | ${n(r.apiRequestsPerWorld, 1)} | ${n(r.cpuSecondsPerWorld, 4)} | ${n(r.afterBurst.rssMb, 1)} | ${n(r.afterBurst.heapUsedMb, 1)} | ${n(r.peakRssMb, 1)} | ${n(r.resync.rssMb, 1)} | ${n(r.resync.heapUsedMb, 1)} | ${flags(r)} | ${entrypoint(r)} | ${r.machine.revision ?? ''} |`;
  return [
    `## Reconciler memory at ${runs.map((r) => n(r.worlds)).join(' and ')} worlds (without nodes)`,
    '',
    `Control plane ${m.kubernetes} **without nodes** (no controller manager, scheduler or kwok: no ReplicaSets or pods, worlds stay ${Object.keys(m.phases).join('/')}; the reconciler caches the same objects as with nodes), reconciler \`--concurrency ${m.reconcileConcurrency}\`. Machine (${n(m.worlds)} worlds): ${machineLine(m.machine)}.`,
    '',
    ...runs.filter((r) => r.reconciled < r.worlds).map((r) => `**Only ${n(r.reconciled)} of ${n(r.worlds)} worlds were reconciled within the run's deadline (${n(r.settleSeconds, 0)} s)**: its figures are for that state, not for ${n(r.worlds)} reconciled worlds.\n`),
    '| worlds | phases | reconciled in s | API requests/world | CPU s/world | RSS after burst MB | heap after burst MB | peak RSS MB | RSS after resync MB | heap after resync MB | reconciler node flags | reconciler CLI | revision |',
    '|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---|',
    ...runs.map(row),
    '',
    ...growthLines(runs),
    resyncLine(m.resync, m.reconciled < m.worlds ? 'partly reconciled (so not a no-op)' : 'converged'),
    '',
  ];
}

/**
 * The heapflags case: one world count, the same burst and SIGHUP resync as the memory case,
 * the reconciler's process started with each set of V8/Node flags in turn (one run each, one
 * after the other on one machine). What garbage collection settings do to the RSS, and what
 * they cost in CPU.
 */
export function heapFlagsSection(runs: readonly MemoryRun[]): string[] {
  if (runs.length === 0) return [];
  const row = (r: MemoryRun) =>
    `| ${flags(r)} | ${n(r.reconciled)}/${n(r.worlds)} | ${n(r.settleSeconds, 1)} | ${n(r.cpuSecondsPerWorld, 4)} | ${n(r.peakRssMb, 1)} | ${n(r.afterBurst.rssMb, 1)} | ${n(r.afterBurst.heapUsedMb, 1)} | ${n(r.resync.rssMb, 1)} | ${n(r.resync.cpuMsPerReconcile, 2)} | ${ms(r.resync.worldReconcileSeconds.p99)} | ${r.machine.loadAverage.map((l) => n(l, 2)).join('/')} |`;
  return [
    `## V8 heap settings for the reconciler, measured (${n(runs[0]!.worlds)} worlds, without nodes)`,
    '',
    `\`npm run bench -- --only heapflags\`: the memory case's burst and SIGHUP resync, once per set of flags given to the reconciler's \`node\` process, one after the other on one machine (${machineLine(runs[0]!.machine)}). RSS is the process's, from its /metrics; CPU is the reconciler's over the burst.`,
    '',
    '| flags | reconciled | reconciled in s | CPU s/world | peak RSS MB | RSS after burst MB | heap after burst MB | RSS after resync MB | resync CPU ms/pass | resync p99 ms | load average at start |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|',
    ...runs.map(row),
    '',
  ];
}

/**
 * The entrypoint case: the same burst and SIGHUP resync as the memory case, once with the
 * reconciler run as `npx anvil` runs it (bin/anvil.js on node_modules) and once as the image
 * runs it (its bundle), one after the other, the same flags: what loading some 1,900 modules costs.
 */
export function entrypointSection(runs: readonly MemoryRun[]): string[] {
  if (runs.length === 0) return [];
  const idle = (r: MemoryRun, f: (m: MemoryFigures) => number | undefined) => (r.idle ? n(f(r.idle), 1) : '');
  const row = (r: MemoryRun) =>
    `| ${entrypoint(r)} | ${n(r.reconciled)}/${n(r.worlds)} | ${idle(r, (m) => m.rssMb)} | ${idle(r, (m) => m.heapUsedMb)} | ${n(r.afterBurst.rssMb, 1)} | ${n(r.afterBurst.heapUsedMb, 1)} | ${n(r.peakRssMb, 1)} | ${n(r.resync.rssMb, 1)} | ${n(r.cpuSecondsPerWorld, 4)} | ${ms(r.resync.worldReconcileSeconds.p99)} | ${r.machine.loadAverage.map((l) => n(l, 2)).join('/')} |`;
  return [
    `## The image's entrypoint: the reconciler bundled or on node_modules (${n(runs[0]!.worlds)} worlds, without nodes)`,
    '',
    `\`npm run bench -- --only entrypoint\`: the memory case's burst and SIGHUP resync, once per CLI the reconciler runs, one after the other on one machine (${machineLine(runs[0]!.machine)}), each with the flags its Deployment runs with (${flags(runs[0]!)}). Idle is the reconciler with its caches synced before the first world.`,
    '',
    '| reconciler CLI | reconciled | idle RSS MB | idle heap used MB | RSS after burst MB | heap after burst MB | peak RSS MB | RSS after resync MB | CPU s/world | resync p99 ms | load average at start |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|',
    ...runs.map(row),
    '',
  ];
}

const GROWTH_FIGURES: [string, (r: MemoryRun) => number][] = [
  ['RSS after the burst', (r) => r.afterBurst.rssMb],
  ['heap used after the burst', (r) => r.afterBurst.heapUsedMb],
  ['peak RSS', (r) => r.peakRssMb],
  ['RSS after the relist and resync', (r) => r.resync.rssMb],
];

/** Runs comparable with `r`: the same reconciler CLI and node flags (a slope across them would measure the change, not the worlds). */
const comparableWith = (r: MemoryRun) => (o: MemoryRun) => entrypoint(o) === entrypoint(r) && flags(o) === flags(r);

/** KB per world that a figure grew by between two runs (what both share, the idle process, drops out). */
const growthPerWorld = (a: MemoryRun, b: MemoryRun, f: (r: MemoryRun) => number) => ((f(b) - f(a)) * 1024) / (b.worlds - a.worlds);

/**
 * Growth per world between each two world counts measured one after the other (1,000 → 5,000
 * → 10,000): equal slopes are linear growth. Without a 10,000-world run, where the last slope
 * leads at 10,000.
 */
function growthLines(runs: readonly MemoryRun[]): string[] {
  const all = runs.filter((r) => r.reconciled === r.worlds);
  if (all.length === 0) return [];
  const done = all.filter(comparableWith(all.at(-1)!));
  const skipped = all.filter((r) => !done.includes(r)).map((r) => n(r.worlds));
  const note = skipped.length ? [`(The run${skipped.length > 1 ? 's' : ''} of ${skipped.join(', ')} worlds ran another reconciler CLI or other node flags than the largest, so no growth is read across them.)`, ''] : [];
  if (done.length < 2) return note;
  const last = done.at(-1)!;
  const extrapolate = last.worlds < 10_000;
  const interval = (a: MemoryRun, b: MemoryRun) => {
    const at10k = (f: (r: MemoryRun) => number) => f(b) + (growthPerWorld(a, b, f) * (10_000 - b.worlds)) / 1024;
    const figures = GROWTH_FIGURES.map(([name, f]) => `${name} ${n(growthPerWorld(a, b, f), 1)} KB/world${extrapolate && b === last ? ` (at 10,000 worlds, if linear: ≈ ${n(at10k(f), 0)} MB)` : ''}`);
    return `- ${n(a.worlds)} → ${n(b.worlds)} worlds: ${figures.join('; ')}.`;
  };
  return [
    `Growth per world between the world counts (the difference of two runs over the worlds between them, so what both share, the idle process and the platform, drops out)${extrapolate ? '; no 10,000-world run is recorded, so the last slope is extended to 10,000' : ''}:`,
    '',
    ...done.slice(1).map((b, i) => interval(done[i]!, b)),
    '',
    ...note,
  ];
}

export function costSection(runs: readonly ClusterRun[], memory: MemoryRun | undefined): string[] {
  const md = ['## Cost per world', '', '| worlds | Anvil API requests/world | reconciler CPU s/world | floor requests/world | floor client CPU s/world |', '|---:|---:|---:|---:|---:|'];
  for (const r of measured(runs).sort((a, b) => a.worlds - b.worlds)) {
    const f = r.loadTest.floor;
    md.push(`| ${n(r.worlds)} | ${n(r.loadTest.reconciler.apiRequestsPerWorld, 1)} | ${n(r.loadTest.reconciler.cpuSecondsPerWorld, 4)} | ${f ? n(f.requestsPerWorld, 1) : 'n/a'} | ${f ? n(f.clientCpuSeconds / f.worlds, 4) : 'n/a'} |`);
  }
  if (memory) md.push(`| ${n(memory.worlds)} (no nodes) | ${n(memory.apiRequestsPerWorld, 1)} | ${n(memory.cpuSecondsPerWorld, 4)} | n/a | n/a |`);
  md.push('');
  return md;
}

type Verdict = [target: string, measured: string, verdict: string, bound: string];

function latencyTarget(r: MeasuredRun | undefined): Verdict {
  const t = r?.loadTest;
  const a = t?.latencySeconds?.p99;
  const f = t?.floor?.latencySeconds?.p99;
  const q = t?.ratios?.p99;
  if (!t || a === undefined || f === undefined || q === null || q === undefined) return ['100 worlds: Anvil create→Running p99 ≤ 1.2 × floor p99', 'not measured', 'not measured', ''];
  const ok = q <= 1.2;
  return [
    '100 worlds: Anvil create→Running p99 ≤ 1.2 × floor p99',
    `${n(a, 2)} s vs ${n(f, 2)} s: ${n(q, 2)} ×`,
    ok ? `met (${pct((1.2 - q) / 1.2)} to spare)` : `**not met**: ${n(q, 2)} × instead of ≤ 1.2 × (${n(a - 1.2 * f, 2)} s over)`,
    bounds(r!),
  ];
}

/** What the run's own figures say bounds Anvil's time: its writes, its CPU, or the control plane after them. */
function bounds(r: MeasuredRun): string {
  const t = r.loadTest;
  const m = t.reconciler;
  const f = t.floor;
  const after = (end: number, write: number | null | undefined) => (write === null || write === undefined ? 'n/a' : n(end - write, 1));
  const top = r.profile?.topFrames[0];
  const parts = [
    `last apply at ${n(m.lastApplySeconds, 1)} s (floor's last create ${f ? n(f.createSeconds, 1) : 'n/a'} s), last world Running at ${n(t.durationSeconds, 1)} s (floor ${f ? n(f.durationSeconds, 1) : 'n/a'} s): ${after(t.durationSeconds, m.lastApplySeconds)} s after the last write (floor ${f ? after(f.durationSeconds, f.createSeconds) : 'n/a'} s)`,
    ...(m.error ? [`the reconciler's counters could not be read at the end of the run (${m.error})`] : []),
    ...(top ? [`CPU profile: \`${top.function}\` (${top.location}) ${n(top.percent, 1)} % of the reconciler's busy time`] : []),
    `reconciler ${n(m.cpuSeconds, 1)} CPU s over ${n(t.durationSeconds, 1)} s (${n(m.cpuSeconds !== null && t.durationSeconds > 0 ? (100 * m.cpuSeconds) / t.durationSeconds : null, 0)} % of one of ${r.machine.cpus} cores) vs the floor client's ${f ? n(f.clientCpuSeconds, 1) : 'n/a'} CPU s`,
    `${n(m.apiRequestsPerWorld, 1)} requests/world vs the floor's ${f ? n(f.requestsPerWorld, 1) : 'n/a'} (Anvil's by verb: ${fmtCounts(m.apiRequestsByVerb)}; a get before a create, in runs of revisions before the metadata-only caches of foreign objects, was the ownership check of an object not in the caches: lib/reconciler/worlds/apply.ts)`,
    `load average at start ${r.machine.loadAverage.map((v) => n(v, 2)).join('/')}`,
  ];
  return parts.join('; ');
}

/** Anvil's writes per world by verb and kind (`create Event 1.0`), when the run counted them. */
function writesPerWorld(r: MeasuredRun): string {
  const by = r.loadTest.reconciler.apiWritesByKind;
  if (!by) return '';
  const per = Object.entries(by)
    .filter(([, c]) => c > 0)
    .map(([k, c]) => `${k} ${n(c / r.worlds, 2)}`)
    .join(', ');
  return `; writes per world by verb and kind: ${per}`;
}

/** Issue 19: API requests per world ≤ 1.1 × the floor's (its 18 objects' creates). */
function requestsTarget(r: MeasuredRun | undefined): Verdict {
  const name = `${r ? n(r.worlds) : '?'} worlds: API requests per world ≤ 1.1 × floor`;
  const a = r?.loadTest.reconciler.apiRequestsPerWorld;
  const f = r?.loadTest.floor?.requestsPerWorld;
  if (!r || a === undefined || a === null || !f) return [name, 'not measured', 'not measured', ''];
  const q = a / f;
  return [
    name,
    `${n(a, 1)} vs ${n(f, 1)}: ${n(q, 2)} ×`,
    q <= 1.1 ? `met (${pct((1.1 - q) / 1.1)} to spare)` : `**not met**: ${n(q, 2)} × instead of ≤ 1.1 × (${n(a - 1.1 * f, 1)} requests/world over)`,
    `Anvil's by verb: ${fmtCounts(r.loadTest.reconciler.apiRequestsByVerb)}${writesPerWorld(r)} (the floor only creates the objects; Anvil also writes each world's status, and Events${r.loadTest.reconciler.apiWritesByKind ? '' : ', and in runs before its status recorded it, its revision annotation'})`,
  ];
}

function throughputTarget(r: MeasuredRun | undefined): Verdict {
  const t = r?.loadTest;
  const name = '1,000 worlds: all Running; throughput ≥ 0.9 × floor';
  if (!t) return [name, 'not measured', 'not measured', ''];
  const q = t.ratios?.throughput;
  const all = t.running === t.worlds;
  const ok = all && q !== null && q !== undefined && q >= 0.9;
  const how = [
    all ? 'all Running' : `**${n(t.worlds - t.running)} not Running**`,
    q === null || q === undefined ? 'no ratio' : q >= 0.9 ? `throughput ${n(q, 2)} × (${pct((q - 0.9) / 0.9)} over 0.9)` : `throughput ${n(q, 2)} × (**missed by ${pct((0.9 - q) / 0.9)}**)`,
  ].join('; ');
  return [name, `${n(t.running)}/${n(t.worlds)} Running; ${n(t.worldsPerSecond, 2)} vs ${n(t.floor?.worldsPerSecond, 2)} worlds/s`, ok ? `met (${how})` : `**not met** (${how})`, bounds(r!)];
}

function memoryTargets(m: MemoryRun | undefined): Verdict[] {
  if (!m) return [['5,000 worlds: reconciler < 300 MB RSS', 'not measured', 'not measured', ''], ['5,000 worlds: converged world reconcile p99 < 100 ms', 'not measured', 'not measured', '']];
  const worst = Math.max(m.afterBurst.rssMb, m.peakRssMb);
  const relisted = m.resync.rssMb;
  const p99 = m.resync.worldReconcileSeconds.p99;
  const scale = m.worlds < 5000 || m.reconciled < m.worlds ? ` (measured with ${n(m.reconciled)} of ${n(m.worlds)} worlds reconciled, not 5,000)` : '';
  return [
    [
      `5,000 worlds: reconciler peak RSS < 300 MB over the burst${scale}`,
      `${n(m.afterBurst.rssMb, 1)} MB after the burst, ${n(m.peakRssMb, 1)} MB peak (heap used ${n(m.afterBurst.heapUsedMb, 1)} MB)`,
      worst < 300 ? `met (${pct((300 - worst) / 300)} to spare at the peak)` : `**not met**: peak ${pct((worst - 300) / 300)} over (${n(worst - 300, 1)} MB)`,
      memoryBound(m),
    ],
    [
      `5,000 worlds: reconciler RSS < 350 MB after a relist (SIGHUP)${scale}`,
      `${n(relisted, 1)} MB after the relist and resync (heap used ${n(m.resync.heapUsedMb, 1)} MB)`,
      relisted < 350 ? `met (${pct((350 - relisted) / 350)} to spare)` : `**not met**: ${pct((relisted - 350) / 350)} over (${n(relisted - 350, 1)} MB)`,
      `the relist and resync added ${n(relisted - m.afterBurst.rssMb, 1)} MB RSS to the ${n(m.afterBurst.rssMb, 1)} MB after the burst (heap reserved ${n(m.afterBurst.heapTotalMb, 1)} → ${n((m.resync as { heapTotalMb?: number }).heapTotalMb, 1)} MB); a relist runs in place, item by item (lib/reconciler/runtime/informer.ts, listItems.ts): an unchanged object stays the cached one, any other is trimmed to its compact record as it is read, and no second cache is built, so what the relist leaves is garbage V8 has not yet collected, not objects held; the bound is the RSS after the burst (row above)`,
    ],
    [
      `5,000 worlds: converged world reconcile p99 < 100 ms${scale}`,
      p99 === null ? 'no pass observed' : `p99 ${ms(p99)} ms over ${n(m.resync.worldReconcileSeconds.count)} passes`,
      p99 === null ? 'not measured' : p99 < 0.1 ? `met (${pct((0.1 - p99) / 0.1)} to spare)` : `**not met**: missed by ${pct((p99 - 0.1) / 0.1)}`,
      `histogram estimate of wall time (slowest bucket ≤ ${ms(m.resync.worldReconcileSeconds.maxBucket)} ms); reconciler CPU ${n(m.resync.cpuMsPerReconcile, 2)} ms per pass (relists included) with ${m.reconcileConcurrency} passes in flight on one event loop, so a pass waits for the others' CPU: ≈ ${n(m.resync.cpuMsPerReconcile === null ? null : m.resync.cpuMsPerReconcile * m.reconcileConcurrency, 0)} ms; ${n(m.resync.writes)} writes in that resync`,
    ],
  ];
}

/** What the memory run's own figures say the RSS is made of: the idle process, and what each world adds. */
function memoryBound(m: MemoryRun): string {
  const perWorld = (after: number, before: number) => n(((after - before) * 1024) / Math.max(m.reconciled, 1), 1);
  const idle = m.idle
    ? `idle reconciler (caches synced, no world) ${n(m.idle.rssMb, 1)} MB RSS, ${n(m.idle.heapUsedMb, 1)} MB heap used; the burst added ≈ ${perWorld(m.afterBurst.rssMb, m.idle.rssMb)} KB RSS and ≈ ${perWorld(m.afterBurst.heapUsedMb, m.idle.heapUsedMb)} KB heap used per reconciled world, so at this per-world cost 300 MB RSS holds ≈ ${n(Math.max(0, ((300 - m.idle.rssMb) * m.reconciled) / Math.max(m.afterBurst.rssMb - m.idle.rssMb, 1e-9)), 0)} worlds`
    : `heap used ${n(m.afterBurst.heapUsedMb, 1)} MB after the burst for ${n(m.reconciled)} reconciled worlds: ≈ ${n((m.afterBurst.heapUsedMb * 1024) / Math.max(m.reconciled, 1), 0)} KB of heap per world`;
  const a = m.afterBurst;
  const split = a.heapTotalMb !== undefined ? `; after the burst V8 had reserved ${n(a.heapTotalMb, 1)} MB of heap (${n(a.heapUsedMb, 1)} MB used) and Node held ${n(a.externalMb, 1)} MB outside it, so ${n(a.rssMb - a.heapTotalMb - (a.externalMb ?? 0), 1)} MB of the RSS is neither (code, native allocations)` : '';
  return `${idle}${split}; heap used counts garbage not yet collected (a heap snapshot, which collects first, holds less: see the notes); the informer caches hold every object the reconciler wrote, trimmed (lib/reconciler/runtime/trim.ts); owned objects known good are compact records (content digest) and foreign objects metadata-only records; the resync (SIGHUP) relists the caches one at a time, in place and item by item`;
}

/** Issue 19: 10,000 worlds without nodes all reconciled, RSS and converged p99 reported, growth per world shown linear. */
function tenThousandTarget(runs: readonly MemoryRun[]): Verdict {
  const name = '10,000 worlds (without nodes): all reconciled; RSS and converged reconcile p99 reported; growth per world linear';
  const m = runs.find((r) => r.worlds === 10_000);
  if (!m) return [name, 'not measured', 'not measured', ''];
  const done = runs.filter((r) => r.reconciled === r.worlds && r.worlds < 10_000).filter(comparableWith(m));
  const before = done.at(-1);
  const first = done[0];
  const p99 = m.resync.worldReconcileSeconds.p99;
  const measuredText = `${n(m.reconciled)}/${n(m.worlds)} reconciled in ${n(m.settleSeconds, 0)} s; RSS ${n(m.afterBurst.rssMb, 1)} MB after the burst, ${n(m.peakRssMb, 1)} MB peak, ${n(m.resync.rssMb, 1)} MB after a relist; converged reconcile p99 ${p99 === null ? 'not observed' : `${ms(p99)} ms`}`;
  if (m.reconciled < m.worlds || !before || !first || before === first) return [name, measuredText, m.reconciled < m.worlds ? `**not met**: ${n(m.worlds - m.reconciled)} worlds not reconciled within the run` : 'growth not shown (needs two smaller counts run with the same reconciler CLI and flags)', ''];
  const rss = (r: MemoryRun) => r.afterBurst.rssMb;
  const [early, late] = [growthPerWorld(first, before, rss), growthPerWorld(before, m, rss)];
  const ratio = late / early;
  const linear = ratio >= 0.75 && ratio <= 1.25;
  return [
    name,
    measuredText,
    linear ? `met (RSS growth per world ${n(late, 1)} KB from ${n(before.worlds)} to 10,000 vs ${n(early, 1)} KB from ${n(first.worlds)} to ${n(before.worlds)}: ${n(ratio, 2)} ×, linear taken as within 0.75–1.25 ×)` : `**not met**: growth per world ${n(late, 1)} KB from ${n(before.worlds)} to 10,000 vs ${n(early, 1)} KB below: ${n(ratio, 2)} × (linear: within 0.75–1.25 ×)`,
    `runs of ${runs.map((r) => n(r.worlds)).join(', ')} worlds, each on a control plane of its own (revisions ${[...new Set(runs.map((r) => r.machine.revision ?? '?'))].join(', ')}); the per-world slopes are in the memory section`,
  ];
}

function resyncTarget(r: MeasuredRun | undefined): Verdict {
  const name = 'no-op resync at 1,000 worlds: 0 writes';
  if (!r?.resync) return [name, 'not measured', 'not measured', ''];
  return [name, `${n(r.resync.writes)} writes in ${r.resync.windowSeconds} s, ${n(r.resync.reconciles)} reconciles`, r.resync.writes === 0 ? 'met' : `**not met** (${n(r.resync.writes)} writes)`, `requests by verb: ${fmtCounts(r.resync.requestsByVerb)}`];
}

export function targetsSection(runs: readonly ClusterRun[], memory: MemoryRun | undefined): string[] {
  const at = (w: number) => measured(runs).find((r) => r.worlds === w);
  const rows: Verdict[] = [latencyTarget(at(100)), throughputTarget(at(1000)), requestsTarget(at(100)), requestsTarget(at(1000)), ...memoryTargets(memory), tenThousandTarget(memory?.runs ?? []), resyncTarget(at(1000))];
  return [
    '## Targets (issues 9 and 19; benchmarks, not tests)',
    '',
    '| target | measured | verdict | what bounds it (figures of the same run) |',
    '|---|---|---|---|',
    ...rows.map((r) => `| ${r.join(' | ')} |`),
    '',
  ];
}

/** A heap snapshot breakdown (bench/heapsnapshot.ts --record), as results.json holds it. */
export interface HeapBreakdown {
  revision: string;
  worlds: number;
  liveIdleMb: number;
  liveAfterBurstMb: number;
  liveAfterRelistMb?: number;
  kbPerWorld: number;
  cachesKbPerWorld: number;
  caches: { path: string; kbPerWorld: number }[];
  holders: { holder: string; kbPerWorld: number }[];
  idleByKindMb: { kind: string; mb: number }[];
}

/** Where the heap goes, from heap snapshots (which collect garbage first: live objects only). */
export function heapBreakdownSection(b: HeapBreakdown | undefined): string[] {
  if (!b) return [];
  const kind = (p: string) => p.split('/').at(-1);
  const rest = b.kbPerWorld - b.cachesKbPerWorld - b.holders.reduce((s, h) => s + h.kbPerWorld, 0);
  return [
    `### Where the heap goes (heap snapshots, ${n(b.worlds)} worlds, revision ${b.revision})`,
    '',
    `Heap snapshots of the reconciler (\`npm run bench -- --only memory --memory-worlds ${b.worlds} --heap-snapshot\`, read by \`bench/heapsnapshot.ts --record\`) before the burst, after it and after the relist and resync. A snapshot collects garbage first: these are live objects, unlike heap used above (and writing a snapshot raises the process's RSS, so such a run's RSS is not recorded as a figure). Live heap ${n(b.liveIdleMb, 1)} MB idle, ${n(b.liveAfterBurstMb, 1)} MB after the burst${b.liveAfterRelistMb !== undefined ? `, ${n(b.liveAfterRelistMb, 1)} MB after the relist and resync (${n(((b.liveAfterRelistMb - b.liveAfterBurstMb) * 1024) / b.worlds, 1)} KB per world left by the relist)` : ''}: **${n(b.kbPerWorld, 1)} KB per world**, of which the informer caches ${n(b.cachesKbPerWorld, 1)} KB (${b.caches.map((c) => `${kind(c.path)} ${n(c.kbPerWorld, 2)}`).join(', ')}), ${b.holders.map((h) => `${h.holder} ${n(h.kbPerWorld, 2)}`).join(', ')} KB beyond the caches, and ${n(rest, 1)} KB not attributed to one of these (compiled code, timers, the queue, metrics). Idle, the heap is mostly the modules' source text and code: ${b.idleByKindMb.map((k) => `${k.kind} ${n(k.mb, 1)} MB`).join(', ')}.`,
    '',
  ];
}
