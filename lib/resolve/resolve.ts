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
import { error, inWorld, warning, type Diagnostic } from '../diagnostics/diagnostics.js';
import { nameCollisions } from '../names/collisions.js';
import { didYouMean } from '../diagnostics/suggest.js';
import { tupleName } from '../names/names.js';
import {
  ROOT_CAPABILITY,
  type CapabilityBindingSpec,
  type GameDefinition,
  type ModuleManifest,
  type Port,
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

/** CapabilityBinding names (lib/names/names.ts: readable, and never the same for two bindings). */
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
  /** The provider's port the route uses: its first TCP port (actions are requests over TCP). */
  port: Port;
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

/** What the catalog knows beyond the modules being resolved: for messages that suggest a fix. */
interface Context {
  /** `namespace/name` of the world being resolved; none for the platform. */
  world?: string;
  game?: GameDefinition;
  catalog: Catalog;
}

const sourceOf = (catalog: Catalog, ref: string): string => catalog.sources.get(ref) ?? ref;

/**
 * Why nothing in the game provides a capability: a module that provides it exists but the
 * game does not list it (the fix is to list it), or the id is a near miss of a known one.
 */
function notInGame(req: Requirement, ctx: Context): string {
  const outside = [...ctx.catalog.modules.values()]
    .filter((m) => (m.spec.provides ?? []).some((p) => p.capabilityId === req.capabilityId))
    .map((m) => m.metadata.name)
    .sort();
  if (outside.length > 0 && ctx.game) {
    return `${outside.join(', ')} provide${outside.length === 1 ? 's' : ''} it but ${outside.length === 1 ? 'is' : 'are'} not listed by game ${ctx.game.metadata.name}: add ${outside.length === 1 ? 'it' : 'one'} to GameDefinition ${ctx.game.metadata.name} spec.modules`;
  }
  const known = [...ctx.catalog.modules.values()].flatMap((m) => (m.spec.provides ?? []).map((p) => p.capabilityId));
  return `no module provides it${didYouMean(req.capabilityId, known)}`;
}

/** Whether an invalid module the game lists (any, for the platform) says it provides `capabilityId`. */
function providedByInvalid(capabilityId: string, ctx: Context): boolean {
  const invalid = ctx.catalog.invalidProviders?.get(capabilityId) ?? [];
  return invalid.some((m) => !ctx.game || ctx.game.spec.modules.some((x) => x.name === m));
}

/** Why a requirement found nothing, for the message. */
function whyUnresolved(consumer: ModuleManifest, req: Requirement, index: ProviderIndex, allModules: Iterable<ModuleManifest>, ctx: Context): string {
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
  return otherScopes.length > 0 ? `no provider at scope ${req.scope} (${otherScopes.join(', ')})` : notInGame(req, ctx);
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
  ctx: Context,
): RequirementOutcome {
  const out: RequirementOutcome = { bindings: [], unresolved: [], diagnostics: [] };
  // The cause is the consumer's requirement: reported on it, with the world where it shows.
  const at = (d: Diagnostic): Diagnostic => (ctx.world ? inWorld(d, ctx.world) : d);
  for (const consumer of consumers) {
    const source = sourceOf(ctx.catalog, `ModuleManifest/${consumer.metadata.name}`);
    (consumer.spec.requires ?? []).forEach((req, i) => {
      const field = `spec.requires[${i}]`;
      const bad = scopeProblem(consumer, req);
      if (bad) {
        out.diagnostics.push(at(error(source, field, `${describeRequirement(consumer, req)}: ${bad}`, 'InvalidScope')));
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
      // Provided by a listed module that is invalid: that module's errors (and the game's
      // "depends on invalid module") are the cause; a second message here would be false.
      if (providedByInvalid(req.capabilityId, ctx)) return;
      const message = `${describeRequirement(consumer, req)}: ${whyUnresolved(consumer, req, index, universe, ctx)}`;
      out.diagnostics.push(at(optional ? warning(source, field, message, 'OptionalUnresolved') : error(source, field, message, 'Unresolved')));
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
  const outcome = resolveRequirements(modules, index, modules, { catalog });
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
  const diagnostics = [...outcome.diagnostics, ...unreachableProviders(bindings, modules, catalog)];
  return { modules, bindings: sortBindings(bindings), roots, diagnostics };
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
  const key = `${namespace}/${worldName}`;
  const source = sourceOf(catalog, `WorldInstance/${key}`);
  const plan: WorldPlan = { world, modules: [], bindings: [], roots: [], unresolved: [], routes: [], diagnostics: [] };

  const gameName = world.spec.gameRef.name;
  const game = catalog.games.get(gameName);
  if (!game) {
    // An invalid game is reported with its own errors: one line for every world that uses it.
    const problem = catalog.invalid.has(`GameDefinition/${gameName}`)
      ? error(sourceOf(catalog, `GameDefinition/${gameName}`), undefined, `game ${gameName} is invalid (see its errors); worlds of it cannot be resolved`, 'GameInvalid')
      : error(source, 'spec.gameRef.name', `game ${gameName} is not defined (no GameDefinition named ${gameName})${didYouMean(gameName, catalog.games.keys())}`, 'GameNotFound');
    plan.diagnostics.push(inWorld(problem, key));
    return plan;
  }
  plan.game = game;
  const gameSource = sourceOf(catalog, `GameDefinition/${game.metadata.name}`);
  game.spec.modules.forEach(({ name }, i) => {
    const m = catalog.modules.get(name);
    if (m) plan.modules.push(m);
    else {
      // The same diagnostic as the game's own (checkGame), so the two group into one line.
      const reason = catalog.invalid.has(`ModuleManifest/${name}`) ? 'ModuleInvalid' : 'ModuleNotFound';
      plan.diagnostics.push(inWorld(error(gameSource, `spec.modules[${i}].name`, missingModule(name, catalog.invalid, catalog.modules.keys()), reason), key));
    }
  });

  const index = indexProviders(plan.modules);
  const perWorld = plan.modules.filter((m) => !isGlobalModule(m));
  const outcome = resolveRequirements(perWorld, index, plan.modules, { world: key, game, catalog });
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
  plan.diagnostics.push(...unreachableProviders(plan.bindings, plan.modules, catalog).map((d) => inWorld(d, key)));
  plan.routes = actionRoutes(plan, gameSource, catalog);
  return plan;
}

/**
 * A provider without ports cannot be reached: it gets no Service, and its consumers would
 * wait for its DNS name forever. An error on the provider, naming who needs it.
 */
function unreachableProviders(bindings: readonly PlannedBinding[], modules: readonly ModuleManifest[], catalog: Catalog): Diagnostic[] {
  const out: Diagnostic[] = [];
  for (const m of modules) {
    if ((m.spec.ports ?? []).length > 0) continue;
    const uses = bindings.filter((b) => b.spec.consumer.kind === 'ModuleManifest' && b.spec.provider.module === m.metadata.name);
    if (uses.length === 0) continue;
    const consumers = [...new Set(uses.map((b) => `${b.spec.consumer.name} (${b.spec.capabilityId})`))].sort();
    out.push(error(sourceOf(catalog, `ModuleManifest/${m.metadata.name}`), 'spec.ports', `module ${m.metadata.name} has no ports, but ${consumers.join(', ')} depend${consumers.length === 1 ? 's' : ''} on it: it would get no Service and they could not reach it; give it spec.ports`, 'ProviderWithoutPorts'));
  }
  return out;
}

/**
 * The world's action route table. Routes and NetworkPolicies must agree: an action gets a
 * route only if every gateway (routesActions module) of the world is bound to the module that
 * serves it — its policy admits exactly its bound providers — and the route names the port
 * it uses, the provider's first TCP port. Anything else is an error, not a route that fails
 * at run time. An action served by two modules is ambiguous.
 */
function actionRoutes(plan: WorldPlan, gameSource: string, catalog: Catalog): ActionRoute[] {
  const key = `${plan.world.metadata.namespace ?? 'default'}/${plan.world.metadata.name}`;
  const gateways = plan.modules.filter((m) => m.spec.routesActions && !isGlobalModule(m)).map((m) => m.metadata.name);
  const boundTo = (gateway: string, provider: string): boolean =>
    plan.bindings.some((b) => b.spec.consumer.kind === 'ModuleManifest' && b.spec.consumer.name === gateway && b.spec.provider.module === provider);
  const problem = (d: Diagnostic): void => void plan.diagnostics.push(inWorld(d, key));
  const routes = new Map<string, ActionRoute>();
  for (const m of plan.modules) {
    const source = sourceOf(catalog, `ModuleManifest/${m.metadata.name}`);
    (m.spec.provides ?? []).forEach((p, i) => {
      if (!p.actions?.length || gateways.length === 0) return;
      const field = `spec.provides[${i}].actions`;
      const unbound = gateways.filter((g) => !boundTo(g, m.metadata.name));
      if (unbound.length > 0) {
        problem(error(source, field, `actions ${p.actions.join(', ')} cannot be reached: gateway ${unbound.join(', ')} is not bound to ${m.metadata.name} (no requirement of it resolves to ${p.capabilityId}), so its NetworkPolicy would block the route; make it require ${p.capabilityId}`, 'UnreachableAction'));
        return;
      }
      const port = (m.spec.ports ?? []).find((x) => (x.protocol ?? 'TCP') === 'TCP');
      if (!port) {
        problem(error(source, field, `actions ${p.actions.join(', ')} need a TCP port to be routed to, and ${m.metadata.name} has none`, 'UnreachableAction'));
        return;
      }
      for (const action of p.actions) {
        const earlier = routes.get(action);
        if (earlier && earlier.module !== m.metadata.name) {
          problem(error(gameSource, 'spec.modules', `action ${action} is served by both ${earlier.module} (${earlier.capabilityId}) and ${m.metadata.name} (${p.capabilityId}); a route must be unambiguous`, 'AmbiguousRoute'));
          continue;
        }
        routes.set(action, { action, module: m.metadata.name, capabilityId: p.capabilityId, port });
      }
    });
  }
  return [...routes.values()].sort((a, b) => a.action.localeCompare(b.action));
}

/** Resolves every world of the catalog and the global bindings: what synth and the CLI use. */
export function resolveAll(catalog: Catalog): { global: GlobalPlan; worlds: WorldPlan[]; diagnostics: Diagnostic[]; collisions: Diagnostic[] } {
  const global = resolveGlobal(catalog);
  const worlds = catalog.worlds.map((w) => resolveWorld(catalog, w));
  // Binding names are unique by construction; a collision across worlds would mean two
  // worlds write one object, so it is checked anyway (lib/names/collisions.ts).
  const collisions = nameCollisions([
    ...global.bindings.map((b) => ({ kind: 'CapabilityBinding', namespace: b.namespace, name: b.name, owner: 'platform' })),
    ...worlds.flatMap((w) =>
      w.bindings.map((b) => ({ kind: 'CapabilityBinding', namespace: b.namespace, name: b.name, owner: `world ${w.world.metadata.namespace ?? 'default'}/${w.world.metadata.name}` })),
    ),
  ]);
  return { global, worlds, diagnostics: [...global.diagnostics, ...worlds.flatMap((w) => w.diagnostics), ...collisions], collisions };
}
