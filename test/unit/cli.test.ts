/**
 * The `anvil` CLI as users run it: the built bin/anvil.js in a child process, on the YAML
 * under test/fixtures/cli/ (issue 2, "Games and the CLI" and "Bad input").
 */
import { beforeAll, describe, expect, jest, test } from '@jest/globals';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, parseAllDocuments } from 'yaml';
import { loadDefinitions } from '../../lib/cli/load.js';
import { buildCatalog } from '../../lib/resolve/catalog.js';
import { bindingName, resolveAll } from '../../lib/resolve/resolve.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const FIXTURES = 'test/fixtures/cli';

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

// Each run starts a node process (about a second, more on a loaded machine).
jest.setTimeout(60_000);

function anvil(...args: string[]): Run {
  const r = spawnSync(process.execPath, ['bin/anvil.js', ...args], { cwd: ROOT, encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The same run, once per test file: for tests that only read its output. */
const runs = new Map<string, Run>();
function anvilOnce(...args: string[]): Run {
  const key = JSON.stringify(args);
  if (!runs.has(key)) runs.set(key, anvil(...args));
  return runs.get(key)!;
}

type Obj = Record<string, any>;
const itemsOf = (stdout: string): Obj[] => {
  const list = parse(stdout) as Obj;
  expect(list).toMatchObject({ apiVersion: 'v1', kind: 'List' });
  return list.items as Obj[];
};
const names = (items: Obj[]): string[] => items.map((i) => `${i.metadata.namespace}/${i.metadata.name}`);

beforeAll(() => {
  // The test runs what `npm install` (prepare) builds: compile it once, from the sources under test.
  execFileSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], { cwd: ROOT, stdio: 'inherit' });
}, 120_000);

describe('anvil resolve', () => {
  test('prints a v1 List of the bindings resolveAll gives, with the labels synth uses', () => {
    const r = anvilOnce('resolve', '-f', `${FIXTURES}/valid`);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const items = itemsOf(r.stdout);

    const { catalog, diagnostics } = buildCatalog(loadDefinitions([`${ROOT}/${FIXTURES}/valid`]).objects);
    expect(diagnostics).toEqual([]);
    const plans = resolveAll(catalog);
    const expected = [...plans.global.bindings, ...plans.worlds.flatMap((w) => w.bindings)];
    expect(items.map((i) => ({ name: i.metadata.name, namespace: i.metadata.namespace, spec: i.spec }))).toEqual(
      expected.map((b) => ({ name: b.name, namespace: b.namespace, spec: b.spec })),
    );

    expect(names(items)).toEqual([
      `blue/${bindingName.world('arena-1', 'engine', 'store', 'store')}`,
      `blue/${bindingName.world('arena-1', 'gateway', 'bus', 'bus')}`,
      `blue/${bindingName.world('arena-1', 'gateway', 'engine', 'engine')}`,
      `blue/${bindingName.root('arena-1', 'gateway')}`,
      `red/${bindingName.world('arena-2', 'engine', 'store', 'store')}`,
      `red/${bindingName.world('arena-2', 'gateway', 'bus', 'bus')}`,
      `red/${bindingName.world('arena-2', 'gateway', 'engine', 'engine')}`,
      `red/${bindingName.root('arena-2', 'gateway')}`,
    ].sort());
    expect(items[1]).toEqual({
      apiVersion: 'anvil.dev/v1alpha1',
      kind: 'CapabilityBinding',
      metadata: {
        name: bindingName.world('arena-1', 'gateway', 'bus', 'bus'),
        namespace: 'blue',
        labels: { 'anvil.dev/world': 'arena-1', 'app.kubernetes.io/managed-by': 'anvil', 'app.kubernetes.io/part-of': 'arena' },
      },
      spec: {
        capabilityId: 'bus',
        scope: 'cluster',
        multiplicity: '1',
        consumer: { kind: 'ModuleManifest', name: 'gateway' },
        provider: { module: 'bus', capabilityVersion: '1.4.0' },
        worldRef: { name: 'arena-1' },
      },
    });
  });

  test('-o json prints the same List as JSON', () => {
    const yaml = anvilOnce('resolve', '-f', `${FIXTURES}/valid`);
    const json = anvil('resolve', '-f', `${FIXTURES}/valid`, '-o', 'json');
    expect(json.status).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual(parse(yaml.stdout));
  });

  test('-w keeps one world, by NAME or NAMESPACE/NAME', () => {
    for (const w of ['arena-2', 'red/arena-2']) {
      const r = anvil('resolve', '-f', `${FIXTURES}/valid`, '-w', w);
      expect(r.status).toBe(0);
      const items = itemsOf(r.stdout);
      expect(names(items)).toEqual(
        [
          `red/${bindingName.world('arena-2', 'engine', 'store', 'store')}`,
          `red/${bindingName.world('arena-2', 'gateway', 'bus', 'bus')}`,
          `red/${bindingName.world('arena-2', 'gateway', 'engine', 'engine')}`,
          `red/${bindingName.root('arena-2', 'gateway')}`,
        ].sort(),
      );
    }
  });

  test('-w naming no world is an error that lists the worlds', () => {
    const r = anvil('resolve', '-f', `${FIXTURES}/valid`, '-w', 'green/arena-9');
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe('error: --world: no WorldInstance green/arena-9 in the input (worlds: blue/arena-1, red/arena-2)\n');
  });

  test('all bad input is reported in one run, each naming file#document, field and problem; exit 1, nothing on stdout', () => {
    const r = anvil('resolve', '-f', `${FIXTURES}/bad`);
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    const lines = r.stderr.trimEnd().split('\n');
    const bad = `${FIXTURES}/bad`;
    expect(lines).toEqual(
      expect.arrayContaining([
        // invalid SemVer version
        `error: ${bad}/modules.yaml:7 spec.version: must be a SemVer version like 1.2.3 (MAJOR.MINOR.PATCH)`,
        // invalid SemVer range
        `error: ${bad}/modules.yaml:20 spec.requires[0].versionConstraint: "^^1.0" is not a valid SemVer range`,
        // unknown scope
        `error: ${bad}/modules.yaml:30 spec.scope: must be one of "cluster", "region", "world", "world-shard", "session"`,
        // duplicate names across two files
        `error: ${bad}/dup-b.yaml:4 metadata.name: duplicate ModuleManifest/twin: already defined in ${bad}/dup-a.yaml:1`,
        // a game listing a module nobody defined
        `error: ${bad}/games.yaml:9 spec.modules[1].name: module ghost is not defined (no ModuleManifest named ghost)`,
        // a world whose game is missing
        `error: ${bad}/worlds.yaml:9 spec.gameRef.name: game no-such-game is not defined (no GameDefinition named no-such-game) (in world games/lost)`,
      ]),
    );
    // An unresolved required requirement names the world, module, capability and constraint.
    const unresolved = lines.filter((l) => l.includes('needy requires'));
    expect(unresolved).toHaveLength(1);
    // on the requirement that is the cause, in the worlds where it shows
    expect(unresolved[0]).toMatch(new RegExp(`^error: ${bad}/modules\\.yaml:42 spec\\.requires\\[0\\]: .* \\(in world games/sim-1\\)$`));
    expect(unresolved[0]).toContain('module needy requires physics "^9.0.0"');
    expect(unresolved[0]).toContain('physics provides 2.0.0');
    expect(lines).toHaveLength(7);
    expect(lines.every((l) => l.startsWith('error: '))).toBe(true);
  });

  test('an unresolved optional requirement is a warning: exit 0, bindings printed', () => {
    const r = anvil('resolve', '-f', `${FIXTURES}/optional/all.yaml`);
    expect(r.status).toBe(0);
    expect(r.stderr).toBe(
      `warning: ${FIXTURES}/optional/all.yaml:9 spec.requires[0]: module solo requires telemetry "^1.0.0" (scope world, multiplicity 1, optional): no module provides it (in world default/solo-1)\n`,
    );
    expect(names(itemsOf(r.stdout))).toEqual([`default/${bindingName.root('solo-1', 'solo')}`]);
  });

  test('a YAML syntax error names the file and the line', () => {
    const r = anvil('resolve', '-f', `${FIXTURES}/syntax`);
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(new RegExp(`^error: ${FIXTURES}/syntax/broken\\.yaml:15: YAML syntax error at column \\d+: `));
  });

  test('a missing path is an error naming it; the other paths are still read', () => {
    const r = anvil('resolve', '-f', `${FIXTURES}/nowhere.yaml`, `${FIXTURES}/bad/dup-a.yaml`, `${FIXTURES}/bad/dup-b.yaml`);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`error: ${FIXTURES}/nowhere.yaml: no such file or folder\n`);
    expect(r.stderr).toContain('duplicate ModuleManifest/twin');
  });

  test('a bad option value is a usage error', () => {
    const r = anvil('resolve', '-f', `${FIXTURES}/valid`, '-o', 'xml');
    expect(r.status).not.toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain("argument 'xml' is invalid");
  });

  test('the committed dist/ reads back: its bindings are exactly the ones it holds', () => {
    const r = anvil('resolve', '-f', 'dist/');
    // Warnings (an example's documented optional requirement) are fine; errors are not.
    expect(r.stderr.split('\n').filter((l) => l && !l.startsWith('warning: '))).toEqual([]);
    expect(r.status).toBe(0);
    const inDist: Obj[] = [];
    for (const f of readdirSync(join(ROOT, 'dist')).sort()) {
      for (const doc of parseAllDocuments(readFileSync(join(ROOT, 'dist', f), 'utf8')) as any[]) {
        const o = doc.toJS() as Obj | null;
        // Synth marks what it owns in anvil-system (`anvil.dev/static`); resolve prints the plan.
        if (o?.kind === 'CapabilityBinding') {
          delete (o.metadata as { labels?: Record<string, string> }).labels?.['anvil.dev/static'];
          inDist.push(o);
        }
      }
    }
    expect(inDist.length).toBeGreaterThan(0);
    const key = (o: Obj): string => `${o.metadata.namespace}/${o.metadata.name}`;
    const sorted = (os: Obj[]): Obj[] => [...os].sort((a, b) => key(a).localeCompare(key(b)));
    expect(sorted(itemsOf(r.stdout))).toEqual(sorted(inDist));
  });
});

