/**
 * What an editor shows (issue 18): every property of the public API types whose schema has a
 * description carries it as TSDoc. Read with the TypeScript compiler from an entry file —
 * lib/index.ts in the unit test, the installed package's build/lib/index.d.ts in the package
 * test — through the exported names, as an editor resolves them.
 */
import ts from 'typescript';
import type { TSchema } from '@sinclair/typebox';
import { GameDefinitionSpecSchema, WorldInstanceSpecSchema, WorldPoolSpecSchema } from '../lib/api/schema.js';
import { NAMED_SCHEMAS } from '../scripts/gen-types.js';

/**
 * Hand-written props whose fields stand for schema fields: each one's TSDoc must include the
 * schema field's description (`buffer` is the pool's `spec.buffer.ready`).
 */
const PROPS_MIRRORS: [string, TSchema, Record<string, string[]>][] = [
  ['WorldProps', WorldInstanceSpecSchema, { game: ['gameRef'] }],
  ['WorldPoolProps', WorldPoolSpecSchema, { game: ['gameRef'], buffer: ['buffer', 'ready'] }],
  ['GameProps', GameDefinitionSpecSchema, {}],
  ['BookletProps', GameDefinitionSpecSchema.properties.booklets.items, {}],
];

/** The problems: a described schema property without its description as TSDoc, or missing from the type. */
export function undocumentedProperties(entry: string): string[] {
  const program = ts.createProgram([entry], {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    types: [],
  });
  const checker = program.getTypeChecker();
  const source = program.getSourceFile(entry);
  if (!source) throw new Error(`${entry}: not found`);
  const exports = new Map(checker.getExportsOfModule(checker.getSymbolAtLocation(source)!).map((s) => [s.name, s]));
  const exported = (name: string): ts.Type | undefined => {
    const symbol = exports.get(name);
    if (!symbol) return undefined;
    return checker.getDeclaredTypeOfSymbol(symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol);
  };
  const doc = (s: ts.Symbol): string => ts.displayPartsToString(s.getDocumentationComment(checker));
  const problems: string[] = [];

  const walk = (schema: TSchema, type: ts.Type, path: string): void => {
    const t = checker.getNonNullableType(type);
    if (schema.type === 'array' && schema.items) {
      const element = checker.isArrayType(t) ? checker.getTypeArguments(t as ts.TypeReference)[0] : undefined;
      if (element) walk(schema.items as TSchema, element, `${path}[]`);
      else problems.push(`${path}: not an array type`);
      return;
    }
    if (schema.type !== 'object' || !schema.properties) return;
    for (const [key, property] of Object.entries(schema.properties as Record<string, TSchema>)) {
      const symbol = checker.getPropertyOfType(t, key);
      if (!symbol) {
        problems.push(`${path}.${key}: not a property of the type`);
        continue;
      }
      if (property.description && !doc(symbol).includes(property.description)) problems.push(`${path}.${key}: its TSDoc lacks the schema's description "${property.description}"`);
      walk(property, checker.getTypeOfSymbol(symbol), `${path}.${key}`);
    }
  };

  for (const [name, [schema]] of Object.entries(NAMED_SCHEMAS)) {
    const type = exported(name);
    if (type) walk(schema, type, name);
    else problems.push(`${name}: not exported by ${entry}`);
  }
  for (const [name, schema, renamed] of PROPS_MIRRORS) {
    const type = exported(name);
    if (!type) {
      problems.push(`${name}: not exported by ${entry}`);
      continue;
    }
    for (const symbol of type.getProperties()) {
      const schemaPath = renamed[symbol.name] ?? [symbol.name];
      const field = schemaPath.reduce<TSchema | undefined>((s, k) => (s?.properties as Record<string, TSchema> | undefined)?.[k], schema);
      if (field?.description && !doc(symbol).includes(field.description)) {
        problems.push(`${name}.${symbol.name}: its TSDoc lacks the description of spec.${schemaPath.join('.')}, "${field.description}"`);
      }
    }
  }
  return problems;
}
