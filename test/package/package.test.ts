/**
 * Anvil as a package (issues 11 and 18), the way a new author meets it: the README's
 * ```bash blocks run as written, in a copy of this checkout next to an empty folder —
 * `npm ci && npm run pack`, `anvil init ../my-game` from the tarball, `npm install`, synth, the
 * project's tests, `anvil validate` — then the project's own README, the README's ts blocks
 * type-checked against the installed declarations (which carry the schema descriptions as
 * TSDoc), and ten mistakes of issue 18's trial. Real npm, real tarball, real cdk8s, real Jest.
 *
 * npm resolves from the local cache first (`prefer-offline`, set in the environment like an
 * .npmrc would): what the checkout's own `npm ci` fetched is all the blocks need. Slow (two
 * installs): its own Jest project, with generous per-step timeouts. Every step runs in its own
 * process group, killed when the step times out or the test ends.
 */
import { afterAll, beforeAll, expect, jest, test } from '@jest/globals';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { KINDS } from '../../lib/api/schema.js';
import { workloadName } from '../../lib/render/topology.js';
import { fencedBlocks, skipReason, tsBlockFiles, type Block } from '../doctest.js';
import { undocumentedProperties } from '../tsdoc.js';

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

/**
 * The environment of every step: without the outer `npm test`'s npm_* settings (they would
 * leak into the project's npm), and with npm preferring its local cache and quiet about audit,
 * funding and updates.
 */
const cleanEnv = (): NodeJS.ProcessEnv => ({
  ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k))),
  npm_config_prefer_offline: 'true',
  npm_config_audit: 'false',
  npm_config_fund: 'false',
  npm_config_update_notifier: 'false',
});

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

/** A ```bash block, as a user pastes it: bash stops at the first failing command. */
const runBlock = (file: string, b: Block, cwd: string): Promise<Step> => ok(`${file}:${b.line} (bash)`, 'bash', ['-euo', 'pipefail', '-c', b.code], cwd);

/** This checkout as a user's clone has it: the files git tracks or would (no node_modules, no build/). */
function copyCheckout(to: string): void {
  const files = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: ROOT }).toString().split('\0').filter(Boolean);
  for (const f of files) {
    if (!existsSync(join(ROOT, f))) continue; // deleted in the work tree
    mkdirSync(dirname(join(to, f)), { recursive: true });
    copyFileSync(join(ROOT, f), join(to, f));
  }
}

const README = readFileSync(join(ROOT, 'README.md'), 'utf8');
const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

let work: string;
let checkout: string;
let project: string;

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'anvil-package-'));
  checkout = join(work, 'anvil');
  project = join(work, 'my-game'); // where the README's `anvil init ../my-game` puts it
  copyCheckout(checkout);
});

afterAll(() => {
  for (const child of running) killGroup(child);
  process.stdout.write(`package test timings:\n  ${timings.join('\n  ')}\n`);
  if (work) rmSync(work, { recursive: true, force: true });
});

