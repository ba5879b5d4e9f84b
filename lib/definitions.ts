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
import type { BookletStrategy, GameRollout, ModuleManifestSpec, PoolRollout, WorldInstanceSpec, WorldPoolSpec } from './api/schema.js';
import { error, type Diagnostic } from './diagnostics/diagnostics.js';
import { callerLocation, unknownProps } from './diagnostics/authoring.js';
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

/**
 * What synth needs to point at the author's code: where the construct was made (the first
 * stack frame outside Anvil, `games/duel.ts:12`) and its props' own problems (unknown props,
 * which TypeScript does not see under tsx or in JavaScript). AnvilApp reads both.
 */
export interface Authored {
  /** `Kind/[namespace/]name (games/duel.ts:12)`: the source every diagnostic of it names. */
  readonly anvilSource: string;
  /** Problems of the props themselves, reported at synth with the others. */
  readonly propsProblems: readonly Diagnostic[];
}

/** The props' keys, which the compiler holds to be exactly the keys of `T` (none missing, none extra). */
export const propKeys =
  <T>() =>
  <const K extends readonly (keyof T)[]>(...keys: K & ([Exclude<keyof T, K[number]>] extends [never] ? unknown : { missing: Exclude<keyof T, K[number]> })): readonly string[] =>
    keys as readonly string[];

const sourceOf = (ref: string, nodePath: string, location: string | undefined): string => `${ref} (${location ?? nodePath})`;

/** A construct's `anvilSource` and `propsProblems`, computed from its props and the stack. */
function authored(ref: string, nodePath: string, location: string | undefined, problems: (source: string) => Diagnostic[]): Authored {
  const anvilSource = sourceOf(ref, nodePath, location);
  return { anvilSource, propsProblems: problems(anvilSource) };
}

export type ModuleProps = ModuleManifestSpec;

/** A ModuleManifest. Its construct id is its name. */
export class Module extends ModuleManifestObject implements Authored {
  readonly moduleName: string;
  readonly anvilSource: string;
  // Module props are the spec: the schema checks them (unknown fields included).
  readonly propsProblems: readonly Diagnostic[] = [];
  constructor(scope: Construct, name: string, props: ModuleProps) {
    super(scope, freeId(scope, name), { metadata: { name, labels: definitionLabels }, spec: props });
    this.moduleName = name;
    this.anvilSource = sourceOf(`ModuleManifest/${name}`, this.node.path, callerLocation());
  }
}

type ModuleRef = Module | string;
const moduleName = (m: ModuleRef): string => (typeof m === 'string' ? m : m.moduleName);

export interface BookletProps {
  /** Booklet name */
  name: string;
  /** The modules to colocate (Module constructs or module names), each a module of this game. */
  modules: ModuleRef[];
  /** Where the booklet modules are colocated: `SameNode` or `SameZone`. */
  strategy: BookletStrategy;
}

const BOOKLET_PROPS = propKeys<BookletProps>()('name', 'modules', 'strategy');

export interface GameProps {
  /** The modules every world of the game runs (Module constructs or module names). */
  modules: ModuleRef[];
  /** Groups of modules to colocate (same node or same zone). */
  booklets?: BookletProps[];
  /** How a new revision reaches the worlds of the game, static ones included (README: Rollouts). */
  rollout?: GameRollout;
}
const GAME_PROPS = propKeys<GameProps>()('modules', 'booklets', 'rollout');

/** A GameDefinition: the set of modules a world of this game runs. */
export class Game extends GameDefinitionObject implements Authored {
  readonly gameName: string;
  readonly anvilSource: string;
  readonly propsProblems: readonly Diagnostic[];
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
    ({ anvilSource: this.anvilSource, propsProblems: this.propsProblems } = authored(`GameDefinition/${name}`, this.node.path, callerLocation(), (source) => [
      ...unknownProps(props, GAME_PROPS, source),
      ...(props.booklets ?? []).flatMap((b, i) => unknownProps(b, BOOKLET_PROPS, source, `booklets[${i}].`)),
    ]));
  }
}

