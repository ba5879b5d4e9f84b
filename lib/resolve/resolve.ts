/**
 * The capability resolver: a pure function from definitions to CapabilityBindings.
 * No I/O and no cdk8s here: synth, the CLI and the reconciler all call it the same way.
 *
 * Rules (seed 001, "Resolver workflow"):
 * - providers are indexed by (capabilityId, scope); a provided capability has its module's scope;
 * - a requirement binds only providers of exactly its scope whose capability version satisfies
 *   its SemVer range (npm `semver`: prereleases only when the range names one), never itself;
 * - multiplicity "1" picks the highest version, ties broken by module name; "many" binds all;
 * - an unresolved optional requirement is a warning, an unresolved required one an error;
 * - a listed module that provides nothing to the other listed modules is a root module and
 *   gets a root binding whose consumer is the WorldInstance;
 * - bindings between global (cluster/region) modules are resolved once, for the platform.
 */
import semver from 'semver';
import { error, warning, type Diagnostic } from '../diagnostics.js';
import { nameCollisions } from '../collisions.js';
import { tupleName } from '../names.js';
import {
  ROOT_CAPABILITY,
  type CapabilityBindingSpec,
  type GameDefinition,
  type ModuleManifest,
  type Requirement,
  type Scope,
  type WorldInstance,
} from '../api/schema.js';
import { missingModule, type Catalog } from './catalog.js';

export const PLATFORM_NAMESPACE = 'anvil-system';

export const GLOBAL_SCOPES: readonly Scope[] = ['cluster', 'region'];
export const isGlobalScope = (s: Scope): boolean => GLOBAL_SCOPES.includes(s);
export const scopeOf = (m: ModuleManifest): Scope => m.spec.scope ?? 'world';
export const isGlobalModule = (m: ModuleManifest): boolean => isGlobalScope(scopeOf(m));

/** From widest to narrowest: a consumer may require its own scope or a wider one. */
const BREADTH: Record<Scope, number> = { cluster: 0, region: 1, world: 2, 'world-shard': 3, session: 4 };

/** CapabilityBinding names (lib/names.ts: readable, and never the same for two bindings). */
export const bindingName = {
  world: (world: string, consumer: string, capabilityId: string, provider: string): string =>
    tupleName('binding', [world, consumer, capabilityId, provider]),
  root: (world: string, module: string): string => tupleName('root-binding', [world, ROOT_CAPABILITY, module]),
  platform: (consumer: string, capabilityId: string, provider: string): string =>
    tupleName('platform-binding', [consumer, capabilityId, provider]),
};

export interface PlannedBinding {
  name: string;
  namespace: string;
  spec: CapabilityBindingSpec;
}

export interface Unresolved {
  module: string;
  capabilityId: string;
  versionConstraint: string;
  scope: Scope;
  optional: boolean;
}

export interface WorldPlan {
  world: WorldInstance;
  game?: GameDefinition;
  /** The game's modules that exist, in the game's order. */
  modules: ModuleManifest[];
  /** The world's bindings (all with worldRef), root bindings included, sorted by name. */
  bindings: PlannedBinding[];
  /** Modules bound by a root binding. */
  roots: string[];
  unresolved: Unresolved[];
  /** The world's action route table: each action and the module that serves it. */
  routes: ActionRoute[];
  diagnostics: Diagnostic[];
}

export interface ActionRoute {
  action: string;
  module: string;
  capabilityId: string;
}

export interface GlobalPlan {
  /** Global modules listed by at least one game, by name. */
  modules: ModuleManifest[];
  /** Bindings between global modules (no worldRef), in the platform namespace. */
  bindings: PlannedBinding[];
  /** Global modules whose capabilities no listed module requires: they face clients. */
  roots: string[];
  diagnostics: Diagnostic[];
}

interface Candidate {
  module: ModuleManifest;
  version: string;
}
type ProviderIndex = Map<string, Candidate[]>;
const indexKey = (capabilityId: string, scope: Scope): string => `${capabilityId}\u0000${scope}`;

/** Index every capability the given modules provide by (capabilityId, scope). */
export function indexProviders(modules: Iterable<ModuleManifest>): ProviderIndex {
  const index: ProviderIndex = new Map();
  for (const m of modules) {
    for (const p of m.spec.provides ?? []) {
      const key = indexKey(p.capabilityId, scopeOf(m));
      const list = index.get(key) ?? [];
      list.push({ module: m, version: p.version });
      index.set(key, list);
    }
  }
  return index;
}

