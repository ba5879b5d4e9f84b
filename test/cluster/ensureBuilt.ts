// build/ kept current for the tests and benchmarks that run the compiled CLI (bin/anvil.js) or
// the image's bundle of it (build/image/anvil.js, what the reconciler's Deployment runs).
// Its own module, free of Jest imports, so that bench/ (plain tsx) can use it too.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const ROOT = process.cwd();

/** Newest mtime of the TypeScript that build/ is made of. */
function newestSource(dir: string): number {
  let newest = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) newest = Math.max(newest, newestSource(p));
    else if (e.name.endsWith('.ts')) newest = Math.max(newest, fs.statSync(p).mtimeMs);
  }
  return newest;
}

/** The image's entrypoint, relative to the checkout (IMAGE_ENTRYPOINT is where the image keeps it). */
export const IMAGE_BUNDLE = 'build/image/anvil.js';

/**
 * `npm run build` (tsc, then the image bundle) unless the bundle, written last, is newer than
 * every source under lib/. A unit test that recompiles build/lib alone leaves the bundle older
 * than the sources it changed, so it is rebuilt here too.
 */
export function ensureBuilt(): void {
  const out = path.join(ROOT, IMAGE_BUNDLE);
  const built = fs.existsSync(out) ? fs.statSync(out).mtimeMs : 0;
  if (built > newestSource(path.join(ROOT, 'lib'))) return;
  const r = spawnSync('npm', ['run', 'build'], { cwd: ROOT, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`npm run build failed:\n${r.stdout}${r.stderr}`);
  fs.utimesSync(out, new Date(), new Date());
}

let imageCopy: string | undefined;
/**
 * The image's entrypoint as the image lays it out (/app/package.json, /app/build/image/), in a
 * folder of its own with no node_modules above it: a reconciler started from it proves the
 * bundle needs nothing the image does not hold. One folder per process (Jest loads this module
 * once per test file), refreshed on first use in each module registry, removed at exit.
 */
export function imageEntrypoint(): string {
  ensureBuilt();
  if (!imageCopy) {
    const app = path.join(os.tmpdir(), `anvil-image-${process.pid}`);
    if (!fs.existsSync(app)) process.on('exit', () => fs.rmSync(app, { recursive: true, force: true }));
    const bundle = path.join(app, path.dirname(IMAGE_BUNDLE));
    fs.rmSync(bundle, { recursive: true, force: true });
    fs.mkdirSync(app, { recursive: true });
    fs.copyFileSync(path.join(ROOT, 'package.json'), path.join(app, 'package.json'));
    fs.cpSync(path.join(ROOT, path.dirname(IMAGE_BUNDLE)), bundle, { recursive: true });
    imageCopy = path.join(app, IMAGE_BUNDLE);
  }
  return imageCopy;
}
