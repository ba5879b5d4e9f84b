// Issue 8, item 4: one owner per object. `kubectl apply -f dist/` owns everything in dist/
// (the global services in anvil-system included: synth labels them anvil.dev/static); the
// reconciler owns only what it renders itself. Proven both ways on the real control plane:
// apply dist → start the reconciler → apply dist again, and nothing changes — no object of
// dist is written by the reconciler, the second apply changes nothing, and the reconciler
// counts no write afterwards.
import * as path from 'node:path';
import { kubectlOk } from './kubectl.js';
import { ROOT, afterResyncs, applyCrds, quiet, startReconciler, writes, type ReconcilerProcess } from './reconcilerHarness.js';

const DIST = path.join(ROOT, 'dist');
const TIMEOUT = 300_000;
let rec: ReconcilerProcess | undefined;

/**
 * Kinds whose status no controller writes: their resourceVersion must not move at all.
 * (Not GameDefinition: the reconciler reports its rollout in its status subresource.)
 */
const STATUSLESS = new Set(['ConfigMap', 'Service', 'NetworkPolicy', 'CapabilityBinding', 'ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding', 'ModuleManifest']);

/**
 * What a write to an object changes, per object of dist: its generation, every managedFields
 * entry but the status subresource's (a writer's name, operation and time), and the
 * resourceVersion where no controller writes status.
 */
async function fingerprints(): Promise<Map<string, string>> {
  const list = JSON.parse(await kubectlOk(['get', '-f', DIST, '-o', 'json', '--show-managed-fields']));
  const out = new Map<string, string>();
  for (const o of list.items) {
    const key = `${o.kind} ${o.metadata.namespace ?? ''}/${o.metadata.name}`;
    const managers = (o.metadata.managedFields ?? []).filter((f: any) => f.subresource !== 'status').map((f: any) => `${f.manager}/${f.operation}@${f.time}`);
    out.set(key, JSON.stringify({ generation: o.metadata.generation, managers, ...(STATUSLESS.has(o.kind) ? { rv: o.metadata.resourceVersion } : {}) }));
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
  const settled = await quiet(rec);
  // The reconciler wrote no object of dist: synth's global services are not its to write.
  const afterReconciler = await fingerprints();
  for (const [k, v] of applied) expect(`${k} ${afterReconciler.get(k)}`).toBe(`${k} ${v}`);
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
  expect(writes(after)).toBe(writes(settled));
  expect(await fingerprints()).toEqual(afterReconciler);
}, TIMEOUT);
