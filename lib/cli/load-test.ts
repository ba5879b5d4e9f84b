/**
 * `anvil load-test`: measures the control plane's floor for N worlds (their objects created
 * by a plain client with the reconciler's transport and concurrency, until their Deployments
 * are Available), then creates N WorldInstances against a cluster running the reconciler,
 * watches them to Running, and reports startup latency and throughput next to the floor's
 * (and their ratios), reconcile errors, API requests, CPU and memory of the reconciler.
 * Exit 1 when any world failed or was not Running in time.
 */
import { InvalidArgumentError, Option, type Command } from 'commander';
import cliProgress from 'cli-progress';
import { RECONCILER_PORT } from '../render/platform.js';
import { formatReport } from '../loadtest/report.js';
import { runLoadTest } from '../loadtest/run.js';
import { DEFAULT_CONCURRENCY } from '../reconciler/main.js';
import { EXIT_INPUT_ERROR, type RegisterCommand } from './context.js';

const positiveInt = (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a whole number of at least 1');
  return n;
};

interface LoadTestFlags {
  worlds: number;
  concurrency?: number;
  namespace: string;
  game?: string;
  kubeconfig?: string;
  cleanup: boolean;
  timeout: number;
  metricsUrl: string;
  floor: boolean;
  reconcilerConcurrency: number;
  output: 'text' | 'json';
}

export const registerLoadTest: RegisterCommand = (program: Command, ctx) => {
  program
    .command('load-test')
    .description('create N WorldInstances against a cluster with the reconciler, watch them to Running, and report latency, throughput and the reconciler\'s cost')
    .requiredOption('--worlds <n>', 'number of WorldInstances to create', positiveInt)
    .option('--concurrency <c>', 'creates in flight at once (default: all of them, up to 100)', positiveInt)
    .option('--namespace <ns>', 'namespace of the worlds (created if missing)', 'default')
    .option('--game <name>', 'GameDefinition of the worlds (default: the first by name)')
    .option('--kubeconfig <path>', 'kubeconfig (default: $KUBECONFIG, ~/.kube/config or in-cluster)')
    .option('--cleanup', 'delete the worlds at the end and wait until they are gone', false)
    .option('--timeout <seconds>', 'how long a world may take to reach Running', positiveInt, 300)
    .option('--metrics-url <url>', 'the reconciler\'s /metrics', `http://127.0.0.1:${RECONCILER_PORT}/metrics`)
    .option('--no-floor', 'skip the floor (the same objects created by a plain client, no reconciler, until their Deployments are Available)')
    .option('--reconciler-concurrency <n>', 'the reconciler\'s --concurrency: worlds the floor has in progress at once', positiveInt, DEFAULT_CONCURRENCY)
    .addOption(new Option('-o, --output <format>', 'output format').choices(['text', 'json']).default('text'))
    .addHelpText('after', '\nExit codes: 0 every world Running (and cleaned up with --cleanup), 1 otherwise or on a bad cluster/game, 2 internal error.\n')
    .action(async (flags: LoadTestFlags) => {
      const bar = new cliProgress.SingleBar(
        { stream: process.stderr, format: ' {phase} [{bar}] {value}/{total} | created {created} running {running} failed {failed}', hideCursor: false, clearOnComplete: true },
        cliProgress.Presets.shades_classic,
      );
      let barOn = false;
      try {
        const result = await runLoadTest({
          worlds: flags.worlds,
          concurrency: flags.concurrency ?? Math.min(flags.worlds, 100),
          namespace: flags.namespace,
          ...(flags.game ? { game: flags.game } : {}),
          ...(flags.kubeconfig ? { kubeconfig: flags.kubeconfig } : {}),
          cleanup: flags.cleanup,
          timeoutSeconds: flags.timeout,
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
