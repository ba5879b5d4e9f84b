// Shared set-up for the pool/claim interface tests: dist's game definitions and global
// services (without dist's example pools, so only the tests' own pools fill), and pools.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';
import { kubectlOk } from './kubectl.js';
import { ROOT, applyCrds, getJson } from './reconcilerHarness.js';

/** The definitions of dist (ModuleManifests, GameDefinitions) and its global services. */
export async function applyGames(): Promise<void> {
  await applyCrds();
  const defs = parseAllDocuments(fs.readFileSync(path.join(ROOT, 'dist/0002-definitions.k8s.yaml'), 'utf8'))
    .map((d) => d.toJS() as { kind: string })
    .filter((o) => o.kind === 'ModuleManifest' || o.kind === 'GameDefinition');
  await kubectlOk(['apply', '-f', '-'], { input: defs.map((o) => stringify(o)).join('---\n') });
  await kubectlOk(['apply', '-f', path.join(ROOT, 'dist/0004-global-services.k8s.yaml')]);
}

export async function createPool(ns: string, name: string, spec: Record<string, unknown>): Promise<void> {
  const pool = { apiVersion: 'anvil.dev/v1alpha1', kind: 'WorldPool', metadata: { name, namespace: ns }, spec };
  await kubectlOk(['apply', '-f', '-'], { input: JSON.stringify(pool) });
}

/** Waits (kubectl wait on the pool's status, no polling here) until `ready` worlds are ready. */
export async function waitPoolReady(ns: string, name: string, ready: number, timeoutSeconds = 240): Promise<void> {
  try {
    await kubectlOk(['wait', `--for=jsonpath={.status.ready}=${ready}`, `--timeout=${timeoutSeconds}s`, '-n', ns, `worldpool/${name}`], { timeoutMs: (timeoutSeconds + 30) * 1000 });
  } catch (e) {
    const pool = await getJson(['worldpool', name, '-n', ns]).catch(() => undefined);
    throw new Error(`pool ${ns}/${name} did not reach ${ready} ready worlds: ${String(e)}\npool status: ${JSON.stringify(pool?.status)}`);
  }
}

/** The matchmaker Role exactly as dist renders it, moved into `ns`. */
export function distMatchmakerRole(ns: string): Record<string, any> {
  const role = parseAllDocuments(fs.readFileSync(path.join(ROOT, 'dist/0001-namespaces.k8s.yaml'), 'utf8'))
    .map((d) => d.toJS() as Record<string, any>)
    .find((o) => o.kind === 'Role' && o.metadata.name === 'anvil-matchmaker');
  if (!role) throw new Error('dist/0001-namespaces.k8s.yaml has no Role anvil-matchmaker');
  return { ...role, metadata: { ...role.metadata, namespace: ns } };
}
