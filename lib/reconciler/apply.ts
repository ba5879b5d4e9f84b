/**
 * Writing what was rendered: server-side apply of each object with one field manager,
 * skipped when the cached live object already is what we would write, and deletion of the
 * objects a owner no longer plans. A pass over a converged world makes no request at all.
 *
 * No-op detection has two parts, because each alone misses something:
 * - the hash of the desired object, kept in the annotation `anvil.dev/applied-hash`,
 *   changes when the plan changes, even when a field is only removed;
 * - `covers(live, desired)` finds an edit by someone else (kubectl edit, a deleted port)
 *   that left the annotation alone.
 */
import { createHash } from 'node:crypto';
import type { KubernetesObject } from '@kubernetes/client-node';
import { API_VERSION } from '../api/schema.js';
import type { Informer } from './informer.js';
import { statusCode, type Kube } from './kube.js';

export const APPLIED_HASH = 'anvil.dev/applied-hash';

/** The kinds the reconciler writes, with where their informers list them. */
export const OWNED_KINDS = [
  { kind: 'CapabilityBinding', apiVersion: API_VERSION, path: '/apis/anvil.dev/v1alpha1/capabilitybindings' },
  { kind: 'ConfigMap', apiVersion: 'v1', path: '/api/v1/configmaps' },
  { kind: 'PersistentVolumeClaim', apiVersion: 'v1', path: '/api/v1/persistentvolumeclaims' },
  { kind: 'Service', apiVersion: 'v1', path: '/api/v1/services' },
  { kind: 'NetworkPolicy', apiVersion: 'networking.k8s.io/v1', path: '/apis/networking.k8s.io/v1/networkpolicies' },
  { kind: 'Deployment', apiVersion: 'apps/v1', path: '/apis/apps/v1/deployments' },
] as const;
export type OwnedKind = (typeof OWNED_KINDS)[number]['kind'];
/** Apply order: what others refer to first (bindings, route tables, claims), workloads last. */
const ORDER = new Map<string, number>(OWNED_KINDS.map((k, i) => [k.kind, i]));

export type Caches = ReadonlyMap<string, Informer<KubernetesObject>>;

