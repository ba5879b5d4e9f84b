/**
 * Reads Anvil definitions from files and folders: the CLI's input. Each object keeps where it
 * came from (`games/a.yaml#3`: file and 1-based document), so that every later message can
 * name it. Reading never stops at the first problem: bad files are reported and the rest is
 * still read, so that one run lists every problem.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { isAlias, LineCounter, parseAllDocuments, visit, type Document } from 'yaml';
import { GROUP } from '../api/schema.js';
import { error, warning, type Diagnostic } from '../diagnostics/diagnostics.js';
import type { Sourced } from '../resolve/catalog.js';

export interface LoadResult {
  objects: Sourced[];
  diagnostics: Diagnostic[];
  /**
   * The line of a field of a document, by the document's source (`file#2`): where a message
   * about that field points (`file:14`). Absent for sources that are not a YAML document.
   */
  lines?: Map<string, (field?: string) => number>;
}

/** `spec.requires[0].scope` -> ['spec', 'requires', 0, 'scope'] */
const fieldPath = (field: string): (string | number)[] =>
  field.split(/\.|\[(\d+)\]/).filter((p) => p !== undefined && p !== '').map((p) => (/^\d+$/.test(p) ? Number(p) : p));

/** The 1-based line where the deepest existing node on `path` starts in `doc`. */
function lineOf(doc: Document.Parsed, lineCounter: LineCounter, path: (string | number)[]): number {
  for (let n = path.length; n >= 0; n--) {
    const node = n === 0 ? doc.contents : doc.getIn(path.slice(0, n), true);
    const range = (node as { range?: [number, number, number] } | null | undefined)?.range;
    if (range) return lineCounter.linePos(range[0]).line;
  }
  return 1;
}

const INPUT_FILE = /\.(ya?ml|json)$/i;

/**
 * The input files under `path`: the file itself, or every *.yaml/*.yml/*.json below a folder,
 * recursively, sorted so that the same folder always reads in the same order (and duplicates
 * are always reported against the same file). Hidden entries (`.git`, …) are skipped.
 */
export function inputFiles(path: string): string[] {
  if (!statSync(path).isDirectory()) return [path];
  const out: string[] = [];
  const entries = readdirSync(path, { withFileTypes: true })
    .filter((e) => !e.name.startsWith('.'))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const e of entries) {
    const child = join(path, e.name);
    if (e.isDirectory()) out.push(...inputFiles(child));
    else if (INPUT_FILE.test(e.name)) out.push(child);
  }
  return out;
}

/** An object of another API group (a Deployment in dist/, a CRD): not Anvil input, skipped. */
function isForeign(o: unknown): boolean {
  if (typeof o !== 'object' || o === null || Array.isArray(o)) return false;
  const apiVersion = (o as { apiVersion?: unknown }).apiVersion;
  return typeof apiVersion === 'string' && apiVersion.split('/')[0] !== GROUP && (o as { kind?: unknown }).kind !== 'List';
}

const isList = (o: unknown): o is { items?: unknown } =>
  typeof o === 'object' && o !== null && (o as { kind?: unknown }).kind === 'List' && (o as { apiVersion?: unknown }).apiVersion === 'v1';

/**
 * Bounds on one input file. Anvil definitions are small; these stop a hostile or broken file
 * early with a clear error instead of exhausting time or memory. Aliases are bounded because
 * the yaml library resolves each alias by scanning the document's anchors and aliases
 * (quadratic in their number); `maxAliasCount` bounds how far aliases expand (a "billion
 * laughs" bomb).
 */
export const INPUT_LIMITS = {
  maxBytes: 16 * 1024 * 1024,
  maxDocuments: 10_000,
  maxAnchors: 1_000,
  maxAliases: 1_000,
  maxAliasCount: 1_000,
} as const;

/** Anchors and aliases of one document, counted in one linear walk. */
function countAnchors(doc: Document.Parsed): { anchors: number; aliases: number } {
  let anchors = 0;
  let aliases = 0;
  visit(doc, {
    Node: (_key, node) => {
      if (isAlias(node)) aliases++;
      else if (node.anchor) anchors++;
    },
  });
  return { anchors, aliases };
}

/** The document's value, or why it cannot be read (too many anchors, a bomb, an undefined alias). */
function documentValue(doc: Document.Parsed): { value?: unknown; problem?: string } {
  const { anchors, aliases } = countAnchors(doc);
  if (anchors > INPUT_LIMITS.maxAnchors) return { problem: `has ${anchors} YAML anchors; at most ${INPUT_LIMITS.maxAnchors} are allowed per document` };
  if (aliases > INPUT_LIMITS.maxAliases) return { problem: `has ${aliases} YAML aliases; at most ${INPUT_LIMITS.maxAliases} are allowed per document` };
  try {
    return { value: doc.toJS({ maxAliasCount: INPUT_LIMITS.maxAliasCount }) };
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    if (/Excessive alias count/.test(message)) {
      return { problem: `YAML aliases expand to more than ${INPUT_LIMITS.maxAliasCount} nodes (a "billion laughs" bomb?)` };
    }
    return { problem: `YAML error: ${message}` };
  }
}

