/**
 * `anvil allocate`: claims a warm world from a WorldPool (claimWorld in lib/client/claims.ts),
 * waits for the binding and prints the world, its endpoints and how long it took. Exit 1
 * with the claim's reason (PoolExhausted, PoolNotFound, …) when it gets no world.
 */
import { InvalidArgumentError, Option, type Command } from 'commander';
import type { ClaimedWorld } from '../client/claims.js';
import { EXIT_INPUT_ERROR, type CliContext, type RegisterCommand } from './context.js';

/** Label keys: an optional DNS-subdomain prefix and a name; values: a name or empty. */
const LABEL_NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** `k=v` pairs into a map; every bad pair is reported (flag, pair, what is wrong), none dropped. */
export function parsePairs(flag: string, pairs: readonly string[], opts: { labelValues: boolean }): { map: Record<string, string>; problems: string[] } {
  const map: Record<string, string> = {};
  const problems: string[] = [];
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq < 0) {
      problems.push(`${flag} ${JSON.stringify(pair)}: expected KEY=VALUE`);
      continue;
    }
    const key = pair.slice(0, eq);
    const value = pair.slice(eq + 1);
    const slash = key.lastIndexOf('/');
    const [prefix, name] = slash >= 0 ? [key.slice(0, slash), key.slice(slash + 1)] : [undefined, key];
    if (!LABEL_NAME.test(name) || (prefix !== undefined && (prefix.length > 253 || !DNS_SUBDOMAIN.test(prefix)))) {
      problems.push(`${flag} ${JSON.stringify(pair)}: key ${JSON.stringify(key)} must be [PREFIX/]NAME, NAME at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit, PREFIX a DNS subdomain`);
    } else if (opts.labelValues && value !== '' && !LABEL_NAME.test(value)) {
      problems.push(`${flag} ${JSON.stringify(pair)}: value ${JSON.stringify(value)} must be at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit`);
    } else if (key in map && map[key] !== value) {
      problems.push(`${flag} ${JSON.stringify(pair)}: ${key} is given twice with different values`);
    } else {
      map[key] = value;
    }
  }
  return { map, problems };
}

const seconds = (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 3600) throw new InvalidArgumentError('must be a whole number of seconds from 1 to 3600');
  return n;
};
const collect = (v: string, prev: string[]): string[] => [...prev, v];

export function formatClaimed(w: ClaimedWorld): string {
  const lines = [`world ${w.world} (namespace ${w.namespace}, claim ${w.claim}) bound in ${w.latencyMs.toFixed(1)} ms`];
  if (w.endpoints.length === 0) lines.push('  no endpoints');
  for (const e of w.endpoints) {
    const ports = e.ports.map((p) => `${p.name ? `${p.name} ` : ''}${p.port}/${p.protocol ?? 'TCP'}`).join(', ');
    lines.push(`  ${e.module}  ${e.host}  ${ports}`);
  }
  return `${lines.join('\n')}\n`;
}

interface AllocateFlags {
  pool?: string;
  clusters?: string;
  game?: string;
  region?: string;
  matchLabel: string[];
  clusterTimeout?: number;
  namespace: string;
  label: string[];
  annotation: string[];
  timeout: number;
  output: 'text' | 'json';
  kubeconfig?: string;
  requestId?: string;
  allocationUrl?: string;
  ca?: string;
}

