/**
 * `anvil reconcile`: runs the in-cluster reconciler for dynamic WorldInstances (in the
 * cluster, as the Deployment synth renders; or from a laptop with --kubeconfig). Runs until
 * SIGTERM/SIGINT, then finishes in-flight work and hands the leader lease over.
 */
import { InvalidArgumentError, type Command } from 'commander';
import { hostname } from 'node:os';
import { existsSync, readFileSync } from 'node:fs';
import type { RenderSettings } from '../render/settings.js';
import { ALLOCATION_PORT, RECONCILER_PORT } from '../render/platform.js';
import { PLATFORM_NAMESPACE } from '../resolve/resolve.js';
import { DEFAULT_CONCURRENCY, runReconciler } from '../reconciler/main.js';
import { EXIT_INTERNAL, type RegisterCommand } from './context.js';

const wholeNumber = (min: number) => (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`must be a whole number of at least ${min}`);
  return n;
};

/**
 * The endpoint's certificate and key, when both are given and present; a self-signed one
 * (made once, kept in a Secret of the reconciler's namespace) when the files are absent
 * (the Deployment mounts the Secret anvil-allocator-tls as optional); off when neither flag is given.
 */
function allocationTls(f: ReconcileFlags, err: (s: string) => void): { port: number; cert?: Buffer; key?: Buffer; namespace: string; cluster?: string } | undefined {
  if (!f.allocationTlsCert && !f.allocationTlsKey) return undefined;
  if (!f.allocationTlsCert || !f.allocationTlsKey) throw new Error('give both --allocation-tls-cert and --allocation-tls-key (or neither: the allocation endpoint is off)');
  const common = { port: f.allocationPort, namespace: f.leaseNamespace, ...(f.clusterName ? { cluster: f.clusterName } : {}) };
  if (!existsSync(f.allocationTlsCert) || !existsSync(f.allocationTlsKey)) {
    err(`anvil reconcile: ${f.allocationTlsCert} or ${f.allocationTlsKey} does not exist (no Secret anvil-allocator-tls): the allocation endpoint serves a self-signed certificate (Secret ${f.leaseNamespace}/anvil-allocator-selfsigned; its CA in ConfigMap ${f.leaseNamespace}/anvil-allocator-ca; see README "The allocation endpoint")\n`);
    return common;
  }
  return { ...common, cert: readFileSync(f.allocationTlsCert), key: readFileSync(f.allocationTlsKey) };
}

interface ReconcileFlags {
  kubeconfig?: string;
  leaderElect: boolean;
  leaseNamespace: string;
  identity: string;
  port: number;
  concurrency: number;
  resyncSeconds: number;
  settings?: string;
  allocationPort: number;
  allocationTlsCert?: string;
  allocationTlsKey?: string;
  clusterName?: string;
}

export const registerReconcile: RegisterCommand = (program: Command, ctx) => {
  program
    .command('reconcile')
    .description('run the reconciler: resolve, render and server-side apply every dynamic WorldInstance, and report world status')
    .option('--kubeconfig <path>', 'kubeconfig (default: in-cluster, else $KUBECONFIG or ~/.kube/config)')
    .option('--leader-elect', 'only reconcile while holding the leader Lease (run several replicas)', false)
    .option('--lease-namespace <ns>', 'namespace of the leader Lease', PLATFORM_NAMESPACE)
    .option('--identity <id>', 'this replica in the Lease (default: $POD_NAME, else hostname-pid)', process.env.POD_NAME ?? `${hostname()}-${process.pid}`)
    .option('--port <port>', 'port of /healthz, /readyz and /metrics (0: any free port)', wholeNumber(0), RECONCILER_PORT)
    .option('--concurrency <n>', 'worlds reconciled at once', wholeNumber(1), DEFAULT_CONCURRENCY)
    .option('--resync-seconds <s>', 'reconcile every world again (from the caches) this often', wholeNumber(1), 300)
    .option('--settings <file>', "synth's render settings (JSON: regions, monitoring, …), as dist's anvil-reconciler-settings ConfigMap holds them")
    .option('--allocation-port <port>', 'port of the HTTPS allocation endpoint (0: any free port)', wholeNumber(0), ALLOCATION_PORT)
    .option('--allocation-tls-cert <file>', 'certificate (PEM) of the allocation endpoint; with --allocation-tls-key. Files absent (the Secret is optional): a self-signed certificate, its CA published in ConfigMap anvil-allocator-ca of --lease-namespace. Neither flag: the endpoint is off')
    .option('--allocation-tls-key <file>', 'private key (PEM) of the allocation endpoint')
    .option('--cluster-name <name>', "this cluster's name in the allocation endpoint's replies (multi-cluster matchmakers)")
    .action(async (flags: ReconcileFlags) => {
      let running;
      try {
        const allocation = allocationTls(flags, ctx.err);
        running = await runReconciler({
          ...(flags.kubeconfig ? { kubeconfig: flags.kubeconfig } : {}),
          leaderElect: flags.leaderElect,
          leaseNamespace: flags.leaseNamespace,
          identity: flags.identity,
          port: flags.port,
          concurrency: flags.concurrency,
          resyncSeconds: flags.resyncSeconds,
          ...(allocation ? { allocation } : {}),
          ...(flags.settings ? { settings: JSON.parse(readFileSync(flags.settings, 'utf8')) as Partial<RenderSettings> } : {}),
          log: (msg) => ctx.err(`${new Date().toISOString()} ${msg}\n`),
        });
      } catch (e) {
        ctx.err(`anvil reconcile: ${e instanceof Error ? e.message : String(e)}\n`);
        ctx.exitCode = EXIT_INTERNAL;
        return;
      }
      // A reconciler must outlive a bad object or a failed request: log, never die.
      const onRejection = (reason: unknown) => ctx.err(`anvil reconcile: unhandled rejection: ${reason instanceof Error ? (reason.stack ?? reason.message) : String(reason)}\n`);
      process.on('unhandledRejection', onRejection);
      const onSignal = (signal: NodeJS.Signals) => {
        ctx.err(`anvil reconcile: ${signal}: shutting down\n`);
        void running.shutdown().then(() => {
          // Idle keep-alive sockets must not hold a stopped reconciler up.
          setTimeout(() => process.exit(), 2000).unref();
        });
      };
      // SIGHUP: a resync now (what --resync-seconds does periodically), e.g. after an outage.
      const onHangup = () => {
        ctx.err(`anvil reconcile: SIGHUP: resync\n`);
        void running.resyncNow();
      };
      process.on('SIGTERM', onSignal);
      process.on('SIGINT', onSignal);
      process.on('SIGHUP', onHangup);
      await running.done;
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
      process.off('SIGHUP', onHangup);
      process.off('unhandledRejection', onRejection);
    });
};
