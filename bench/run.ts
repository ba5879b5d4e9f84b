/**
 * `npm run bench`: the benchmark suite, not a test. Writes bench/results.json, bench/RESULTS.md
 * (every table and verdict generated from results.json, then bench/notes.md verbatim),
 * bench/startup-latency.svg and the README's figure line (bench/readme.ts).
 *
 *   npm run bench                                        # every case
 *   npm run bench -- --only resolver,synth               # some cases; the others keep their last results
 *   npm run bench -- --only cluster --worlds 100         # one world count; other counts keep theirs
 *   npm run bench -- --only cluster --worlds 1000 --cpu-prof
 *   npm run bench -- --only memory --memory-worlds 5000     # and 1,000 after it: growth per world (--memory-no-reference: not)
 *   npm run bench -- --only rollout                      # a rollout across 100 Running worlds, 20 claimed (bench/rollout.ts)
 *   npm run bench -- --only claims                       # issue 20 (bench/claims.ts): endpoint and WorldClaim vs raw PATCH; --sequential 50 --claims 100 --claim-concurrency 50 --poisson-rate 45 --poisson-seconds 60 --pool-buffer 150
 *
 *   npm run bench -- --only multicluster                 # two clusters beside one (bench/multicluster.ts): --multicluster-claims 40 --multicluster-worlds 2600
 *   npm run bench -- --only entrypoint                   # the reconciler on node_modules, then the image's bundle: --entrypoint-worlds 1000
 *
 *   npm run bench -- --regenerate                        # no run: rewrite the outputs from results.json
 *
 * Options: --only CASES (comma-separated names of CASES below), --runs N (resolver/synth),
 * --worlds N,N (cluster), --memory-worlds N (memory, default 5000), --game G (default
 * roguelike), --nodes N, --reconcile-concurrency N (default 16), --resync-seconds S (resync windows
 * and the memory case, default 30), --burst-resync-seconds S (cluster load tests, default 300), --timeout S (per phase, default 900), --cpu-prof (profile the reconciler), --heap-snapshot (memory: a heap snapshot of the
 * reconciler after the burst, in the logs directory), --phase
 * both|floor|anvil (cluster: a count too large for one hold of the control-plane lock is
 * measured in two invocations, the floor first; RESULTS.md says so).
 *
 * Resolver and synth cases each run in a child process (bench/case.ts) so that peak RSS is
 * per case; the time is the median of --runs runs in that process. Cluster and memory start
 * a control plane of their own: run them under the control-plane lock, one at a time.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { median, round } from '../lib/loadtest/stats.js';
import { latencyChart } from './chart.js';
import { ENTRYPOINT_FILES, machineNow, measured, runClusterCase, runMemoryCase, type ClusterOptions, type ClusterRun, type Machine, type MemoryRun } from './cluster.js';
import { claimsMarkdown, runClaimsBench, writeReadmeFigures, type ClaimsBenchResult } from './claims.js';
import { updateReadme } from './readme.js';
import { multiclusterMarkdown, runMulticlusterBench, type MulticlusterResult } from './multicluster.js';
import { rolloutCase } from './rollout.js';
import { clusterSection, costSection, entrypointSection, heapBreakdownSection, heapFlagsSection, machineLine, memorySection, n, targetsSection, type HeapBreakdown } from './report.js';
import { RECONCILER_NODE_FLAGS } from '../lib/render/platform.js';

function flag(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}
const has = (name: string) => process.argv.includes(`--${name}`);
const list = (s: string | undefined, dflt: number[]) => (s ? s.split(',').map(Number) : dflt);
const runs = Number(flag('runs') ?? 5);
const log = (line: string) => process.stderr.write(`[bench] ${line}\n`);

const OUT = 'bench';
const RESULTS = join(OUT, 'results.json');

interface CaseResult {
  size: number;
  runs: number;
  medianMs: number;
  maxRssMb: number;
  [k: string]: unknown;
}

/** results.json: the machine of the last invocation, and each case's last result by name. */
interface Results {
  machine: Machine;
  [caseName: string]: unknown;
}

/**
 * One part of the suite. `run` gets the previous result (to keep what it did not re-measure);
 * `markdown` renders its RESULTS.md section from the result alone. Another case (e.g.
 * bench/claims.ts) is one more entry in CASES.
 */
export interface BenchCase<R = unknown> {
  name: string;
  run(previous: R | undefined): Promise<R>;
  markdown(result: R, all: Results): string[];
}

function runCase(kind: 'resolver' | 'synth', size: number, n: number): Promise<Record<string, any>> {
  return new Promise((resolve, reject) => {
    const child = spawn(join('node_modules', '.bin', 'tsx'), [join('bench', 'case.ts'), kind, String(size), String(n)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(JSON.parse(out.trim().split('\n').pop()!)) : reject(new Error(`bench/case.ts ${kind} ${size} exited ${code}`))));
  });
}

