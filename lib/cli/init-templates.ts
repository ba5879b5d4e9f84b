/**
 * The files `anvil init` writes: a cdk8s project whose main.ts synthesizes one example game
 * into dist/ and whose Jest test checks it with Anvil's Testing helper. Kept as plain text so
 * what a new project gets is readable in one place.
 */
import { PACKAGE_NAME, type PackageJson } from './version.js';

export interface InitOptions {
  /** The project's package name. */
  name: string;
  /** How package.json depends on Anvil: a version range, or a path/tarball. */
  anvilSpec: string;
}

/**
 * The tools a new project is built and tested with, at the versions Anvil itself is built and
 * tested with, so they are known to work: Anvil's devDependencies (test/unit/cli.test.ts holds
 * them equal). Written out because the package's package.json has none: `npm run pack` (and so
 * the release) removes them with clean-publish.
 */
export const PROJECT_DEV_DEPENDENCIES: Readonly<Record<string, string>> = {
  '@types/jest': '^30.0.0',
  '@types/node': '^20.19.43',
  'cdk8s-cli': '^2.207.60',
  jest: '^30.5.2',
  'ts-jest': '29.4',
  tsx: '^4.23.15',
  typescript: '5.9',
};

/** The versions of Anvil's own dependencies, so the project uses the ones Anvil is tested with. */
const pick = (anvil: PackageJson, names: string[]): Record<string, string> => Object.fromEntries(names.map((n) => [n, anvil.dependencies[n]!]));

export function packageJson(opts: InitOptions, anvil: PackageJson): string {
  return `${JSON.stringify(
    {
      name: opts.name,
      version: '0.1.0',
      private: true,
      type: 'module',
      scripts: {
        // main.ts itself, not `cdk8s synth`: that CLI prints a stack trace of its own when an
        // app fails and lists its scratch folder (.cdk8s-out/) as the output; dist/ is written by main.ts.
        synth: 'tsx main.ts',
        typecheck: 'tsc --noEmit',
        test: 'node --experimental-vm-modules --no-warnings=ExperimentalWarning node_modules/jest/bin/jest.js',
        validate: 'anvil validate -f dist/',
      },
      dependencies: { [PACKAGE_NAME]: opts.anvilSpec, ...pick(anvil, ['cdk8s', 'constructs']) },
      devDependencies: { ...PROJECT_DEV_DEPENDENCIES },
    },
    null,
    2,
  )}\n`;
}

export const CDK8S_YAML = `language: typescript
# npm run synth runs main.ts directly. For \`cdk8s synth\`: main.ts writes dist/ itself, all at
# once and only when synth succeeds; the cdk8s CLI empties its own output folder first, so it
# gets a copy. ANVIL_CDK8S_APP tells main.ts that the CLI runs it (see main.ts).
app: ANVIL_CDK8S_APP=1 npx tsx main.ts
output: .cdk8s-out
`;

export const TSCONFIG = `${JSON.stringify(
  {
    compilerOptions: {
      target: 'ES2022',
      module: 'NodeNext',
      moduleResolution: 'NodeNext',
      lib: ['ES2022'],
      types: ['node', 'jest'],
      strict: true,
      esModuleInterop: true,
      skipLibCheck: true,
      isolatedModules: true,
      noEmit: true,
    },
    include: ['main.ts', 'games', 'test'],
  },
  null,
  2,
)}\n`;

export const JEST_CONFIG = `// ESM throughout (Anvil is ESM-only): run with \`node --experimental-vm-modules\` (npm test).
export default {
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: { '^(\\\\.{1,2}/.*)\\\\.js$': '$1' },
  transform: { '^.+\\\\.ts$': ['ts-jest', { useESM: true }] },
  testEnvironment: 'node',
  testMatch: ['<rootDir>/test/**/*.test.ts'],
};
`;

export const GITIGNORE = `node_modules/
.cdk8s-out/
`;

/** main.ts, with the reconciler image when \`anvil init --image\` gave one. */
export const mainTs = (image?: string): string =>
  MAIN_TS.replace('const app = new AnvilApp();', image ? `const app = new AnvilApp({ reconcilerImage: ${JSON.stringify(image)} });` : 'const app = new AnvilApp();');

