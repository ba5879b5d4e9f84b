/**
 * The `anvil` CLI as users run it: the built bin/anvil.js in a child process, on the YAML
 * under test/fixtures/cli/ (issue 2, "Games and the CLI" and "Bad input").
 */
import { beforeAll, describe, expect, jest, test } from '@jest/globals';
import { execFileSync, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, parseAllDocuments } from 'yaml';
import { loadDefinitions } from '../../lib/load.js';
import { buildCatalog } from '../../lib/resolve/catalog.js';
import { resolveAll } from '../../lib/resolve/resolve.js';

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
      'blue/arena-1-engine-store-store',
      'blue/arena-1-gateway-bus-bus',
      'blue/arena-1-gateway-engine-engine',
      'blue/arena-1-root-gateway',
      'red/arena-2-engine-store-store',
      'red/arena-2-gateway-bus-bus',
      'red/arena-2-gateway-engine-engine',
      'red/arena-2-root-gateway',
    ]);
    expect(items[1]).toEqual({
      apiVersion: 'anvil.dev/v1alpha1',
      kind: 'CapabilityBinding',
      metadata: {
        name: 'arena-1-gateway-bus-bus',
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
      expect(names(items)).toEqual([
        'red/arena-2-engine-store-store',
        'red/arena-2-gateway-bus-bus',
        'red/arena-2-gateway-engine-engine',
        'red/arena-2-root-gateway',
      ]);
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
        `error: ${bad}/modules.yaml#1 spec.version: must be a SemVer version like 1.2.3 (MAJOR.MINOR.PATCH)`,
        // invalid SemVer range
        `error: ${bad}/modules.yaml#2 spec.requires[0].versionConstraint: "^^1.0" is not a valid SemVer range`,
        // unknown scope
        `error: ${bad}/modules.yaml#3 spec.scope: must be one of "cluster", "region", "world", "world-shard", "session"`,
        // duplicate names across two files
        `error: ${bad}/dup-b.yaml#1 metadata.name: duplicate ModuleManifest/twin: already defined in ${bad}/dup-a.yaml#1`,
        // a game listing a module nobody defined
        `error: ${bad}/games.yaml#1 spec.modules[1].name: module ghost is not defined (no ModuleManifest named ghost)`,
        // a world whose game is missing
        `error: ${bad}/worlds.yaml#1 spec.gameRef.name: world games/lost: game no-such-game is not defined (no GameDefinition named no-such-game)`,
      ]),
    );
    // An unresolved required requirement names the world, module, capability and constraint.
    const unresolved = lines.filter((l) => l.includes('needy requires'));
    expect(unresolved).toHaveLength(1);
    expect(unresolved[0]).toMatch(new RegExp(`^error: ${bad}/worlds\\.yaml#2 ModuleManifest/needy spec\\.requires\\[0\\]: world games/sim-1: `));
    expect(unresolved[0]).toContain('module needy requires physics "^9.0.0"');
    expect(unresolved[0]).toContain('physics provides 2.0.0');
    expect(lines).toHaveLength(7);
    expect(lines.every((l) => l.startsWith('error: '))).toBe(true);
  });

  test('an unresolved optional requirement is a warning: exit 0, bindings printed', () => {
    const r = anvil('resolve', '-f', `${FIXTURES}/optional/all.yaml`);
    expect(r.status).toBe(0);
    expect(r.stderr).toBe(
      `warning: ${FIXTURES}/optional/all.yaml#3 ModuleManifest/solo spec.requires[0]: world default/solo-1: module solo requires telemetry "^1.0.0" (scope world, multiplicity 1, optional): no module provides it\n`,
    );
    expect(names(itemsOf(r.stdout))).toEqual(['default/solo-1-root-solo']);
  });

  test('a YAML syntax error names the file, the document and the line', () => {
    const r = anvil('resolve', '-f', `${FIXTURES}/syntax`);
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(new RegExp(`^error: ${FIXTURES}/syntax/broken\\.yaml#2: YAML syntax error at line 15, column \\d+: `));
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
    expect(r.stderr).toBe('');
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

  test('bad input: errors on stderr, exit 1, no graph', () => {
    const r = anvil('graph', '-f', `${FIXTURES}/bad`);
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('error: ');
  });
});
