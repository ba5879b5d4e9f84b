// The layout's guard (README, Layout): no import cycles, and imports run only downwards —
// the reconciler's runtime imports no controller, controllers import no other controller,
// and the pure core (definitions, resolve, render) imports nothing of the reconciler.
// `npm run lint` runs it as part of `npm test`.
import tseslint from 'typescript-eslint';
import importPlugin from 'eslint-plugin-import';

const controllers = ['worlds', 'pools', 'claims', 'rollouts'];
const R = './lib/reconciler';

export default [
  { ignores: ['build/**', 'dist/**', 'node_modules/**', 'imports/**', 'coverage/**'] },
  {
    files: ['lib/**/*.ts'],
    languageOptions: { parser: tseslint.parser, parserOptions: { ecmaVersion: 'latest', sourceType: 'module' } },
    plugins: { import: importPlugin },
    settings: {
      'import/parsers': { '@typescript-eslint/parser': ['.ts'] },
      'import/resolver': { typescript: { project: './tsconfig.json' } },
    },
    rules: {
      'import/no-cycle': ['error', { ignoreExternal: true }],
      'import/no-self-import': 'error',
      'import/no-restricted-paths': [
        'error',
        {
          zones: [
            // The runtime is machinery below every controller.
            { target: `${R}/runtime`, from: [`${R}/shared`, ...controllers.map((c) => `${R}/${c}`), `${R}/main.ts`, `${R}/routing.ts`], message: 'runtime/ is below the controllers: move what both need into runtime/.' },
            // What several controllers share sits below them too.
            { target: `${R}/shared`, from: [...controllers.map((c) => `${R}/${c}`), `${R}/main.ts`, `${R}/routing.ts`], message: 'shared/ is below the controllers.' },
            // Controllers do not import each other.
            ...controllers.map((c) => ({
              target: `${R}/${c}`,
              from: [...controllers.filter((o) => o !== c).map((o) => `${R}/${o}`), `${R}/main.ts`, `${R}/routing.ts`],
              message: `a controller does not import another controller: move what both need into shared/ or runtime/.`,
            })),
            // The pure core — definitions, resolve, render — knows nothing of the reconciler, the CLI or the load test.
            ...['./lib/api', './lib/resolve', './lib/render', './lib/names', './lib/diagnostics'].map((target) => ({
              target,
              from: ['./lib/reconciler', './lib/cli', './lib/loadtest', './lib/client'],
              message: 'the pure core (api, resolve, render) imports nothing of the reconciler, the CLI, the client or the load test.',
            })),
            // The client library (what a matchmaker imports) and the reconciler stand on their own.
            { target: './lib/client', from: ['./lib/reconciler', './lib/cli', './lib/loadtest'], message: 'the client imports nothing of the reconciler, the CLI or the load test.' },
            { target: './lib/reconciler', from: ['./lib/cli', './lib/loadtest'], message: 'the reconciler imports nothing of the CLI or the load test.' },
          ],
        },
      ],
    },
  },
];
