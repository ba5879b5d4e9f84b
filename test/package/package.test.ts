/**
 * Anvil as a package (issue 11): `npm pack` Anvil, start a game project the way an author
 * does — `anvil init` from the packed CLI — install it (the tarball, and everything else from
 * the registry, preferring the local npm cache), then synthesize, type-check, test and
 * validate it. Real npm, real tarball, real cdk8s CLI, real Jest in the new project.
 *
 * Slow (a fresh install): its own Jest project, with generous per-step timeouts. Every step
 * runs in its own process group, killed when the step times out or the test ends.
 */
import { afterAll, beforeAll, expect, jest, test } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { KINDS } from '../../lib/api/schema.js';
import { workloadName } from '../../lib/render/topology.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const STEP_TIMEOUT_MS = 8 * 60_000;
jest.setTimeout(20 * 60_000);

interface Step {
  code: number | null;
  stdout: string;
  stderr: string;
  seconds: number;
}

const running = new Set<ChildProcess>();
const timings: string[] = [];

/** The environment without the outer `npm test`'s npm_* settings, which would leak into the project's npm. */
const cleanEnv = (): NodeJS.ProcessEnv => Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k)));

/** Runs a command in its own process group; the whole group is killed on timeout. */
function run(label: string, command: string, args: string[], cwd: string): Promise<Step> {
  const started = Date.now();
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, { cwd, env: cleanEnv(), detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    running.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d) => (stdout += d));
    child.stderr!.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      killGroup(child);
      reject(new Error(`${label}: no result after ${STEP_TIMEOUT_MS / 1000} s\n${stdout}\n${stderr}`));
    }, STEP_TIMEOUT_MS);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      running.delete(child);
      const seconds = (Date.now() - started) / 1000;
      timings.push(`${label}: ${seconds.toFixed(1)} s`);
      resolvePromise({ code, stdout, stderr, seconds });
    });
  });
}

function killGroup(child: ChildProcess): void {
  try {
    if (child.pid) process.kill(-child.pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

/** A step that must succeed: its output is in the failure message. */
async function ok(label: string, command: string, args: string[], cwd: string): Promise<Step> {
  const r = await run(label, command, args, cwd);
  if (r.code !== 0) throw new Error(`${label} exited ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`);
  return r;
}

let work: string;
let tarball: string;
let project: string;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'anvil-package-'));
  // `npm pack` runs `prepare` (the build) and writes the tarball npm would publish.
  const packed = await ok('npm pack', 'npm', ['pack', '--pack-destination', work, '--json'], ROOT);
  const [info] = JSON.parse(packed.stdout.slice(packed.stdout.indexOf('['))) as { filename: string; files: { path: string }[] }[];
  tarball = join(work, info!.filename);
  expect(info!.files.map((f) => f.path)).toEqual(expect.arrayContaining(['bin/anvil.js', 'build/lib/index.js', 'build/lib/index.d.ts', 'build/lib/testing.d.ts', 'package.json']));
  expect(info!.files.filter((f) => /^(test|dist|bench)\/|\.map$/.test(f.path))).toEqual([]);
  project = join(work, 'my-game');
});

afterAll(() => {
  for (const child of running) killGroup(child);
  process.stdout.write(`package test timings:\n  ${timings.join('\n  ')}\n`);
  if (work) rmSync(work, { recursive: true, force: true });
});