export const MAIN_TS = `/**
 * The cdk8s app: every game of this repository, synthesized into dist/ (\`npm run synth\`).
 * A failed synth lists every problem and leaves the previous dist/ as it was.
 */
import { AnvilApp, AnvilInputError } from '${PACKAGE_NAME}';
import { arena } from './games/arena.js';

const app = new AnvilApp();
arena(app.definitions);

// Under \`cdk8s synth\` (cdk8s.yaml sets ANVIL_CDK8S_APP) a failure exits 0 here: that CLI
// prints a stack trace whenever its app exits non-zero, and fails the command by itself when
// the app wrote nothing.
const failedExitCode = process.env.ANVIL_CDK8S_APP === '1' ? 0 : 1;
try {
  app.synth();
  process.stdout.write('dist/ written\\n');
} catch (e) {
  const message = e instanceof AnvilInputError ? e.message : \`error: synth failed unexpectedly: \${e instanceof Error ? e.message : String(e)}\`;
  process.stderr.write(\`\${message}\\ndist/ was left as it was.\\n\`);
  process.exit(failedExitCode);
}
`;

export const GAME_TS = `/**
 * An example game: players connect to the gateway, which routes each action (move, shoot)
 * to the module that serves it. Replace the images with your own.
 */
import type { Construct } from 'constructs';
import { Game, Module, World } from '${PACKAGE_NAME}';

export function arena(scope: Construct): Game {
  const gateway = new Module(scope, 'arena-gateway', {
    version: '0.1.0',
    image: 'registry.example/arena-gateway:0.1.0',
    ports: [{ name: 'ws', port: 7000, protocol: 'TCP', expose: { type: 'LoadBalancer' } }],
    provides: [{ capabilityId: 'arena-client', version: '0.1.0' }],
    requires: [{ capabilityId: 'arena-rules', versionConstraint: '^0.1.0', scope: 'world' }],
    routesActions: true,
  });
  const rules = new Module(scope, 'arena-rules', {
    version: '0.1.0',
    image: 'registry.example/arena-rules:0.1.0',
    ports: [{ name: 'grpc', port: 50051, protocol: 'TCP' }],
    provides: [{ capabilityId: 'arena-rules', version: '0.1.0', actions: ['move', 'shoot'] }],
  });
  const game = new Game(scope, 'arena', { modules: [gateway, rules] });
  new World(scope, 'arena-eu-1', { game, namespace: 'arena', region: 'eu-west' });
  return game;
}
`;

export const TEST_TS = `import { expect, test } from '@jest/globals';
import { Module, Testing, type ModuleProps } from '${PACKAGE_NAME}';
import { arena } from '../games/arena.js';

test('the arena synthesizes without problems', () => {
  const out = Testing.synthGame((scope) => void arena(scope));
  expect(out.diagnostics).toEqual([]);
  const world = out.worlds['arena/arena-eu-1']!;
  // One Deployment per module of the world (names carry a hash: match on the module label).
  expect(Testing.ofKind(world, 'Deployment').map((d) => d.metadata.labels['anvil.dev/module']).sort()).toEqual(['arena-gateway', 'arena-rules']);
});

test('the gateway routes every action to the rules module', () => {
  const world = Testing.synthGame((scope) => void arena(scope)).worlds['arena/arena-eu-1']!;
  const routes = Testing.find(world, 'ConfigMap', 'arena-eu-1-action-routes');
  expect(routes?.data['action_routes.yaml']).toMatch(/module: arena-rules/);
  expect(routes?.data['action_routes.yaml']).toMatch(/address: arena-eu-1-arena-rules-[0-9a-f]{8}\\.arena\\.svc:50051/);
});

test('a typo is an error, with a suggestion', () => {
  const out = Testing.synthGame((scope) => {
    arena(scope);
    // What TypeScript would catch, and plain JavaScript or YAML would not.
    new Module(scope, 'typo', { version: '0.1.0', image: 'registry.example/typo:1', replicsa: 2 } as unknown as ModuleProps);
  });
  expect(out.errors.map((e) => e.message).join('\\n')).toContain('did you mean replicas?');
});
`;

export const README_MD = (name: string): string => `# ${name}

Game backends for [Anvil](https://github.com/anvil-dev/anvil).

\`\`\`bash
npm install
npm run synth      # writes dist/ (commit it)
npm test           # Jest, with Anvil's Testing helper
npx anvil validate -f dist/
\`\`\`

Then, with \`kubectl\` pointed at your cluster (the CRDs first, so the rest applies in one pass):

\`\`\`bash
kubectl apply -f dist/0000-crds.k8s.yaml
kubectl wait --for condition=established --timeout=60s crd -l app.kubernetes.io/part-of=anvil
kubectl apply -f dist/
\`\`\`

Games live in \`games/\`; \`main.ts\` adds each to the app.
`;
