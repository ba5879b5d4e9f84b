/**
 * The README doctest (issue 18), the fast part: every fenced `ts` block of the README, and
 * every TypeScript file `anvil init` writes, type-checks against the public API in lib/
 * (`@anvil-dev/anvil` mapped to lib/index.ts), and every ```bash block is either run by the
 * package test or marked `<!-- doctest: skip, because … -->` naming the test that runs it.
 * The real check is test/package/package.test.ts: the bash blocks run from an Anvil checkout,
 * and the ts blocks type-check against the installed tarball's declarations.
 * How blocks are read and turned into files: test/doctest.ts.
 */
import { afterAll, expect, jest, test } from '@jest/globals';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { projectFiles } from '../../lib/cli/init.js';
import { badSkipMarks, fencedBlocks, skipReason, tsBlockFiles } from '../doctest.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
// Inside the repository, so that node_modules (constructs, @types/jest) resolve.
const SCRATCH = join(ROOT, 'test', `.doctest-${process.pid}`);
afterAll(() => rmSync(SCRATCH, { recursive: true, force: true }));

/** Type-checks `files` (path -> text) with `@anvil-dev/anvil` as lib/index.ts; the diagnostics as text. */
function typeCheck(dir: string, files: Record<string, string>): string[] {
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  const options: ts.CompilerOptions = {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    types: ['node', 'jest'],
    paths: { '@anvil-dev/anvil': [join(ROOT, 'lib', 'index.ts')] },
  };
  // A package.json of type module, as in a game repository: top-level await, ESM imports.
  writeFileSync(join(dir, 'package.json'), '{"type":"module"}\n');
  const program = ts.createProgram(Object.keys(files).map((f) => join(dir, f)), options);
  return ts
    .getPreEmitDiagnostics(program)
    .filter((d) => d.file?.fileName.startsWith(dir))
    .map((d) => `${d.file!.fileName.slice(dir.length + 1)}:${d.file!.getLineAndCharacterOfPosition(d.start ?? 0).line + 1}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`);
}

jest.setTimeout(120_000);

test('every ts block of the README type-checks against the package', () => {
  const files = tsBlockFiles(readFileSync(join(ROOT, 'README.md'), 'utf8'));
  expect(Object.keys(files).length).toBeGreaterThan(3);
  expect(typeCheck(join(SCRATCH, 'readme'), files)).toEqual([]);
});

test('every bash block of the README runs in the package test, or its skip mark says why and names real tests', () => {
  const blocks = fencedBlocks(readFileSync(join(ROOT, 'README.md'), 'utf8')).filter((b) => b.lang === 'bash');
  expect(badSkipMarks(blocks, ROOT)).toEqual([]);
  // The walk from an empty folder is one of the blocks that run.
  expect(blocks.filter((b) => skipReason(b) === undefined).map((b) => b.code)).toEqual(expect.arrayContaining([expect.stringContaining('anvil init ../my-game')]));
});

test('the TypeScript files anvil init writes type-check against the package', () => {
  const all = projectFiles({ name: 'doctest', anvilSpec: '*', image: 'registry.example/anvil:0.1.0' });
  const files = Object.fromEntries(Object.entries(all).filter(([path]) => path.endsWith('.ts')));
  expect(Object.keys(files).sort()).toEqual(['games/arena.ts', 'main.ts', 'test/arena.test.ts']);
  expect(typeCheck(join(SCRATCH, 'init'), files)).toEqual([]);
});

test('fencedBlocks reads each block with its directive; a skip mark must say why', () => {
  const blocks = fencedBlocks('a\n<!-- doctest: skip, needs a cluster -->\n```bash\nkubectl get worlds\n```\n```ts\nconst x = 1;\n```\n<!-- doctest: skip, because test/cluster/nope.test.ts runs it -->\n```bash\nx\n```\n');
  expect(blocks.slice(0, 2)).toEqual([
    { lang: 'bash', code: 'kubectl get worlds', line: 3, directive: 'skip, needs a cluster' },
    { lang: 'ts', code: 'const x = 1;', line: 6 },
  ]);
  expect(badSkipMarks(blocks, ROOT)).toEqual([
    'README.md:3: a skip mark says why: <!-- doctest: skip, because … -->',
    'README.md:10: test/cluster/nope.test.ts does not exist',
  ]);
});