/** Highest version first, then module name ascending: the deterministic order of choice. */
const byPreference = (a: Candidate, b: Candidate): number =>
  semver.rcompare(a.version, b.version) || a.module.metadata.name.localeCompare(b.module.metadata.name);

/** The providers chosen for one requirement of one consumer (empty when unresolved). */
export function selectProviders(consumer: ModuleManifest, req: Requirement, index: ProviderIndex): Candidate[] {
  const range = semver.validRange(req.versionConstraint);
  if (range === null) return [];
  const matching = (index.get(indexKey(req.capabilityId, req.scope)) ?? [])
    .filter((c) => c.module.metadata.name !== consumer.metadata.name)
    .filter((c) => semver.satisfies(c.version, range))
    .sort(byPreference);
  return (req.multiplicity ?? '1') === '1' ? matching.slice(0, 1) : matching;
}

/** Why a requirement found nothing, for the message. */
function whyUnresolved(consumer: ModuleManifest, req: Requirement, index: ProviderIndex, allModules: Iterable<ModuleManifest>): string {
  const sameScope = (index.get(indexKey(req.capabilityId, req.scope)) ?? []).filter(
    (c) => c.module.metadata.name !== consumer.metadata.name,
  );
  if (sameScope.length > 0) {
    return `no provider's version satisfies it (${sameScope.map((c) => `${c.module.metadata.name} provides ${c.version}`).join(', ')})`;
  }
  const otherScopes: string[] = [];
  for (const m of allModules) {
    if (m.metadata.name === consumer.metadata.name) continue;
    for (const p of m.spec.provides ?? []) {
      if (p.capabilityId === req.capabilityId) otherScopes.push(`${m.metadata.name} provides it at scope ${scopeOf(m)}`);
    }
  }
  return otherScopes.length > 0
    ? `no provider at scope ${req.scope} (${otherScopes.join(', ')})`
    : 'no module provides it';
}

function describeRequirement(consumer: ModuleManifest, req: Requirement): string {
  return `module ${consumer.metadata.name} requires ${req.capabilityId} ${JSON.stringify(req.versionConstraint)} (scope ${req.scope}, multiplicity ${req.multiplicity ?? '1'}, ${req.dependencyMode ?? 'required'})`;
}

/** A requirement whose scope the consumer cannot use (narrower than itself, or a foreign shard). */
function scopeProblem(consumer: ModuleManifest, req: Requirement): string | undefined {
  const own = scopeOf(consumer);
  if (BREADTH[req.scope] > BREADTH[own] || (req.scope === 'world-shard' && own !== 'world-shard')) {
    return `a ${own}-scoped module cannot require a ${req.scope}-scoped capability (it would not know which instance to use)`;
  }
  return undefined;
}

interface RequirementOutcome {
  bindings: { consumer: ModuleManifest; req: Requirement; provider: Candidate }[];
  unresolved: Unresolved[];
  diagnostics: Diagnostic[];
}

/** Resolves every requirement of `consumers` against `index`. */
function resolveRequirements(
  consumers: readonly ModuleManifest[],
  index: ProviderIndex,
  universe: readonly ModuleManifest[],
  where: string,
  source: string,
): RequirementOutcome {
  const out: RequirementOutcome = { bindings: [], unresolved: [], diagnostics: [] };
  for (const consumer of consumers) {
    (consumer.spec.requires ?? []).forEach((req, i) => {
      const field = `ModuleManifest/${consumer.metadata.name} spec.requires[${i}]`;
      const bad = scopeProblem(consumer, req);
      if (bad) {
        out.diagnostics.push(error(source, field, `${where}: ${describeRequirement(consumer, req)}: ${bad}`, 'InvalidScope'));
        return;
      }
      const chosen = selectProviders(consumer, req, index);
      for (const provider of chosen) out.bindings.push({ consumer, req, provider });
      if (chosen.length > 0) return;
      const optional = (req.dependencyMode ?? 'required') === 'optional';
      out.unresolved.push({
        module: consumer.metadata.name,
        capabilityId: req.capabilityId,
        versionConstraint: req.versionConstraint,
        scope: req.scope,
        optional,
      });
      const message = `${where}: ${describeRequirement(consumer, req)}: ${whyUnresolved(consumer, req, index, universe)}`;
      out.diagnostics.push(optional ? warning(source, field, message, 'OptionalUnresolved') : error(source, field, message, 'Unresolved'));
    });
  }
  return out;
}

