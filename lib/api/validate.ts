/**
 * Input validation: the CRD schemas (the same ones the API server enforces) plus the rules a
 * schema cannot say (SemVer ranges). Used by synth, the CLI and the reconciler, so a bad
 * object gets the same message wherever it is met.
 */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import semver from 'semver';
import { error, type Diagnostic } from '../diagnostics/diagnostics.js';
import { envName } from '../names/names.js';
import { closest, didYouMean } from '../diagnostics/suggest.js';
import { API_VERSION, CAPABILITY_ID_PATTERN, DNS_LABEL_PATTERN, KINDS, QUANTITY_PATTERN, kindDefinition, type AnvilResource } from './schema.js';
import { structuralProblems } from './structural.js';
import { moduleFieldProblems } from './moduleChecks.js';

/**
 * The schema with `additionalProperties: false` on every object that lists its properties,
 * for validation only: unknown fields (`multiplicty`) are errors here, while the CRDs keep
 * the schemas as they are (the API server prunes unknown fields of a structural schema).
 */
export function strictSchema(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(strictSchema);
  if (typeof schema !== 'object' || schema === null) return schema;
  const out = Object.fromEntries(Object.entries(schema).map(([k, v]) => [k, k === 'properties' ? Object.fromEntries(Object.entries(v as object).map(([p, s]) => [p, strictSchema(s)])) : strictSchema(v)]));
  const open = out['x-kubernetes-preserve-unknown-fields'] === true || out.additionalProperties !== undefined;
  if (out.type === 'object' && out.properties && !open) out.additionalProperties = false;
  return out;
}

const ajv = new Ajv({ allErrors: true, strict: false, useDefaults: true, verbose: true });
const validators = new Map<string, ValidateFunction>(
  KINDS.map((k) => [k.kind, ajv.compile(strictSchema(JSON.parse(JSON.stringify(k.spec))) as object)]),
);
/** What an Anvil object may have at its top level (status is the API server's, and ignored). */
const TOP_LEVEL_FIELDS = ['apiVersion', 'kind', 'metadata', 'spec', 'status'];
const nameRe = new RegExp(DNS_LABEL_PATTERN);

/** `/requires/0/scope` -> `spec.requires[0].scope` */
function fieldOf(e: ErrorObject): string {
  const parts = e.instancePath.split('/').filter(Boolean);
  if (e.keyword === 'required') parts.push((e.params as { missingProperty: string }).missingProperty);
  if (e.keyword === 'additionalProperties') parts.push((e.params as { additionalProperty: string }).additionalProperty);
  return parts.reduce((acc, p) => (/^\d+$/.test(p) ? `${acc}[${p}]` : `${acc}.${p}`), 'spec');
}

/** What a schema's pattern asks for, in words and with an example: a raw regular expression helps no one. */
const PATTERN_WORDS: Record<string, string> = {
  [QUANTITY_PATTERN]: 'a quantity such as 512Mi or 2Gi (a number, then optionally Ki, Mi, Gi, Ti, Pi, Ei or k, M, G, T, P, E)',
  [DNS_LABEL_PATTERN]: 'a DNS label such as eu-west or physics-engine (lower-case letters, digits and -, starting and ending with a letter or digit)',
  [CAPABILITY_ID_PATTERN]: 'a capability id such as physics or physics.engine (lower-case letters, digits, - and ., starting and ending with a letter or digit)',
  '^/': 'an absolute path such as /data',
  '^[-._a-zA-Z][-._a-zA-Z0-9]*$': 'an environment variable name such as LOG_LEVEL (letters, digits, _, - and ., not starting with a digit)',
  '^[a-z][a-z0-9_.-]*$': 'an action name such as move or chat.send (starting with a lower-case letter; then lower-case letters, digits, _, . and -)',
};

function patternInWords(pattern: string): string {
  const words = PATTERN_WORDS[pattern];
  return words ? `must be ${words}` : `must match the regular expression ${pattern}`;
}

