/**
 * The platform's status: the global services belong to no world, so what a world reports
 * in its status (claims kept by their retention policy, cleanup held back) the platform
 * reports in the ConfigMap `anvil-platform-status` of anvil-system, and in the log. Written
 * only when it changes: a converged pass makes no request.
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import { PLATFORM_NAMESPACE } from '../../resolve/resolve.js';
import { errorMessage } from '../runtime/kube.js';
import type { SyncResult } from './apply.js';
import type { ReconcileContext } from './reconcile.js';

export const PLATFORM_STATUS = 'anvil-platform-status';

/** The status ConfigMap's data: `cleanup` (Done, or Skipped: why) and `orphanedClaims` (one per line). */
export function platformStatusData(result: Pick<SyncResult, 'orphaned' | 'skipped'>, skipDeletions: string | undefined): Record<string, string> {
  return {
    cleanup: skipDeletions ? `Skipped: nothing is deleted while the platform's plan may be incomplete (${skipDeletions})${result.skipped?.length ? `; kept: ${result.skipped.join(', ')}` : ''}` : 'Done',
    orphanedClaims: result.orphaned.join('\n'),
  };
}

let last = '';

export async function reportPlatform(ctx: ReconcileContext, result: Pick<SyncResult, 'orphaned' | 'skipped'>, skipDeletions: string | undefined): Promise<void> {
  const data = platformStatusData(result, skipDeletions);
  const key = JSON.stringify(data);
  if (key === last) return;
  if (skipDeletions) ctx.log(`platform: ${data.cleanup}`);
  if (result.orphaned.length) ctx.log(`platform: claims kept by their retention policy (labelled anvil.dev/orphaned): ${result.orphaned.join(', ')}`);
  try {
    await ctx.kube.apply({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: PLATFORM_STATUS, namespace: PLATFORM_NAMESPACE }, data } as KubernetesObject);
    last = key;
  } catch (e) {
    ctx.log(`platform: could not write ${PLATFORM_NAMESPACE}/${PLATFORM_STATUS}: ${errorMessage(e)}`);
  }
}
