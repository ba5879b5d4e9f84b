/**
 * Small in-code catalogs for the unit tests: plain anvil.dev objects, as a user would write
 * them in YAML, passed through buildCatalog so that schema defaults apply exactly as in synth.
 */
import { API_VERSION, type ModuleManifestSpec, type Requirement } from '../../lib/api/schema.js';
import type { Diagnostic } from '../../lib/diagnostics/diagnostics.js';
import { buildCatalog, type Catalog, type Sourced } from '../../lib/resolve/catalog.js';

type Obj = Record<string, any>;

/**
 * A ModuleManifest; version 1.0.0 and an image unless given. A provider gets a port unless
 * given (`ports: []` for none): a provider without ports is an error (ProviderWithoutPorts).
 */
export const mod = (name: string, spec: Partial<ModuleManifestSpec> = {}): Obj => ({
  apiVersion: API_VERSION,
  kind: 'ModuleManifest',
  metadata: { name },
  spec: {
    version: '1.0.0',
    image: `registry.example/${name}:1`,
    ...(spec.provides?.length && !spec.ports ? { ports: [{ name: 'grpc', port: 50051, protocol: 'TCP' }] } : {}),
    ...spec,
  },
});

/** A requirement at scope world unless given; multiplicity and dependencyMode left to defaults. */
export const req = (capabilityId: string, versionConstraint = '*', extra: Partial<Requirement> = {}): Requirement => ({
  capabilityId,
  versionConstraint,
  scope: 'world',
  ...extra,
});

export const provides = (capabilityId: string, version = '1.0.0', actions?: string[]) => ({
  capabilityId,
  version,
  ...(actions ? { actions } : {}),
});

export const game = (name: string, modules: string[], booklets?: Obj[]): Obj => ({
  apiVersion: API_VERSION,
  kind: 'GameDefinition',
  metadata: { name },
  spec: { modules: modules.map((m) => ({ name: m })), ...(booklets ? { booklets } : {}) },
});

export const world = (name: string, gameName: string, opts: { namespace?: string; region?: string; shards?: number } = {}): Obj => ({
  apiVersion: API_VERSION,
  kind: 'WorldInstance',
  metadata: { name, namespace: opts.namespace ?? 'games' },
  spec: {
    gameRef: { name: gameName },
    ...(opts.region ? { region: opts.region } : {}),
    ...(opts.shards ? { shards: opts.shards } : {}),
  },
});

/**
 * Deep copies (buildCatalog fills defaults in place), each sourced by its kind and name. A JSON
 * round trip, like YAML or API input; not structuredClone, whose objects come from Jest's host
 * realm and so are not plain `Object`s to code running inside the test sandbox.
 */
export const sourced = (objects: readonly Obj[]): Sourced[] =>
  objects.map((o) => ({ object: JSON.parse(JSON.stringify(o)) as unknown, source: `${o.kind}/${o.metadata?.name}` }));

/** A catalog that must be free of problems: a fixture with a typo fails loudly here. */
export function catalogOf(objects: readonly Obj[]): Catalog {
  const { catalog, diagnostics } = buildCatalog(sourced(objects));
  expect(diagnostics).toEqual([]);
  return catalog;
}

export const errorsOf = (ds: readonly Diagnostic[]): Diagnostic[] => ds.filter((d) => d.severity === 'error');
export const warningsOf = (ds: readonly Diagnostic[]): Diagnostic[] => ds.filter((d) => d.severity === 'warning');
