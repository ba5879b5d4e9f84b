/**
 * Reading a hostile YAML input (issue 8, item 9), not a test: one document with N anchors and
 * N aliases, read the way the loader did before the input limits (yaml's parseAllDocuments
 * and toJS, whose alias resolution scans every anchor and alias: quadratic) and the way
 * lib/cli/load.ts reads it now (anchors and aliases counted in one walk, rejected over the limit).
 *
 *   npx tsx bench/yaml-input.ts [N...]     # default 5000 10000 20000; writes bench/yaml-input.json
 */
import { writeFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import { parseDefinitions } from '../lib/cli/load.js';

function hostileText(n: number): string {
  const lines = ['apiVersion: anvil.dev/v1alpha1', 'kind: ModuleManifest', 'metadata: {name: a}', 'spec:', '  env:'];
  for (let i = 0; i < n; i++) lines.push(`  - &a${i} {name: v${i}, value: x}`);
  for (let i = 0; i < n; i++) lines.push(`  - *a${i}`);
  return `${lines.join('\n')}\n`;
}

function time(f: () => unknown): number {
  const t = performance.now();
  f();
  return Math.round(performance.now() - t);
}

const sizes = process.argv.slice(2).map(Number).filter((n) => n > 0);
const results = (sizes.length ? sizes : [5000, 10000, 20000]).map((n) => {
  const text = hostileText(n);
  const beforeMs = time(() => parseAllDocuments(text).forEach((d) => (d as { toJS(o: object): unknown }).toJS({ maxAliasCount: 1000 })));
  let message = '';
  const afterMs = time(() => (message = parseDefinitions(text, 'hostile.yaml').diagnostics.map((d) => d.message).join('; ')));
  process.stdout.write(`${n} anchors + ${n} aliases: before ${beforeMs} ms, after ${afterMs} ms (${message})\n`);
  return { anchors: n, aliases: n, bytes: text.length, beforeMs, afterMs, afterMessage: message };
});
writeFileSync('bench/yaml-input.json', `${JSON.stringify({ node: process.version, results }, null, 2)}\n`);
