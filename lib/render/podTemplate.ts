/**
 * The escape hatch (issue 17): a PodTemplateSpec fragment merged onto what Anvil renders.
 * Containers, init containers and volumes merge by name (a new name is added); other fields
 * of the fragment replace Anvil's. Anvil's own win where they are the platform's promises:
 * the labels it selects and routes by, the pod and container security contexts, and the
 * service account. lib/api/restricted.ts refuses, before anything is rendered, a fragment
 * that would leave the restricted Pod Security Standard.
 */
import { restrictedContainer } from './pod.js';

type Obj = Record<string, any>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Pod spec fields that stay Anvil's whatever the fragment says. */
const ANVIL_POD_FIELDS = ['securityContext', 'automountServiceAccountToken', 'serviceAccountName', 'serviceAccount'];

function byName(base: Obj[] | undefined, extra: unknown, merge: (a: Obj, b: Obj) => Obj): Obj[] | undefined {
  if (!Array.isArray(extra)) return base;
  const out = [...(base ?? [])];
  for (const e of extra.filter(isObj)) {
    const i = out.findIndex((b) => b.name === e.name);
    if (i >= 0) out[i] = merge(out[i]!, e);
    else out.push(merge({}, e));
  }
  return out;
}

/** A container of the fragment onto Anvil's of the same name; its security context is the restricted one (with its read-only choice). */
function mergeContainer(base: Obj, extra: Obj): Obj {
  const sc = isObj(extra.securityContext) ? extra.securityContext : {};
  const fromUser = Object.fromEntries(['runAsUser', 'runAsGroup'].filter((k) => sc[k] !== undefined).map((k) => [k, sc[k]]));
  const readOnly = base.securityContext?.readOnlyRootFilesystem ?? sc.readOnlyRootFilesystem ?? true;
  return { ...base, ...extra, securityContext: { ...(isObj(base.securityContext) ? {} : fromUser), ...restrictedContainer(readOnly) } };
}

/** `template` (Anvil's pod template, as JSON) with `fragment` merged in. */
export function mergePodTemplate(template: Obj, fragment: Obj): Obj {
  const meta = isObj(fragment.metadata) ? fragment.metadata : {};
  const spec = isObj(fragment.spec) ? fragment.spec : {};
  const base = template.spec as Obj;
  const merged: Obj = { ...base };
  for (const [k, v] of Object.entries(spec)) {
    if (ANVIL_POD_FIELDS.includes(k) || ['containers', 'initContainers', 'volumes'].includes(k)) continue;
    merged[k] = v;
  }
  merged.containers = byName(base.containers, spec.containers, mergeContainer);
  const init = byName(base.initContainers, spec.initContainers, mergeContainer);
  if (init) merged.initContainers = init;
  merged.volumes = byName(base.volumes, spec.volumes, (a, b) => ({ ...a, ...b }));
  return {
    ...template,
    metadata: {
      ...template.metadata,
      labels: { ...meta.labels, ...template.metadata?.labels },
      ...(meta.annotations || template.metadata?.annotations ? { annotations: { ...meta.annotations, ...template.metadata?.annotations } } : {}),
    },
    spec: merged,
  };
}
