/**
 * Game revisions (issue 10), pure: what a world is rendered from, as an immutable snapshot.
 *
 * A revision is one per game and content: the GameDefinition's spec (without its rollout
 * policy, which says how to move between revisions, not what runs) and the spec of every
 * module it lists, with the defaults validation filled in. Its name is the game's name and
 * a hash of that content, so synth and the reconciler, given the same definitions, name the
 * same revision, and a content seen again (a module set back) is the same revision again.
 * The reconciler keeps each as an apps/v1 ControllerRevision in anvil-system.
 */
import { createHash } from 'node:crypto';
import { API_VERSION, type GameDefinition, type GameDefinitionSpec, type ModuleManifest, type ModuleManifestSpec } from '../api/schema.js';
import { dnsName } from '../names/names.js';
import { buildCatalog, type Catalog } from './catalog.js';
import type { Diagnostic } from '../diagnostics/diagnostics.js';

export interface RevisionData {
  game: { name: string; spec: Omit<GameDefinitionSpec, 'rollout'> };
  modules: { name: string; spec: ModuleManifestSpec }[];
}

/** JSON with object keys sorted at every level: the same content always hashes the same. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v && typeof v === 'object') {
    const entries = Object.entries(v as Record<string, unknown>).filter(([, x]) => x !== undefined);
    return `{${entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([k, x]) => `${JSON.stringify(k)}:${canonicalJson(x)}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

/** The snapshot of a game from a catalog; undefined when the game or one of its modules is missing. */
export function snapshotGame(catalog: Catalog, gameName: string): RevisionData | undefined {
  const game = catalog.games.get(gameName);
  if (!game) return undefined;
  const modules = game.spec.modules.map((m) => catalog.modules.get(m.name));
  if (modules.some((m) => m === undefined)) return undefined;
  const { rollout: _policy, ...spec } = game.spec;
  return {
    game: { name: gameName, spec: structuredClone(spec) },
    modules: (modules as ModuleManifest[]).map((m) => ({ name: m.metadata.name, spec: structuredClone(m.spec) })).sort((a, b) => (a.name < b.name ? -1 : 1)),
  };
}

export const revisionHash = (data: RevisionData): string => createHash('sha256').update(canonicalJson(data)).digest('hex').slice(0, 10);

/** `<game>-<hash>`: a DNS name (ControllerRevision names are), the hash kept when the game's name is long. */
export const revisionName = (data: RevisionData): string => dnsName([data.game.name, revisionHash(data)]);

/** The catalog a world of this revision resolves against: the snapshot's game and modules, validated again. */
export function catalogOfRevision(name: string, data: RevisionData): { catalog: Catalog; diagnostics: Diagnostic[] } {
  const objects = [
    { apiVersion: API_VERSION, kind: 'GameDefinition', metadata: { name: data.game.name }, spec: data.game.spec } as GameDefinition,
    ...data.modules.map((m) => ({ apiVersion: API_VERSION, kind: 'ModuleManifest', metadata: { name: m.name }, spec: m.spec }) as ModuleManifest),
  ];
  return buildCatalog(objects.map((object) => ({ object: structuredClone(object), source: `ControllerRevision/${name}: ${object.kind}/${object.metadata.name}` })));
}

/** The modules of a revision as a world's status lists them. */
export const moduleVersions = (data: RevisionData): { name: string; version: string; image: string }[] =>
  data.modules.map((m) => ({ name: m.name, version: m.spec.version, image: m.spec.image }));
