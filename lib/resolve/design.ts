/**
 * Design checks: what every object can pass on its own and still fail at apply or at run
 * time once they are put together. Synth and `anvil validate`/`resolve`/`graph` refuse
 * these (issue 18), so a design that cannot work never gets an "ok":
 * - one fixed `nodePort` asked for by two Services (two worlds, two modules, or a pool,
 *   which has many worlds): the API server refuses the second Service;
 * - a dependency cycle through required capabilities: no module of it is a root, a world
 *   whose modules all serve one another has no module that faces players;
 * - a world without a root module: nothing faces players, the world has no endpoints;
 * - a region used once that is a near miss of another (`us-eats`): a new regional
 *   Deployment instead of the intended one (a warning: a region may be new on purpose).
 * Pure: no I/O, no cdk8s.
 */
import { error, inWorld, warning, type Diagnostic } from '../diagnostics/diagnostics.js';
import { closest } from '../diagnostics/suggest.js';
import type { ModuleManifest, WorldPool } from '../api/schema.js';
import { isGlobalModule, scopeOf, type GlobalPlan, type PlannedBinding, type WorldPlan } from './resolve.js';
import type { Catalog } from './catalog.js';

export interface DesignInput {
  catalog: Catalog;
  global: GlobalPlan;
  worlds: readonly WorldPlan[];
  /** Valid static pools, each with where it was defined. */
  pools: readonly { pool: WorldPool; source: string }[];
  /** Regions declared in AnvilApp({regions}): then an undeclared region is an error elsewhere, and no typo warning is needed here. */
  regionsDeclared?: boolean;
}

const sourceOf = (catalog: Catalog, ref: string): string => catalog.sources.get(ref) ?? ref;
const worldKey = (p: WorldPlan): string => `${p.world.metadata.namespace ?? 'default'}/${p.world.metadata.name}`;

export function checkDesign(input: DesignInput): Diagnostic[] {
  return [...nodePortReuse(input), ...input.worlds.flatMap((w) => worldShape(w, input.catalog)), ...(input.regionsDeclared ? [] : regionTypos(input))];
}

// ---- node ports ------------------------------------------------------------------------

interface NodePortUse {
  /** `world ns/name`, `pool ns/name (many worlds)`, `cluster`, `region eu-west`. */
  where: string;
  module: string;
  field: string;
}

/** Each fixed node port of `m`: its port index and number. */
const fixedNodePorts = (m: ModuleManifest): { i: number; nodePort: number }[] =>
  (m.spec.ports ?? []).flatMap((p, i) => (p.expose?.type === 'NodePort' && p.expose.nodePort !== undefined ? [{ i, nodePort: p.expose.nodePort }] : []));

/** Every Service that would ask for a fixed node port: per-world modules once per world (a pool: many), global ones once per instance. */
function nodePortUses(input: DesignInput): Map<number, NodePortUse[]> {
  const uses = new Map<number, NodePortUse[]>();
  const add = (m: ModuleManifest, where: string): void => {
    for (const { i, nodePort } of fixedNodePorts(m)) {
      const list = uses.get(nodePort) ?? [];
      list.push({ where, module: m.metadata.name, field: `spec.ports[${i}].expose.nodePort` });
      uses.set(nodePort, list);
    }
  };
  const globalInstances = new Set<string>();
  const perWorld = (modules: readonly ModuleManifest[], where: string, region: string): void => {
    for (const m of modules) {
      if (!isGlobalModule(m)) add(m, where);
      else globalInstances.add(scopeOf(m) === 'cluster' ? `${m.metadata.name}\u0000cluster` : `${m.metadata.name}\u0000region ${region}`);
    }
  };
  for (const w of input.worlds) perWorld(w.modules, `world ${worldKey(w)}`, w.world.spec.region ?? 'default');
  for (const { pool } of input.pools) {
    const game = input.catalog.games.get(pool.spec.gameRef.name);
    const modules = (game?.spec.modules ?? []).map((g) => input.catalog.modules.get(g.name)).filter((m): m is ModuleManifest => m !== undefined);
    const where = `pool ${pool.metadata.namespace ?? 'default'}/${pool.metadata.name} (a pool has many worlds)`;
    // A pool's worlds are many: the same port twice at least, even alone.
    perWorld(modules, where, pool.spec.region ?? 'default');
    for (const m of modules.filter((x) => !isGlobalModule(x))) add(m, where);
  }
  for (const key of [...globalInstances].sort()) {
    const [name, where] = key.split('\u0000') as [string, string];
    add(input.catalog.modules.get(name)!, where);
  }
  return uses;
}

function nodePortReuse(input: DesignInput): Diagnostic[] {
  const out: Diagnostic[] = [];
  for (const [nodePort, uses] of [...nodePortUses(input)].sort(([a], [b]) => a - b)) {
    if (uses.length < 2) continue;
    const first = uses[0]!;
    const who = [...new Set(uses.map((u) => `${u.where}: module ${u.module}`))];
    out.push(
      error(
        sourceOf(input.catalog, `ModuleManifest/${first.module}`),
        first.field,
        `nodePort ${nodePort} is asked for by ${who.join('; ')}, but a node port belongs to one Service: the API server would refuse all but the first. Leave nodePort out (the cluster picks a free one; the world's status.endpoints says which) or give each module a port of its own and use it in one world only`,
        'NodePortReused',
      ),
    );
  }
  return out;
}

// ---- cycles and roots ------------------------------------------------------------------

