/**
 * The cached ModuleManifests and GameDefinitions as a resolver Catalog: built with the
 * library's buildCatalog (validation, defaults, duplicate checks) from copies of the
 * informer caches, once per change of any definition rather than once per world.
 * Definitions that fail validation are left out of the catalog and remembered, so a world
 * whose game is malformed says why instead of just "not found".
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import { API_VERSION, type GameDefinition, type ModuleManifest, type WorldInstance } from '../../api/schema.js';
import { objectRef } from '../../api/validate.js';
import type { Diagnostic } from '../../diagnostics/diagnostics.js';
import { buildCatalog, type Catalog } from '../../resolve/catalog.js';

export interface Definitions {
  /** Modules and games only (no worlds). */
  catalog: Catalog;
  /** Problems of definitions, by objectRef (`GameDefinition/x`). */
  problems: ReadonlyMap<string, Diagnostic[]>;
}

export interface DefinitionSources {
  modules(): readonly KubernetesObject[];
  games(): readonly KubernetesObject[];
}

/** A deep copy with kind and apiVersion (list items come without them): validation fills defaults in place. */
export const copyOf = <T>(o: KubernetesObject, kind: string): T => ({ ...structuredClone(o), apiVersion: API_VERSION, kind }) as T;

export class DefinitionsCache {
  private current?: Definitions;
  constructor(private readonly sources: DefinitionSources) {}

  invalidate(): void {
    this.current = undefined;
  }

  get(): Definitions {
    if (this.current) return this.current;
    const input = [
      ...this.sources.modules().map((o) => copyOf<ModuleManifest>(o, 'ModuleManifest')),
      ...this.sources.games().map((o) => copyOf<GameDefinition>(o, 'GameDefinition')),
    ].map((object) => ({ object, source: objectRef(object) }));
    const { catalog, diagnostics } = buildCatalog(input);
    const problems = new Map<string, Diagnostic[]>();
    for (const d of diagnostics) problems.set(d.source, [...(problems.get(d.source) ?? []), d]);
    this.current = { catalog, problems };
    return this.current;
  }

  /** The catalog for resolving one world: the definitions plus that world. */
  forWorld(world: WorldInstance): Catalog {
    const { catalog } = this.get();
    return { ...catalog, worlds: [world] };
  }
}
