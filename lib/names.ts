/**
 * Stable, DNS-safe object names. The same inputs always give the same name, and a name that
 * would be too long keeps a readable prefix and a short hash of the whole, so two long names
 * never collide by truncation.
 */
import { createHash } from 'node:crypto';

const shortHash = (s: string): string => createHash('sha256').update(s).digest('hex').slice(0, 8);

/** Joins parts into a DNS-1123 label (or, with `startWithLetter`, a DNS-1035 label for Services). */
export function dnsName(parts: readonly string[], opts: { max?: number; startWithLetter?: boolean } = {}): string {
  const max = opts.max ?? 63;
  const full = parts.join('-');
  let name = full.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/-+/g, '-').replace(/^-|-$/g, '');
  if (opts.startWithLetter && !/^[a-z]/.test(name)) name = `x-${name}`;
  // A name that had to change (too long, or characters replaced) gets a hash of the parts as
  // given, so two different inputs can never end up with the same name.
  if (name.length > max || name !== full) name = `${name.slice(0, max - 9).replace(/-+$/, '')}-${shortHash(full)}`;
  return name;
}

/** An environment variable name for a capability: `physics.engine` -> `PHYSICS_ENGINE`. */
export const envName = (s: string): string => s.toUpperCase().replace(/[^A-Z0-9]+/g, '_').replace(/^_|_$/g, '');
