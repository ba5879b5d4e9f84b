/**
 * Stable, DNS-safe object names. The same inputs always give the same name, and two
 * different inputs never give the same name:
 *
 * - a name made of several parts (a binding: world, consumer, capability, provider; a
 *   workload: world, module, shard) is `<the parts joined with ->-<hash>`, the hash being
 *   the first 8 hex digits of the SHA-256 of the *kind of name and the parts as a list*. The
 *   join alone is ambiguous (`w-a` + `b` and `w` + `a-b` both join to `w-a-b`); the hash is
 *   not, and the readable join in front keeps a second, independent chance of telling names
 *   apart. A join longer than the limit is cut, never the hash.
 * - a name of one part (a cluster-scoped module's workload) is that part, made DNS-safe.
 */
import { createHash } from 'node:crypto';

const shortHash = (s: string): string => createHash('sha256').update(s).digest('hex').slice(0, 8);

const sanitize = (s: string): string => s.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/-+/g, '-').replace(/^-|-$/g, '');

/** Joins parts into a DNS-1123 label (or, with `startWithLetter`, a DNS-1035 label for Services). */
export function dnsName(parts: readonly string[], opts: { max?: number; startWithLetter?: boolean } = {}): string {
  const max = opts.max ?? 63;
  const full = parts.join('-');
  let name = sanitize(full);
  if (opts.startWithLetter && !/^[a-z]/.test(name)) name = `x-${name}`;
  // A name that had to change (too long, or characters replaced) gets a hash of the parts as
  // given, so two different inputs can never end up with the same name.
  if (name.length > max || name !== full) name = `${name.slice(0, max - 9).replace(/-+$/, '')}-${shortHash(full)}`;
  return name;
}

/**
 * The name of a tuple: `<parts joined, DNS-safe, cut to fit>-<hash of [kind, ...parts]>`.
 * `kind` tells apart tuples of different meaning that have the same parts (a world's
 * workload `w`+`m` and a region workload of module `w` in region `m`).
 */
export function tupleName(kind: string, parts: readonly string[], opts: { max?: number; startWithLetter?: boolean } = {}): string {
  const max = opts.max ?? 63;
  let readable = sanitize(parts.join('-'));
  if (opts.startWithLetter && !/^[a-z]/.test(readable)) readable = `x-${readable}`;
  return `${readable.slice(0, max - 9).replace(/-+$/, '')}-${shortHash(JSON.stringify([kind, ...parts]))}`;
}

/** An environment variable name for a capability: `physics.engine` -> `PHYSICS_ENGINE`. */
export const envName = (s: string): string => s.toUpperCase().replace(/[^A-Z0-9]+/g, '_').replace(/^_|_$/g, '');
