/**
 * Anvil's own package.json: its version for `anvil --version` and the versions `anvil init`
 * writes. Found by walking up from this file, which sits at lib/ in the sources and at
 * build/lib/ in the package.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const PACKAGE_NAME = '@anvil-dev/anvil';

export interface PackageJson {
  name: string;
  version: string;
  dependencies: Record<string, string>;
}

let cached: PackageJson | undefined;

export function anvilPackage(): PackageJson {
  if (cached) return cached;
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    const file = join(dir, 'package.json');
    if (existsSync(file)) {
      const pkg = JSON.parse(readFileSync(file, 'utf8')) as PackageJson;
      if (pkg.name === PACKAGE_NAME) return (cached = pkg);
    }
    if (dirname(dir) === dir) throw new Error(`${PACKAGE_NAME}'s package.json not found above ${fileURLToPath(import.meta.url)}`);
  }
}