export const objectKey = (o: KubernetesObject): string => `${o.kind}/${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;

function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.keys(v as object).sort().map((k) => [k, (v as Record<string, unknown>)[k]]))
      : v,
  );
}

export const desiredHash = (o: KubernetesObject): string => createHash('sha256').update(canonicalJson(o)).digest('hex').slice(0, 16);

/** The object as it will be applied: with the hash of its content in an annotation. */
export function withHash(o: KubernetesObject): KubernetesObject {
  const hash = desiredHash(o);
  return { ...o, metadata: { ...o.metadata, annotations: { ...o.metadata?.annotations, [APPLIED_HASH]: hash } } };
}

/**
 * True when every field of `want` has the same value in `live` (fields the server or other
 * controllers add are ignored). An empty list or map matches an absent one, and a number
 * matches its string form (quantities).
 */
export function covers(live: unknown, want: unknown): boolean {
  if (want === null || want === undefined) return true;
  if (Array.isArray(want)) {
    if (want.length === 0) return live === undefined || live === null || (Array.isArray(live) && live.length === 0);
    return Array.isArray(live) && live.length === want.length && want.every((w, i) => covers(live[i], w));
  }
  if (typeof want === 'object') {
    const keys = Object.keys(want as object);
    if (keys.length === 0) return live === undefined || live === null || (typeof live === 'object' && !Array.isArray(live));
    if (typeof live !== 'object' || live === null || Array.isArray(live)) return false;
    return keys.every((k) => covers((live as Record<string, unknown>)[k], (want as Record<string, unknown>)[k]));
  }
  if (typeof want === 'number' && typeof live === 'string') return String(want) === live;
  return want === live;
}

/** The first path where `live` does not cover `want` (for the debug log), or undefined. */
export function firstDifference(live: unknown, want: unknown, path = ''): string | undefined {
  if (covers(live, want)) return undefined;
  if (want && typeof want === 'object' && live && typeof live === 'object' && (!Array.isArray(want) || (Array.isArray(live) && live.length === want.length))) {
    for (const k of Object.keys(want as object)) {
      const d = firstDifference((live as Record<string, unknown>)[k], (want as Record<string, unknown>)[k], `${path}.${k}`);
      if (d) return d;
    }
  }
  return `${path}: live ${JSON.stringify(live)?.slice(0, 200)} want ${JSON.stringify(want)?.slice(0, 200)}`;
}

/** Does the live object already hold what `desired` (with its hash annotation) says? */
export function upToDate(live: KubernetesObject | undefined, desired: KubernetesObject): boolean {
  if (!live || live.metadata?.deletionTimestamp) return false;
  const want = desired.metadata?.annotations?.[APPLIED_HASH];
  if (!want || live.metadata?.annotations?.[APPLIED_HASH] !== want) return false;
  const { metadata, ...rest } = desired as KubernetesObject & Record<string, unknown>;
  // Items of a list come without apiVersion and kind: compare the content only.
  const { status: _status, apiVersion: _v, kind: _k, ...fields } = rest as Record<string, unknown>;
  return (
    covers(live.metadata?.labels, metadata?.labels) &&
    covers(live.metadata?.annotations, metadata?.annotations) &&
    covers(live.metadata?.ownerReferences, metadata?.ownerReferences) &&
    covers(live, fields)
  );
}

export interface SyncResult {
  applied: number;
  deleted: number;
}

export class Applier {
  /** Repairs by apply that did not take, by object and desired hash: a second one recreates. */
  private readonly repairs = new Map<string, number>();

  constructor(
    private readonly kube: Kube,
    private readonly caches: Caches,
  ) {}

  live(o: KubernetesObject): KubernetesObject | undefined {
    return this.caches.get(o.kind ?? '')?.get(o.metadata?.name ?? '', o.metadata?.namespace);
  }

  /**
   * Applies every desired object that is not up to date, then deletes each cached object
   * in `namespace` that `isOurs` claims and the plan no longer has. One object failing does
   * not stop the others; the first error is thrown at the end.
   */
  async sync(desired: readonly KubernetesObject[], namespace: string, isOurs: (o: KubernetesObject) => boolean): Promise<SyncResult> {
    const objects = desired.map(withHash).sort((a, b) => (ORDER.get(a.kind ?? '') ?? 99) - (ORDER.get(b.kind ?? '') ?? 99));
    const errors: unknown[] = [];
    let applied = 0;
    for (const o of objects) {
      const live = this.live(o);
      const key = `${objectKey(o)}@${o.metadata?.annotations?.[APPLIED_HASH]}`;
      if (upToDate(live, o)) {
        this.repairs.delete(key);
        continue;
      }
      if (process.env.ANVIL_DEBUG_APPLY) {
        const { apiVersion: _v, kind: _k, ...content } = o;
        process.stderr.write(`apply ${objectKey(o)}: ${live ? (firstDifference(live, content) ?? 'hash annotation differs') : 'not in cache'}\n`);
      }
      // Someone edited what we applied. Apply usually repairs it, but not always: an edit
      // of a list-map key (a Service port) leaves an entry we do not own, that apply
      // cannot remove and may even make invalid. Then the object is recreated.
      const drifted = live !== undefined && live.metadata?.annotations?.[APPLIED_HASH] === o.metadata?.annotations?.[APPLIED_HASH];
      const tries = drifted ? (this.repairs.get(key) ?? 0) + 1 : 0;
      if (drifted) this.repairs.set(key, tries);
      try {
        if (tries >= 2) await this.recreate(o);
        else await this.kube.apply(o);
        applied++;
      } catch (e) {
        if (drifted && statusCode(e) === 422) {
          try {
            await this.recreate(o);
            applied++;
          } catch (e2) {
            errors.push(e2);
          }
        } else errors.push(e);
      }
    }
    const wanted = new Set(objects.map(objectKey));
    let deleted = 0;
    for (const { kind, apiVersion } of [...OWNED_KINDS].reverse()) {
      for (const o of this.caches.get(kind)?.list(namespace) ?? []) {
        const withKind = { ...o, kind, apiVersion };
        if (o.metadata?.deletionTimestamp || wanted.has(objectKey(withKind)) || !isOurs(withKind)) continue;
        try {
          await this.kube.delete(withKind);
          deleted++;
        } catch (e) {
          errors.push(e);
        }
      }
    }
    if (errors.length > 0) throw errors[0];
    return { applied, deleted };
  }

  private async recreate(o: KubernetesObject): Promise<void> {
    await this.kube.delete(o);
    await this.kube.apply(o);
  }
}
