/**
 * Reads Anvil definitions from files and folders: the CLI's input. Each object keeps where it
 * came from (`games/a.yaml#3`: file and 1-based document), so that every later message can
 * name it. Reading never stops at the first problem: bad files are reported and the rest is
 * still read, so that one run lists every problem.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { LineCounter, parseAllDocuments } from 'yaml';
import { GROUP } from './api/schema.js';
import { error, type Diagnostic } from './diagnostics.js';
import type { Sourced } from './resolve/catalog.js';

export interface LoadResult {
  objects: Sourced[];
  diagnostics: Diagnostic[];
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

/** Parses one file's text (YAML or JSON, several documents allowed). */
export function parseDefinitions(text: string, file: string): LoadResult {
  const out: LoadResult = { objects: [], diagnostics: [] };
  const lineCounter = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter, prettyErrors: false });
  // An empty stream (empty file, or only comments) has no documents: nothing to read.
  if (!Array.isArray(docs)) return out;
  docs.forEach((doc, i) => {
    const source = `${file}#${i + 1}`;
    if (doc.errors.length > 0) {
      for (const e of doc.errors) {
        const { line, col } = lineCounter.linePos(e.pos[0]);
        out.diagnostics.push(error(source, undefined, `YAML syntax error at line ${line}, column ${col}: ${e.message}`, 'YAMLSyntax'));
      }
      return;
    }
    const value: unknown = doc.toJS({ maxAliasCount: 1000 });
    if (value === null || value === undefined) return; // an empty document, e.g. after a trailing `---`
    if (isList(value)) {
      if (!Array.isArray(value.items)) {
        out.diagnostics.push(error(source, 'items', 'a List must have an items array'));
        return;
      }
      value.items.forEach((item, j) => {
        if (!isForeign(item)) out.objects.push({ object: item, source: `${source} items[${j}]` });
      });
      return;
    }
    if (!isForeign(value)) out.objects.push({ object: value, source });
  });
  return out;
}

/**
 * Reads every path (file or folder), in the order given. A missing or unreadable path is an
 * error naming it; the other paths are still read.
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
    }
  }
  return out;
}

function describeFsError(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'no such file or folder';
  if (code === 'EACCES') return 'permission denied';
  return e instanceof Error ? e.message : String(e);
}
