/**
 * Reading definitions from files (lib/load.ts): what the CLI gets as input, and how each
 * object is named in messages.
 */
import { describe, expect, test } from '@jest/globals';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { inputFiles, loadDefinitions, parseDefinitions } from '../../lib/load.js';

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
    expect(parseDefinitions('', 'e.yaml')).toEqual({ objects: [], diagnostics: [] });
    expect(parseDefinitions('# only a comment\n---\n', 'e.yaml')).toEqual({ objects: [], diagnostics: [] });
    expect(parseDefinitions('apiVersion: v1\nkind: List\n', 'l.yaml').diagnostics).toEqual([
      { severity: 'error', source: 'l.yaml#1', field: 'items', message: 'a List must have an items array' },
    ]);
  });

  test('a syntax error names the line; the file\'s other documents are still read', () => {
    const { objects, diagnostics } = parseDefinitions('a: 1\n---\nb: c: d\n---\ne: 2\n', 's.yaml');
    expect(objects.map((o) => o.source)).toEqual(['s.yaml#1', 's.yaml#3']);
    expect(diagnostics).toHaveLength(1);
    expect(diagnostics[0]).toMatchObject({ severity: 'error', source: 's.yaml#2', reason: 'YAMLSyntax' });
    expect(diagnostics[0]!.message).toMatch(/^YAML syntax error at line 3, column \d+: /);
  });

  test('a missing path is an error naming it', () => {
    expect(loadDefinitions(['no/such/place']).diagnostics).toEqual([
      { severity: 'error', source: 'no/such/place', message: 'no such file or folder' },
    ]);
  });
});
