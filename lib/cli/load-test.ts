/**
 * `anvil load-test`: measures the control plane's floor for N worlds (their objects created
 * by a plain client with the reconciler's transport and concurrency, until their Deployments
 * are Available), then creates N WorldInstances against a cluster running the reconciler,
 * watches them to Running, and reports startup latency and throughput next to the floor's
 * (and their ratios), reconcile errors, API requests, CPU and memory of the reconciler.
 * Exit 1 when any world failed or was not Running in time.
 * With `--claims N --pool P`: N WorldClaims against a warm pool instead (lib/loadtest/claims.ts);
 * exit 1 unless every claim was bound exactly once.
 */
import { InvalidArgumentError, Option, type Command } from 'commander';
import cliProgress from 'cli-progress';
import { RECONCILER_PORT } from '../render/platform.js';
import { formatReport } from '../loadtest/report.js';
import { runLoadTest } from '../loadtest/run.js';
import { DEFAULT_CONCURRENCY } from '../reconciler/main.js';
import { EXIT_INPUT_ERROR, type CliContext, type RegisterCommand } from './context.js';

const positiveInt = (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a whole number of at least 1');
  return n;
};

interface LoadTestFlags {
  worlds?: number;
  claims?: number;
  pool?: string;
  refillTimeout: number;
  concurrency?: number;
  namespace: string;
  game?: string;
  kubeconfig?: string;
  cleanup: boolean;
  timeout?: number;
  metricsUrl: string;
  floor: boolean;
  reconcilerConcurrency: number;
  output: 'text' | 'json';
}

export const registerLoadTest: RegisterCommand = (program: Command, ctx) => {
  program
    .command('load-test')
    .description('create N WorldInstances (--worlds) or N WorldClaims on a pool (--claims, --pool) against a cluster with the reconciler, and report latency, throughput and their cost')
    .option('--worlds <n>', 'number of WorldInstances to create', positiveInt)
    .option('--claims <n>', 'number of WorldClaims to create against --pool', positiveInt)
    .option('--pool <name>', 'the WorldPool the claims are for (with --claims)')
    .option('--concurrency <c>', 'creates in flight at once (default: all of them, up to 100)', positiveInt)
    .option('-n, --namespace <ns>', 'namespace of the worlds (created if missing) or of the pool', 'default')
    .option('--game <name>', 'GameDefinition of the worlds (default: the first by name)')
    .option('--kubeconfig <path>', 'kubeconfig (default: $KUBECONFIG, ~/.kube/config or in-cluster)')
    .option('--cleanup', 'delete the worlds (or the claims, releasing their worlds) at the end and wait until they are gone', false)
    .option('--timeout <seconds>', 'how long a world may take to reach Running (default 300); with --claims, the claims\' spec.timeoutSeconds (default 30)', positiveInt)
    .option('--refill-timeout <seconds>', 'with --claims: how long to wait for the pool to get back to its buffer', positiveInt, 600)
    .option('--metrics-url <url>', 'the reconciler\'s /metrics', `http://127.0.0.1:${RECONCILER_PORT}/metrics`)
    .option('--no-floor', 'skip the floor (the same objects created by a plain client, no reconciler, until their Deployments are Available; with --claims, the raw PATCHes)')
    .option('--reconciler-concurrency <n>', 'the reconciler\'s --concurrency: worlds the floor has in progress at once', positiveInt, DEFAULT_CONCURRENCY)
    .addOption(new Option('-o, --output <format>', 'output format').choices(['text', 'json']).default('text'))
    .addHelpText('after', '\nExit codes: 0 every world Running (with --claims: every claim bound, exactly once; and cleaned up with --cleanup), 1 otherwise, on bad usage or a bad cluster/game/pool, 2 internal error.\n')
    .action(async (flags: LoadTestFlags) => {
      const usage = usageProblems(flags);
      if (usage.length) {
        for (const p of usage) ctx.err(`error: load-test: ${p}\n`);
        ctx.exitCode = EXIT_INPUT_ERROR;
        return;
      }
      if (flags.claims !== undefined) return claimsAction(flags as LoadTestFlags & { claims: number; pool: string }, ctx);
      const worlds = flags.worlds!;
      const bar = new cliProgress.SingleBar(
        { stream: process.stderr, format: ' {phase} [{bar}] {value}/{total} | created {created} running {running} failed {failed}', hideCursor: false, clearOnComplete: true },
        cliProgress.Presets.shades_classic,
      );
      let barOn = false;
      try {
        const result = await runLoadTest({
          worlds,
          concurrency: flags.concurrency ?? Math.min(worlds, 100),
          namespace: flags.namespace,
          ...(flags.game ? { game: flags.game } : {}),
          ...(flags.kubeconfig ? { kubeconfig: flags.kubeconfig } : {}),
          cleanup: flags.cleanup,
          timeoutSeconds: flags.timeout ?? 300,
          metricsUrl: flags.metricsUrl,
          floor: flags.floor,
          reconcilerConcurrency: flags.reconcilerConcurrency,
          log: (line) => ctx.err(`${line}\n`),
          onPhase: (phase, total) => {
            if (barOn) bar.stop();
            const label = { floor: 'floor  ', create: 'worlds ', cleanup: 'cleanup' }[phase];
            bar.start(total, 0, { phase: label, created: 0, running: 0, failed: 0 });
            barOn = true;
          },
          onProgress: (p) => barOn && bar.update(p.running + p.failed, p),
        });
        if (barOn) bar.stop();
        barOn = false;
        ctx.out(flags.output === 'json' ? `${JSON.stringify(result, null, 2)}\n` : formatReport(result));
        if (!result.ok) ctx.exitCode = EXIT_INPUT_ERROR;
      } catch (e) {
        if (barOn) bar.stop();
        ctx.err(`error: load-test: ${e instanceof Error ? e.message : String(e)}\n`);
        ctx.exitCode = EXIT_INPUT_ERROR;
      }
    });
};