function messageOf(e: ErrorObject): string {
  switch (e.keyword) {
    case 'enum':
      return `must be one of ${(e.params as { allowedValues: unknown[] }).allowedValues.map((v) => JSON.stringify(v)).join(', ')}`;
    case 'required':
      return 'is required';
    case 'additionalProperties': {
      const known = Object.keys((e.parentSchema as { properties?: object } | undefined)?.properties ?? {});
      const name = (e.params as { additionalProperty: string }).additionalProperty;
      // The module's security context holds only what the restricted profile leaves to it.
      const restricted = e.instancePath === '/securityContext' ? '; the rest stays as the restricted Pod Security Standard requires (runAsNonRoot, no privilege escalation, capabilities dropped, seccomp RuntimeDefault)' : '';
      return `unknown field${didYouMean(name, known)}; known fields here: ${known.join(', ')}${restricted}`;
    }
    case 'pattern':
      return e.instancePath.endsWith('version')
        ? 'must be a SemVer version like 1.2.3 (MAJOR.MINOR.PATCH)'
        : patternInWords((e.params as { pattern: string }).pattern);
    default:
      return e.message ?? 'is invalid';
  }
}

/**
 * One typo, one message: `capabilityID: x` is an unknown field *and* a missing
 * `capabilityId`; the "is required" that the unknown field's did-you-mean explains is dropped.
 */
function withoutEchoes(errors: readonly ErrorObject[]): ErrorObject[] {
  const explained = new Set<string>();
  for (const e of errors) {
    if (e.keyword !== 'additionalProperties') continue;
    const known = Object.keys((e.parentSchema as { properties?: object } | undefined)?.properties ?? {});
    for (const near of closest((e.params as { additionalProperty: string }).additionalProperty, known)) explained.add(`${e.instancePath}/${near}`);
  }
  return errors.filter((e) => e.keyword !== 'required' || !explained.has(`${e.instancePath}/${(e.params as { missingProperty: string }).missingProperty}`));
}

/** The object's display name: `ModuleManifest/gateway`. */
export const objectRef = (o: { kind?: unknown; metadata?: { name?: unknown; namespace?: unknown } }): string =>
  `${String(o.kind ?? '<no kind>')}/${o.metadata?.namespace ? `${String(o.metadata.namespace)}/` : ''}${String(o.metadata?.name ?? '<no name>')}`;

/**
 * Checks one object and fills in schema defaults (scope: world, multiplicity: "1", …) in
 * place, as the API server would. `source` names where it came from, for the messages.
 */
export function validateObject(obj: unknown, source: string): Diagnostic[] {
  const out = validateAgainstCrd(obj, source);
  const o = obj as { kind?: unknown; spec?: unknown } | null;
  if (o?.kind === 'ModuleManifest' && typeof o.spec === 'object' && o.spec !== null) out.push(...moduleSemantics(o as any, source));
  return out;
}

const DNS_LABEL_MESSAGE = 'must be a DNS-1123 label (lower case letters, digits and -, at most 63)';
const isDnsLabel = (v: unknown): boolean => typeof v === 'string' && nameRe.test(v) && v.length <= 63;

/**
 * What the API server checks when the object is applied, and nothing more: its CRD's schema,
 * list-map keys and CEL rules, and a name and namespace it accepts. The differential test
 * (test/cluster/validation-parity.test.ts) holds this to the API server's verdicts.
 */
export function validateAgainstCrd(obj: unknown, source: string): Diagnostic[] {
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) {
    return [error(source, undefined, 'is not a Kubernetes object (expected a mapping with apiVersion, kind, metadata, spec)')];
  }
  const o = obj as Record<string, any>;
  const out: Diagnostic[] = [];
  const validate = validators.get(o.kind);
  if (o.apiVersion !== API_VERSION || !validate) {
    return [error(source, 'kind', `${o.apiVersion}/${o.kind} is not an Anvil kind (expected ${API_VERSION} ${KINDS.map((k) => k.kind).join(', ')})`)];
  }
  for (const key of Object.keys(o).filter((k) => !TOP_LEVEL_FIELDS.includes(k))) {
    out.push(error(source, key, `unknown field${didYouMean(key, TOP_LEVEL_FIELDS)}; an Anvil object has ${TOP_LEVEL_FIELDS.join(', ')}`));
  }
  const name = o.metadata?.name;
  if (!isDnsLabel(name)) out.push(error(source, 'metadata.name', `${JSON.stringify(name)} ${DNS_LABEL_MESSAGE}`));
  // A namespace is a DNS label too; synth would otherwise write a Namespace no server accepts.
  const namespace = o.metadata?.namespace;
  if (namespace !== undefined && kindDefinition(o.kind)?.namespaced && !isDnsLabel(namespace)) {
    out.push(error(source, 'metadata.namespace', `${JSON.stringify(namespace)} ${DNS_LABEL_MESSAGE}`));
  }
  if (typeof o.spec !== 'object' || o.spec === null) {
    out.push(error(source, 'spec', 'is required'));
    return out;
  }
  if (!validate(o.spec)) {
    for (const e of withoutEchoes(validate.errors ?? [])) out.push(error(source, fieldOf(e), messageOf(e)));
  }
  for (const p of structuralProblems(kindDefinition(o.kind)!.spec, o.spec, 'spec')) out.push(error(source, p.field, p.message));
  return out;
}

