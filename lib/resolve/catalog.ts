/**
 * The catalog: every ModuleManifest, GameDefinition and WorldInstance the resolver may look
 * at, validated, with duplicates and dangling references reported together.
 */
import { error, type Diagnostic } from '../diagnostics/diagnostics.js';
import { didYouMean } from '../diagnostics/suggest.js';
import { objectRef, validateObject } from '../api/validate.js';
import type { AnvilResource, GameDefinition, ModuleManifest, WorldInstance } from '../api/schema.js';

/** An object with where it came from (`games/a.yaml#3`, or its own reference). */
export interface Sourced<T = unknown> {
  object: T;
  source: string;
}

export interface Catalog {
  readonly modules: ReadonlyMap<string, ModuleManifest>;
  readonly games: ReadonlyMap<string, GameDefinition>;
  readonly worlds: readonly WorldInstance[];
  /** Where each object came from, by `objectRef`, for messages. */
  readonly sources: ReadonlyMap<string, string>;
  /** `Kind/name` of definitions left out because they are invalid (their errors are reported). */
  readonly invalid: ReadonlySet<string>;
  /**
   * What invalid modules say they provide (capability id -> module names), read as far as
   * they can be: a requirement of one of them depends on the invalid module, and is not
   * reported as "no module provides it" (one cause, reported once).
   */
  readonly invalidProviders?: ReadonlyMap<string, readonly string[]>;
}

export interface CatalogResult {
  catalog: Catalog;
  diagnostics: Diagnostic[];
}

const worldKey = (w: WorldInstance): string => `${w.metadata.namespace ?? 'default'}/${w.metadata.name}`;

/**
 * Validates every object and indexes the good ones. Objects that are invalid are left out
 * (and reported), so that one bad object cannot take the others down with it.
 */
export function buildCatalog(input: readonly Sourced[], opts: { defaultNamespace?: string } = {}): CatalogResult {
  const diagnostics: Diagnostic[] = [];
  const modules = new Map<string, ModuleManifest>();
  const games = new Map<string, GameDefinition>();
  const worlds = new Map<string, WorldInstance>();
  const sources = new Map<string, string>();
  const firstSeen = new Map<string, string>();
  const invalid = new Set<string>();
  const invalidProviders = new Map<string, string[]>();

  for (const { object, source } of input) {
    const problems = validateObject(object, source);
    diagnostics.push(...problems);
    if (problems.length > 0) {
      const o = object as { kind?: unknown; metadata?: { name?: unknown } } | null;
      if (typeof o?.kind === 'string' && typeof o.metadata?.name === 'string') {
        invalid.add(`${o.kind}/${o.metadata.name}`);
        if (o.kind === 'ModuleManifest') for (const id of claimedCapabilities(object)) invalidProviders.set(id, [...(invalidProviders.get(id) ?? []), o.metadata.name]);
      }
      continue;
    }
    const o = object as AnvilResource;
    if (o.kind === 'CapabilityBinding') continue; // output, not input: ignored when read back
    if (o.kind === 'WorldPool' || o.kind === 'WorldClaim') continue; // runtime objects: nothing to resolve
    if (o.kind === 'WorldInstance' && !o.metadata.namespace) {
      o.metadata = { ...o.metadata, namespace: opts.defaultNamespace ?? 'default' };
    }
    const key = o.kind === 'WorldInstance' ? `WorldInstance/${worldKey(o)}` : `${o.kind}/${o.metadata.name}`;
    const earlier = firstSeen.get(key);
    if (earlier !== undefined) {
      diagnostics.push(error(source, 'metadata.name', `duplicate ${key}: already defined in ${earlier}`));
      continue;
    }
    firstSeen.set(key, source);
    sources.set(objectRef(o), source);
    if (o.kind === 'ModuleManifest') modules.set(o.metadata.name, o);
    else if (o.kind === 'GameDefinition') games.set(o.metadata.name, o);
    else worlds.set(worldKey(o), o);
  }

  for (const game of games.values()) diagnostics.push(...checkGame(game, sources.get(objectRef(game)) ?? objectRef(game), modules, invalid));

  const sortedWorlds = [...worlds.values()].sort((a, b) => worldKey(a).localeCompare(worldKey(b)));
  return { catalog: { modules, games, worlds: sortedWorlds, sources, invalid, invalidProviders }, diagnostics };
}

/** The capability ids an (invalid) module object lists under spec.provides, as far as they can be read. */
function claimedCapabilities(object: unknown): string[] {
  const provides = (object as { spec?: { provides?: unknown } }).spec?.provides;
  if (!Array.isArray(provides)) return [];
  return provides.map((p) => (p as { capabilityId?: unknown } | null)?.capabilityId).filter((id): id is string => typeof id === 'string');
}

/** What a GameDefinition can get wrong on its own: duplicates, unknown modules, booklets. */
export function checkGame(
  game: GameDefinition,
  source: string,
  modules: ReadonlyMap<string, ModuleManifest>,
  invalid: ReadonlySet<string> = new Set(),
): Diagnostic[] {
  const out: Diagnostic[] = [];
  const listed = new Set<string>();
  game.spec.modules.forEach((m, i) => {
    if (listed.has(m.name)) out.push(error(source, `spec.modules[${i}].name`, `module ${m.name} is listed twice`));
    listed.add(m.name);
    if (!modules.has(m.name)) {
      out.push(error(source, `spec.modules[${i}].name`, missingModule(m.name, invalid, modules.keys()), invalid.has(`ModuleManifest/${m.name}`) ? 'ModuleInvalid' : 'ModuleNotFound'));
    }
  });
  (game.spec.booklets ?? []).forEach((b, i) => {
    b.modules.forEach((name, j) => {
      const field = `spec.booklets[${i}].modules[${j}]`;
      if (!listed.has(name)) out.push(error(source, field, `booklet ${b.name} names ${name}, which is not one of spec.modules`));
      const scope = modules.get(name)?.spec.scope ?? 'world';
      if (modules.has(name) && (scope === 'cluster' || scope === 'region')) {
        out.push(error(source, field, `booklet ${b.name} names ${name}, a ${scope}-scoped module: only per-world modules can be colocated`));
      }
    });
  });
  return out;
}

/** Why a listed module is not in the catalog: never defined, or defined but invalid. */
export const missingModule = (name: string, invalid: ReadonlySet<string>, known: Iterable<string> = []): string =>
  invalid.has(`ModuleManifest/${name}`)
    ? `depends on invalid module ${name} (its own errors are listed with ModuleManifest/${name})`
    : `module ${name} is not defined (no ModuleManifest named ${name})${didYouMean(name, known)}`;
