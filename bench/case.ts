/**
 * One bench case in a process of its own, so that peak memory (maxRSS) is this case's alone:
 *   tsx bench/case.ts resolver <modules> <runs>
 *   tsx bench/case.ts synth <worlds> <runs>
 * Prints one JSON line: the time of each run (ms), and memory.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { World } from '../lib/definitions.js';
import { buildCatalog } from '../lib/resolve/catalog.js';
import { resolveAll } from '../lib/resolve/resolve.js';
import { hasErrors } from '../lib/diagnostics/diagnostics.js';
import { buildApp } from '../games/index.js';
import { generatePlatform } from './generate.js';

const [kind, sizeArg, runsArg] = process.argv.slice(2);
const size = Number(sizeArg);
const runs = Number(runsArg ?? 3);
const ms = (t0: number) => performance.now() - t0;
const rssBaselineKb = process.resourceUsage().maxRSS;

function resolverCase() {
  const platform = generatePlatform(size);
  const catalogMs: number[] = [];
  const resolveMs: number[] = [];
  let bindings = 0;
  let keep: unknown;
  for (let r = 0; r < runs; r++) {
    // Fresh copies: validation fills defaults in place.
    const input = structuredClone(platform.objects);
    let t0 = performance.now();
    const { catalog, diagnostics } = buildCatalog(input);
    catalogMs.push(ms(t0));
    t0 = performance.now();
    const resolved = resolveAll(catalog);
    resolveMs.push(ms(t0));
    if (hasErrors([...diagnostics, ...resolved.diagnostics])) throw new Error('generated platform does not resolve');
    bindings = resolved.global.bindings.length + resolved.worlds.reduce((s, w) => s + w.bindings.length, 0);
    keep = resolved;
  }
  const heapUsedMb = process.memoryUsage().heapUsed / 2 ** 20;
  void keep;
  return {
    modules: platform.modules,
    requirements: platform.requirements,
    games: platform.games,
    worlds: platform.worlds,
    bindings,
    catalogMs,
    resolveMs,
    totalMs: catalogMs.map((c, i) => c + resolveMs[i]!),
    heapUsedMb,
  };
}

function synthCase() {
  const totalMs: number[] = [];
  let files = 0;
  let bytes = 0;
  let objects = 0;
  for (let r = 0; r < runs; r++) {
    const dir = mkdtempSync(join(tmpdir(), 'anvil-bench-synth-'));
    const outdir = join(dir, 'dist');
    const t0 = performance.now();
    const app = buildApp({ outdir, onDiagnostic: () => {} });
    for (let i = 0; i < size; i++) {
      new World(app.definitions, `bench-${i}`, { game: i % 2 === 0 ? 'command-path' : 'roguelike', namespace: 'bench', region: i % 3 === 0 ? 'us-east' : 'eu-west' });
    }
    app.synth();
    totalMs.push(ms(t0));
    const names = readdirSync(outdir);
    files = names.length;
    const texts = names.map((n) => readFileSync(join(outdir, n), 'utf8'));
    bytes = texts.reduce((s, t) => s + Buffer.byteLength(t), 0);
    objects = texts.reduce((s, t) => s + (t.match(/^apiVersion:/gm)?.length ?? 0), 0);
    rmSync(dir, { recursive: true, force: true });
  }
  return { worlds: size, files, bytes, objects, totalMs, heapUsedMb: process.memoryUsage().heapUsed / 2 ** 20 };
}

const result = kind === 'resolver' ? resolverCase() : kind === 'synth' ? synthCase() : undefined;
if (!result) throw new Error(`unknown case ${kind}`);
const usage = process.resourceUsage();
process.stdout.write(
  `${JSON.stringify({ kind, size, runs, ...result, maxRssMb: usage.maxRSS / 1024, startupRssMb: rssBaselineKb / 1024, cpuUserMs: usage.userCPUTime / 1000 })}\n`,
);