/** A list field, or none when it is not a list (the schema reports that). */
const listOf = <T>(v: T[] | undefined): T[] => (Array.isArray(v) ? v : []);

function moduleSemantics(m: Extract<AnvilResource, { kind: 'ModuleManifest' }>, source: string): Diagnostic[] {
  const out: Diagnostic[] = [];
  listOf(m.spec.requires).forEach((r, i) => {
    if (typeof r?.versionConstraint === 'string' && semver.validRange(r.versionConstraint) === null) {
      out.push(error(source, `spec.requires[${i}].versionConstraint`, `${JSON.stringify(r.versionConstraint)} is not a valid SemVer range`));
    }
  });
  out.push(...envCollisions(m, source));
  out.push(...sharedStorage(m, source));
  const seen = new Set<string>();
  for (const [i, p] of listOf(m.spec.ports).entries()) {
    if (seen.has(String(p?.port))) out.push(error(source, `spec.ports[${i}].port`, `port ${p.port} is listed twice`));
    seen.add(String(p?.port));
    if (p?.expose?.nodePort !== undefined && p.expose.type !== 'NodePort') out.push(error(source, `spec.ports[${i}].expose.nodePort`, `only a NodePort exposure has a nodePort (this one is ${p.expose.type})`));
  }
  out.push(...moduleFieldProblems(m, source));
  return out;
}

/**
 * Two required capabilities whose ids give one environment variable (`game-mechanic` and
 * `game.mechanic` are both ANVIL_DEP_GAME_MECHANIC): the Deployment would have the variable
 * twice, which the API server warns about and server-side apply refuses.
 */
function envCollisions(m: Extract<AnvilResource, { kind: 'ModuleManifest' }>, source: string): Diagnostic[] {
  const out: Diagnostic[] = [];
  const first = new Map<string, { i: number; id: string }>();
  listOf(m.spec.requires).forEach((r, i) => {
    if (typeof r?.capabilityId !== 'string') return;
    const variable = `ANVIL_DEP_${envName(r.capabilityId)}`;
    const earlier = first.get(variable);
    if (earlier === undefined) first.set(variable, { i, id: r.capabilityId });
    else if (earlier.id !== r.capabilityId) {
      out.push(error(source, `spec.requires[${i}].capabilityId`, `${r.capabilityId} and ${earlier.id} (spec.requires[${earlier.i}]) both become the environment variable ${variable}; rename one of them`));
    }
  });
  return out;
}

/**
 * Storage with more than one replica: the claim is ReadWriteOnce unless the module says
 * otherwise, and the replicas are spread over nodes (kubernetes.io/hostname), so every
 * replica but those on the first node would stay ContainerCreating (Multi-Attach error).
 */
function sharedStorage(m: Extract<AnvilResource, { kind: 'ModuleManifest' }>, source: string): Diagnostic[] {
  const { storage, replicas = 1 } = m.spec;
  if (typeof storage !== 'object' || storage === null || typeof replicas !== 'number' || replicas <= 1) return [];
  if (storage.accessMode === 'ReadWriteMany') return [];
  return [
    error(
      source,
      'spec.replicas',
      `${replicas} replicas share one storage claim, which is ReadWriteOnce: the replicas are spread over nodes and all but those on the first node would fail to mount it (Multi-Attach). Use replicas: 1, or set storage.accessMode: ReadWriteMany with a storage class that supports it`,
      'SharedStorage',
    ),
  ];
}