describe('anvil graph', () => {
  test('one world: its modules, the platform modules it uses, and every binding as an edge', () => {
    const r = anvil('graph', '-f', `${FIXTURES}/valid`, '-w', 'red/arena-2');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(
      [
        'flowchart LR',
        '  subgraph platform["platform"]',
        '    platform_bus["bus@1.4.0 (cluster)"]',
        '  end',
        '  subgraph world_red_arena_2["world red/arena-2 (game arena)"]',
        '    world_red_arena_2_world(["arena-2"])',
        '    world_red_arena_2_gateway["gateway@1.0.0 (world)"]',
        '    world_red_arena_2_engine["engine@2.1.0 (world)"]',
        '    world_red_arena_2_store["store@1.2.5 (world)"]',
        '  end',
        '  world_red_arena_2_engine -->|store| world_red_arena_2_store',
        '  world_red_arena_2_gateway -->|bus| platform_bus',
        '  world_red_arena_2_gateway -->|engine| world_red_arena_2_engine',
        '  world_red_arena_2_world -->|root| world_red_arena_2_gateway',
        '',
      ].join('\n'),
    );
  });

  test('all worlds: one subgraph each, global modules once in platform; the same text every run', () => {
    const first = anvil('graph', '-f', `${FIXTURES}/valid`);
    expect(first.status).toBe(0);
    const lines = first.stdout.split('\n');
    expect(lines.filter((l) => l.trimStart().startsWith('subgraph '))).toEqual([
      '  subgraph platform["platform"]',
      '  subgraph world_blue_arena_1["world blue/arena-1 (game arena)"]',
      '  subgraph world_red_arena_2["world red/arena-2 (game arena)"]',
    ]);
    expect(lines.filter((l) => l.includes('platform_bus["'))).toHaveLength(1);
    expect(lines).toContain('  world_blue_arena_1_gateway -->|bus| platform_bus');
    expect(lines).toContain('  world_blue_arena_1_world -->|root| world_blue_arena_1_gateway');
    expect(anvil('graph', '-f', `${FIXTURES}/valid`).stdout).toBe(first.stdout);
  });

  test('bad input: errors on stderr, exit 1, and the graph with the unresolved edge crossed', () => {
    const r = anvil('graph', '-f', `${FIXTURES}/bad`);
    expect(r.status).toBe(1);
    // Drawn anyway: the graph helps most when something does not resolve.
    expect(r.stdout).toContain('world_games_sim_1_needy -.-x|physics (unresolved)| world_games_sim_1_unresolved_physics');
    expect(r.stderr).toContain('error: ');
  });
});

