/**
 * Events about a world (its failures, and the phases an operator needs: Running, Degraded,
 * Failed), aggregated like client-go's EventCorrelator: the same Event (world, type, reason,
 * message) is one Event whose `count` and `lastTimestamp` grow with every repeat (a PATCH),
 * not one Event per retry or per return to the same phase. The Event's name is
 * derived from what it is about, so a restarted reconciler (or the other replica) finds
 * and continues it instead of starting a new one.
 */
import { createHash } from 'node:crypto';
import type { KubernetesObject } from '@kubernetes/client-node';
import type { WorldInstance } from '../../api/schema.js';
import { isConflict, isNotFound, type Kube } from './kube.js';
import { timestamp } from './time.js';

export type EventType = 'Normal' | 'Warning';

interface Seen {
  namespace: string;
  name: string;
  count: number;
}

/** Failures remembered at once; the oldest are forgotten first (their Events stay). */
const MAX_SEEN = 4096;

export const eventName = (world: WorldInstance, type: string, reason: string, message: string): string =>
  `${world.metadata.name}.${createHash('sha256').update(JSON.stringify([world.metadata.uid, type, reason, message])).digest('hex').slice(0, 16)}`;

export class EventRecorder {
  private readonly seen = new Map<string, Seen>();

  constructor(private readonly kube: Kube) {}

  /** Records (or counts once more) a Warning about `world`. Throws what the API server said. */
  warn(world: WorldInstance, reason: string, message: string, now = new Date()): Promise<void> {
    return this.record(world, 'Warning', reason, message, now);
  }

  /** Records (or counts once more) an Event about `world`. Throws what the API server said. */
  async record(world: WorldInstance, type: EventType, reason: string, message: string, now = new Date()): Promise<void> {
    const namespace = world.metadata.namespace ?? 'default';
    const name = eventName(world, type, reason, message);
    const key = `${namespace}/${name}`;
    const known = this.seen.get(key);
    if (known) {
      if (await this.bump(known, known.count + 1, now)) return;
    } else {
      try {
        await this.kube.create(this.event(world, namespace, name, type, reason, message, now) as KubernetesObject);
        this.remember(key, { namespace, name, count: 1 });
        return;
      } catch (e) {
        if (!isConflict(e)) throw e;
        // Recorded before (by another replica, or before a restart): continue its count.
        const existing = await this.kube.read<KubernetesObject & { count?: number }>('v1', 'Event', name, namespace);
        if (existing && (await this.bump({ namespace, name, count: existing.count ?? 1 }, (existing.count ?? 1) + 1, now))) return;
      }
    }
    // The Event expired meanwhile (events have a TTL): start a new one.
    this.seen.delete(key);
    await this.kube.create(this.event(world, namespace, name, type, reason, message, now) as KubernetesObject);
    this.remember(key, { namespace, name, count: 1 });
  }

  /** Count and lastTimestamp of an existing Event; false when it is gone. */
  private async bump(s: Seen, count: number, now: Date): Promise<boolean> {
    try {
      await this.kube.mergePatch({ apiVersion: 'v1', kind: 'Event', metadata: { name: s.name, namespace: s.namespace }, count, lastTimestamp: timestamp(now) } as KubernetesObject);
      this.remember(`${s.namespace}/${s.name}`, { ...s, count });
      return true;
    } catch (e) {
      if (isNotFound(e)) return false;
      throw e;
    }
  }

  private remember(key: string, s: Seen): void {
    this.seen.delete(key);
    this.seen.set(key, s);
    if (this.seen.size > MAX_SEEN) this.seen.delete(this.seen.keys().next().value as string);
  }

  private event(world: WorldInstance, namespace: string, name: string, type: EventType, reason: string, message: string, now: Date) {
    const at = timestamp(now);
    return {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name, namespace },
      involvedObject: {
        apiVersion: world.apiVersion,
        kind: 'WorldInstance',
        name: world.metadata.name,
        namespace,
        ...(world.metadata.uid ? { uid: world.metadata.uid } : {}),
      },
      reason,
      message: message.slice(0, 1024),
      type,
      source: { component: 'anvil-reconciler' },
      firstTimestamp: at,
      lastTimestamp: at,
      count: 1,
    };
  }
}

/** core/v1 Events about any Anvil object (pools, claims), in the shape phaseEvent uses for worlds. */
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