/** The global modules that some game lists, sorted by name. */
export function listedGlobalModules(catalog: Catalog): ModuleManifest[] {
  const names = new Set<string>();
  for (const g of catalog.games.values()) for (const m of g.spec.modules) names.add(m.name);
  return [...names]
    .map((n) => catalog.modules.get(n))
    .filter((m): m is ModuleManifest => m !== undefined && isGlobalModule(m))
    .sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
}

/**
 * The providers among the platform's global modules, computed once per catalog: every world
 * needs it, and building it walks every game (worlds × games otherwise). A catalog's maps
 * are read-only, so the memo cannot go stale.
 */
const globalIndexes = new WeakMap<Catalog['games'], { modules: Catalog['modules']; index: ProviderIndex }>();
function globalIndexOf(catalog: Catalog): ProviderIndex {
  // Keyed by the definition maps, which copies of a catalog for one world share.
  const memo = globalIndexes.get(catalog.games);
  if (memo && memo.modules === catalog.modules) return memo.index;
  const index = indexProviders(listedGlobalModules(catalog));
  globalIndexes.set(catalog.games, { modules: catalog.modules, index });
  return index;
}

/** Bindings between global modules: resolved once for the whole platform. */
export function resolveGlobal(catalog: Catalog): GlobalPlan {
  const modules = listedGlobalModules(catalog);
  const index = indexProviders(modules);
  const outcome = resolveRequirements(modules, index, modules, 'platform', 'platform');
  const bindings = outcome.bindings.map(({ consumer, req, provider }) => ({
    name: bindingName.platform(consumer.metadata.name, req.capabilityId, provider.module.metadata.name),
    namespace: PLATFORM_NAMESPACE,
    spec: bindingSpec(req.capabilityId, req.scope, req.multiplicity ?? '1', consumer.metadata.name, 'ModuleManifest', provider),
  }));
  const required = new Set<string>();
  for (const g of catalog.games.values()) {
    for (const { name } of g.spec.modules) {
      for (const r of catalog.modules.get(name)?.spec.requires ?? []) required.add(indexKey(r.capabilityId, r.scope));
    }
  }
  const roots = modules
    .filter((m) => !(m.spec.provides ?? []).some((p) => required.has(indexKey(p.capabilityId, scopeOf(m)))))
    .map((m) => m.metadata.name);
  return { modules, bindings: sortBindings(bindings), roots, diagnostics: outcome.diagnostics };
}

function bindingSpec(
  capabilityId: string,
  scope: Scope,
  multiplicity: '1' | 'many',
  consumer: string,
  consumerKind: 'ModuleManifest' | 'WorldInstance',
  provider: Candidate,
  world?: string,
): CapabilityBindingSpec {
  return {
    capabilityId,
    scope,
    multiplicity,
    consumer: { kind: consumerKind, name: consumer },
    provider: { module: provider.module.metadata.name, capabilityVersion: provider.version },
    ...(world ? { worldRef: { name: world } } : {}),
  };
}

const sortBindings = (bs: PlannedBinding[]): PlannedBinding[] => bs.sort((a, b) => a.name.localeCompare(b.name));

/**
 * Resolves one world: its game, the game's modules, the bindings of its per-world modules
 * (to per-world and to global providers of the game), and its root bindings.
 */