export const registerAllocate: RegisterCommand = (program: Command, ctx) => {
  program
    .command('allocate')
    .description('claim a ready world from a WorldPool: create a WorldClaim, wait until it is bound, print the world, its endpoints and the latency')
    .option('--pool <name>', 'the WorldPool to claim from (one cluster)')
    .option('--clusters <file>', 'claim across a cluster set (clusters.yaml: priority, weight, regions, per-cluster deadline) instead of one cluster; needs --game')
    .option('--game <name>', 'with --clusters: any pool of this game')
    .option('--region <name>', 'with --clusters: a pool of this region, on the clusters serving it')
    .option('--match-label <key=value>', "with --clusters: the pool's worldLabels must carry it (repeatable)", collect, [])
    .option('--cluster-timeout <seconds>', "with --clusters: how long one cluster may take before the next is tried (default: the set's perClusterTimeoutSeconds, or 5)", Number)
    .requiredOption('-n, --namespace <ns>', 'namespace of the pool (the claim is created there)')
    .option('--label <key=value>', 'label stamped on the bound world, e.g. match-id=42 (repeatable)', collect, [])
    .option('--annotation <key=value>', 'annotation stamped on the bound world (repeatable)', collect, [])
    .option('--timeout <seconds>', 'how long the claim may wait for a ready world (the claim\'s spec.timeoutSeconds)', seconds, 30)
    .option('--kubeconfig <path>', 'kubeconfig (default: $KUBECONFIG, ~/.kube/config or in-cluster)')
    .option('--request-id <id>', 'names the claim: run again with the same id (after a lost reply, say), it gets the same claim and world (default: a new id)')
    .option('--allocation-url <url>', "the reconciler's allocation endpoint (e.g. https://anvil-allocator.anvil-system:8443): the world in one round trip, with the kubeconfig user's token; the WorldClaim resource when it cannot be reached")
    .option('--ca <file>', "with --allocation-url: the CA (PEM) of the endpoint's certificate (e.g. from the anvil-allocator-tls Secret's ca.crt); default: the system's roots and the CA the reconciler publishes for its self-signed certificate (ConfigMap anvil-allocator-ca)")
    .addOption(new Option('-o, --output <format>', 'output format').choices(['text', 'json']).default('text'))
    .addHelpText('after', '\nThe world is yours until the claim is deleted (kubectl delete worldclaim NAME -n NS), which deletes the world too.\nExit codes: 0 bound, 1 not bound (the reason is printed: PoolExhausted, PoolNotFound, Timeout, …) or bad usage, 2 internal error.\n')
    .action(async (flags: AllocateFlags) => {
      const labels = parsePairs('--label', flags.label, { labelValues: true });
      const annotations = parsePairs('--annotation', flags.annotation, { labelValues: false });
      const matchLabels = parsePairs('--match-label', flags.matchLabel, { labelValues: true });
      const problems = [...labels.problems, ...annotations.problems, ...matchLabels.problems, ...targetProblems(flags)];
      if (problems.length) {
        for (const p of problems) ctx.err(`error: allocate: ${p}\n`);
        ctx.exitCode = EXIT_INPUT_ERROR;
        return;
      }
      if (flags.clusters) {
        await allocateAcross(flags, { labels: labels.map, annotations: annotations.map, matchLabels: matchLabels.map }, ctx);
        return;
      }
      // Loaded here: client-node is slow to load, and the other commands do without it.
      const { ClaimError, claimWorld } = await import('../client/claims.js');
      try {
        const w = await claimWorld({
          pool: flags.pool!,
          namespace: flags.namespace,
          labels: labels.map,
          annotations: annotations.map,
          timeoutSeconds: flags.timeout,
          ...(flags.kubeconfig ? { kubeconfig: flags.kubeconfig } : {}),
          ...(flags.requestId ? { requestId: flags.requestId } : {}),
          ...(flags.allocationUrl ? { allocationURL: flags.allocationUrl } : {}),
          ...(flags.ca ? { ca: (await import('node:fs')).readFileSync(flags.ca) } : {}),
        });
        ctx.out(flags.output === 'json' ? `${JSON.stringify({ ...w, latencyMs: Math.round(w.latencyMs * 10) / 10 }, null, 2)}\n` : formatClaimed(w));
      } catch (e) {
        // Not only ClaimError: an unreadable kubeconfig or an unreachable cluster is the user's to fix too.
        const message = e instanceof Error ? e.message : String(e);
        ctx.err(`error: allocate: ${message}\n`);
        if (flags.output === 'json') {
          const reason = e instanceof ClaimError ? e.reason : 'Error';
          ctx.out(`${JSON.stringify({ error: { reason, message, claim: e instanceof ClaimError ? (e.claim ?? null) : null, namespace: flags.namespace } }, null, 2)}\n`);
        }
        ctx.exitCode = EXIT_INPUT_ERROR;
      }
    });
};

/** Which target: exactly one of --pool (one cluster) or --clusters with --game. */
function targetProblems(flags: AllocateFlags): string[] {
  if (!flags.pool && !flags.clusters) return ["required option '--pool <name>' not specified (or --clusters FILE with --game NAME)"];
  if (flags.pool && flags.clusters) return ['--pool and --clusters: give one (a cluster set claims by --game, --region and --match-label)'];
  const out: string[] = [];
  if (flags.clusters && !flags.game) out.push('--clusters needs --game NAME (the game whose pools to claim from)');
  if (!flags.clusters) for (const f of ['game', 'region', 'clusterTimeout'] as const) if (flags[f] !== undefined) out.push(`--${f === 'clusterTimeout' ? 'cluster-timeout' : f} is for --clusters`);
  if (flags.allocationUrl && (flags.label.length || flags.annotation.length)) out.push('--allocation-url: the endpoint stamps no --label or --annotation (leave out --allocation-url to stamp them through a WorldClaim)');
  if (flags.ca && !flags.allocationUrl) out.push('--ca is for --allocation-url');
  if (flags.clusterTimeout !== undefined && !(flags.clusterTimeout > 0 && flags.clusterTimeout <= 3600)) out.push('--cluster-timeout must be a number of seconds above 0, at most 3600');
  return out;
}

