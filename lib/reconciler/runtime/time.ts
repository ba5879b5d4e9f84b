/**
 * Times as the API server writes them: metav1.Time serializes with seconds precision.
 */
/** Seconds precision, as metav1.Time serializes. */
export const timestamp = (d: Date): string => `${d.toISOString().slice(0, 19)}Z`;