export function resolveWorld(catalog: Catalog, world: WorldInstance): WorldPlan {
  const worldName = world.metadata.name;
  const namespace = world.metadata.namespace ?? 'default';
  const source = catalog.sources.get(`WorldInstance/${namespace}/${worldName}`) ?? `WorldInstance/${namespace}/${worldName}`;
  const where = `world ${namespace}/${worldName}`;
  const plan: WorldPlan = { world, modules: [], bindings: [], roots: [], unresolved: [], routes: [], diagnostics: [] };

  const game = catalog.games.get(world.spec.gameRef.name);
  if (!game) {
    plan.diagnostics.push(error(source, 'spec.gameRef.name', `${where}: game ${world.spec.gameRef.name} is not defined (no GameDefinition named ${world.spec.gameRef.name})`, 'GameNotFound'));
    return plan;
  }
  plan.game = game;
  for (const { name } of game.spec.modules) {
    const m = catalog.modules.get(name);
    if (m) plan.modules.push(m);
    else {
      const reason = catalog.invalid.has(`ModuleManifest/${name}`) ? 'ModuleInvalid' : 'ModuleNotFound';
      plan.diagnostics.push(error(source, 'spec.gameRef.name', `${where}: game ${game.metadata.name}: ${missingModule(name, catalog.invalid)}`, reason));
    }
  }

  const index = indexProviders(plan.modules);
  const perWorld = plan.modules.filter((m) => !isGlobalModule(m));
  const outcome = resolveRequirements(perWorld, index, plan.modules, where, source);
  plan.unresolved = outcome.unresolved;
  plan.diagnostics.push(...outcome.diagnostics);
  const bindings: PlannedBinding[] = outcome.bindings.map(({ consumer, req, provider }) => ({
    name: bindingName.world(worldName, consumer.metadata.name, req.capabilityId, provider.module.metadata.name),
    namespace,
    spec: bindingSpec(req.capabilityId, req.scope, req.multiplicity ?? '1', consumer.metadata.name, 'ModuleManifest', provider, worldName),
  }));

  // Providers of a global consumer in this game count too: such a provider is not a root.
  const globalConsumers = plan.modules.filter(isGlobalModule);
  const globalIndex = globalIndexOf(catalog);
  const provided = new Set(bindings.map((b) => b.spec.provider.module));
  for (const consumer of globalConsumers) {
    for (const req of consumer.spec.requires ?? []) {
      for (const c of selectProviders(consumer, req, globalIndex)) provided.add(c.module.metadata.name);
    }
  }
  for (const m of plan.modules) {
    if (provided.has(m.metadata.name)) continue;
    plan.roots.push(m.metadata.name);
    const version = m.spec.version;
    bindings.push({
      name: bindingName.root(worldName, m.metadata.name),
      namespace,
      spec: bindingSpec(ROOT_CAPABILITY, scopeOf(m), '1', worldName, 'WorldInstance', { module: m, version }, worldName),
    });
  }
  plan.bindings = sortBindings(bindings);
  plan.routes = actionRoutes(plan.modules, where, source, plan.diagnostics);
  return plan;
}

/** Every action a module of the world serves; an action served twice is ambiguous. */
function actionRoutes(modules: readonly ModuleManifest[], where: string, source: string, diagnostics: Diagnostic[]): ActionRoute[] {
  const routes = new Map<string, ActionRoute>();
  for (const m of modules) {
    for (const p of m.spec.provides ?? []) {
      for (const action of p.actions ?? []) {
        const earlier = routes.get(action);
        if (earlier && earlier.module !== m.metadata.name) {
          diagnostics.push(
            error(source, 'spec.gameRef.name', `${where}: action ${action} is served by both ${earlier.module} (${earlier.capabilityId}) and ${m.metadata.name} (${p.capabilityId}); a route must be unambiguous`, 'AmbiguousRoute'),
          );
          continue;
        }
        routes.set(action, { action, module: m.metadata.name, capabilityId: p.capabilityId });
      }
    }
  }
  return [...routes.values()].sort((a, b) => a.action.localeCompare(b.action));
}

/** Resolves every world of the catalog and the global bindings: what synth and the CLI use. */
export function resolveAll(catalog: Catalog): { global: GlobalPlan; worlds: WorldPlan[]; diagnostics: Diagnostic[]; collisions: Diagnostic[] } {
  const global = resolveGlobal(catalog);
  const worlds = catalog.worlds.map((w) => resolveWorld(catalog, w));
  // Binding names are unique by construction; a collision across worlds would mean two
  // worlds write one object, so it is checked anyway (lib/collisions.ts).
  const collisions = nameCollisions([
    ...global.bindings.map((b) => ({ kind: 'CapabilityBinding', namespace: b.namespace, name: b.name, owner: 'platform' })),
    ...worlds.flatMap((w) =>
      w.bindings.map((b) => ({ kind: 'CapabilityBinding', namespace: b.namespace, name: b.name, owner: `world ${w.world.metadata.namespace ?? 'default'}/${w.world.metadata.name}` })),
    ),
  ]);
  return { global, worlds, diagnostics: [...global.diagnostics, ...worlds.flatMap((w) => w.diagnostics), ...collisions], collisions };
}