/** `--clusters`: claimAcrossClusters, printing the world and the cluster that bound it. */
async function allocateAcross(flags: AllocateFlags, maps: { labels: Record<string, string>; annotations: Record<string, string>; matchLabels: Record<string, string> }, ctx: CliContext): Promise<void> {
  const { readFileSync } = await import('node:fs');
  const { ClaimError } = await import('../client/claims.js');
  const { abandonedCleanups, claimAcrossClusters, parseClusterSet } = await import('../client/clusterSet.js');
  try {
    const clusterSet = parseClusterSet(readFileSync(flags.clusters!, 'utf8'), flags.clusters);
    const w = await claimAcrossClusters({
      clusterSet,
      namespace: flags.namespace,
      selector: { game: flags.game!, ...(flags.region ? { region: flags.region } : {}), ...(Object.keys(maps.matchLabels).length ? { labels: maps.matchLabels } : {}) },
      labels: maps.labels,
      annotations: maps.annotations,
      timeoutSeconds: flags.timeout,
      ...(flags.clusterTimeout ? { perClusterTimeoutSeconds: flags.clusterTimeout } : {}),
    });
    ctx.out(flags.output === 'json' ? `${JSON.stringify({ ...w, latencyMs: Math.round(w.latencyMs * 10) / 10 }, null, 2)}\n` : `cluster ${w.cluster}: ${formatClaimed(w)}`);
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    ctx.err(`error: allocate: ${message}\n`);
    if (flags.output === 'json') ctx.out(`${JSON.stringify({ error: { reason: e instanceof ClaimError ? e.reason : 'Error', message, namespace: flags.namespace } }, null, 2)}\n`);
    ctx.exitCode = EXIT_INPUT_ERROR;
  }
  // A claim given up on a slow cluster is deleted there before the command ends.
  await abandonedCleanups();
}

interface ReleaseFlags {
  namespace: string;
  claim?: string;
  requestId?: string;
  allocationUrl?: string;
  ca?: string;
  kubeconfig?: string;
}

/** `anvil release`: gives a world back (its WorldClaim deleted, or its endpoint allocation released by request id). */
export const registerRelease: RegisterCommand = (program: Command, ctx) => {
  program
    .command('release')
    .description('give a claimed world back: delete its WorldClaim (--claim), or release an allocation of the endpoint (--request-id with --allocation-url); the world is deleted and its pool refills')
    .requiredOption('-n, --namespace <ns>', 'namespace of the world')
    .option('--claim <name>', 'the WorldClaim to delete')
    .option('--request-id <id>', 'with --allocation-url: the request id the world was allocated for')
    .option('--allocation-url <url>', "the reconciler's allocation endpoint")
    .option('--ca <file>', "the CA (PEM) of the endpoint's certificate (default: the system's roots and ConfigMap anvil-allocator-ca's)")
    .option('--kubeconfig <path>', 'kubeconfig (default: $KUBECONFIG, ~/.kube/config or in-cluster)')
    .action(async (flags: ReleaseFlags) => {
      const byClaim = flags.claim !== undefined;
      const byRequest = flags.requestId !== undefined && flags.allocationUrl !== undefined;
      if (byClaim === byRequest) {
        ctx.err('error: release: give --claim NAME, or --request-id ID with --allocation-url URL\n');
        ctx.exitCode = EXIT_INPUT_ERROR;
        return;
      }
      const { releaseWorld } = await import('../client/claims.js');
      const kubeconfig = flags.kubeconfig ? { kubeconfig: flags.kubeconfig } : {};
      try {
        if (byClaim) await releaseWorld({ ...kubeconfig, namespace: flags.namespace, claim: flags.claim! });
        else {
          const ca = flags.ca ? { ca: (await import('node:fs')).readFileSync(flags.ca) } : {};
          await releaseWorld({ ...kubeconfig, ...ca, namespace: flags.namespace, allocationURL: flags.allocationUrl!, requestId: flags.requestId! });
        }
        ctx.out(`released ${byClaim ? `claim ${flags.claim}` : `allocation ${flags.requestId}`} in ${flags.namespace}\n`);
      } catch (e) {
        ctx.err(`error: release: ${e instanceof Error ? e.message : String(e)}\n`);
        ctx.exitCode = EXIT_INPUT_ERROR;
      }
    });
};
