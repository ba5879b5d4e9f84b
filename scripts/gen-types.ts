/**
 * Writes lib/api/types.ts: the TypeScript types of the anvil.dev/v1alpha1 schemas, with each
 * schema `description` as the TSDoc of its property, so an editor shows the same words as
 * `kubectl explain` (issue 18). The schemas in lib/api/schema.ts stay the one source of truth:
 * `npm run gen:types` rewrites the file, test/unit/schemaTypes.test.ts fails when it is not
 * current, and the compiler holds every generated type equal to `Static<typeof …Schema>`.
 *
 * TypeBox's `Static<>` types carry no comments, hence the generated file. A schema shape the
 * generator does not know is an error here, never a silently wrong type.
 */
import { writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TSchema } from '@sinclair/typebox';
import * as S from '../lib/api/schema.js';

/** The exported object types, each with its schema and the TSDoc of the type itself. */
export const NAMED_SCHEMAS = {
  Port: [S.PortSchema, 'A port of a module (`ModuleManifest` `spec.ports[]`).'],
  ProvidedCapability: [S.ProvidedCapabilitySchema, 'A capability a module provides (`spec.provides[]`).'],
  Requirement: [S.RequirementSchema, 'A capability a module requires (`spec.requires[]`).'],
  EnvVar: [S.EnvVarSchema, 'An environment variable of a module (`spec.env[]`).'],
  Volume: [S.VolumeSchema, 'Files for a module (`spec.volumes[]`): exactly one of secret, configMap or emptyDir.'],
  Probe: [S.ProbeSchema, 'A readiness, liveness or startup probe: exactly one of httpGet, grpc, tcpSocket or exec.'],
  EgressRule: [S.EgressRuleSchema, 'A destination a module may reach beyond DNS and its bound providers.'],
  PolicyRule: [S.PolicyRuleSchema, "An rbac.authorization.k8s.io/v1 PolicyRule for a module's ServiceAccount."],
  ModuleManifestSpec: [S.ModuleManifestSpecSchema, 'The spec of a ModuleManifest, and the props of `new Module(scope, name, props)`.'],
  GameRollout: [S.GameRolloutSchema, 'How a new revision of a game reaches its worlds (`GameDefinition` `spec.rollout`).'],
  PoolRollout: [S.PoolRolloutSchema, "A pool's override of its game's rollout policy (`WorldPool` `spec.rollout`)."],
  GameDefinitionSpec: [S.GameDefinitionSpecSchema, 'The spec of a GameDefinition: the modules a world of the game runs.'],
  WorldInstanceSpec: [S.WorldInstanceSpecSchema, 'The spec of a WorldInstance: a running instance of a game.'],
  Condition: [S.ConditionSchema, 'A status condition, as metav1.Condition.'],
  Endpoint: [S.EndpointSchema, 'Where clients reach one root module of a world: its Service\'s DNS name and ports.'],
  WorldInstanceStatus: [S.WorldInstanceStatusSchema, 'The status of a WorldInstance, written by the reconciler.'],
  WorldPoolSpec: [S.WorldPoolSpecSchema, 'The spec of a WorldPool: warm worlds of a game for claims to take.'],
  WorldPoolStatus: [S.WorldPoolStatusSchema, 'The status of a WorldPool, written by the reconciler.'],
  WorldClaimSpec: [S.WorldClaimSpecSchema, 'The spec of a WorldClaim: exactly one of poolRef or selector.'],
  WorldClaimStatus: [S.WorldClaimStatusSchema, 'The status of a WorldClaim, written by the reconciler.'],
  CapabilityBindingSpec: [S.CapabilityBindingSpecSchema, 'The spec of a CapabilityBinding: who talks to whom.'],
  RolloutStatus: [S.RolloutStatusSchema, "Where a game's rollout is (`GameDefinition` `status.rollout`)."],
  GameDefinitionStatus: [S.GameDefinitionStatusSchema, 'The status of a GameDefinition, written by the reconciler.'],
} as const satisfies Record<string, readonly [TSchema, string]>;

export type NamedType = keyof typeof NAMED_SCHEMAS;

