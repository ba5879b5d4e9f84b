/**
 * The `anvil` CLI straight from the TypeScript sources (`tsx bench/anvil.ts …`), so that the
 * bench and the cluster tests never run a stale build/ (bin/anvil.js runs the compiled one).
 */
import { run } from '../lib/cli/main.js';

process.exitCode = await run(process.argv.slice(2));