test("the README's bash blocks run as written: from an Anvil checkout to a synthesized, tested game", async () => {
  const blocks = fencedBlocks(README).filter((b) => b.lang === 'bash');
  const runs = blocks.filter((b) => skipReason(b) === undefined);
  // test/unit/readme.test.ts checks that each skipped block says why and names real tests.
  expect(runs.length).toBeGreaterThanOrEqual(2);
  const output: string[] = [];
  for (const b of runs) {
    const r = await runBlock('README.md', b, checkout);
    output.push(`${r.stdout}${r.stderr}`);
  }
  const all = output.join('\n');

  // The tarball: the library only.
  const tarball = join(checkout, `anvil-dev-anvil-${VERSION}.tgz`);
  const packed = execFileSync('tar', ['tzf', tarball]).toString().split('\n').filter(Boolean).map((f) => f.replace(/^package\//, ''));
  expect(packed).toEqual(expect.arrayContaining(['bin/anvil.js', 'build/lib/index.js', 'build/lib/index.d.ts', 'build/lib/api/types.d.ts', 'build/lib/testing.d.ts', 'package.json']));
  expect(packed.filter((f) => /^(test|dist|bench|scripts)\/|^build\/(games|main)|\.map$/.test(f))).toEqual([]);

  // The project got the tarball's Anvil, synthesized on the first try, and its tests passed.
  const installed = JSON.parse(readFileSync(join(project, 'node_modules/@anvil-dev/anvil/package.json'), 'utf8')) as Record<string, unknown>;
  expect(installed.version).toBe(VERSION);
  // npm run pack packs a copy cleaned by clean-publish: no scripts (the checkout's prepare) and
  // no devDependencies, so installing it runs and lists no install script.
  expect(installed).not.toHaveProperty('scripts');
  expect(installed).not.toHaveProperty('devDependencies');
  // (npm's install-scripts lines for other packages, such as esbuild, are not Anvil's to fix.)
  expect(all.split('\n').filter((l) => /install-scripts/.test(l) && l.includes('@anvil-dev/anvil'))).toEqual([]);
  expect(existsSync(join(checkout, '.pack'))).toBe(false);
  expect(all).toMatch(/Tests:\s+3 passed, 3 total/);
  expect(all).toMatch(/^valid: 2 module\(s\), 1 game\(s\), 1 world\(s\)/m);
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
  // npm run synth runs main.ts: no scratch copy of the cdk8s CLI, only dist/.
  expect(existsSync(join(project, '.cdk8s-out'))).toBe(false);

  // The project type-checks against the installed declarations.
  await ok('npm run typecheck', 'npm', ['run', 'typecheck'], project);
});

test('the README anvil init writes runs as written; its kubectl block is the one test/cluster/dist.test.ts runs', async () => {
  const blocks = fencedBlocks(readFileSync(join(project, 'README.md'), 'utf8')).filter((b) => b.lang === 'bash');
  const kubectl = blocks.filter((b) => /^kubectl /m.test(b.code));
  // The apply sequence needs a cluster: it is word for word the README's "### Apply" block.
  const apply = fencedBlocks(README).find((b) => b.lang === 'bash' && b.code.startsWith('kubectl apply -f dist/0000-crds.k8s.yaml'));
  expect(kubectl.map((b) => b.code)).toEqual([apply?.code]);
  const runs = blocks.filter((b) => !kubectl.includes(b));
  expect(runs).toHaveLength(1);
  const r = await runBlock('my-game/README.md', runs[0]!, project);
  expect(`${r.stdout}${r.stderr}`).toMatch(/^valid: 2 module\(s\), 1 game\(s\), 1 world\(s\)/m);
});

test("the README's ts blocks type-check against the installed package's declarations, and its Jest examples pass", async () => {
  // Beside the project's own files, with its tsconfig: @anvil-dev/anvil is node_modules' copy.
  const dir = join(project, 'readme-doctest');
  const files = tsBlockFiles(README);
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  writeFileSync(join(dir, 'tsconfig.json'), `${JSON.stringify({ extends: '../tsconfig.json', include: ['**/*.ts'] })}\n`);
  try {
    await ok('tsc (README ts blocks)', 'npx', ['--no-install', 'tsc', '-p', 'readme-doctest'], project);
    // The blocks that are Jest tests (Testing a game) run, with the project's Jest config; the
    // others are programs that need a cluster (claims) or write dist/ (main.ts).
    const jestBlocks = Object.keys(files).filter((f) => f.startsWith('test/') && /^test\(/m.test(files[f]!));
    expect(jestBlocks.length).toBeGreaterThanOrEqual(1);
    const jestArgs = ['--experimental-vm-modules', '--no-warnings=ExperimentalWarning', 'node_modules/jest/bin/jest.js', '--rootDir', dir, '--runTestsByPath', ...jestBlocks.map((f) => join(dir, f))];
    const tested = await ok('jest (README test blocks)', 'node', jestArgs, project);
    expect(`${tested.stdout}${tested.stderr}`).toMatch(new RegExp(`Test Suites:\\s+${jestBlocks.length} passed`));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the installed declarations carry the schema descriptions as TSDoc', () => {
  expect(undocumentedProperties(join(project, 'node_modules/@anvil-dev/anvil/build/lib/index.d.ts'))).toEqual([]);
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