/** Objects of one document: itself, or the items of a v1 List; foreign objects skipped. */
function objectsOf(value: unknown, source: string, out: LoadResult): void {
  if (value === null || value === undefined) return; // an empty document, e.g. after a trailing `---`
  if (!isList(value)) {
    if (!isForeign(value)) out.objects.push({ object: value, source });
    return;
  }
  if (!Array.isArray(value.items)) {
    out.diagnostics.push(error(source, 'items', 'a List must have an items array'));
    return;
  }
  value.items.forEach((item, j) => {
    if (!isForeign(item)) out.objects.push({ object: item, source: `${source} items[${j}]` });
  });
}

/**
 * Parses one file's text (YAML or JSON, several documents allowed). Never throws: every
 * problem is an error naming the file (and document), and the file's other documents are
 * still read.
 */
export function parseDefinitions(text: string, file: string): LoadResult {
  const out: LoadResult = { objects: [], diagnostics: [] };
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > INPUT_LIMITS.maxBytes) {
    out.diagnostics.push(error(file, undefined, `is ${bytes} bytes; input files may be at most ${INPUT_LIMITS.maxBytes} bytes`, 'InputTooLarge'));
    return out;
  }
  const lineCounter = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter, prettyErrors: false });
  // An empty stream (empty file, or only comments) has no documents: nothing to read.
  if (!Array.isArray(docs)) return out;
  if (docs.length > INPUT_LIMITS.maxDocuments) {
    out.diagnostics.push(error(file, undefined, `has ${docs.length} YAML documents; at most ${INPUT_LIMITS.maxDocuments} are allowed per file`, 'InputTooLarge'));
    return out;
  }
  out.lines = new Map();
  docs.forEach((doc, i) => {
    const source = `${file}#${i + 1}`;
    out.lines!.set(source, (field) => lineOf(doc, lineCounter, field ? fieldPath(field) : []));
    // The items of a v1 List: `file#1 items[3]`.
    const items = doc.get('items', true);
    if (items && typeof items === 'object' && 'items' in items && Array.isArray(items.items)) {
      items.items.forEach((_, j) => out.lines!.set(`${source} items[${j}]`, (field) => lineOf(doc, lineCounter, ['items', j, ...(field ? fieldPath(field) : [])])));
    }
    if (doc.errors.length > 0) {
      for (const e of doc.errors) {
        const { line, col } = lineCounter.linePos(e.pos[0]);
        out.diagnostics.push(error(`${file}:${line}`, undefined, `YAML syntax error at column ${col}: ${e.message}`, 'YAMLSyntax'));
      }
      return;
    }
    const { value, problem } = documentValue(doc);
    if (problem !== undefined) out.diagnostics.push(error(source, undefined, problem, 'YAMLSyntax'));
    else objectsOf(value, source, out);
  });
  return out;
}

/**
 * Reads every path (file or folder), in the order given. A missing or unreadable path is an
 * error naming it; the other paths are still read. Input without a single Anvil object is a
 * warning: a wrong path or an empty file should not pass silently as "nothing to do".
 */
export function loadDefinitions(paths: readonly string[]): LoadResult {
  const out: LoadResult = { objects: [], diagnostics: [] };
  for (const path of paths) {
    let files: string[];
    try {
      files = inputFiles(path);
    } catch (e) {
      out.diagnostics.push(error(path, undefined, describeFsError(e)));
      continue;
    }
    for (const file of files) {
      let text: string;
      try {
        text = readFileSync(file, 'utf8');
      } catch (e) {
        out.diagnostics.push(error(file, undefined, describeFsError(e)));
        continue;
      }
      const one = parseDefinitions(text, file);
      out.objects.push(...one.objects);
      out.diagnostics.push(...one.diagnostics);
      for (const [k, v] of one.lines ?? []) (out.lines ??= new Map()).set(k, v);
    }
  }
  if (out.objects.length === 0 && !out.diagnostics.some((d) => d.severity === 'error')) {
    out.diagnostics.push(warning(paths.join(', ') || '(no input)', undefined, 'no ModuleManifest, GameDefinition or WorldInstance found: nothing to resolve', 'EmptyInput'));
  }
  return out;
}

function describeFsError(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'no such file or folder';
  if (code === 'EACCES') return 'permission denied';
  return e instanceof Error ? e.message : String(e);
}

/**
 * A diagnostic about a YAML document names the file and line of the field it is about
 * (`games/a.yaml:14`) rather than the document's number; so do sources quoted in its
 * message ("already defined in games/a.yaml:3").
 */
export function atLine(d: Diagnostic, lines: ReadonlyMap<string, (field?: string) => number> | undefined): Diagnostic {
  if (!lines) return d;
  const line = lines.get(d.source);
  const message = d.message.replace(/(\S+#\d+(?: items\[\d+\])?)/g, (s) => {
    const at = lines.get(s);
    return at ? `${s.replace(/#\d+.*$/, '')}:${at()}` : s;
  });
  return { ...d, ...(line ? { source: `${d.source.replace(/#\d+.*$/, '')}:${line(d.field)}` } : {}), message };
}
