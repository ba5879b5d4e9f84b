/** core/v1 Events about any Anvil object (pools, claims), in the shape phaseEvent uses for worlds. */
import type { KubernetesObject } from '@kubernetes/client-node';
import { timestamp } from './status.js';

export function objectEvent(obj: KubernetesObject, reason: string, message: string, type: 'Normal' | 'Warning', now = new Date()): KubernetesObject {
  const namespace = obj.metadata?.namespace ?? 'default';
  const at = timestamp(now);
  return {
    apiVersion: 'v1',
    kind: 'Event',
    metadata: { name: `${obj.metadata?.name}.${now.getTime().toString(16)}${Math.floor(Math.random() * 0xfffff).toString(16)}`, namespace },
    involvedObject: {
      apiVersion: obj.apiVersion,
      kind: obj.kind,
      name: obj.metadata?.name,
      namespace,
      ...(obj.metadata?.uid ? { uid: obj.metadata.uid } : {}),
    },
    reason,
    message: message.slice(0, 1000),
    type,
    source: { component: 'anvil-reconciler' },
    firstTimestamp: at,
    lastTimestamp: at,
    count: 1,
  } as KubernetesObject;
}