async function resolverBench(): Promise<CaseResult[]> {
  const out: CaseResult[] = [];
  for (const size of [100, 1000, 10000]) {
    log(`resolver: ${size} modules`);
    const r = await runCase('resolver', size, size >= 10000 ? Math.min(runs, 3) : runs);
    out.push({
      size,
      runs: r.runs,
      modules: r.modules,
      requirements: r.requirements,
      games: r.games,
      worlds: r.worlds,
      bindings: r.bindings,
      catalogMs: round(median(r.catalogMs), 1),
      resolveMs: round(median(r.resolveMs), 1),
      medianMs: round(median(r.totalMs), 1),
      maxRssMb: round(r.maxRssMb, 1),
      startupRssMb: round(r.startupRssMb, 1),
      heapRetainedMb: round(r.heapUsedMb, 1),
    });
  }
  return out;
}

async function synthBench(): Promise<CaseResult[]> {
  const out: CaseResult[] = [];
  for (const size of [10, 100, 1000]) {
    log(`synth: ${size} static worlds`);
    const r = await runCase('synth', size, size >= 1000 ? Math.min(runs, 3) : runs);
    out.push({
      size,
      runs: r.runs,
      worlds: r.worlds,
      objects: r.objects,
      files: r.files,
      writtenMb: round(r.bytes / 2 ** 20, 1),
      medianMs: round(median(r.totalMs), 1),
      maxRssMb: round(r.maxRssMb, 1),
      startupRssMb: round(r.startupRssMb, 1),
      heapRetainedMb: round(r.heapUsedMb, 1),
    });
  }
  return out;
}


function clusterOptions(): ClusterOptions {
  const logDir = mkdtempSync(join(tmpdir(), 'anvil-bench-cluster-'));
  log(`cluster: logs in ${logDir}`);
  return {
    // command-path's world-store claims a PersistentVolume; the local control plane has no provisioner.
    game: flag('game') ?? 'roguelike',
    ...(flag('nodes') ? { nodes: Number(flag('nodes')) } : {}),
    reconcileConcurrency: Number(flag('reconcile-concurrency') ?? 16),
    resyncSeconds: Number(flag('resync-seconds') ?? 30),
    burstResyncSeconds: Number(flag('burst-resync-seconds') ?? 300),
    timeoutSeconds: Number(flag('timeout') ?? 900),
    cpuProfile: has('cpu-prof'),
    heapSnapshot: has('heap-snapshot'),
    logDir,
    log,
  };
}

const resolverCase: BenchCase<CaseResult[]> = {
  name: 'resolver',
  run: () => resolverBench(),
  markdown: (rows) => [
    '## Resolver (validate + buildCatalog + resolveAll)',
    '',
    '| modules | requirements | games | worlds | bindings | catalog ms | resolve ms | total ms | peak RSS MB | heap retained MB |',
    '|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...rows.map((c) => `| ${n(c.modules as number)} | ${n(c.requirements as number)} | ${n(c.games as number)} | ${n(c.worlds as number)} | ${n(c.bindings as number)} | ${n(c.catalogMs as number, 1)} | ${n(c.resolveMs as number, 1)} | ${n(c.medianMs, 1)} | ${n(c.maxRssMb, 1)} | ${n(c.heapRetainedMb as number, 1)} |`),
    '',
  ],
};

const synthCase: BenchCase<CaseResult[]> = {
  name: 'synth',
  run: () => synthBench(),
  markdown: (rows) => [
    '## Synth (AnvilApp of the example games + N static worlds, written to a temp dist/)',
    '',
    '| static worlds | objects | files | MB written | time ms | peak RSS MB |',
    '|---:|---:|---:|---:|---:|---:|',
    ...rows.map((c) => `| ${n(c.worlds as number)} | ${n(c.objects as number)} | ${n(c.files as number)} | ${n(c.writtenMb as number, 1)} | ${n(c.medianMs, 1)} | ${n(c.maxRssMb, 1)} |`),
    '',
  ],
};

/** Cluster runs by world count: a new run replaces the previous one of the same count only. */
const clusterCase: BenchCase<ClusterRun[]> = {
  name: 'cluster',
  run: async (previous) => {
    const phase = (flag('phase') ?? 'both') as 'both' | 'floor' | 'anvil';
    if (!['both', 'floor', 'anvil'].includes(phase)) throw new Error(`--phase ${phase}: use both, floor or anvil`);
    const before = Array.isArray(previous) ? previous : [];
    const fresh = await runClusterCase(list(flag('worlds'), [100, 1000]), clusterOptions(), phase, before);
    const kept = before.filter((p) => !fresh.some((f) => f.worlds === p.worlds));
    return [...kept, ...fresh].sort((a, b) => a.worlds - b.worlds);
  },
  markdown: (runs, all) => [...clusterSection(runs), ...costSection(runs, okMemory(all.memory))],
};

