/**
 * The image's entrypoint: the compiled CLI (bin/anvil.js on build/lib) bundled by esbuild into
 * build/image/, run by `npm run build` after tsc.
 *
 * Why a bundle: from node_modules the CLI is some 1,900 modules (826 of them
 * @kubernetes/client-node's), each kept by V8 with its own source text and module record, which
 * the reconciler holds before its first world. One bundle with whitespace and syntax minified
 * (names kept, so stack traces still read) holds far less (`npm run bench -- --only entrypoint`
 * measures both). One file, not split into chunks: esbuild's chunks for dynamic imports hand a
 * CommonJS package's namespace over without its named exports (@peculiar/x509's
 * `cryptoProvider` was undefined, so the allocation endpoint could not make its self-signed
 * certificate). npm users still run bin/anvil.js; the bundle is only what the image runs
 * (Dockerfile ENTRYPOINT, IMAGE_ENTRYPOINT in lib/render/platform.ts), and what the cluster
 * tests and benchmarks start as the reconciler.
 */
import { rmSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import { build } from 'esbuild';

const OUT_DIR = 'build/image';

// Nothing of an earlier build stays beside it.
rmSync(OUT_DIR, { recursive: true, force: true });
const result = await build({
  entryPoints: { anvil: 'bin/anvil.js' },
  outdir: OUT_DIR,
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  minifyWhitespace: true,
  minifySyntax: true,
  keepNames: true,
  // The CommonJS packages inside an ES module bundle still call require().
  banner: { js: "import { createRequire as __anvilCreateRequire } from 'node:module'; const require = __anvilCreateRequire(import.meta.url);" },
  logLevel: 'warning',
  metafile: true,
});

// The image runs the bundle: anything it would still load from node_modules must be a
// dependency's optional one, required inside a try (ws' and node-fetch's native speed-ups).
const OPTIONAL = new Set(['bufferutil', 'utf-8-validate', 'encoding']);
const outside = [...new Set(Object.values(result.metafile.outputs).flatMap((o) => o.imports.filter((i) => i.external).map((i) => i.path)))].filter((p) => !isBuiltin(p) && !OPTIONAL.has(p));
if (outside.length > 0) throw new Error(`the image bundle would load ${outside.join(', ')} from node_modules: bundle it, or name it as optional in scripts/bundle.ts if it is required inside a try`);
