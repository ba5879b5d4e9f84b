/**
 * The Anvil app: every game in games/, synthesized into dist/ (`cdk8s synth` or `npm run synth`).
 */
import { AnvilApp } from './lib/app.js';
import { AnvilInputError } from './lib/diagnostics.js';
import { commandPath } from './games/command-path.js';
import { roguelike } from './games/roguelike.js';
import { eventBus } from './games/shared.js';

const app = new AnvilApp();
const bus = eventBus(app.definitions);
commandPath(app.definitions, bus);
roguelike(app.definitions, bus);

try {
  app.synth();
} catch (e) {
  if (!(e instanceof AnvilInputError)) throw e;
  process.stderr.write(`${e.message}\ndist/ was left as it was.\n`);
  process.exit(1);
}
