/**
 * The Anvil app: every game in games/, synthesized into dist/ (`cdk8s synth` or `npm run synth`).
 */
import { AnvilInputError } from './lib/diagnostics.js';
import { buildApp } from './games/index.js';

const app = buildApp();

try {
  app.synth();
} catch (e) {
  if (!(e instanceof AnvilInputError)) throw e;
  process.stderr.write(`${e.message}\ndist/ was left as it was.\n`);
  process.exit(1);
}
