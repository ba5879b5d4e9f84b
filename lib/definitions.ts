/**
 * What game authors write: typed constructs for modules, games and static worlds. Each one
 * is the matching anvil.dev object in dist/, and the input of the resolver at synth.
 *
 *   const physics = new Module(defs, 'physics-engine', { version: '2.1.0', image: …, provides: […] });
 *   const game = new Game(defs, 'command-path', { modules: [gateway, physics, bus] });
 *   new World(defs, 'cp-eu-1', { game, namespace: 'command-path', region: 'eu-west' });
 *   new WorldPool(defs, 'cp-eu', { game, namespace: 'command-path', region: 'eu-west', buffer: 5 });
 */
import type { Construct } from 'constructs';
import type { BookletStrategy, GameRollout, ModuleManifestSpec, WorldInstanceSpec, WorldPoolSpec } from './api/schema.js';
import { LABEL_STATIC, MANAGED_BY } from './render/labels.js';
import { GameDefinitionObject, ModuleManifestObject, WorldInstanceObject, WorldPoolObject } from './render/objects.js';

const definitionLabels = { [MANAGED_BY]: 'anvil', 'app.kubernetes.io/part-of': 'anvil' };

/**
 * A construct id not yet used in `scope`: `id`, else `id#2`, `id#3`, …. Two definitions of
 * one name are then not a raw constructs error ("There is already a Construct with name …")
 * at construction, but reach synth's validation, which reports the duplicate by name.
 */
function freeId(scope: Construct, id: string): string {
  let candidate = id;
  for (let n = 2; scope.node.tryFindChild(candidate); n++) candidate = `${id}#${n}`;
  return candidate;
}

export type ModuleProps = ModuleManifestSpec;

/** A ModuleManifest. Its construct id is its name. */
export class Module extends ModuleManifestObject {
  readonly moduleName: string;
  constructor(scope: Construct, name: string, props: ModuleProps) {
    super(scope, freeId(scope, name), { metadata: { name, labels: definitionLabels }, spec: props });
    this.moduleName = name;
  }
}

type ModuleRef = Module | string;
const moduleName = (m: ModuleRef): string => (typeof m === 'string' ? m : m.moduleName);

export interface BookletProps {
  name: string;
  modules: ModuleRef[];
  strategy: BookletStrategy;
}

export interface GameProps {
  modules: ModuleRef[];
  /** Groups of modules to colocate (same node or same zone). */
  booklets?: BookletProps[];
  /** How a new revision reaches its worlds, static ones included (README: Rollouts). */
  rollout?: GameRollout;
}

/** A GameDefinition: the set of modules a world of this game runs. */
export class Game extends GameDefinitionObject {
  readonly gameName: string;
  constructor(scope: Construct, name: string, props: GameProps) {
    // Ids by kind: a game, a module and a world may share a name, as in Kubernetes.
    super(scope, freeId(scope, `GameDefinition.${name}`), {
      metadata: { name, labels: definitionLabels },
      spec: {
        modules: props.modules.map((m) => ({ name: moduleName(m) })),
        ...(props.booklets ? { booklets: props.booklets.map((b) => ({ name: b.name, strategy: b.strategy, modules: b.modules.map(moduleName) })) } : {}),
        ...(props.rollout ? { rollout: props.rollout } : {}),
      },
    });
    this.gameName = name;
  }
}

export interface WorldProps {
  game: Game | string;
  /** Default: `default`. Synth creates the namespace with the restricted Pod Security Standard. */
  namespace?: string;
  region?: string;
  shards?: number;
}

/** A static WorldInstance: rendered by synth; the reconciler only reports its status. */
export class World extends WorldInstanceObject {
  constructor(scope: Construct, name: string, props: WorldProps) {
    const spec: WorldInstanceSpec = {
      gameRef: { name: typeof props.game === 'string' ? props.game : props.game.gameName },
      region: props.region ?? 'default',
      shards: props.shards ?? 1,
    };
    // The namespace is part of the id: one world name may be used in two namespaces.
    super(scope, freeId(scope, `WorldInstance.${props.namespace ?? 'default'}.${name}`), {
      metadata: { name, namespace: props.namespace ?? 'default', labels: { ...definitionLabels, [LABEL_STATIC]: 'true' } },
      spec,
    });
  }
}

export interface WorldPoolProps {
  game: Game | string;
  /** Default: `default`. Synth creates the namespace like a static world's, with the matchmaker Role in it. */
  namespace?: string;
  region?: string;
  shards?: number;
  /** Unclaimed Running worlds the reconciler keeps ready (spec.buffer.ready). Default 1. */
  buffer?: number;
  /** Never fewer worlds in all (default 0). */
  minWorlds?: number;
  /** Never more worlds in all, claimed ones included (default 100). */
  maxWorlds?: number;
  /** Labels stamped on every world of the pool (claims can select on them). */
  worldLabels?: Record<string, string>;
}

/** A WorldPool: the reconciler keeps `buffer` worlds of the game warm for WorldClaims to take. */
export class WorldPool extends WorldPoolObject {
  constructor(scope: Construct, name: string, props: WorldPoolProps) {
    const spec: WorldPoolSpec = {
      gameRef: { name: typeof props.game === 'string' ? props.game : props.game.gameName },
      region: props.region ?? 'default',
      shards: props.shards ?? 1,
      buffer: { ready: props.buffer ?? 1 },
      minWorlds: props.minWorlds ?? 0,
      maxWorlds: props.maxWorlds ?? 100,
      ...(props.worldLabels ? { worldLabels: props.worldLabels } : {}),
    };
    super(scope, name, { metadata: { name, namespace: props.namespace ?? 'default', labels: definitionLabels }, spec });
  }
}
