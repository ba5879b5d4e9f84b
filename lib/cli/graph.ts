/**
 * `anvil graph`: a Mermaid flowchart of modules and bindings. Global modules sit once in a
 * `platform` subgraph (they are shared); each world is a subgraph with its own per-world
 * modules and a node for the WorldInstance, whose edges are the root bindings. Edges go
 * consumer -> provider, labelled with the capability. The same input always gives the same
 * text, so graphs can be committed and diffed.
 */
import type { Command } from 'commander';
import type { ModuleManifest } from '../api/schema.js';
import { isGlobalModule, scopeOf, type GlobalPlan, type PlannedBinding, type WorldPlan } from '../resolve/resolve.js';
import { EXIT_INPUT_ERROR, type RegisterCommand } from './context.js';
import { addInputOptions, EXIT_CODES_HELP, isEmptyInput, loadPlans, report, type InputOptions } from './input.js';

/** Mermaid ids: letters, digits and `_` only, made unique in order of first use. */
class MermaidIds {
  private readonly byKey = new Map<string, string>();
  private readonly used = new Set<string>();
  id(key: string, readable: string): string {
    const known = this.byKey.get(key);
    if (known) return known;
    const base = readable.replace(/[^A-Za-z0-9_]+/g, '_');
    let id = base;
    for (let n = 2; this.used.has(id); n++) id = `${base}_${n}`;
    this.used.add(id);
    this.byKey.set(key, id);
    return id;
  }
}