/** A schema's identity for reuse of a named type: its JSON without its own description. */
const shapeKey = (s: TSchema): string => JSON.stringify({ ...s, description: undefined });

const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;
const quote = (v: unknown): string => (typeof v === 'string' ? `'${v.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'` : JSON.stringify(v));
// An array of a union (or of an object literal, which may hold one) needs parentheses.
const parenthesized = (t: string): string => (t.includes(' | ') ? `(${t})` : t);

/** The TSDoc lines of a property: its description (and its items'), and its default. */
function docLines(s: TSchema): string[] {
  const lines: string[] = s.description ? [s.description] : [];
  const items = s.type === 'array' ? (s.items as TSchema | undefined) : undefined;
  if (items?.description) lines.push(`Each item: ${items.description}`);
  if (s.default !== undefined) lines.push(...(lines.length ? [''] : []), `@defaultValue \`${JSON.stringify(s.default)}\``);
  return lines.map((l) => l.replace(/\*\//g, '*\\/'));
}

function comment(lines: string[], indent: string): string {
  if (lines.length === 0) return '';
  if (lines.length === 1) return `${indent}/** ${lines[0]} */\n`;
  return `${indent}/**\n${lines.map((l) => `${indent} *${l ? ` ${l}` : ''}`).join('\n')}\n${indent} */\n`;
}

/** The TypeScript type of schema `s`; a named schema other than the root is referred to by name. */
function typeOf(s: TSchema, indent: string, names: Map<string, string>, root = false): string {
  const named = root ? undefined : names.get(shapeKey(s));
  if (named) return named;
  if (Array.isArray(s.enum)) return s.enum.map(quote).join(' | ');
  if (s['x-kubernetes-int-or-string']) return 'number | string';
  switch (s.type) {
    case 'string':
      return 'string';
    case 'integer':
    case 'number':
      return 'number';
    case 'boolean':
      return 'boolean';
    case 'array': {
      return `${parenthesized(typeOf(s.items as TSchema, indent, names))}[]`;
    }
    case 'object':
      if (s.properties) return objectType(s, indent, names);
      if (s['x-kubernetes-preserve-unknown-fields']) return 'Record<string, unknown>';
      if (s.additionalProperties && typeof s.additionalProperties === 'object') return `Record<string, ${typeOf(s.additionalProperties as TSchema, indent, names)}>`;
  }
  throw new Error(`scripts/gen-types.ts: no TypeScript type for the schema ${JSON.stringify(s)}: teach typeOf() this shape`);
}

function objectType(s: TSchema, indent: string, names: Map<string, string>): string {
  const required = new Set<string>((s.required as string[] | undefined) ?? []);
  const inner = `${indent}  `;
  const members = Object.entries(s.properties as Record<string, TSchema>).map(([key, p]) => {
    const name = IDENTIFIER.test(key) ? key : quote(key);
    return `${comment(docLines(p), inner)}${inner}${name}${required.has(key) ? '' : '?'}: ${typeOf(p, inner, names)};\n`;
  });
  return `{\n${members.join('')}${indent}}`;
}

/** The text of lib/api/types.ts. */
export function generateTypes(): string {
  const names = new Map(Object.entries(NAMED_SCHEMAS).map(([name, [schema]]) => [shapeKey(schema), name]));
  const types = Object.entries(NAMED_SCHEMAS).map(([name, [schema, doc]]) => `${comment([doc], '')}export type ${name} = ${typeOf(schema, '', names, true)};\n`);
  return `// Generated by scripts/gen-types.ts from the schemas in lib/api/schema.ts: do not edit.
// Run \`npm run gen:types\` after changing a schema (test/unit/schemaTypes.test.ts checks it).
// Each property's TSDoc is its schema's description, so editors show what kubectl explain does.

${types.join('\n')}`;
}

export const TYPES_FILE = join(dirname(fileURLToPath(import.meta.url)), '..', 'lib', 'api', 'types.ts');

if (process.argv[1] && fileURLToPath(import.meta.url) === resolve(process.argv[1])) {
  writeFileSync(TYPES_FILE, generateTypes());
  process.stdout.write(`wrote ${TYPES_FILE}\n`);
}
