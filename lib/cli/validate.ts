/**
 * `anvil validate`: everything synth checks — the schemas (unknown fields included), the
 * games' references, resolution of every world and the platform, and rendering — without
 * writing anything. Exit 1 on any error, so it can gate a pipeline or a pre-commit hook.
 */
import type { Command } from 'commander';
import { EXIT_INPUT_ERROR, type RegisterCommand } from './context.js';
import { addInputOptions, EXIT_CODES_HELP, loadPlans, report, type InputOptions } from './input.js';

export const registerValidate: RegisterCommand = (program: Command, ctx) => {
  addInputOptions(program.command('validate'))
    .description('check definitions as synth does (schemas, unknown fields, references, resolution, rendering) without writing anything')
    .addHelpText('after', EXIT_CODES_HELP)
    .action(async (opts: InputOptions) => {
      const plans = loadPlans(opts);
      if (report(ctx, plans.diagnostics)) {
        ctx.exitCode = EXIT_INPUT_ERROR;
        return;
      }
      // Rendering in memory catches what only the renderer can (the same constructs as synth).
      const { renderWorld } = await import('../render/world.js');
      const { DEFAULT_SETTINGS } = await import('../render/settings.js');
      const objects = plans.worlds.reduce((n, p) => n + renderWorld(p, DEFAULT_SETTINGS).length, 0);
      const { modules, games } = plans.catalog;
      ctx.out(`valid: ${modules.size} module(s), ${games.size} game(s), ${plans.worlds.length} world(s) (${objects} object(s) rendered)\n`);
    });
};