/** Text inside `["…"]` or `|…|`: quotes and pipes would end it early. */
const text = (s: string): string => s.replace(/"/g, '#quot;').replace(/\|/g, '#124;');
const moduleLabel = (m: ModuleManifest): string => text(`${m.metadata.name}@${m.spec.version} (${scopeOf(m)})`);

export interface GraphOptions {
  /** Show every global module of the platform, not only those the given worlds use. */
  wholePlatform: boolean;
}

/** The global modules to draw: all, or those the worlds list and what they need in turn. */
function platformModules(global: GlobalPlan, worlds: readonly WorldPlan[], opts: GraphOptions): ModuleManifest[] {
  if (opts.wholePlatform) return global.modules;
  const wanted = new Set(worlds.flatMap((w) => w.modules.filter(isGlobalModule).map((m) => m.metadata.name)));
  for (let grew = true; grew; ) {
    grew = false;
    for (const b of global.bindings) {
      if (wanted.has(b.spec.consumer.name) && !wanted.has(b.spec.provider.module)) {
        wanted.add(b.spec.provider.module);
        grew = true;
      }
    }
  }
  return global.modules.filter((m) => wanted.has(m.metadata.name));
}

/** How a binding's requirement reads on its edge: dashed when optional, `(many)` when many. */
function edgeOf(plan: { modules: readonly ModuleManifest[] }, b: PlannedBinding): { arrow: string; label: string } {
  if (b.spec.consumer.kind === 'WorldInstance') return { arrow: '-->', label: b.spec.capabilityId };
  const req = plan.modules.find((m) => m.metadata.name === b.spec.consumer.name)?.spec.requires?.find((r) => r.capabilityId === b.spec.capabilityId);
  const optional = (req?.dependencyMode ?? 'required') === 'optional';
  const notes = [...(b.spec.multiplicity === 'many' ? ['many'] : []), ...(optional ? ['optional'] : [])];
  return { arrow: optional ? '-.->' : '-->', label: `${b.spec.capabilityId}${notes.length ? ` (${notes.join(', ')})` : ''}` };
}

/** Regions where each region module has an instance: those of the worlds that list it. */
function regionsOf(worlds: readonly WorldPlan[]): Map<string, string[]> {
  const out = new Map<string, Set<string>>();
  for (const w of worlds) {
    for (const m of w.modules.filter((m) => scopeOf(m) === 'region')) {
      out.set(m.metadata.name, (out.get(m.metadata.name) ?? new Set()).add(w.world.spec.region ?? 'default'));
    }
  }
  return new Map([...out].map(([k, v]) => [k, [...v].sort()]));
}

export function mermaidGraph(global: GlobalPlan, worlds: readonly WorldPlan[], opts: GraphOptions): string {
  const ids = new MermaidIds();
  const lines = ['flowchart LR'];
  const edges: string[] = [];
  const regions = regionsOf(worlds);
  // A region module is one node per region it runs in; a cluster module one node.
  const globalId = (name: string, region?: string): string =>
    region && regions.has(name) ? ids.id(`global:${name}@${region}`, `platform_${name}_${region}`) : ids.id(`global:${name}`, `platform_${name}`);
  const edge = (from: string, to: string, e: { arrow: string; label: string }): void => void edges.push(`  ${from} ${e.arrow}|${text(e.label)}| ${to}`);

  const platform = platformModules(global, worlds, opts);
  const shown = new Set(platform.map((m) => m.metadata.name));
  if (platform.length > 0) {
    lines.push(`  subgraph ${ids.id('subgraph:platform', 'platform')}["platform"]`);
    for (const m of platform) {
      const at = regions.get(m.metadata.name);
      if (!at) lines.push(`    ${globalId(m.metadata.name)}["${moduleLabel(m)}"]`);
      for (const r of at ?? []) lines.push(`    ${globalId(m.metadata.name, r)}["${text(`${m.metadata.name}@${m.spec.version} (region ${r})`)}"]`);
    }
    lines.push('  end');
  }
  const globalPlan = { modules: global.modules };
  for (const b of global.bindings) {
    if (!shown.has(b.spec.consumer.name)) continue;
    const consumerRegions = regions.get(b.spec.consumer.name) ?? [undefined];
    for (const r of consumerRegions) edge(globalId(b.spec.consumer.name, r), globalId(b.spec.provider.module, r), edgeOf(globalPlan, b));
  }
  for (const plan of worlds) worldGraph(plan, ids, globalId, lines, edge);
  return `${[...lines, ...edges].join('\n')}\n`;
}

/** One world: its subgraph (booklets nested in it), its edges, and its unresolved requirements. */
function worldGraph(
  plan: WorldPlan,
  ids: MermaidIds,
  globalId: (name: string, region?: string) => string,
  lines: string[],
  edge: (from: string, to: string, e: { arrow: string; label: string }) => void,
): void {
  const ns = plan.world.metadata.namespace ?? 'default';
  const name = plan.world.metadata.name;
  const key = `${ns}/${name}`;
  const region = plan.world.spec.region ?? 'default';
  const subgraphId = ids.id(`subgraph:${key}`, `world_${ns}_${name}`);
  const worldNode = ids.id(`world:${key}`, `${subgraphId}_world`);
  const local = (module: string): string => ids.id(`module:${key}:${module}`, `${subgraphId}_${module}`);
  const global = new Set(plan.modules.filter(isGlobalModule).map((m) => m.metadata.name));
  const node = (module: string): string => (global.has(module) ? globalId(module, region) : local(module));
  const moduleLine = (m: ModuleManifest, indent: string): string => `${indent}${local(m.metadata.name)}["${moduleLabel(m)}"]`;

  const game = plan.game ? ` (game ${plan.game.metadata.name})` : '';
  lines.push(`  subgraph ${subgraphId}["${text(`world ${key}${game}`)}"]`);
  lines.push(`    ${worldNode}(["${text(name)}"])`);
  const perWorld = plan.modules.filter((m) => !isGlobalModule(m));
  const booklets = plan.game?.spec.booklets ?? [];
  for (const m of perWorld.filter((m) => !booklets.some((b) => b.modules.includes(m.metadata.name)))) lines.push(moduleLine(m, '    '));
  for (const b of booklets) {
    lines.push(`    subgraph ${ids.id(`booklet:${key}:${b.name}`, `${subgraphId}_booklet_${b.name}`)}["${text(`booklet ${b.name} (${b.strategy})`)}"]`);
    for (const m of perWorld.filter((m) => b.modules.includes(m.metadata.name))) lines.push(moduleLine(m, '      '));
    lines.push('    end');
  }
  plan.unresolved.forEach((u, i) => {
    const missing = ids.id(`unresolved:${key}:${i}`, `${subgraphId}_unresolved_${u.capabilityId}`);
    lines.push(`    ${missing}{{"${text(`${u.capabilityId} ${u.versionConstraint}: unresolved`)}"}}`);
    edge(node(u.module), missing, { arrow: '-.-x', label: `${u.capabilityId} (${u.optional ? 'optional, ' : ''}unresolved)` });
  });
  lines.push('  end');
  for (const b of plan.bindings) edge(b.spec.consumer.kind === 'WorldInstance' ? worldNode : node(b.spec.consumer.name), node(b.spec.provider.module), edgeOf(plan, b));
}

export const registerGraph: RegisterCommand = (program: Command, ctx) => {
  addInputOptions(program.command('graph'))
    .description('print a Mermaid flowchart of the modules and bindings: the platform and every world, or only --world and the platform modules it uses')
    .addHelpText('after', `${EXIT_CODES_HELP}\nanvil graph is the exception: it draws what resolves even when there are errors (an\nunresolved requirement is a crossed edge), and still exits 1.`)
    .action((opts: InputOptions) => {
      const plans = loadPlans(opts);
      const failed = report(ctx, plans.diagnostics);
      // The graph is drawn even when the input has errors (an unresolved requirement is a
      // crossed edge): that is when it helps most. The exit code still says it failed.
      if (!isEmptyInput(plans)) ctx.out(mermaidGraph(plans.global, plans.worlds, { wholePlatform: opts.world.length === 0 }));
      if (failed) ctx.exitCode = EXIT_INPUT_ERROR;
    });
};
