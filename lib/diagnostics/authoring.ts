/**
 * Messages that point at the author's code (issue 18): a construct's props are checked at
 * run time against their own shape (TypeScript never sees `main.ts` run under tsx, nor
 * JavaScript), and a problem is reported at the props path as written (`buffer`, not
 * `spec.buffer.ready`) and at the file and line that constructed the object.
 */
import { fileURLToPath } from 'node:url';
import { dirname, relative, sep } from 'node:path';
import { error, type Diagnostic } from './diagnostics.js';
import { didYouMean } from './suggest.js';

/** Anvil's own folder (lib/ in a checkout, build/lib/ in the package): its frames are skipped. */
const ANVIL_LIB = dirname(dirname(fileURLToPath(import.meta.url)));

/** `file:line` of a stack frame: `at f (file:///x/games/a.ts:12:5)` or `at /x/games/a.ts:12:5`. */
const FRAME = /\(?((?:file:\/\/)?\/[^():]+|[A-Za-z]:\\[^():]+):(\d+):\d+\)?$/;

/**
 * Where the author's code called into Anvil: the first stack frame outside Anvil and
 * outside node_modules, relative to the working folder (`games/duel.ts:12`); undefined when
 * the stack does not say (no stack, or only Anvil's frames).
 */
export function callerLocation(stack = new Error().stack): string | undefined {
  for (const line of (stack ?? '').split('\n').slice(1)) {
    const m = FRAME.exec(line.trim());
    if (!m) continue;
    const file = m[1]!.startsWith('file://') ? fileURLToPath(m[1]!) : m[1]!;
    if (file.startsWith(ANVIL_LIB + sep) || file.includes(`${sep}node_modules${sep}`)) continue;
    const rel = relative(process.cwd(), file);
    return `${rel.startsWith('..') ? file : rel}:${m[2]}`;
  }
  return undefined;
}

/**
 * Props the construct does not know (`bufer: 3`): errors with "did you mean", at the props
 * path. `known` is the props' own key list (each construct declares it next to its type).
 */
export function unknownProps(props: unknown, known: readonly string[], source: string, prefix = ''): Diagnostic[] {
  if (typeof props !== 'object' || props === null || Array.isArray(props)) {
    return [error(source, prefix || undefined, `must be an object with ${known.join(', ')}`, 'InvalidProps')];
  }
  return Object.keys(props)
    .filter((k) => !known.includes(k))
    .map((k) => error(source, `${prefix}${k}`, `unknown prop${didYouMean(k, known)}; known props here: ${known.join(', ')}`, 'UnknownField'));
}

/**
 * The props path an author wrote for a field of the object a construct makes: `spec.` goes
 * (Module props are the spec), references read as the props that made them (`game`,
 * `buffer`, `modules[1]`), metadata as the construct's name and namespace.
 */
export function propsPath(field: string): string {
  return field
    .replace(/^spec\.gameRef\.name$/, 'game')
    .replace(/^spec\.gameRef$/, 'game')
    .replace(/^spec\.buffer\.ready$/, 'buffer')
    .replace(/^spec\.modules\[(\d+)\]\.name$/, 'modules[$1]')
    .replace(/^metadata\.namespace$/, 'namespace')
    .replace(/^metadata\.name$/, 'name (the construct id)')
    .replace(/^spec\./, '');
}
