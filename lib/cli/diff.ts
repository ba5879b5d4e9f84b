/**
 * `anvil diff -f PATH... --kubeconfig K`: what `kubectl apply -f PATH` (dist/, typically)
 * would change in a cluster. Each object is server-side applied as a dry run — the API
 * server runs defaulting, admission and validation and writes nothing — and the result is
 * compared with the live object. Like `kubectl diff`: exit 0 no changes, 1 changes, 2 errors.
 */
import type { Command } from 'commander';
import { KubeConfig, KubernetesObjectApi, PatchStrategy, type KubernetesObject } from '@kubernetes/client-node';
import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import { inputFiles } from './load.js';
import type { RegisterCommand } from './context.js';
import { changedFields, type Change } from './diff-compare.js';

export const DIFF_FIELD_MANAGER = 'anvil-diff';

/** client-node's object API, sending our JSON as-is (its models drop fields such as `from`). */
class DryRunApi extends KubernetesObjectApi {
  async dryRunApply<T extends KubernetesObject>(spec: T): Promise<T> {
    const ctx = this.configuration.baseServer.makeRequestContext(await this.specUriPath(spec, 'patch'), 'PATCH' as never);
    ctx.setHeaderParam('Accept', 'application/json');
    ctx.setHeaderParam('Content-Type', PatchStrategy.ServerSideApply);
    for (const [k, v] of Object.entries({ fieldManager: DIFF_FIELD_MANAGER, force: 'true', dryRun: 'All' })) ctx.setQueryParam(k, v);
    ctx.setBody(JSON.stringify(spec));
    return this.requestPromise<T>(ctx);
  }
}

export interface ObjectDiff {
  ref: string;
  action: 'create' | 'change' | 'unchanged' | 'error';
  changes: Change[];
  message?: string;
}

const refOf = (o: KubernetesObject): string => `${o.kind}/${o.metadata?.namespace ? `${o.metadata.namespace}/` : ''}${o.metadata?.name}`;
const statusOf = (e: unknown): number | undefined => (e as { code?: number })?.code;
const bodyMessage = (e: unknown): string => {
  const body = (e as { body?: unknown })?.body;
  try {
    return String((typeof body === 'string' ? JSON.parse(body) : body)?.message ?? e);
  } catch {
    return String(body ?? e);
  }
};

/** The objects of the files, in order (any kind: this is what would be applied). */
export function readManifests(paths: readonly string[]): KubernetesObject[] {
  return paths.flatMap(inputFiles).flatMap((f) =>
    parseAllDocuments(readFileSync(f, 'utf8'))
      .map((d) => d.toJS() as KubernetesObject | null)
      .filter((o): o is KubernetesObject => !!o && typeof o.kind === 'string'),
  );
}

/**
 * One object. Not yet in the cluster, and not checkable because its CRD or namespace comes
 * with the same input: a create, said so. Any other refusal is the server's error.
 */
async function diffOne(api: DryRunApi, o: KubernetesObject, input: { kinds: Set<string>; namespaces: Set<string> }): Promise<ObjectDiff> {
  const ref = refOf(o);
  let live: KubernetesObject | undefined;
  try {
    live = await api.read(o as KubernetesObject & { metadata: { name: string } });
  } catch (e) {
    if (statusOf(e) !== 404) {
      const fromInput = input.kinds.has(o.kind!) || input.namespaces.has(o.metadata?.namespace ?? '');
      if (fromInput) return { ref, action: 'create', changes: [], message: 'its CRD or namespace is created by this input: not checked by the server' };
      return { ref, action: 'error', changes: [], message: bodyMessage(e) };
    }
  }
  try {
    const after = await api.dryRunApply(o);
    if (!live) return { ref, action: 'create', changes: [] };
    const changes = changedFields(live, after);
    return { ref, action: changes.length ? 'change' : 'unchanged', changes };
  } catch (e) {
    if (!live && statusOf(e) === 404 && input.namespaces.has(o.metadata?.namespace ?? '')) {
      return { ref, action: 'create', changes: [], message: 'its namespace is created by this input: not checked by the server' };
    }
    return { ref, action: 'error', changes: [], message: bodyMessage(e) };
  }
}

export async function diffObjects(kc: KubeConfig, objects: readonly KubernetesObject[]): Promise<ObjectDiff[]> {
  const api = KubernetesObjectApi.makeApiClient(kc);
  Object.setPrototypeOf(api, DryRunApi.prototype);
  const input = {
    kinds: new Set(objects.filter((o) => o.kind === 'CustomResourceDefinition').map((o) => (o as { spec?: { names?: { kind?: string } } }).spec?.names?.kind ?? '')),
    namespaces: new Set(objects.filter((o) => o.kind === 'Namespace').map((o) => o.metadata?.name ?? '')),
  };
  const out: ObjectDiff[] = [];
  for (const o of objects) out.push(await diffOne(api as DryRunApi, o, input));
  return out;
}

export function formatDiff(diffs: readonly ObjectDiff[]): string {
  const lines: string[] = [];
  for (const d of diffs) {
    if (d.action === 'unchanged') continue;
    const mark = { create: '+', change: '~', error: '!', unchanged: '=' }[d.action];
    lines.push(`${mark} ${d.ref}${d.message ? ` (${d.message})` : ''}`);
    for (const c of d.changes) lines.push(`    ${c.path}: ${c.before === undefined ? '(none)' : JSON.stringify(c.before)} -> ${c.after === undefined ? '(removed)' : JSON.stringify(c.after)}`);
  }
  const count = (a: ObjectDiff['action']) => diffs.filter((d) => d.action === a).length;
  lines.push(`${count('create')} to create, ${count('change')} to change, ${count('unchanged')} unchanged, ${count('error')} refused`);
  return `${lines.join('\n')}\n`;
}

export const registerDiff: RegisterCommand = (program: Command, ctx) => {
  program
    .command('diff')
    .description('show what applying the manifests (e.g. dist/) would change in a cluster, by server-side dry-run apply; exit 0 no changes, 1 changes, 2 errors')
    .requiredOption('-f, --filename <path...>', 'files or folders of manifests to compare (YAML/JSON, any kind)')
    .option('--kubeconfig <path>', 'kubeconfig (default: $KUBECONFIG or ~/.kube/config)')
    .action(async (opts: { filename: string[]; kubeconfig?: string }) => {
      const kc = new KubeConfig();
      if (opts.kubeconfig) kc.loadFromFile(opts.kubeconfig);
      else kc.loadFromDefault();
      let diffs: ObjectDiff[];
      try {
        diffs = await diffObjects(kc, readManifests(opts.filename));
      } catch (e) {
        ctx.err(`error: diff: ${e instanceof Error ? e.message : String(e)}\n`);
        ctx.exitCode = 2;
        return;
      }
      ctx.out(formatDiff(diffs));
      ctx.exitCode = diffs.some((d) => d.action === 'error') ? 2 : diffs.some((d) => d.action !== 'unchanged') ? 1 : 0;
    });
};