/** Writes `files` into a fresh temporary folder; returns its path. */
function tempInput(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'anvil-cli-'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

describe('hostile YAML input (issue 8, item 9)', () => {
  test('an undefined alias and a bomb are error lines naming their files (exit 1); the other files are still reported', () => {
    const bomb = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
    for (let i = 1; i < 9; i++) bomb.push(`${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(10).fill(`*${String.fromCharCode(96 + i)}`).join(', ')}]`);
    const dir = tempInput({
      'a-alias.yaml': 'apiVersion: anvil.dev/v1alpha1\nkind: ModuleManifest\nmetadata: {name: a}\nspec: {version: 1.0.0, image: *missing}\n',
      'b-bomb.yaml': `${bomb.join('\n')}\n`,
      'c-bad.yaml': 'apiVersion: anvil.dev/v1alpha1\nkind: ModuleManifest\nmetadata: {name: c}\nspec: {version: one, image: x}\n',
    });
    try {
      const r = anvil('resolve', '-f', dir);
      expect(r.status).toBe(1);
      expect(r.stdout).toBe('');
      const lines = r.stderr.trimEnd().split('\n');
      expect(lines).toHaveLength(3);
      expect(lines[0]).toMatch(new RegExp(`^error: ${dir}/a-alias\\.yaml:1: YAML error: .*missing`));
      expect(lines[1]).toBe(`error: ${dir}/b-bomb.yaml:1: YAML aliases expand to more than 1000 nodes (a "billion laughs" bomb?)`);
      expect(lines[2]).toBe(`error: ${dir}/c-bad.yaml:4 spec.version: must be a SemVer version like 1.2.3 (MAJOR.MINOR.PATCH)`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('empty input: a warning, exit 0, and no empty List on stdout', () => {
    const dir = tempInput({ 'empty.yaml': '' });
    try {
      const r = anvil('resolve', '-f', dir);
      expect(r.status).toBe(0);
      expect(r.stdout).toBe('');
      expect(r.stderr).toBe(`warning: ${dir}: no ModuleManifest, GameDefinition or WorldInstance found: nothing to resolve\n`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('anvil resolve never fails with an internal error on input (issue 8, items 6 and 7)', () => {
  const M = (name: string, spec: string) => `apiVersion: anvil.dev/v1alpha1\nkind: ModuleManifest\nmetadata: {name: ${name}}\nspec: {version: 1.0.0, image: x, ${spec}}\n---\n`;
  const G = (name: string, modules: string[]) => `apiVersion: anvil.dev/v1alpha1\nkind: GameDefinition\nmetadata: {name: ${name}}\nspec: {modules: [${modules.map((m) => `{name: ${m}}`).join(', ')}]}\n---\n`;
  const W = (name: string, game: string, ns = 'games') => `apiVersion: anvil.dev/v1alpha1\nkind: WorldInstance\nmetadata: {name: ${name}, namespace: ${ns}}\nspec: {gameRef: {name: ${game}}}\n---\n`;

  test('names whose plain join collides, within one world and across worlds: exit 0, every binding its own name', () => {
    const dir = tempInput({
      'all.yaml':
        M('b', 'requires: [{capabilityId: cap, versionConstraint: "*", scope: world}]') +
        M('a-b', 'requires: [{capabilityId: cap, versionConstraint: "*", scope: world}]') +
        M('p', 'ports: [{name: grpc, port: 5000}], provides: [{capabilityId: cap, version: 1.0.0}]') +
        M('match-maker', 'requires: [{capabilityId: queue, versionConstraint: "*", scope: world}]') +
        M('match', 'requires: [{capabilityId: maker-queue, versionConstraint: "*", scope: world}]') +
        M('queue', 'ports: [{name: grpc, port: 5000}], provides: [{capabilityId: queue, version: 1.0.0}, {capabilityId: maker-queue, version: 1.0.0}]') +
        // In w-a, match-maker -queue-> queue and match -maker-queue-> queue join to one name.
        G('g1', ['b', 'p', 'match-maker', 'match', 'queue']) +
        G('g2', ['a-b', 'p']) +
        W('w-a', 'g1') +
        W('w', 'g2'),
    });
    try {
      const r = anvil('resolve', '-f', dir);
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      const found = names(itemsOf(r.stdout));
      expect(found.length).toBeGreaterThan(6);
      expect(new Set(found).size).toBe(found.length);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('two requires or two provides of one capability, and ids sharing an env var: error lines, exit 1', () => {
    const dir = tempInput({
      'm.yaml':
        M('twice', 'requires: [{capabilityId: cap, versionConstraint: "*", scope: world}, {capabilityId: cap, versionConstraint: "^1", scope: world}]') +
        M('both', 'provides: [{capabilityId: cap, version: 1.0.0}, {capabilityId: cap, version: 2.0.0}]') +
        M('env', 'requires: [{capabilityId: game-mechanic, versionConstraint: "*", scope: world}, {capabilityId: game.mechanic, versionConstraint: "*", scope: world}]') +
        G('g', ['twice', 'both', 'env']) +
        W('w', 'g') +
        W('v', 'g', 'Bad_Namespace'),
    });
    try {
      const r = anvil('resolve', '-f', dir);
      expect(r.status).toBe(1);
      expect(r.stdout).toBe('');
      expect(r.stderr).toContain(`error: ${dir}/m.yaml:4 spec.requires[1]: duplicate entry with capabilityId "cap": already at spec.requires[0]`);
      expect(r.stderr).toContain(`error: ${dir}/m.yaml:9 spec.provides[1]: duplicate entry with capabilityId "cap": already at spec.provides[0]`);
      expect(r.stderr).toContain(`error: ${dir}/m.yaml:14 spec.requires[1].capabilityId: game.mechanic and game-mechanic (spec.requires[0]) both become the environment variable ANVIL_DEP_GAME_MECHANIC`);
      expect(r.stderr).toContain(`error: ${dir}/m.yaml:28 metadata.namespace: "Bad_Namespace" must be a DNS-1123 label`);
      expect(r.stderr).not.toContain('internal error');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the CLI for game authors (issue 11)', () => {
  test('anvil --version prints the package version', () => {
    const r = anvil('--version');
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(`${(JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version}\n`);
  });

  test('a reader that goes away (`anvil graph --help | true`) is not an error: exit 0', () => {
    // `true` exits without reading, long before node has started: the write gets EPIPE.
    const r = spawnSync('bash', ['-c', `"${process.execPath}" bin/anvil.js graph --help | true; echo "exit=\${PIPESTATUS[0]}"`], { cwd: ROOT, encoding: 'utf8' });
    expect(r.stdout).toBe('exit=0\n');
    expect(r.stderr).not.toContain('EPIPE');
  });

  test('anvil validate: exit 0 and a summary for valid input; nothing written', () => {
    const r = anvil('validate', '-f', `${FIXTURES}/valid`);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^valid: 4 module\(s\), 1 game\(s\), 2 world\(s\) \(\d+ object\(s\) rendered\)\n$/);
  });

  test('anvil validate: unknown fields and near misses, each once, with "did you mean"', () => {
    const r = anvil('validate', '-f', `${FIXTURES}/typo`);
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    const lines = r.stderr.trimEnd().split('\n');
    const typo = `${FIXTURES}/typo/all.yaml`;
    expect(lines).toEqual([
      expect.stringMatching(new RegExp(`^error: ${typo}:10 spec\\.routeActions: unknown field \\(did you mean routesActions\\?\\)`)),
      expect.stringMatching(new RegExp(`^error: ${typo}:12 spec\\.requires\\[0\\]\\.multiplicty: unknown field \\(did you mean multiplicity\\?\\)`)),
      // the game names the invalid module as invalid (not undefined), pointing at its errors
      `error: ${typo}:27 spec.modules[0].name: depends on invalid module gateway (its own errors are listed with ModuleManifest/gateway) (in world games/arena-1)`,
      // the game's missing module, once (not again for the world), with the near miss
      `error: ${typo}:27 spec.modules[1].name: module physics-engin is not defined (no ModuleManifest named physics-engin) (did you mean physics-engine?) (in world games/arena-1)`,
    ]);
  });

  test('a repeated -w selects several worlds', () => {
    const r = anvil('resolve', '-f', `${FIXTURES}/valid`, '-w', 'arena-1', '-w', 'red/arena-2');
    expect(r.status).toBe(0);
    const worlds = new Set(itemsOf(r.stdout).map((i) => i.spec.worldRef?.name).filter(Boolean));
    expect([...worlds].sort()).toEqual(['arena-1', 'arena-2']);
  });

  test('anvil graph shows many, optional and unresolved edges, booklets, and region modules per region', () => {
    const r = anvil('graph', '-f', 'dist/');
    expect(r.status).toBe(0);
    const out = r.stdout;
    // for whatever games dist/ holds: every `many` binding and every booklet is visible
    const defs = readdirSync(join(ROOT, 'dist')).flatMap((f) => parseAllDocuments(readFileSync(join(ROOT, 'dist', f), 'utf8')).map((d) => d.toJS() as Obj));
    const plans = resolveAll(buildCatalog(loadDefinitions(['dist/']).objects).catalog);
    for (const p of plans.worlds) {
      for (const b of p.bindings.filter((b) => b.spec.multiplicity === 'many')) expect(out).toContain(`-->|${b.spec.capabilityId} (many)|`);
      for (const u of p.unresolved) expect(out).toMatch(new RegExp(`-\\.-x\\|${u.capabilityId} \\((optional, )?unresolved\\)\\|`));
      for (const b of p.game?.spec.booklets ?? []) expect(out).toContain(`["booklet ${b.name} (${b.strategy})"]`);
    }
    const regionModules = defs.filter((d) => d.kind === 'ModuleManifest' && d.spec.scope === 'region');
    for (const m of regionModules) {
      const regions = new Set(plans.worlds.filter((p) => p.modules.some((x) => x.metadata.name === m.metadata.name)).map((p) => p.world.spec.region));
      for (const region of regions) expect(out).toContain(`${m.metadata.name}@${m.spec.version} (region ${region})`);
    }
  });

  test('anvil init writes a project and never overwrites one', () => {
    const dir = mkdtempSync(join(tmpdir(), 'anvil-init-'));
    try {
      const r = anvil('init', join(dir, 'my-game'));
      expect(r.status).toBe(0);
      for (const f of ['package.json', 'cdk8s.yaml', 'tsconfig.json', 'jest.config.js', 'main.ts', 'games/arena.ts', 'test/arena.test.ts']) {
        expect(existsSync(join(dir, 'my-game', f))).toBe(true);
      }
      const pkg = JSON.parse(readFileSync(join(dir, 'my-game', 'package.json'), 'utf8')) as Obj;
      expect(pkg.name).toBe('my-game');
      expect(pkg.dependencies['@anvil-dev/anvil']).toMatch(/^\^\d+\.\d+\.\d+/);
      // The tools at the versions Anvil is built and tested with (its own package.json; the
      // packed one has no devDependencies, so init-templates.ts writes them out).
      const own = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as Obj;
      expect(pkg.devDependencies).toEqual(Object.fromEntries(Object.keys(pkg.devDependencies).map((n) => [n, own.devDependencies[n]])));
      expect(Object.keys(pkg.devDependencies).sort()).toEqual(['@types/jest', '@types/node', 'cdk8s-cli', 'jest', 'ts-jest', 'tsx', 'typescript']);
      expect(pkg.dependencies).toEqual({ '@anvil-dev/anvil': pkg.dependencies['@anvil-dev/anvil'], cdk8s: own.dependencies.cdk8s, constructs: own.dependencies.constructs });
      const again = anvil('init', join(dir, 'my-game'));
      expect(again.status).toBe(1);
      expect(again.stderr).toContain('would overwrite package.json');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('anvil allocate: usage errors, before any cluster is contacted', () => {
  test('--pool and -n are required', () => {
    const r = anvil('allocate', '-n', 'games');
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("required option '--pool <name>' not specified");
    const r2 = anvil('allocate', '--pool', 'crypt');
    expect(r2.status).toBe(1);
    expect(r2.stderr).toContain("required option '-n, --namespace <ns>' not specified");
  });

  test('every bad --label and --annotation is reported at once, naming the flag, the pair and the problem; nothing on stdout', () => {
    // A kubeconfig that does not exist: the command must stop at the flags, before reading it.
    const r = anvil('allocate', '--pool', 'crypt', '-n', 'games', '--label', 'match-id', '--label', 'bad key=1', '--label', 'ok=has space', '--annotation', '=x', '--label', 'good=1', '--kubeconfig', '/nonexistent/kubeconfig');
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    const lines = r.stderr.trim().split('\n');
    expect(lines).toEqual([
      'error: allocate: --label "match-id": expected KEY=VALUE',
      expect.stringMatching(/^error: allocate: --label "bad key=1": key "bad key" must be \[PREFIX\/\]NAME/),
      expect.stringMatching(/^error: allocate: --label "ok=has space": value "has space" must be at most 63/),
      expect.stringMatching(/^error: allocate: --annotation "=x": key "" must be/),
    ]);
  });

  test('--timeout must be 1..3600 seconds', () => {
    for (const bad of ['0', '3601', '1.5', 'soon']) {
      const r = anvil('allocate', '--pool', 'crypt', '-n', 'games', '--timeout', bad);
      expect({ bad, status: r.status }).toEqual({ bad, status: 1 });
      expect(r.stderr).toContain("option '--timeout <seconds>' argument");
      expect(r.stderr).toContain('must be a whole number of seconds from 1 to 3600');
    }
  });

  test('-o takes text or json', () => {
    const r = anvil('allocate', '--pool', 'crypt', '-n', 'games', '-o', 'yaml');
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("option '-o, --output <format>' argument 'yaml' is invalid");
  });

  test('an unreadable kubeconfig is an error naming it, exit 1 (-o json: the reason on stdout too)', () => {
    const r = anvil('allocate', '--pool', 'crypt', '-n', 'games', '--kubeconfig', '/nonexistent/kubeconfig', '-o', 'json');
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^error: allocate: .*\/nonexistent\/kubeconfig/);
    expect(JSON.parse(r.stdout)).toEqual({ error: { reason: 'Error', message: expect.stringContaining('/nonexistent/kubeconfig'), claim: null, namespace: 'games' } });
  });
});

describe('anvil load-test: --claims usage errors', () => {
  test('exactly one of --worlds or --claims; --claims needs --pool; --pool not with --worlds: all reported at once', () => {
    const none = anvil('load-test', '--kubeconfig', '/nonexistent/kubeconfig');
    expect(none.status).toBe(1);
    expect(none.stderr).toBe('error: load-test: give exactly one of --worlds N (world start-up) or --claims N (claims on a pool)\n');
    const both = anvil('load-test', '--worlds', '3', '--claims', '3', '--kubeconfig', '/nonexistent/kubeconfig');
    expect(both.stderr.trim().split('\n')).toEqual([
      'error: load-test: give exactly one of --worlds N (world start-up) or --claims N (claims on a pool)',
      'error: load-test: --claims needs --pool NAME (the WorldPool to claim from)',
    ]);
    const noPool = anvil('load-test', '--claims', '3', '--kubeconfig', '/nonexistent/kubeconfig');
    expect(noPool.status).toBe(1);
    expect(noPool.stderr).toBe('error: load-test: --claims needs --pool NAME (the WorldPool to claim from)\n');
    const poolWithWorlds = anvil('load-test', '--worlds', '3', '--pool', 'crypt', '--kubeconfig', '/nonexistent/kubeconfig');
    expect(poolWithWorlds.stderr).toBe('error: load-test: --pool goes with --claims, not with --worlds\n');
    for (const r of [both, poolWithWorlds]) expect({ status: r.status, stdout: r.stdout }).toEqual({ status: 1, stdout: '' });
  });

  test('--claims and --concurrency are whole numbers of at least 1; a claim timeout is at most 3600', () => {
    const r = anvil('load-test', '--claims', '0', '--pool', 'p');
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("option '--claims <n>' argument '0' is invalid. must be a whole number of at least 1");
    const t = anvil('load-test', '--claims', '2', '--pool', 'p', '--timeout', '4000', '--kubeconfig', '/nonexistent/kubeconfig');
    expect(t.stderr).toBe("error: load-test: --timeout: a claim's timeoutSeconds is at most 3600\n");
  });
});

describe('anvil allocate --clusters', () => {
  test('one of --pool or --clusters, and --clusters needs --game: all problems at once, before any cluster is contacted', () => {
    const r = anvil('allocate', '-n', 'games', '--game', 'arena');
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("required option '--pool <name>' not specified (or --clusters FILE with --game NAME)");
    const r2 = anvil('allocate', '-n', 'games', '--pool', 'p', '--clusters', `${FIXTURES}/clusters-unreachable.yaml`, '--label', 'bad key=1');
    expect(r2.stderr.trim().split('\n')).toEqual([expect.stringContaining('--label "bad key=1"'), expect.stringContaining('--pool and --clusters: give one')]);
    const r3 = anvil('allocate', '-n', 'games', '--clusters', `${FIXTURES}/clusters-unreachable.yaml`);
    expect(r3.stderr).toContain('--clusters needs --game NAME');
  });

  test('every cluster unreachable: tried in priority order, exit 1 with each attempt (-o json: the reason on stdout)', () => {
    const r = anvil('allocate', '-n', 'games', '--clusters', `${FIXTURES}/clusters-unreachable.yaml`, '--game', 'arena', '-o', 'json');
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('no cluster bound the claim (eu-1: Unreachable, ap-1: Unreachable)');
    expect(JSON.parse(r.stdout)).toEqual({ error: { reason: 'Unreachable', message: expect.stringContaining('eu-1: Unreachable'), namespace: 'games' } });
  });

  test('a region served by one cluster of the set: only that one is tried', () => {
    const r = anvil('allocate', '-n', 'games', '--clusters', `${FIXTURES}/clusters-unreachable.yaml`, '--game', 'arena', '--region', 'ap-south');
    expect(r.stderr).toContain('(ap-1: Unreachable)');
  });
});
