/**
 * Every example game, on one AnvilApp: what `npm run synth` (main.ts) writes to dist/, and
 * what the dist-is-current test synthesizes into a scratch folder to compare with it.
 */
import { AnvilApp, type AnvilAppProps } from '../lib/app.js';
import { battleRoyale } from './battle-royale.js';
import { commandPath } from './command-path.js';
import { roguelike } from './roguelike.js';
import { eventBus } from './shared.js';

export function buildApp(props: AnvilAppProps = {}): AnvilApp {
  const app = new AnvilApp(props);
  const bus = eventBus(app.definitions);
  commandPath(app.definitions, bus);
  roguelike(app.definitions, bus);
  battleRoyale(app.definitions, bus);
  return app;
}