test('from an empty folder to a synthesized, tested game, with Anvil from its npm tarball', async () => {
  // 1. anvil init, with the CLI from the tarball (what `npx @anvil-dev/anvil init` runs).
  const init = await ok('npx anvil init', 'npx', ['--yes', '--prefer-offline', '--package', tarball, '--', 'anvil', 'init', 'my-game', '--anvil', `file:${tarball}`], work);
  expect(init.stdout).toContain('npm install && npm run synth && npm test');

  // 2. install: the tarball, and the rest from the registry through the local cache.
  await ok('npm install', 'npm', ['install', '--prefer-offline', '--no-audit', '--no-fund'], project);
  const installed = JSON.parse(readFileSync(join(project, 'node_modules/@anvil-dev/anvil/package.json'), 'utf8')) as { version: string };
  expect(installed.version).toBe((JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version);

  // 3. synth: dist/ with the CRDs, the platform and the example world, on the first try.
  await ok('npm run synth', 'npm', ['run', 'synth'], project);
  const files = readdirSync(join(project, 'dist')).sort();
  expect(files[0]).toBe('0000-crds.k8s.yaml');
  const objects = files.flatMap((f) => parseAllDocuments(readFileSync(join(project, 'dist', f), 'utf8')).map((d) => d.toJS() as Record<string, any>));
  const named = (kind: string) => objects.filter((o) => o.kind === kind).map((o) => `${o.metadata.namespace ?? ''}/${o.metadata.name}`);
  // Names as the renderer makes them (the same library, from this checkout).
  const wl = (module: string) => workloadName({ metadata: { name: module }, spec: {} } as never, { namespace: 'arena', world: 'arena-eu-1' });
  expect(named('CustomResourceDefinition')).toHaveLength(KINDS.length);
  expect(named('Deployment')).toEqual(expect.arrayContaining([`arena/${wl('arena-gateway')}`, `arena/${wl('arena-rules')}`, 'anvil-system/anvil-reconciler']));
  expect(objects.find((o) => o.kind === 'Service' && o.metadata.name === `${wl('arena-gateway')}-lb`)?.spec.type).toBe('LoadBalancer');
  const bindings = objects.filter((o) => o.kind === 'CapabilityBinding' && o.metadata.namespace === 'arena');
  expect(bindings.map((b) => `${b.spec.consumer.name} -${b.spec.capabilityId}-> ${b.spec.provider.module}`)).toEqual(expect.arrayContaining(['arena-gateway -arena-rules-> arena-rules']));

  // 4. the project type-checks against Anvil's declarations, and its Jest test passes.
  await ok('npm run typecheck', 'npm', ['run', 'typecheck'], project);
  const tested = await ok('npm test', 'npm', ['test'], project);
  expect(`${tested.stdout}${tested.stderr}`).toMatch(/Tests:\s+3 passed, 3 total/);

  // 5. the installed CLI agrees with synth.
  const validated = await ok('npx anvil validate', 'npx', ['--no-install', 'anvil', 'validate', '-f', 'dist/'], project);
  expect(validated.stdout).toMatch(/^valid: 2 module\(s\), 1 game\(s\), 1 world\(s\)/);
  // npm run synth runs main.ts: no scratch copy of the cdk8s CLI, only dist/.
  expect(existsSync(join(project, '.cdk8s-out'))).toBe(false);
});

/** A main.ts with one mistake (issue 18's trial): `edits` replace parts of a small valid app. */
function mistakeMain(edits: Partial<Record<'app' | 'gw' | 'rules' | 'world' | 'extra', string>>): string {
  return `import { AnvilApp, AnvilInputError, Game, Module, World, WorldPool } from '@anvil-dev/anvil';
const app = new AnvilApp(${edits.app ?? '{}'});
const s = app.definitions;
const gw = new Module(s, 'gw', { version: '1.0.0', image: 'x/gw:1', ports: [{ name: 'ws', port: 7000, protocol: 'TCP', expose: { type: 'NodePort' } }], requires: [{ capabilityId: 'rules', versionConstraint: '^1.0.0', scope: 'world' }]${edits.gw ?? ''} });
const rules = new Module(s, 'rules', { version: '1.0.0', image: 'x/rules:1', ports: [{ name: 'grpc', port: 50051, protocol: 'TCP' }], provides: [{ capabilityId: 'rules', version: '1.0.0' }]${edits.rules ?? ''} });
const game = new Game(s, 'arena', { modules: [gw, rules] });
new World(s, 'a1', { game, namespace: 'arena'${edits.world ?? ''} });
${edits.extra ?? ''}
void WorldPool;
try {
  app.synth();
} catch (e) {
  if (!(e instanceof AnvilInputError)) throw e;
  process.stderr.write(\`\${e.message}\\n\`);
  process.exit(1);
}
`;
}

// Ten mistakes of the trial: each one is exit 1 with Anvil's message, and no stack trace.
const MISTAKES: [string, Parameters<typeof mistakeMain>[0], string][] = [
  ['a nodePort asked for by two worlds', { gw: ", ports: [{ name: 'ws', port: 7000, expose: { type: 'NodePort', nodePort: 30080 } }]", extra: "new World(s, 'a2', { game, namespace: 'arena' });" }, 'nodePort 30080 is asked for by'],
  ['storage shared by 2 replicas', { rules: ", replicas: 2, storage: { size: '1Gi', mountPath: '/data' }" }, 'share one storage claim, which is ReadWriteOnce'],
  ['a dependency cycle', { gw: ", provides: [{ capabilityId: 'lobby', version: '1.0.0' }]", rules: ", requires: [{ capabilityId: 'lobby', versionConstraint: '^1.0.0', scope: 'world' }]" }, 'dependency cycle gw → rules → gw'],
  ['a World prop typo', { world: ", regoin: 'eu-west'" }, 'regoin: unknown prop (did you mean region?)'],
  ['a WorldPool prop typo', { extra: "new WorldPool(s, 'p', { game, namespace: 'arena', bufer: 3 });" }, 'bufer: unknown prop (did you mean buffer?)'],
  ['a Module field typo', { rules: ', replica: 2' }, 'replica: unknown field (did you mean replicas?)'],
  ['a storage size that is no quantity', { rules: ", storage: { size: '1gb', mountPath: '/data' }" }, 'must be a quantity such as 512Mi or 2Gi'],
  ['an AnvilApp prop typo', { app: "{ reconcilerImag: 'x' }" }, 'reconcilerImag: unknown prop (did you mean reconcilerImage?)'],
  ['a world of an unknown game', { extra: "new World(s, 'b1', { game: 'arean', namespace: 'arena' });" }, 'game arean is not defined'],
  ['a pool buffer as a percentage', { extra: "new WorldPool(s, 'p', { game, namespace: 'arena', buffer: '10%' });" }, '"10%" is not a count'],
];

test.each(MISTAKES)('a mistake, %s: npm run synth exits 1 with Anvil\'s message and no stack trace', async (_name, edits, words) => {
  const mainTs = readFileSync(join(project, 'main.ts'), 'utf8');
  try {
    writeFileSync(join(project, 'main.ts'), mistakeMain(edits));
    const r = await run('npm run synth', 'npm', ['run', 'synth', '--silent'], project);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(words);
    expect(r.stderr).not.toMatch(/^\s+at /m);
  } finally {
    writeFileSync(join(project, 'main.ts'), mainTs);
  }
});
