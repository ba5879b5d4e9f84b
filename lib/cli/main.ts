/**
 * The `anvil` command line. Each subcommand lives in its own file under lib/cli/ and is added
 * here with one line. `run()` is the whole CLI as a function, for bin/anvil.js and in-process use.
 */
import { Command, CommanderError } from 'commander';
import { registerAllocate, registerRelease } from './allocate.js';
import { EXIT_INTERNAL, type CliContext, type CliIo, type RegisterCommand } from './context.js';
import { registerGraph } from './graph.js';
import { registerLoadTest } from './load-test.js';
import { registerReconcile } from './reconcile.js';
import { registerResolve } from './resolve.js';
import { registerValidate } from './validate.js';
import { registerInit } from './init.js';
import { registerDiff } from './diff.js';
import { registerRollout } from './rollout.js';
import { anvilPackage } from './version.js';

const COMMANDS: readonly RegisterCommand[] = [registerInit, registerValidate, registerResolve, registerGraph, registerDiff, registerAllocate, registerRelease, registerLoadTest, registerReconcile, registerRollout];

export function buildProgram(ctx: CliContext): Command {
  const program = new Command('anvil')
    .description('Anvil: modular game backends on Kubernetes')
    .version(anvilPackage().version, '-V, --version', 'print the Anvil version')
    // Settings made before .command() are inherited by the subcommands.
    .exitOverride()
    .configureOutput({ writeOut: (s) => ctx.out(s), writeErr: (s) => ctx.err(s) })
    .showHelpAfterError('(run with --help for usage)');
  for (const register of COMMANDS) register(program, ctx);
  return program;
}

const processIo: CliIo = {
  out: (s) => void process.stdout.write(s),
  err: (s) => void process.stderr.write(s),
};

/** Runs the CLI on `argv` (without node and script) and returns its exit code. */
export async function run(argv: readonly string[], io: CliIo = processIo): Promise<number> {
  const ctx: CliContext = { ...io, exitCode: 0 };
  try {
    await buildProgram(ctx).parseAsync([...argv], { from: 'user' });
  } catch (e) {
    // Usage errors, --help and --version: commander has already written its message.
    if (e instanceof CommanderError) return e.exitCode;
    ctx.err(`anvil: internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    return EXIT_INTERNAL;
  }
  return ctx.exitCode;
}