/** Every problem with the combination of flags, at once. */
export function usageProblems(flags: Pick<LoadTestFlags, 'worlds' | 'claims' | 'pool' | 'timeout'>): string[] {
  const out: string[] = [];
  if ((flags.worlds === undefined) === (flags.claims === undefined)) out.push('give exactly one of --worlds N (world start-up) or --claims N (claims on a pool)');
  if (flags.claims !== undefined && flags.pool === undefined) out.push('--claims needs --pool NAME (the WorldPool to claim from)');
  if (flags.worlds !== undefined && flags.pool !== undefined) out.push('--pool goes with --claims, not with --worlds');
  if (flags.claims !== undefined && flags.timeout !== undefined && flags.timeout > 3600) out.push('--timeout: a claim\'s timeoutSeconds is at most 3600');
  return out;
}

async function claimsAction(flags: LoadTestFlags & { claims: number; pool: string }, ctx: CliContext): Promise<void> {
  const { runClaimLoadTest } = await import('../loadtest/claims.js');
  const { formatClaimReport } = await import('../loadtest/claimReport.js');
  const bar = new cliProgress.SingleBar(
    { stream: process.stderr, format: ' {phase} [{bar}] {value}/{total} | created {created} bound {bound} failed {failed}', hideCursor: false, clearOnComplete: true },
    cliProgress.Presets.shades_classic,
  );
  let barOn = false;
  try {
    const result = await runClaimLoadTest({
      claims: flags.claims,
      pool: flags.pool,
      concurrency: flags.concurrency ?? Math.min(flags.claims, 100),
      namespace: flags.namespace,
      ...(flags.kubeconfig ? { kubeconfig: flags.kubeconfig } : {}),
      timeoutSeconds: flags.timeout ?? 30,
      refillTimeoutSeconds: flags.refillTimeout,
      metricsUrl: flags.metricsUrl,
      raw: flags.floor,
      cleanup: flags.cleanup,
      log: (line) => ctx.err(`${line}\n`),
      onPhase: (phase, total) => {
        if (barOn) bar.stop();
        bar.start(total, 0, { phase: { claims: 'claims ', refill: 'refill ', raw: 'floor  ', cleanup: 'cleanup' }[phase], created: 0, bound: 0, failed: 0 });
        barOn = true;
      },
      onProgress: (p) => barOn && bar.update(p.bound + p.failed, p),
    });
    if (barOn) bar.stop();
    barOn = false;
    ctx.out(flags.output === 'json' ? `${JSON.stringify(result, null, 2)}\n` : formatClaimReport(result));
    if (!result.ok) ctx.exitCode = EXIT_INPUT_ERROR;
  } catch (e) {
    if (barOn) bar.stop();
    ctx.err(`error: load-test: ${e instanceof Error ? e.message : String(e)}\n`);
    ctx.exitCode = EXIT_INPUT_ERROR;
  }
}