/** Required edges consumer -> provider between the world's own modules. */
function requiredEdges(plan: WorldPlan): Map<string, { to: string; field: string }[]> {
  const edges = new Map<string, { to: string; field: string }[]>();
  const byName = new Map(plan.modules.map((m) => [m.metadata.name, m]));
  for (const b of plan.bindings) {
    if (b.spec.consumer.kind !== 'ModuleManifest') continue;
    const consumer = byName.get(b.spec.consumer.name);
    const i = (consumer?.spec.requires ?? []).findIndex((r) => r.capabilityId === b.spec.capabilityId);
    const req = consumer?.spec.requires?.[i];
    if (!req || (req.dependencyMode ?? 'required') === 'optional') continue;
    const list = edges.get(b.spec.consumer.name) ?? [];
    list.push({ to: b.spec.provider.module, field: `spec.requires[${i}]` });
    edges.set(b.spec.consumer.name, list);
  }
  return edges;
}

/**
 * The dependency cycles of a graph, each once, as a path from its smallest name back to it
 * (`a → b → a`): a depth-first walk that reports the path from where it re-enters the stack.
 */
export function findCycles(nodes: readonly string[], next: (n: string) => readonly string[]): string[][] {
  const cycles = new Map<string, string[]>();
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (n: string): void => {
    state.set(n, 'open');
    stack.push(n);
    for (const m of [...next(n)].sort()) {
      if (state.get(m) === 'open') {
        const loop = stack.slice(stack.indexOf(m));
        const start = loop.indexOf([...loop].sort()[0]!);
        const path = [...loop.slice(start), ...loop.slice(0, start)];
        cycles.set(path.join('\u0000'), [...path, path[0]!]);
      } else if (!state.has(m)) visit(m);
    }
    stack.pop();
    state.set(n, 'done');
  };
  for (const n of [...nodes].sort()) if (!state.has(n)) visit(n);
  return [...cycles.values()];
}

/** Cycles through required dependencies, and a world with no root module. */
function worldShape(plan: WorldPlan, catalog: Catalog): Diagnostic[] {
  if (!plan.game || plan.modules.length === 0) return [];
  const out: Diagnostic[] = [];
  const key = worldKey(plan);
  const edges = requiredEdges(plan);
  const cycles = findCycles(plan.modules.map((m) => m.metadata.name), (n) => (edges.get(n) ?? []).map((e) => e.to));
  const noRoot = plan.roots.length === 0;
  const gameName = plan.game.metadata.name;
  const rootless = `game ${gameName} has no root module: every module serves another one, so none faces players and its worlds get no endpoints`;
  for (const cycle of cycles) {
    const first = edges.get(cycle[0]!)!.find((e) => e.to === cycle[1])!;
    const message = `dependency cycle ${cycle.join(' → ')}: each of these modules requires the next, so none can be updated or started without the others${noRoot ? `, and ${rootless}` : ''}; break the cycle (make one requirement dependencyMode: optional, or move the shared capability into a module of its own)`;
    out.push(inWorld(error(sourceOf(catalog, `ModuleManifest/${cycle[0]}`), first.field, message, 'DependencyCycle'), key));
  }
  if (noRoot && cycles.length === 0) {
    const message = `${rootless} (${describeProviders(plan.bindings)}); add a module that nothing requires (a gateway) or make one requirement of a player-facing module dependencyMode: optional`;
    out.push(inWorld(error(sourceOf(catalog, `GameDefinition/${gameName}`), 'spec.modules', message, 'NoRootModule'), key));
  }
  return out;
}

const describeProviders = (bindings: readonly PlannedBinding[]): string =>
  [...new Set(bindings.filter((b) => b.spec.consumer.kind === 'ModuleManifest').map((b) => `${b.spec.provider.module} serves ${b.spec.consumer.name}`))].sort().join(', ');

// ---- regions ---------------------------------------------------------------------------

/**
 * A region used by one world or pool only, and a near miss of a region others use, is most
 * likely a typo: a warning naming it with "did you mean". Without declared regions a new
 * region may be intended, so this never fails synth.
 */
function regionTypos(input: DesignInput): Diagnostic[] {
  const users = new Map<string, { source: string; what: string }[]>();
  const use = (region: string, source: string, what: string): void => void users.set(region, [...(users.get(region) ?? []), { source, what }]);
  for (const w of input.worlds) use(w.world.spec.region ?? 'default', sourceOf(input.catalog, `WorldInstance/${worldKey(w)}`), `world ${worldKey(w)}`);
  for (const { pool, source } of input.pools) use(pool.spec.region ?? 'default', source, `pool ${pool.metadata.namespace ?? 'default'}/${pool.metadata.name}`);
  const out: Diagnostic[] = [];
  const regions = [...users.keys()].sort();
  for (const region of regions) {
    const [only, ...more] = users.get(region)!;
    if (more.length > 0) continue;
    const near = closest(region, regions.filter((r) => r !== region && users.get(r)!.length > 1));
    if (near.length === 0) continue;
    const usedOnce = regions.filter((r) => users.get(r)!.length === 1).join(', ');
    const message = `region ${region} is used by ${only!.what} only (did you mean ${near.join(' or ')}?); regions used once: ${usedOnce}. A new region gets its own regional Deployments; fix the name if it is a typo`;
    out.push(warning(only!.source, 'spec.region', message, 'RegionUsedOnce'));
  }
  return out;
}
