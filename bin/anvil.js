#!/usr/bin/env node
// The `anvil` command. The CLI is TypeScript under lib/cli/, compiled to build/ by
// `npm run build` (run by `npm install` through the prepare script).
import { run } from '../build/lib/cli/main.js';

// `anvil graph | head -1`: the reader went away; that is not an error of ours.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (e) => {
    if (e.code !== 'EPIPE') throw e;
    process.exit(process.exitCode ?? 0);
  });
}

process.exitCode = await run(process.argv.slice(2));
