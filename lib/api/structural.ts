/**
 * What the API server checks beyond JSON Schema, read from the same schemas (schema.ts) so
 * that the two cannot drift: uniqueness of `x-kubernetes-list-type: map` keys and `set`
 * values, and each `x-kubernetes-validations` (CEL) rule through the TypeScript `check` that
 * schema.ts keeps next to the rule. Generic over the schema, so it covers every kind in KINDS.
 */
import type { TSchema } from '@sinclair/typebox';

export interface StructuralProblem {
  /** `spec.requires[1]`, like the API server's field paths. */
  field: string;
  message: string;
}

/** A CEL rule as schema.ts writes it: the rule for the API server, the check for Anvil. */
export interface CelRule {
  rule: string;
  message: string;
  fieldPath?: string;
  /** The same rule in TypeScript: true when `self` satisfies it. */
  check?: (self: any) => boolean;
}

type Node = TSchema & {
  type?: string;
  properties?: Record<string, Node>;
  items?: Node;
  additionalProperties?: Node | boolean;
  'x-kubernetes-list-type'?: 'map' | 'set' | 'atomic';
  'x-kubernetes-list-map-keys'?: string[];
  'x-kubernetes-validations'?: CelRule[];
};

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
/** A stable text for a key or set value: the same JSON whatever the property order. */
const keyText = (v: unknown): string =>
  isObject(v) ? `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${keyText(v[k])}`).join(',')}}` : JSON.stringify(v) ?? 'null';

/** Duplicate keys of a list-map, duplicate values of a set. */
function listProblems(schema: Node, list: unknown[], field: string): StructuralProblem[] {
  const type = schema['x-kubernetes-list-type'];
  if (type !== 'map' && type !== 'set') return [];
  const keys = schema['x-kubernetes-list-map-keys'] ?? [];
  const seen = new Map<string, number>();
  const out: StructuralProblem[] = [];
  list.forEach((item, i) => {
    if (type === 'map' && !isObject(item)) return;
    const key = type === 'map' ? keys.map((k) => `${k} ${keyText((item as Record<string, unknown>)[k])}`).join(', ') : keyText(item);
    const first = seen.get(key);
    if (first === undefined) seen.set(key, i);
    else out.push({ field: `${field}[${i}]`, message: `duplicate ${type === 'map' ? 'entry with' : 'value'} ${key}: already at ${field}[${first}] (the list is keyed, its entries must be unique)` });
  });
  return out;
}

/** Each CEL rule on this node whose TypeScript check fails. A check that throws is a failure too. */
function ruleProblems(schema: Node, value: unknown, field: string): StructuralProblem[] {
  const out: StructuralProblem[] = [];
  for (const r of schema['x-kubernetes-validations'] ?? []) {
    if (!r.check) continue;
    let ok: boolean;
    try {
      ok = r.check(value);
    } catch {
      ok = false;
    }
    if (!ok) out.push({ field: `${field}${r.fieldPath ?? ''}`, message: r.message });
  }
  return out;
}

/** Walks `value` along `schema`, collecting list and rule problems; parts of the wrong type are left to the JSON Schema. */
export function structuralProblems(schema: Node, value: unknown, field: string): StructuralProblem[] {
  const out: StructuralProblem[] = [];
  if (Array.isArray(value)) {
    if (schema.type !== 'array') return out;
    out.push(...listProblems(schema, value, field));
    if (schema.items) value.forEach((item, i) => out.push(...structuralProblems(schema.items!, item, `${field}[${i}]`)));
    return out;
  }
  if (!isObject(value) || schema.type !== 'object') return out;
  for (const [k, sub] of Object.entries(schema.properties ?? {})) {
    if (k in value) out.push(...structuralProblems(sub, value[k], `${field}.${k}`));
  }
  if (isObject(schema.additionalProperties)) {
    for (const [k, v] of Object.entries(value)) {
      if (!(k in (schema.properties ?? {}))) out.push(...structuralProblems(schema.additionalProperties, v, `${field}.${k}`));
    }
  }
  out.push(...ruleProblems(schema, value, field));
  return out;
}

/** Every CEL rule of a schema, with its path: for a test that each one has a check. */
export function celRules(schema: Node, path = 'spec'): { path: string; rule: CelRule }[] {
  const out = (schema['x-kubernetes-validations'] ?? []).map((rule) => ({ path, rule }));
  for (const [k, sub] of Object.entries(schema.properties ?? {})) out.push(...celRules(sub, `${path}.${k}`));
  if (schema.items) out.push(...celRules(schema.items, `${path}[]`));
  if (isObject(schema.additionalProperties)) out.push(...celRules(schema.additionalProperties as Node, `${path}.*`));
  return out;
}
