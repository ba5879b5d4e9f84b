// build/ kept current for the tests and benchmarks that run the compiled CLI (bin/anvil.js).
// Its own module, free of Jest imports, so that bench/ (plain tsx) can use it too.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
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

/** `npm run build` unless build/ is newer than every source under lib/. */
export function ensureBuilt(): void {
  const out = path.join(ROOT, 'build/lib/cli/main.js');
  const built = fs.existsSync(out) ? fs.statSync(out).mtimeMs : 0;
  if (built > newestSource(path.join(ROOT, 'lib'))) return;
  const r = spawnSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: ROOT, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`npm run build failed:\n${r.stdout}${r.stderr}`);
  fs.utimesSync(out, new Date(), new Date());
}
