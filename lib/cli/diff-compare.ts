/**
 * Field-level comparison of a live object and its dry-run result, leaving out what changes
 * on every write and says nothing about the object (resourceVersion, managedFields, …).
 */
export interface Change {
  path: string;
  before: unknown;
  after: unknown;
}

const VOLATILE = new Set(['metadata.resourceVersion', 'metadata.managedFields', 'metadata.generation', 'metadata.creationTimestamp', 'metadata.uid', 'status']);

/** Every leaf that differs, as a dotted path (`spec.template.spec.containers[0].image`). */
export function changedFields(before: unknown, after: unknown, path = ''): Change[] {
  if (VOLATILE.has(path)) return [];
  const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (isObj(before) && isObj(after)) {
    const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
    return keys.flatMap((k) => changedFields(before[k], after[k], path ? `${path}.${k}` : k));
  }
  if (Array.isArray(before) && Array.isArray(after) && before.length === after.length) {
    return before.flatMap((b, i) => changedFields(b, after[i], `${path}[${i}]`));
  }
  return JSON.stringify(before) === JSON.stringify(after) ? [] : [{ path, before, after }];
}
