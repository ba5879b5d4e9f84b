/**
 * The API's types carry the schemas' descriptions as TSDoc (issue 18). lib/api/types.ts is
 * generated from the schemas (scripts/gen-types.ts); here: the file is current, each of its
 * types is the schema's `Static<>` type (checked by the compiler: `npm run typecheck`), and
 * what an editor shows through `@anvil-dev/anvil` (lib/index.ts) has every description.
 * The package test runs the same check on the installed package's .d.ts.
 */
import { expect, test } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Static, TSchema } from '@sinclair/typebox';
import type * as S from '../../lib/api/schema.js';
import { generateTypes, TYPES_FILE, type NamedType } from '../../scripts/gen-types.js';
import { undocumentedProperties } from '../tsdoc.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Compiles only when `A` and `Static<B>` are assignable to each other. */
type Same<A, B extends TSchema> = [A] extends [Static<B>] ? ([Static<B>] extends [A] ? true : false) : false;
const same = <A, B extends TSchema>(..._: Same<A, B> extends true ? [] : [never]): true => true;

// Every generated type (the compiler holds the list complete) is its schema's Static type.
export const generatedTypesAreStatic: Record<NamedType, true> = {
  Port: same<S.Port, typeof S.PortSchema>(),
  ProvidedCapability: same<S.ProvidedCapability, typeof S.ProvidedCapabilitySchema>(),
  Requirement: same<S.Requirement, typeof S.RequirementSchema>(),
  EnvVar: same<S.EnvVar, typeof S.EnvVarSchema>(),
  Volume: same<S.Volume, typeof S.VolumeSchema>(),
  Probe: same<S.Probe, typeof S.ProbeSchema>(),
  EgressRule: same<S.EgressRule, typeof S.EgressRuleSchema>(),
  PolicyRule: same<S.PolicyRule, typeof S.PolicyRuleSchema>(),
  ModuleManifestSpec: same<S.ModuleManifestSpec, typeof S.ModuleManifestSpecSchema>(),
  GameRollout: same<S.GameRollout, typeof S.GameRolloutSchema>(),
  PoolRollout: same<S.PoolRollout, typeof S.PoolRolloutSchema>(),
  GameDefinitionSpec: same<S.GameDefinitionSpec, typeof S.GameDefinitionSpecSchema>(),
  WorldInstanceSpec: same<S.WorldInstanceSpec, typeof S.WorldInstanceSpecSchema>(),
  Condition: same<S.Condition, typeof S.ConditionSchema>(),
  Endpoint: same<S.Endpoint, typeof S.EndpointSchema>(),
  WorldInstanceStatus: same<S.WorldInstanceStatus, typeof S.WorldInstanceStatusSchema>(),
  WorldPoolSpec: same<S.WorldPoolSpec, typeof S.WorldPoolSpecSchema>(),
  WorldPoolStatus: same<S.WorldPoolStatus, typeof S.WorldPoolStatusSchema>(),
  WorldClaimSpec: same<S.WorldClaimSpec, typeof S.WorldClaimSpecSchema>(),
  WorldClaimStatus: same<S.WorldClaimStatus, typeof S.WorldClaimStatusSchema>(),
  CapabilityBindingSpec: same<S.CapabilityBindingSpec, typeof S.CapabilityBindingSpecSchema>(),
  RolloutStatus: same<S.RolloutStatus, typeof S.RolloutStatusSchema>(),
  GameDefinitionStatus: same<S.GameDefinitionStatus, typeof S.GameDefinitionStatusSchema>(),
};

test('lib/api/types.ts is generated from the current schemas (else: npm run gen:types)', () => {
  expect(readFileSync(TYPES_FILE, 'utf8')).toBe(generateTypes());
});

test('every described schema property has its description as TSDoc on the exported types', () => {
  expect(undocumentedProperties(join(ROOT, 'lib', 'index.ts'))).toEqual([]);
});

test('a property without its description is reported', () => {
  // The Static<> types TypeBox gives carry no TSDoc: what the API exported before issue 18.
  const problems = undocumentedProperties(join(ROOT, 'test', 'fixtures', 'tsdoc', 'static.ts'));
  expect(problems).toContain('ModuleManifestSpec.version: its TSDoc lacks the schema\'s description "SemVer of the module"');
  expect(problems).toContain('Port: not exported by ' + join(ROOT, 'test', 'fixtures', 'tsdoc', 'static.ts'));
});
