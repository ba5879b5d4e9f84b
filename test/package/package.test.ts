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
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
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
  expect(existsSync(join(project, '.cdk8s-out'))).toBe(true);
});
