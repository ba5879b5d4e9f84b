/**
 * `anvil init [DIR]`: a new cdk8s project that depends on Anvil, with an example game, a
 * test and everything needed to synthesize on the first try. It never overwrites a file.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import type { Command } from 'commander';
import { anvilPackage } from './version.js';
import { EXIT_INPUT_ERROR, type RegisterCommand } from './context.js';
import * as t from './init-templates.js';

/** The project's files, by path relative to its folder. */
export function projectFiles(opts: t.InitOptions & { image?: string }): Record<string, string> {
  const anvil = anvilPackage();
  return {
    'package.json': t.packageJson(opts, anvil),
    'cdk8s.yaml': t.CDK8S_YAML,
    'tsconfig.json': t.TSCONFIG,
    'jest.config.js': t.JEST_CONFIG,
    '.gitignore': t.GITIGNORE,
    'README.md': t.README_MD(opts.name),
    'main.ts': t.mainTs(opts.image),
    'games/arena.ts': t.GAME_TS,
    'test/arena.test.ts': t.TEST_TS,
  };
}

/** npm's rules for a package name, roughly: lower case, no spaces. */
const packageName = (dir: string): string => basename(dir).toLowerCase().replace(/[^a-z0-9._-]+/g, '-').replace(/^[._-]+/, '') || 'anvil-game';

export const registerInit: RegisterCommand = (program: Command, ctx) => {
  program
    .command('init')
    .argument('[dir]', 'the project folder (created if missing)', '.')
    .description('create a cdk8s project that depends on Anvil: an example game, main.ts, a Jest test; then npm install && npm run synth && npm test')
    .option('--anvil <spec>', 'how package.json depends on Anvil (a version range, a tarball or a folder)', `^${anvilPackage().version}`)
    .option('--image <ref>', "the reconciler's image in dist/ (built from Anvil's Dockerfile; default: the image of this Anvil release)")
    .action((dir: string, opts: { anvil: string; image?: string }) => {
      const root = resolve(dir);
      const files = projectFiles({ name: packageName(root), anvilSpec: opts.anvil, ...(opts.image ? { image: opts.image } : {}) });
      const existing = Object.keys(files).filter((f) => existsSync(join(root, f)));
      if (existing.length > 0) {
        ctx.err(`error: ${root}: would overwrite ${existing.join(', ')}; run anvil init in an empty folder\n`);
        ctx.exitCode = EXIT_INPUT_ERROR;
        return;
      }
      for (const [file, text] of Object.entries(files)) {
        mkdirSync(join(root, file, '..'), { recursive: true });
        writeFileSync(join(root, file), text);
      }
      ctx.out(`created ${Object.keys(files).join(', ')} in ${root}\nnext: cd ${dir} && npm install && npm run synth && npm test\n`);
    });
};
