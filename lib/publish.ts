/**
 * Replaces an output folder only once the new one is complete: a failed synth leaves the
 * previous dist/ exactly as it was.
 */
import { existsSync, renameSync, rmSync } from 'node:fs';

export function publishDirectory(staging: string, target: string): void {
  const previous = `${target}.previous-${process.pid}`;
  if (existsSync(target)) renameSync(target, previous);
  try {
    renameSync(staging, target);
  } catch (e) {
    if (existsSync(previous)) renameSync(previous, target);
    throw e;
  }
  rmSync(previous, { recursive: true, force: true });
}
