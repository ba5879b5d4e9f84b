/**
 * A generated platform for the resolver bench: games of 20 modules each, so every size has
 * the same shape and only the count changes.
 *
 * Per game g: one cluster-scoped hub `g<g>-hub` (provides `hub-g<g>`, requires the hubs of
 * the next min(10, games-1) games: global bindings) and 19 world-scoped modules `g<g>-m<k>`
 * providing `g<g>.c<k mod 9>` at version 1.<k>.0 (2-3 providers per capability, so "1"
 * has to choose by version), each requiring all nine of its game's capabilities (alternately
 * multiplicity "1" and "many") and its game's hub: 10 requirements per module. Two worlds per
 * game. Everything resolves, so the figures are those of the successful path.
 */
import { API_VERSION } from '../lib/api/schema.js';
import type { Sourced } from '../lib/resolve/catalog.js';

export const MODULES_PER_GAME = 20;
export const WORLDS_PER_GAME = 2;
const CAPS_PER_GAME = 9;

export interface Platform {
  objects: Sourced[];
  modules: number;
  requirements: number;
  games: number;
  worlds: number;
}

export function generatePlatform(moduleCount: number): Platform {
  const games = Math.max(1, Math.round(moduleCount / MODULES_PER_GAME));
  const objects: Sourced[] = [];
  let requirements = 0;
  const add = (object: { kind: string; metadata: { name: string; namespace?: string } }) =>
    objects.push({ object: { apiVersion: API_VERSION, ...object }, source: `generated ${object.kind}/${object.metadata.name}` });

  for (let g = 0; g < games; g++) {
    const hub = `g${g}-hub`;
    const others = Array.from({ length: Math.min(10, games - 1) }, (_, i) => `hub-g${(g + 1 + i) % games}`);
    requirements += others.length;
    add({
      kind: 'ModuleManifest',
      metadata: { name: hub },
      spec: {
        version: '1.0.0',
        scope: 'cluster',
        image: `registry.example/hub:1.0.0`,
        ports: [{ name: 'grpc', port: 7000, protocol: 'TCP' }],
        provides: [{ capabilityId: `hub-g${g}`, version: '1.0.0' }],
        requires: others.map((capabilityId) => ({ capabilityId, versionConstraint: '>=1.0.0', scope: 'cluster', multiplicity: '1', dependencyMode: 'required' })),
      },
    } as never);
    const members = [hub];
    for (let k = 1; k < MODULES_PER_GAME; k++) {
      const name = `g${g}-m${k}`;
      members.push(name);
      const requires = [
        ...Array.from({ length: CAPS_PER_GAME }, (_, c) => ({
          capabilityId: `g${g}.c${c}`,
          versionConstraint: '^1.0.0',
          scope: 'world',
          multiplicity: c % 2 === 0 ? '1' : 'many',
          dependencyMode: c === CAPS_PER_GAME - 1 ? 'optional' : 'required',
        })),
        { capabilityId: `hub-g${g}`, versionConstraint: '^1.0.0', scope: 'cluster', multiplicity: '1', dependencyMode: 'required' },
      ];
      requirements += requires.length;
      add({
        kind: 'ModuleManifest',
        metadata: { name },
        spec: {
          version: `1.${k}.0`,
          image: `registry.example/${name}:1.${k}.0`,
          ports: [{ name: 'grpc', port: 8000 + k, protocol: 'TCP' }],
          provides: [{ capabilityId: `g${g}.c${k % CAPS_PER_GAME}`, version: `1.${k}.0`, actions: [`act-g${g}-${k}`] }],
          requires,
        },
      } as never);
    }
    add({ kind: 'GameDefinition', metadata: { name: `game-${g}` }, spec: { modules: members.map((name) => ({ name })) } } as never);
    for (let w = 0; w < WORLDS_PER_GAME; w++) {
      add({ kind: 'WorldInstance', metadata: { name: `w-${g}-${w}`, namespace: 'bench' }, spec: { gameRef: { name: `game-${g}` }, region: 'default', shards: 1 } } as never);
    }
  }
  return { objects, modules: games * MODULES_PER_GAME, requirements, games, worlds: games * WORLDS_PER_GAME };
}
