/**
 * The Anvil app: every game in games/, synthesized into dist/ (`npm run synth`, or `cdk8s synth`).
 * `npm run synth -- --format helm --chart-version 1.2.3` also writes dist/ as a Helm chart
 * into dist-helm/ (lib/render/helm.ts).
 *
 * A failed synth prints Anvil's message only — every problem of the input, or one line for an
 * unexpected error (ANVIL_DEBUG=1 adds its stack) — and leaves dist/ as it was.
 */
import { AnvilInputError } from './lib/diagnostics/diagnostics.js';
import { buildApp } from './games/index.js';
import { parseSynthArgs } from './lib/cli/synthArgs.js';

/**
 * `cdk8s synth` (cdk8s.yaml `app:` sets ANVIL_CDK8S_APP) prints a stack trace of its own
 * whenever the app exits non-zero. When the app exits 0 without creating the CLI's output
 * folder, it prints one line instead ("synthesis failed, app expected to create …") and
 * exits 1 itself — so under the CLI a failure exits 0 here, and the CLI fails the command.
 */
const failedExitCode = process.env.ANVIL_CDK8S_APP === '1' ? 0 : 1;

let helm: ReturnType<typeof parseSynthArgs>['helm'];
try {
  helm = parseSynthArgs(process.argv.slice(2)).helm;
} catch (e) {
  process.stderr.write(`error: npm run synth: ${e instanceof Error ? e.message : String(e)}\ndist/ was left as it was.\n`);
  process.exit(failedExitCode === 0 ? 0 : 2);
}

try {
  buildApp(helm ? { helm } : {}).synth();
  // The cdk8s CLI would list its scratch copy (.cdk8s-out/); the output is dist/.
  if (failedExitCode === 1) process.stdout.write(helm ? `dist/ and ${helm.outdir ?? 'dist-helm'}/ (chart version ${helm.chartVersion}) written\n` : 'dist/ written\n');
} catch (e) {
  if (e instanceof AnvilInputError) {
    process.stderr.write(`${e.message}\ndist/ was left as it was.\n`);
  } else {
    const detail = process.env.ANVIL_DEBUG && e instanceof Error ? `\n${e.stack}` : ' (set ANVIL_DEBUG=1 for its stack trace)';
    process.stderr.write(`error: synth failed unexpectedly: ${e instanceof Error ? e.message : String(e)}${detail}\ndist/ was left as it was.\n`);
  }
  process.exit(failedExitCode);
}