/**
 * The memory case keeps one run per world count (`runs`: growth per world is read between
 * them); its own figures are the 5,000-world run's, the one the targets are for (else the
 * largest). A run of one count above 1,000 also measures 1,000 worlds after it (its own
 * control plane), the reference the growth per world is read against; `--memory-worlds
 * 5000,2000` names the counts instead, `--memory-no-reference` measures only the one asked for.
 */
const MEMORY_REFERENCE_WORLDS = 1000;
function memoryCounts(): number[] {
  const counts = list(flag('memory-worlds'), [5000]);
  return counts.length === 1 && counts[0]! > MEMORY_REFERENCE_WORLDS && !has('memory-no-reference') ? [counts[0]!, MEMORY_REFERENCE_WORLDS] : counts;
}

const memoryCase: BenchCase<MemoryRun> = {
  name: 'memory',
  run: async (previous) => {
    let runs = previous ? (previous.runs ?? [previous]) : [];
    let measuredAny = false;
    for (const worlds of memoryCounts()) {
      try {
        const fresh = await runMemoryCase(worlds, clusterOptions());
        runs = [...runs.filter((r) => r.worlds !== fresh.worlds), fresh].map(({ runs: _, ...r }) => r as MemoryRun).sort((a, b) => a.worlds - b.worlds);
        measuredAny = true;
      } catch (e) {
        // A later count that fails leaves the earlier ones recorded (the first failing fails the case).
        if (!measuredAny) throw e;
        log(`memory: ${worlds} worlds failed: ${e instanceof Error ? e.message : String(e)}; keeping the counts measured`);
      }
    }
    return { ...(runs.find((r) => r.worlds === 5000) ?? runs.at(-1)!), runs };
  },
  markdown: (m, all) => [...memorySection(m), ...heapBreakdownSection(all.heapBreakdown as HeapBreakdown | undefined)],
};

/**
 * The reconciler's memory under V8 flags (--heapflags-worlds, default 1,000; --heapflags
 * "A;B;…", each a space-separated set of flags, '' for V8's defaults; by default V8's defaults,
 * the flags the Deployment ships and --optimize-for-size): what GC settings do to RSS and CPU.
 */
const heapFlagsCase: BenchCase<MemoryRun[]> = {
  name: 'heapflags',
  run: async () => {
    const worlds = Number(flag('heapflags-worlds') ?? 1000);
    const variants = (flag('heapflags') ?? ['', RECONCILER_NODE_FLAGS.join(' '), '--optimize-for-size'].join(';')).split(';').map((v) => v.split(' ').filter(Boolean));
    const runs: MemoryRun[] = [];
    for (const nodeFlags of variants) {
      log(`heapflags: ${worlds} worlds, reconciler flags: ${nodeFlags.join(' ') || '(none)'}`);
      runs.push(await runMemoryCase(worlds, { ...clusterOptions(), nodeFlags }));
    }
    return runs;
  },
  markdown: (runs) => heapFlagsSection(runs),
};

/**
 * The reconciler's memory as `npx anvil` runs it (bin/anvil.js on node_modules) and as the
 * image runs it (its bundle, build/image/anvil.js), --entrypoint-worlds (default 1,000) each.
 */
const entrypointCase: BenchCase<MemoryRun[]> = {
  name: 'entrypoint',
  run: async () => {
    const worlds = Number(flag('entrypoint-worlds') ?? 1000);
    const runs: MemoryRun[] = [];
    for (const entrypoint of ['package', 'image'] as const) {
      log(`entrypoint: ${worlds} worlds, reconciler ${ENTRYPOINT_FILES[entrypoint]}`);
      runs.push(await runMemoryCase(worlds, { ...clusterOptions(), entrypoint }));
    }
    return runs;
  },
  markdown: (runs) => entrypointSection(runs),
};

/** Claims on a warm pool against the raw PATCH floor (bench/claims.ts). */
const claimsCase: BenchCase<ClaimsBenchResult> = {
  name: 'claims',
  run: () =>
    runClaimsBench({
      sequential: Number(flag('sequential') ?? 50),
      burst: Number(flag('claims') ?? 100),
      concurrency: Number(flag('claim-concurrency') ?? 50),
      poissonRate: Number(flag('poisson-rate') ?? 45),
      poissonSeconds: Number(flag('poisson-seconds') ?? 60),
      buffer: Number(flag('pool-buffer') ?? 150),
      game: flag('game') ?? 'roguelike',
      reconcileConcurrency: Number(flag('reconcile-concurrency') ?? 16),
      cpuProfile: has('cpu-prof'),
      logDir: mkdtempSync(join(tmpdir(), 'anvil-bench-claims-')),
      log,
    }),
  markdown: (r) => claimsMarkdown(r),
};

