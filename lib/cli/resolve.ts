/**
 * `anvil resolve`: the CapabilityBindings that synth (or the reconciler) would create for
 * the given definitions, as a `v1` List, without a cluster.
 */
import { Option, type Command } from 'commander';
import { stringify } from 'yaml';
import { EXIT_INPUT_ERROR, type RegisterCommand } from './context.js';
import { addInputOptions, EXIT_CODES_HELP, isEmptyInput, loadPlans, report, type InputOptions } from './input.js';

export type OutputFormat = 'yaml' | 'json';

/** Formats objects as a `v1` List, the way `kubectl get -o yaml|json` prints several objects. */
export function formatList(items: unknown[], format: OutputFormat): string {
  const list = { apiVersion: 'v1', kind: 'List', items };
  return format === 'json' ? `${JSON.stringify(list, null, 2)}\n` : stringify(list, { lineWidth: 0 });
}

export const registerResolve: RegisterCommand = (program: Command, ctx) => {
  addInputOptions(program.command('resolve'))
    .description('resolve capabilities and print the CapabilityBindings: the platform\'s and every world\'s, or only those of --world')
    .addOption(new Option('-o, --output <format>', 'output format').choices(['yaml', 'json']).default('yaml'))
    .addHelpText('after', EXIT_CODES_HELP)
    .action(async (opts: InputOptions & { output: OutputFormat }) => {
      const plans = loadPlans(opts);
      if (report(ctx, plans.diagnostics)) {
        ctx.exitCode = EXIT_INPUT_ERROR;
        return;
      }
      // Nothing was read (the loader warned): an empty List would look like a successful result.
      if (isEmptyInput(plans)) return;
      // Loaded only here: cdk8s is slow to load, and the other commands of the CLI do without it.
      const { renderBindings } = await import('../render/bindings.js');
      const items = renderBindings(opts.world.length === 0 ? plans.global : undefined, plans.worlds);
      ctx.out(formatList(items, opts.output));
    });
};
