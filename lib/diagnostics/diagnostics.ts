/**
 * Problems found in input, reported all at once. Every problem names where it comes from
 * (a file and document, or an object), the field, and what is wrong.
 */
export type Severity = 'error' | 'warning';

export interface Diagnostic {
  severity: Severity;
  /** Where the object came from: `games/x.yaml#2`, or `ModuleManifest/gateway`. */
  source: string;
  /** A dotted path into the object, e.g. `spec.requires[0].versionConstraint`. */
  field?: string;
  message: string;
  /** A machine-readable reason, e.g. `GameNotFound`, `Unresolved`. */
  reason?: string;
  /** The worlds (`namespace/name`) where this problem shows; one cause, one diagnostic. */
  worlds?: string[];
}

export const error = (source: string, field: string | undefined, message: string, reason?: string): Diagnostic => ({
  severity: 'error',
  source,
  ...(field ? { field } : {}),
  message,
  ...(reason ? { reason } : {}),
});

export const warning = (source: string, field: string | undefined, message: string, reason?: string): Diagnostic => ({
  ...error(source, field, message, reason),
  severity: 'warning',
});

/** `in world a/b` or `in worlds a/b, a/c`. */
export const inWorlds = (worlds: readonly string[]): string => `in world${worlds.length > 1 ? 's' : ''} ${worlds.join(', ')}`;

export const formatDiagnostic = (d: Diagnostic): string =>
  `${d.severity}: ${d.source}${d.field ? ` ${d.field}` : ''}: ${d.message}${d.worlds?.length ? ` (${inWorlds(d.worlds)})` : ''}`;

/** A per-world problem: the same diagnostic, marked with the world where it shows. */
export const inWorld = (d: Diagnostic, world: string): Diagnostic => ({ ...d, worlds: [world] });

/**
 * One diagnostic per cause: the same problem (same severity, object, field, message) met in
 * several worlds — or once on its own and again in the worlds it breaks — is one line that
 * lists the worlds, in the order first met.
 */
export function groupByCause(ds: readonly Diagnostic[]): Diagnostic[] {
  const byCause = new Map<string, Diagnostic>();
  for (const d of ds) {
    const key = JSON.stringify([d.severity, d.source, d.field ?? '', d.message, d.reason ?? '']);
    const seen = byCause.get(key);
    if (!seen) {
      byCause.set(key, { ...d, ...(d.worlds ? { worlds: [...d.worlds] } : {}) });
      continue;
    }
    const worlds = [...(seen.worlds ?? [])];
    for (const w of d.worlds ?? []) if (!worlds.includes(w)) worlds.push(w);
    if (worlds.length > 0) seen.worlds = worlds;
  }
  return [...byCause.values()];
}

export const hasErrors = (ds: readonly Diagnostic[]): boolean => ds.some((d) => d.severity === 'error');

/** Thrown when input has errors; the message lists every one of them. */
export class AnvilInputError extends Error {
  constructor(readonly diagnostics: readonly Diagnostic[]) {
    const errors = groupByCause(diagnostics).filter((d) => d.severity === 'error');
    super(`${errors.length} error(s) in Anvil input:\n${errors.map(formatDiagnostic).join('\n')}`);
    this.name = 'AnvilInputError';
  }
}
