/**
 * The README doctest's reading of Markdown (issue 18), shared by the unit test
 * (test/unit/readme.test.ts: the ts blocks against lib/, fast) and the package test
 * (test/package/package.test.ts: the bash blocks run and the ts blocks type-checked against
 * the installed tarball).
 *
 * An HTML comment just before a block may say `<!-- doctest: declare … -->` (what a ts example
 * assumes, such as the matchmaker's own functions) or `<!-- doctest: skip, because … -->` (a
 * block that cannot run here, and which test runs it instead). Every other ```bash block runs.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';

export interface Block {
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

/** Why a block is not run (`skip, because …`), or undefined when it runs. */
export const skipReason = (b: Block): string | undefined => (b.directive?.startsWith('skip') ? b.directive.replace(/^skip,?\s*/, '') : undefined);

/**
 * What is wrong with the skip marks of the bash blocks: a mark must say why (`because …`), and
 * each test file it names as running the commands instead must exist.
 */
export function badSkipMarks(blocks: Block[], root: string): string[] {
  return blocks
    .filter((b) => b.lang === 'bash' && skipReason(b) !== undefined)
    .flatMap((b) => {
      const reason = skipReason(b)!;
      if (!reason.startsWith('because ')) return [`README.md:${b.line}: a skip mark says why: <!-- doctest: skip, because … -->`];
      return [...reason.matchAll(/\btest\/[\w./-]+\.ts\b/g)].map((m) => m[0]).filter((f) => !existsSync(join(root, f))).map((f) => `README.md:${b.line}: ${f} does not exist`);
    });
}

/**
 * The README's ts blocks as the files of a project. A block whose first line is a path comment
 * (`// games/duel.ts …`) is that file, so blocks can import each other as the README says; the
 * others are test files of their own. A `declare` directive is prepended.
 */
export function tsBlockFiles(markdown: string): Record<string, string> {
  const files: Record<string, string> = {};
  for (const b of fencedBlocks(markdown).filter((x) => x.lang === 'ts' && skipReason(x) === undefined)) {
    const named = /^\/\/ ((?:games\/|test\/)?[\w.-]+\.ts)\b/.exec(b.code)?.[1];
    const path = named ?? `test/readme-line-${b.line}.test.ts`;
    const declare = b.directive?.startsWith('declare ') ? `${b.directive.slice('declare '.length)}\n` : '';
    files[path] = `${declare}${b.code}\n${/^(import|export) /m.test(b.code) ? '' : 'export {};\n'}`;
  }
  return files;
}
