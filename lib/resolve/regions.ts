/**
 * Declared regions (issue 17): when AnvilApp declares `regions`, every static world and pool
 * must be in one of them — a typo would otherwise start a new regional Deployment on nodes
 * of no region. With no regions declared, a region is only a label, as before. Pure.
 */
import { error, type Diagnostic } from '../diagnostics/diagnostics.js';
import { didYouMean } from '../diagnostics/suggest.js';
import { objectRef } from '../api/validate.js';
import type { WorldInstance, WorldPool } from '../api/schema.js';

export function checkRegions(
  objects: readonly (WorldInstance | WorldPool)[],
  declared: Readonly<Record<string, unknown>> | undefined,
  sourceOf: (o: WorldInstance | WorldPool) => string = objectRef,
): Diagnostic[] {
  if (!declared) return [];
  const names = Object.keys(declared).sort();
  return objects
    .filter((o) => !Object.hasOwn(declared, o.spec.region ?? 'default'))
    .map((o) => {
      const region = o.spec.region ?? 'default';
      const what = o.spec.region === undefined ? 'has no region (so: default), which' : `region ${region}`;
      return error(
        sourceOf(o),
        'spec.region',
        `${what} is not declared in AnvilApp({regions})${didYouMean(region, names)}; declared: ${names.join(', ') || 'none'}`,
        'RegionNotDeclared',
      );
    });
}
