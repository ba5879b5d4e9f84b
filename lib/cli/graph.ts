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
import { addInputOptions, EXIT_CODES_HELP, loadPlans, report, type InputOptions } from './input.js';

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

export function mermaidGraph(global: GlobalPlan, worlds: readonly WorldPlan[], opts: GraphOptions): string {
  const ids = new MermaidIds();
  const lines = ['flowchart LR'];
  const edges: string[] = [];
  const platformId = ids.id('subgraph:platform', 'platform');
  const globalId = (name: string): string => ids.id(`global:${name}`, `platform_${name}`);
  const edge = (from: string, b: PlannedBinding, to: string): void => {
    edges.push(`  ${from} -->|${text(b.spec.capabilityId)}| ${to}`);
  };

  const platform = platformModules(global, worlds, opts);
  const shown = new Set(platform.map((m) => m.metadata.name));
  if (platform.length > 0) {
    lines.push(`  subgraph ${platformId}["platform"]`);
    for (const m of platform) lines.push(`    ${globalId(m.metadata.name)}["${moduleLabel(m)}"]`);
    lines.push('  end');
  }
  for (const b of global.bindings) {
    if (shown.has(b.spec.consumer.name)) edge(globalId(b.spec.consumer.name), b, globalId(b.spec.provider.module));
  }

  for (const plan of worlds) {
    const ns = plan.world.metadata.namespace ?? 'default';
    const name = plan.world.metadata.name;
    const key = `${ns}/${name}`;
    const subgraphId = ids.id(`subgraph:${key}`, `world_${ns}_${name}`);
    const worldNode = ids.id(`world:${key}`, `${subgraphId}_world`);
    const local = (module: string): string => ids.id(`module:${key}:${module}`, `${subgraphId}_${module}`);
    const global = new Set(plan.modules.filter(isGlobalModule).map((m) => m.metadata.name));
    const node = (module: string): string => (global.has(module) ? globalId(module) : local(module));

    const game = plan.game ? ` (game ${plan.game.metadata.name})` : '';
    lines.push(`  subgraph ${subgraphId}["${text(`world ${key}${game}`)}"]`);
    lines.push(`    ${worldNode}(["${text(name)}"])`);
    for (const m of plan.modules.filter((m) => !isGlobalModule(m))) lines.push(`    ${local(m.metadata.name)}["${moduleLabel(m)}"]`);
    lines.push('  end');
    for (const b of plan.bindings) {
      const from = b.spec.consumer.kind === 'WorldInstance' ? worldNode : node(b.spec.consumer.name);
      edge(from, b, node(b.spec.provider.module));
    }
  }
  return `${[...lines, ...edges].join('\n')}\n`;
}

export const registerGraph: RegisterCommand = (program: Command, ctx) => {
  addInputOptions(program.command('graph'))
    .description('print a Mermaid flowchart of the modules and bindings: the platform and every world, or only --world and the platform modules it uses')
    .addHelpText('after', EXIT_CODES_HELP)
    .action((opts: InputOptions) => {
      const plans = loadPlans(opts);
      if (report(ctx, plans.diagnostics)) {
        ctx.exitCode = EXIT_INPUT_ERROR;
        return;
      }
      ctx.out(mermaidGraph(plans.global, plans.worlds, { wholePlatform: opts.world.length === 0 }));
    });
};