export interface WorldProps {
  /** The game this world runs (a Game construct or a game name). */
  game: Game | string;
  /** Default: `default`. Synth creates the namespace with the restricted Pod Security Standard. */
  namespace?: string;
  /** Where the world runs; region-scoped modules run once per region. Default: `default`. */
  region?: string;
  /** Instances of the game's world-shard modules (1-64). Default: 1. */
  shards?: number;
}
const WORLD_PROPS = propKeys<WorldProps>()('game', 'namespace', 'region', 'shards');

/** A static WorldInstance: rendered by synth; the reconciler only reports its status. */
export class World extends WorldInstanceObject implements Authored {
  readonly anvilSource: string;
  readonly propsProblems: readonly Diagnostic[];
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
    ({ anvilSource: this.anvilSource, propsProblems: this.propsProblems } = authored(`WorldInstance/${props.namespace ?? 'default'}/${name}`, this.node.path, callerLocation(), (source) =>
      unknownProps(props, WORLD_PROPS, source),
    ));
  }
}

export interface WorldPoolProps {
  /** The game of the pool's worlds (a Game construct or a game name). */
  game: Game | string;
  /** Default: `default`. Synth creates the namespace like a static world's, with the matchmaker Role in it. */
  namespace?: string;
  /** The region of every world of the pool. Default: `default`. */
  region?: string;
  /** Shards of each world (1-64). Default: 1. */
  shards?: number;
  /**
   * Unclaimed Running worlds to keep (spec.buffer.ready). Default 1. A
   * count, not a percentage: a pool's size follows its claims, so a share of it would move
   * with every claim (README: Warm pools and claims).
   */
  buffer?: number;
  /** Never fewer worlds in all. Default 0. */
  minWorlds?: number;
  /** Never more worlds in all (claimed included). Default 100. */
  maxWorlds?: number;
  /** Labels stamped on every world of the pool (claims can select on them). */
  worldLabels?: Record<string, string>;
  /** Overrides the game's rollout policy for this pool's worlds (strategy, maxUnavailableWorlds, claimedWorlds). */
  rollout?: PoolRollout;
}
const POOL_PROPS = propKeys<WorldPoolProps>()('game', 'namespace', 'region', 'shards', 'buffer', 'minWorlds', 'maxWorlds', 'worldLabels', 'rollout');

/** A WorldPool: the reconciler keeps `buffer` worlds of the game warm for WorldClaims to take. */
export class WorldPool extends WorldPoolObject implements Authored {
  readonly anvilSource: string;
  readonly propsProblems: readonly Diagnostic[];
  constructor(scope: Construct, name: string, props: WorldPoolProps) {
    const spec: WorldPoolSpec = {
      gameRef: { name: typeof props.game === 'string' ? props.game : props.game.gameName },
      region: props.region ?? 'default',
      shards: props.shards ?? 1,
      // A buffer that is not a count is reported as a props problem below, once.
      buffer: { ready: typeof props.buffer === 'string' ? 1 : (props.buffer ?? 1) },
      minWorlds: props.minWorlds ?? 0,
      maxWorlds: props.maxWorlds ?? 100,
      ...(props.worldLabels ? { worldLabels: props.worldLabels } : {}),
      ...(props.rollout ? { rollout: props.rollout } : {}),
    };
    super(scope, name, { metadata: { name, namespace: props.namespace ?? 'default', labels: definitionLabels }, spec });
    ({ anvilSource: this.anvilSource, propsProblems: this.propsProblems } = authored(`WorldPool/${props.namespace ?? 'default'}/${name}`, this.node.path, callerLocation(), (source) => [
      ...unknownProps(props, POOL_PROPS, source),
      ...(typeof props.buffer === 'string'
        ? [error(source, 'buffer', `${JSON.stringify(props.buffer)} is not a count: buffer is the number of ready worlds to keep, such as 3 (a percentage would follow the pool's size, which follows its claims)`, 'InvalidProps')]
        : []),
    ]));
  }
}
