// Issue 8, item 4: one owner per object. `kubectl apply -f dist/` owns everything in dist/
// (the global services in anvil-system included: synth labels them anvil.dev/static); the
// reconciler owns only what it renders itself — and one field of synth's: `spec.paused` of
// the static worlds' Deployments, the rollout gate (issue 10), under its own field manager
// `anvil-rollout`. Proven both ways on the real control plane: apply dist → start the
// reconciler → apply dist again, and nothing else changes — no other field of dist is
// written by the reconciler, the second apply changes nothing, and the reconciler counts no
// write afterwards.
import * as path from 'node:path';
import { kubectlOk } from './kubectl.js';
import { ROOT, afterResyncs, applyCrds, eventually, quiet, startReconciler, writesBetween, type ReconcilerProcess } from './reconcilerHarness.js';

const DIST = path.join(ROOT, 'dist');
const TIMEOUT = 300_000;
let rec: ReconcilerProcess | undefined;

/**
 * Kinds whose status no controller writes: their resourceVersion must not move at all.
 * (Not GameDefinition: the reconciler reports its rollout in its status subresource.)
 */
const STATUSLESS = new Set(['ConfigMap', 'Service', 'NetworkPolicy', 'CapabilityBinding', 'ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding', 'ModuleManifest']);

interface Fingerprint {
  /** generation, writers (but the status subresource's) and, where no controller writes status, resourceVersion. */
  fp: string;
  /** A static world's Deployment: its gate (spec.paused) is the reconciler's. */
  gated: boolean;
  generation: number;
  paused: boolean;
  /** Writers as `manager/operation@time`, the gate's apart. */
  writers: string[];
  gate: { manager: string; operation: string; fieldsV1: unknown }[];
}

/**
 * What a write to an object changes, per object of dist: its generation, every managedFields
 * entry but the status subresource's (a writer's name, operation and time), and the
 * resourceVersion where no controller writes status.
 */
async function fingerprints(): Promise<Map<string, Fingerprint>> {
  const list = JSON.parse(await kubectlOk(['get', '-f', DIST, '-o', 'json', '--show-managed-fields']));
  const out = new Map<string, Fingerprint>();
  for (const o of list.items) {
    const key = `${o.kind} ${o.metadata.namespace ?? ''}/${o.metadata.name}`;
    const fields = (o.metadata.managedFields ?? []).filter((f: any) => f.subresource !== 'status');
    const managers = fields.map((f: any) => `${f.manager}/${f.operation}@${f.time}`);
    out.set(key, {
      fp: JSON.stringify({ generation: o.metadata.generation, managers, ...(STATUSLESS.has(o.kind) ? { rv: o.metadata.resourceVersion } : {}) }),
      gated: o.kind === 'Deployment' && o.metadata.labels?.['anvil.dev/world'] !== undefined,
      generation: o.metadata.generation,
      paused: o.spec?.paused === true,
      writers: fields.filter((f: any) => f.manager !== 'anvil-rollout').map((f: any) => `${f.manager}/${f.operation}@${f.time}`),
      gate: fields.filter((f: any) => f.manager === 'anvil-rollout').map((f: any) => ({ manager: f.manager, operation: f.operation, fieldsV1: f.fieldsV1 })),
    });
  }
  return out;
}

const applyDist = () => kubectlOk(['apply', '-f', DIST]);

afterAll(async () => {
  if (rec) expect(await rec.stop()).toBe(0);
}, TIMEOUT);

test('apply dist → reconciler → apply dist again changes nothing either way', async () => {
  // The README's sequence.
  await applyCrds();
  await applyDist();
  const applied = await fingerprints();

  rec = await startReconciler({ identity: 'dist-owner', args: ['--resync-seconds', '3'] });
  // The static worlds' Deployments that become Available on kwok's nodes are armed (paused);
  // those that never do (a stateful module's volume: no storage provisioner here) are not.
  const gated = [...applied].filter(([, f]) => f.gated).map(([k]) => k);
  expect(gated.length).toBeGreaterThan(0);
  const armed: string[] = await eventually('every rolled-out static world Deployment armed (spec.paused), no other', async () => {
    const deps = JSON.parse(await kubectlOk(['get', 'deployments', '-A', '-l', 'anvil.dev/world', '-o', 'json'])).items.filter((d: any) => gated.includes(`Deployment ${d.metadata.namespace}/${d.metadata.name}`));
    const rolledOut = (d: any) => d.status?.observedGeneration >= d.metadata.generation && d.status?.availableReplicas === d.spec.replicas && d.status?.updatedReplicas === d.spec.replicas;
    const ok = deps.length === gated.length && deps.some((d: any) => d.spec.paused) && deps.every((d: any) => (d.spec.paused === true) === rolledOut(d));
    return ok ? deps.filter((d: any) => d.spec.paused).map((d: any) => `Deployment ${d.metadata.namespace}/${d.metadata.name}`) : undefined;
  }, 240_000);
  const settled = await quiet(rec);
  // The reconciler wrote no other field of dist: synth's global services are not its to write,
  // and of a static world's Deployment only spec.paused, once, under anvil-rollout.
  const afterReconciler = await fingerprints();
  for (const [k, v] of applied) {
    const now = afterReconciler.get(k)!;
    if (!armed.includes(k)) {
      expect(`${k} ${now.fp}`).toBe(`${k} ${v.fp}`);
      continue;
    }
    expect(`${k} ${JSON.stringify(now.writers)}`).toBe(`${k} ${JSON.stringify(v.writers)}`);
    expect(now.gate).toEqual([{ manager: 'anvil-rollout', operation: 'Apply', fieldsV1: { 'f:spec': { 'f:paused': {} } } }]);
    // One write, the arming — none when an earlier reconciler of this control plane (the suite
    // shares one) had armed it already: kubectl's apply leaves spec.paused as it was.
    expect(`${k} generation ${now.generation}`).toBe(`${k} generation ${v.generation + (v.paused ? 0 : 1)}`);
  }
  const global = JSON.parse(await kubectlOk(['get', 'deploy,svc,networkpolicy,capabilitybindings', '-n', 'anvil-system', '-l', 'anvil.dev/static=true', '-o', 'json', '--show-managed-fields']));
  expect(global.items.length).toBeGreaterThan(0);
  for (const o of global.items) {
    expect(applied.has(`${o.kind} anvil-system/${o.metadata.name}`)).toBe(true);
    expect(o.metadata.managedFields.map((f: any) => f.manager)).not.toContain('anvil-reconciler');
  }

  // And the second apply finds nothing to change, nor does the reconciler afterwards.
  // (kubectl reports some objects "configured": it sends a patch the server finds to be a
  // no-op, which changes neither resourceVersion nor generation nor managedFields.)
  await applyDist();
  const after = await afterResyncs(rec, 2);
  expect(writesBetween(settled, after)).toEqual({});
  expect(await fingerprints()).toEqual(afterReconciler);
}, TIMEOUT);
