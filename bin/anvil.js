#!/usr/bin/env node
// The `anvil` command. The CLI is TypeScript under lib/cli/, compiled to build/ by
// `npm run build` (run by `npm install` through the prepare script).
import { run } from '../build/lib/cli/main.js';

process.exitCode = await run(process.argv.slice(2));
