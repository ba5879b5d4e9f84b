/**
 * The input side shared by `anvil resolve` and `anvil graph`: the -f/-w options, and
 * files -> catalog -> plans, with every problem of every step collected for one report.
 */
import type { Command } from 'commander';
import { error, formatDiagnostic, groupByCause, hasErrors, type Diagnostic } from '../diagnostics/diagnostics.js';
import { atLine, loadDefinitions, type LoadResult } from './load.js';
import { buildCatalog, type Catalog } from '../resolve/catalog.js';
import { resolveAll, type GlobalPlan, type WorldPlan } from '../resolve/resolve.js';
import { checkDesign } from '../resolve/design.js';
import { checkPools } from '../resolve/pools.js';
import type { WorldInstance } from '../api/schema.js';
import type { CliIo } from './context.js';

export interface InputOptions {
  filename: string[];
  /** Selected worlds (a repeated -w); empty: every world. */
  world: string[];
}

const collect = (value: string, previous: string[]): string[] => (previous.includes(value) ? previous : [...previous, value]);

export function addInputOptions(cmd: Command): Command {
  return cmd
    .requiredOption('-f, --filename <path...>', 'files or folders of ModuleManifest, GameDefinition and WorldInstance YAML/JSON (several documents and v1 Lists allowed; folders are read recursively; objects of other API groups are skipped)')
    .option('-w, --world <world>', 'only this WorldInstance: NAME or NAMESPACE/NAME; repeat for several', collect, []);
}

export interface Plans {
  catalog: Catalog;
  /** The platform's plan (always for every game: the platform is shared). */
  global: GlobalPlan;
  worlds: WorldPlan[];
  diagnostics: Diagnostic[];
}

const worldKey = (w: WorldInstance): string => `${w.metadata.namespace ?? 'default'}/${w.metadata.name}`;

/** The worlds `-w` names: by NAMESPACE/NAME, or by NAME when that is unambiguous. */
function selectWorld(catalog: Catalog, wanted: string): { world?: WorldInstance; problem?: Diagnostic } {
  const matches = catalog.worlds.filter((w) => (wanted.includes('/') ? worldKey(w) === wanted : w.metadata.name === wanted));
  if (matches.length === 1) return { world: matches[0] };
  const known = catalog.worlds.map(worldKey).join(', ') || 'none';
  if (matches.length === 0) {
    return { problem: error('--world', undefined, `no WorldInstance ${wanted} in the input (worlds: ${known})`, 'WorldNotFound') };
  }
  return {
    problem: error('--world', undefined, `${wanted} is ambiguous: ${matches.map(worldKey).join(', ')}; name it as NAMESPACE/NAME`, 'WorldAmbiguous'),
  };
}

/**
 * Loads, validates and resolves everything, then keeps the selected world's plan when there
 * is a `-w`. Resolving everything (not a cut-down catalog) keeps a world's plan identical to
 * the one synth computes. Problems of the input as a whole (a bad file, a duplicate) and of
 * the shared platform are reported either way; other worlds' problems only without `-w`.
 */
export function loadPlans(opts: InputOptions): Plans {
  const plans = plansOf(opts);
  return { ...plans, diagnostics: plans.diagnostics.map((d) => atLine(d, plans.lines)) };
}

function plansOf(opts: InputOptions): Plans & { lines: LoadResult['lines'] } {
  const loaded = loadDefinitions(opts.filename);
  const lines = loaded.lines;
  const { catalog, diagnostics: catalogProblems } = buildCatalog(loaded.objects);
  const resolved = resolveAll(catalog);
  const diagnostics = [...loaded.diagnostics, ...catalogProblems];
  // Pools are not resolved, but their worlds count in the design checks (node ports, regions).
  const pools = checkPools(loaded.objects.filter((o) => (o.object as { kind?: unknown } | null)?.kind === 'WorldPool'), catalog);
  if (opts.world.length === 0) {
    const design = checkDesign({ catalog, global: resolved.global, worlds: resolved.worlds, pools: pools.sourced });
    return { catalog, global: resolved.global, worlds: resolved.worlds, diagnostics: [...diagnostics, ...resolved.diagnostics, ...pools.diagnostics, ...design], lines };
  }
  const selected = new Set<WorldInstance>();
  for (const wanted of opts.world) {
    const { world, problem } = selectWorld(catalog, wanted);
    if (problem) diagnostics.push(problem);
    if (world) selected.add(world);
  }
  const worlds = resolved.worlds.filter((p) => selected.has(p.world));
  diagnostics.push(...resolved.global.diagnostics, ...worlds.flatMap((p) => p.diagnostics), ...resolved.collisions);
  diagnostics.push(...checkDesign({ catalog, global: resolved.global, worlds, pools: [] }));
  return { catalog, global: resolved.global, worlds, diagnostics, lines };
}

/** True when the input held no Anvil object (the loader has warned): nothing to print. */
export const isEmptyInput = ({ catalog }: Plans): boolean => catalog.modules.size + catalog.games.size + catalog.worlds.length === 0;

/** Writes every diagnostic to stderr; true when one of them is an error. */
export function report(io: CliIo, diagnostics: readonly Diagnostic[]): boolean {
  for (const d of groupByCause(diagnostics)) io.err(`${formatDiagnostic(d)}\n`);
  return hasErrors(diagnostics);
}

export const EXIT_CODES_HELP = `
Problems are written to stderr, one per line, as "error: SOURCE FIELD: MESSAGE" or
"warning: …", where SOURCE is FILE:LINE (the line of the field the problem is about). All problems are reported together.
When there is any error, nothing is written to stdout, so a pipe never gets a partial result.

Exit codes: 0 success (warnings allowed), 1 errors in the input or bad usage, 2 internal error.`;