/** Two clusters beside one: cluster-set overhead, failover, worlds per cluster (bench/multicluster.ts). */
const multiclusterCase: BenchCase<MulticlusterResult> = {
  name: 'multicluster',
  run: () =>
    runMulticlusterBench({
      claims: Number(flag('multicluster-claims') ?? 40),
      worldsPerCluster: Number(flag('multicluster-worlds') ?? 2600),
      perClusterTimeoutSeconds: 5,
      log,
    }),
  markdown: (r) => multiclusterMarkdown(r),
};

/** Every case, in RESULTS.md order. */
const CASES: BenchCase<any>[] = [resolverCase, synthCase, clusterCase, memoryCase, heapFlagsCase, entrypointCase, claimsCase, rolloutCase as BenchCase<any>, multiclusterCase];

const failed = (r: unknown): r is { error: string } => !!r && typeof r === 'object' && 'error' in r;
const okMemory = (r: unknown): MemoryRun | undefined => (r && !failed(r) ? (r as MemoryRun) : undefined);
const okCluster = (r: unknown): ClusterRun[] => (Array.isArray(r) ? (r as ClusterRun[]) : []);

function markdown(r: Results): string {
  const md: string[] = ['# Anvil benchmark results', ''];
  md.push(`Generated by \`npm run bench\` (bench/run.ts) from bench/results.json; nothing in this file is typed by hand except the notes at the end (bench/notes.md, which quote no figures). Last invocation: ${machineLine(r.machine)}. Resolver and synth times are medians of repeated runs in one process per case; peak RSS is that process's maxRSS. Each cluster and memory run records its own machine line and load average.`, '');
  for (const c of CASES) {
    const result = r[c.name];
    if (result === undefined) continue;
    if (failed(result)) md.push(`## ${c.name}`, '', `**Failed:** ${result.error}`, '');
    else md.push(...c.markdown(result, r));
  }
  md.push(...targetsSection(okCluster(r.cluster), okMemory(r.memory)));
  const notes = join(OUT, 'notes.md');
  if (existsSync(notes)) md.push(readFileSync(notes, 'utf8').trimEnd(), '');
  return `${md.join('\n')}\n`;
}

// ---- main ------------------------------------------------------------------------------

// --regenerate: no case runs; RESULTS.md, the chart and the README line are rewritten from results.json.
const only = has('regenerate') ? [] : (flag('only')?.split(',') ?? CASES.map((c) => c.name));
const unknown = only.filter((o) => !CASES.some((c) => c.name === o));
if (unknown.length) {
  process.stderr.write(`unknown case(s) ${unknown.join(', ')}; cases: ${CASES.map((c) => c.name).join(', ')}\n`);
  process.exit(2);
}
const previous: Partial<Results> = existsSync(RESULTS) ? (JSON.parse(readFileSync(RESULTS, 'utf8')) as Results) : {};
const results: Results = { ...previous, machine: only.length ? machineNow() : (previous.machine ?? machineNow()) };
let anyFailed = false;
for (const c of CASES.filter((c) => only.includes(c.name))) {
  log(`case ${c.name}`);
  try {
    results[c.name] = await c.run(failed(previous[c.name]) ? undefined : previous[c.name]);
  } catch (e) {
    anyFailed = true;
    const message = `the ${c.name} bench could not run: ${e instanceof Error ? e.message : String(e)}`;
    log(message);
    results[c.name] = { error: message };
  }
}

mkdirSync(OUT, { recursive: true });
writeFileSync(RESULTS, `${JSON.stringify(results, null, 2)}\n`);
writeFileSync(join(OUT, 'RESULTS.md'), markdown(results));
const points = measured(okCluster(results.cluster))
  .filter((c) => c.loadTest.latencySeconds)
  .map((c) => ({ worlds: c.worlds, ...c.loadTest.latencySeconds! }));
const floorPoints = measured(okCluster(results.cluster))
  .filter((c) => c.loadTest.floor?.latencySeconds)
  .map((c) => ({ worlds: c.worlds, ...c.loadTest.floor!.latencySeconds! }));
if (points.length) writeFileSync(join(OUT, 'startup-latency.svg'), latencyChart(points, 'World startup latency: Anvil (solid) and the floor (dashed)', undefined, floorPoints));
if (!updateReadme('README.md', results as never)) log('README.md has no bench-figures markers: its figure line was not written');
if (writeReadmeFigures('README.md', results.claims as never)) log('wrote the claims figure line of README.md');
log(`wrote ${RESULTS}, ${join(OUT, 'RESULTS.md')}${points.length ? `, ${join(OUT, 'startup-latency.svg')}` : ''}, README.md's figure line`);
if (anyFailed) process.exitCode = 1;
