/**
 * A claim's name from its request id (issue 20): the pool (or game) and a hash of the id, a
 * DNS label. One rule for the WorldClaims `claimWorld()` creates and for the `claim` the
 * allocation endpoint answers (and stamps on the world), so both name a request alike.
 */
import { createHash } from 'node:crypto';

export function claimName(choice: { pool?: string; selector?: { game: string } }, requestId: string): string {
  const prefix = (choice.pool ?? choice.selector?.game ?? 'claim').slice(0, 50).replace(/-+$/, '');
  return `${prefix}-${createHash('sha256').update(requestId).digest('hex').slice(0, 12)}`;
}
