/**
 * Defence in depth for generated names (lib/names/names.ts makes them unique by construction):
 * two different things that would be written as one object — same kind, namespace and
 * name — are an error naming both, never a silent overwrite or a raw cdk8s exception.
 */
import { error, type Diagnostic } from '../diagnostics/diagnostics.js';

export interface NamedObject {
  kind: string;
  namespace?: string;
  name: string;
  /** What the object is generated for, for the message: `world games/w1`, `platform`. */
  owner: string;
}

export function nameCollisions(objects: Iterable<NamedObject>): Diagnostic[] {
  const seen = new Map<string, NamedObject>();
  const out: Diagnostic[] = [];
  for (const o of objects) {
    const key = `${o.kind}\u0000${o.namespace ?? ''}\u0000${o.name}`;
    const first = seen.get(key);
    if (!first) {
      seen.set(key, o);
      continue;
    }
    const where = `${o.kind} ${o.namespace ? `${o.namespace}/` : ''}${o.name}`;
    out.push(error(o.owner, 'metadata.name', `${where} would be generated for both ${first.owner} and ${o.owner}: rename one of them`, 'NameCollision'));
  }
  return out;
}
