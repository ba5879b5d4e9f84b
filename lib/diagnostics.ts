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

export const formatDiagnostic = (d: Diagnostic): string =>
  `${d.severity}: ${d.source}${d.field ? ` ${d.field}` : ''}: ${d.message}`;

export const hasErrors = (ds: readonly Diagnostic[]): boolean => ds.some((d) => d.severity === 'error');

/** Thrown when input has errors; the message lists every one of them. */
export class AnvilInputError extends Error {
  constructor(readonly diagnostics: readonly Diagnostic[]) {
    const errors = diagnostics.filter((d) => d.severity === 'error');
    super(`${errors.length} error(s) in Anvil input:\n${errors.map(formatDiagnostic).join('\n')}`);
    this.name = 'AnvilInputError';
  }
}
