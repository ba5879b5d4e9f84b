/**
 * Reading definitions from files (lib/cli/load.ts): what the CLI gets as input, and how each
 * object is named in messages.
 */
import { describe, expect, test } from '@jest/globals';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { INPUT_LIMITS, inputFiles, loadDefinitions, parseDefinitions } from '../../lib/cli/load.js';

const VALID = resolve(dirname(fileURLToPath(import.meta.url)), '../fixtures/cli/valid');

describe('loadDefinitions', () => {
  test('a folder is read recursively, *.yaml/*.yml/*.json only, in sorted order', () => {
    expect(inputFiles(VALID).map((f) => f.slice(VALID.length + 1))).toEqual(['game.json', 'modules.yaml', 'worlds/worlds.yml']);
  });

  test('each Anvil object is named FILE#DOCUMENT; List items by index; other API groups are skipped', () => {
    const { objects, diagnostics } = loadDefinitions([VALID]);
    expect(diagnostics).toEqual([]);
    expect(objects.map((o) => [o.source.slice(VALID.length + 1), (o.object as any).kind, (o.object as any).metadata.name])).toEqual([
      ['game.json#1 items[0]', 'GameDefinition', 'arena'],
      ['modules.yaml#1', 'ModuleManifest', 'gateway'],
      ['modules.yaml#2', 'ModuleManifest', 'engine'],
      ['modules.yaml#3', 'ModuleManifest', 'store'],
      ['modules.yaml#4', 'ModuleManifest', 'bus'],
      ['worlds/worlds.yml#1', 'WorldInstance', 'arena-1'],
      ['worlds/worlds.yml#2', 'WorldInstance', 'arena-2'],
    ]);
  });

  test('objects of the anvil.dev group are kept even with a wrong version or kind, for validation to report', () => {
    const text = 'apiVersion: anvil.dev/v9\nkind: ModuleManifest\nmetadata: {name: a}\n---\napiVersion: apps/v1\nkind: Deployment\n---\n- not an object\n';
    const { objects, diagnostics } = parseDefinitions(text, 'x.yaml');
    expect(diagnostics).toEqual([]);
    expect(objects.map((o) => o.source)).toEqual(['x.yaml#1', 'x.yaml#3']);
  });

  test('empty files and documents are nothing; a List without items is an error', () => {
    expect(parseDefinitions('', 'e.yaml')).toMatchObject({ objects: [], diagnostics: [] });
    expect(parseDefinitions('# only a comment\n---\n', 'e.yaml')).toMatchObject({ objects: [], diagnostics: [] });
    expect(parseDefinitions('apiVersion: v1\nkind: List\n', 'l.yaml').diagnostics).toEqual([
      { severity: 'error', source: 'l.yaml#1', field: 'items', message: 'a List must have an items array' },
    ]);
  });

  test('a syntax error names the line; the file\'s other documents are still read', () => {
    const { objects, diagnostics } = parseDefinitions('a: 1\n---\nb: c: d\n---\ne: 2\n', 's.yaml');
    expect(objects.map((o) => o.source)).toEqual(['s.yaml#1', 's.yaml#3']);
    expect(diagnostics).toHaveLength(1);
    expect(diagnostics[0]).toMatchObject({ severity: 'error', source: 's.yaml:3', reason: 'YAMLSyntax' });
    expect(diagnostics[0]!.message).toMatch(/^YAML syntax error at column \d+: /);
  });

  test('a missing path is an error naming it', () => {
    expect(loadDefinitions(['no/such/place']).diagnostics).toEqual([
      { severity: 'error', source: 'no/such/place', message: 'no such file or folder' },
    ]);
  });
});

describe('hostile or broken YAML (issue 8, item 9)', () => {
  const module = (body: string) => `apiVersion: anvil.dev/v1alpha1\nkind: ModuleManifest\nmetadata: {name: a}\nspec:\n${body}`;

  test('an undefined alias is an error naming the document; the other documents are still read', () => {
    const { objects, diagnostics } = parseDefinitions(`${module('  image: *nowhere\n')}---\n${module('  image: x\n')}`, 'u.yaml');
    expect(objects.map((o) => o.source)).toEqual(['u.yaml#2']);
    expect(diagnostics).toHaveLength(1);
    expect(diagnostics[0]).toMatchObject({ severity: 'error', source: 'u.yaml#1' });
    expect(diagnostics[0]!.message).toMatch(/nowhere/);
  });

  test('a "billion laughs" bomb is an error, not an exception', () => {
    const levels = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
    for (let i = 1; i < 8; i++) levels.push(`${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(10).fill(`*${String.fromCharCode(96 + i)}`).join(', ')}]`);
    const { objects, diagnostics } = parseDefinitions(`${levels.join('\n')}\n`, 'bomb.yaml');
    expect(objects).toEqual([]);
    expect(diagnostics).toEqual([expect.objectContaining({ severity: 'error', source: 'bomb.yaml#1', message: expect.stringMatching(/aliases expand to more than 1000 nodes/) })]);
  });

  test('anchors, aliases, documents and bytes are bounded, each with a clear error', () => {
    const anchors = Array.from({ length: INPUT_LIMITS.maxAnchors + 1 }, (_, i) => `  - &a${i} {name: v${i}, value: x}`).join('\n');
    expect(parseDefinitions(module(`  env:\n${anchors}\n`), 'anchors.yaml').diagnostics.map((d) => d.message)).toEqual([
      `has ${INPUT_LIMITS.maxAnchors + 1} YAML anchors; at most ${INPUT_LIMITS.maxAnchors} are allowed per document`,
    ]);
    const aliases = Array.from({ length: INPUT_LIMITS.maxAliases + 1 }, () => '  - *a').join('\n');
    expect(parseDefinitions(module(`  x: &a {name: v, value: x}\n  env:\n${aliases}\n`), 'aliases.yaml').diagnostics.map((d) => d.message)).toEqual([
      `has ${INPUT_LIMITS.maxAliases + 1} YAML aliases; at most ${INPUT_LIMITS.maxAliases} are allowed per document`,
    ]);
    const docs = Array.from({ length: INPUT_LIMITS.maxDocuments + 1 }, () => 'a: 1').join('\n---\n');
    expect(parseDefinitions(docs, 'docs.yaml').diagnostics).toEqual([
      expect.objectContaining({ source: 'docs.yaml', message: `has ${INPUT_LIMITS.maxDocuments + 1} YAML documents; at most ${INPUT_LIMITS.maxDocuments} are allowed per file` }),
    ]);
    const big = `# ${'x'.repeat(INPUT_LIMITS.maxBytes)}\n`;
    expect(parseDefinitions(big, 'big.yaml').diagnostics).toEqual([
      expect.objectContaining({ source: 'big.yaml', message: `is ${big.length} bytes; input files may be at most ${INPUT_LIMITS.maxBytes} bytes` }),
    ]);
  });

  test('input without a single Anvil object is a warning, not silence', () => {
    const dir = mkdtempSync(join(tmpdir(), 'anvil-empty-'));
    try {
      writeFileSync(join(dir, 'empty.yaml'), '# nothing yet\n');
      expect(loadDefinitions([dir])).toEqual({
        objects: [],
        diagnostics: [expect.objectContaining({ severity: 'warning', source: dir, reason: 'EmptyInput' })],
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
