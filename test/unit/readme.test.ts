/**
 * The README doctest (issue 18): every fenced `ts` block of the README, and every TypeScript
 * file `anvil init` writes, type-checks against the package's public API
 * (`@anvil-dev/anvil` is mapped to lib/index.ts), so an example that drifts from the API
 * fails CI. A block whose first line is a path comment (`// games/duel.ts …`) is that file,
 * so blocks can import each other as the README says; the others are files of their own.
 * An HTML comment just before a block may say `<!-- doctest: declare … -->` (what the
 * example assumes, such as the matchmaker's own functions) or `<!-- doctest: skip why -->`.
 */
import { afterAll, expect, jest, test } from '@jest/globals';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { projectFiles } from '../../lib/cli/init.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
// Inside the repository, so that node_modules (constructs, @types/jest) resolve.
const SCRATCH = join(ROOT, 'test', `.doctest-${process.pid}`);
afterAll(() => rmSync(SCRATCH, { recursive: true, force: true }));

interface Block {
  lang: string;
  code: string;
  line: number;
  directive?: string;
}

/** The fenced blocks of a Markdown text, each with the `<!-- doctest: … -->` just before it. */
export function fencedBlocks(markdown: string): Block[] {
  const blocks: Block[] = [];
  const lines = markdown.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\w+)\s*$/.exec(lines[i]!);
    if (!open) continue;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && !lines[i]!.startsWith('```'); i++) body.push(lines[i]!);
    const before = /^<!-- doctest: (.*) -->$/.exec(lines[start - 1] ?? '');
    blocks.push({ lang: open[1]!, code: body.join('\n'), line: start + 1, ...(before ? { directive: before[1]! } : {}) });
  }
  return blocks;
}

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
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const files: Record<string, string> = {};
  const blocks = fencedBlocks(readme).filter((b) => b.lang === 'ts' && !b.directive?.startsWith('skip'));
  expect(blocks.length).toBeGreaterThan(3);
  for (const b of blocks) {
    // `// games/duel.ts in your repository` names the file; otherwise a file of its own.
    const named = /^\/\/ ((?:games\/|test\/)?[\w.-]+\.ts)\b/.exec(b.code)?.[1];
    const path = named ?? `test/readme-line-${b.line}.test.ts`;
    const declare = b.directive?.startsWith('declare ') ? `${b.directive.slice('declare '.length)}\n` : '';
    files[path] = `${declare}${b.code}\n${/^(import|export) /m.test(b.code) ? '' : 'export {};\n'}`;
  }
  expect(typeCheck(join(SCRATCH, 'readme'), files)).toEqual([]);
});

test('the TypeScript files anvil init writes type-check against the package', () => {
  const all = projectFiles({ name: 'doctest', anvilSpec: '*', image: 'registry.example/anvil:0.1.0' });
  const files = Object.fromEntries(Object.entries(all).filter(([path]) => path.endsWith('.ts')));
  expect(Object.keys(files).sort()).toEqual(['games/arena.ts', 'main.ts', 'test/arena.test.ts']);
  expect(typeCheck(join(SCRATCH, 'init'), files)).toEqual([]);
});

test('fencedBlocks reads each block with its directive', () => {
  expect(fencedBlocks('a\n<!-- doctest: skip needs a cluster -->\n```bash\nkubectl get worlds\n```\n```ts\nconst x = 1;\n```\n')).toEqual([
    { lang: 'bash', code: 'kubectl get worlds', line: 3, directive: 'skip needs a cluster' },
    { lang: 'ts', code: 'const x = 1;', line: 6 },
  ]);
});
