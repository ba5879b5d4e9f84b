/**
 * What a reconciler heap snapshot holds (from `npm run bench -- --only memory --heap-snapshot`):
 *
 *   npx tsx bench/heapsnapshot.ts BEFORE.heapsnapshot AFTER.heapsnapshot [worlds]
 *
 * For each snapshot: the live heap (V8 takes a snapshot after a full GC, so unlike
 * heapUsed it holds no garbage), the part reachable from each informer cache (ListWatch,
 * by path) and the string copies in those caches. Given the burst's world count, the
 * difference of the two totals per world. An analysis aid: its output is not a bench figure.
 */
import { readFileSync, writeFileSync } from 'node:fs';

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; edge_fields: string[]; node_types: [string[]]; edge_types: [string[]] } };
  nodes: number[];
  edges: number[];
  strings: string[];
}

function analyse(file: string) {
  const snap = JSON.parse(readFileSync(file, 'utf8')) as Snapshot;
  const { node_fields: nf, edge_fields: ef, node_types, edge_types } = snap.snapshot.meta;
  const [NF, EF] = [nf.length, ef.length];
  const [iType, iName, iSize, iEdges] = ['type', 'name', 'self_size', 'edge_count'].map((f) => nf.indexOf(f)) as [number, number, number, number];
  const [eType, eName, eTo] = ['type', 'name_or_index', 'to_node'].map((f) => ef.indexOf(f)) as [number, number, number];
  const { nodes, edges, strings } = snap;
  const count = nodes.length / NF;
  const firstEdge = new Uint32Array(count + 1);
  for (let i = 0, e = 0; i < count; i++) {
    firstEdge[i] = e;
    e += nodes[i * NF + iEdges]!;
  }
  firstEdge[count] = edges.length / EF;
  const type = (i: number) => node_types[0][nodes[i * NF + iType]!]!;
  const name = (i: number) => strings[nodes[i * NF + iName]!]!;
  const size = (i: number) => nodes[i * NF + iSize]!;
  const out = function* (i: number): Generator<[string, string | number, number]> {
    for (let e = firstEdge[i]!; e < firstEdge[i + 1]!; e++) {
      const t = edge_types[0][edges[e * EF + eType]!]!;
      const n = edges[e * EF + eName]!;
      yield [t, t === 'element' || t === 'hidden' ? n : strings[n]!, edges[e * EF + eTo]! / NF];
    }
  };
  /** Everything reachable from `start` through strong edges, not into code or closures. */
  const reach = (start: number) => {
    const seen = new Set([start]);
    const stack = [start];
    while (stack.length) {
      for (const [t, n, to] of out(stack.pop()!)) {
        if (t === 'weak' || t === 'shortcut' || n === 'map' || n === '__proto__' || n === 'constructor' || seen.has(to)) continue;
        if (type(to) === 'code' || type(to) === 'closure') continue;
        seen.add(to);
        stack.push(to);
      }
    }
    return seen;
  };
  let total = 0;
  for (let i = 0; i < count; i++) total += size(i);
  const caches: { path: string; bytes: number; stringBytes: number; uniqueStringBytes: number }[] = [];
  for (let i = 0; i < count; i++) {
    if (type(i) !== 'object' || name(i) !== 'ListWatch') continue;
    let path = '';
    let objects: number | undefined;
    for (const [, n, to] of out(i)) {
      if (n === 'path') path = name(to);
      if (n === 'objects') objects = to;
    }
    if (objects === undefined) continue;
    const held = reach(objects);
    let bytes = 0;
    let stringBytes = 0;
    const unique = new Map<string, number>();
    for (const j of held) {
      bytes += size(j);
      if (/string/.test(type(j))) {
        stringBytes += size(j);
        unique.set(name(j), size(j));
      }
    }
    caches.push({ path, bytes, stringBytes, uniqueStringBytes: [...unique.values()].reduce((a, b) => a + b, 0) });
  }
  // Beside the caches: what each of the reconciler's other holders keeps that no cache holds
  // (an index refers to cached objects: those are counted once, with their cache).
  const inCaches = new Set<number>();
  for (let i = 0; i < count; i++) {
    if (type(i) !== 'object' || name(i) !== 'ListWatch') continue;
    for (const [, n, to] of out(i)) if (n === 'objects') for (const j of reach(to)) inCaches.add(j);
  }
  const holders = new Map<string, number>();
  for (let i = 0; i < count; i++) {
    if (type(i) !== 'object' || !HOLDERS.has(name(i))) continue;
    let bytes = 0;
    for (const j of reach(i)) if (!inCaches.has(j)) bytes += size(j);
    holders.set(name(i), (holders.get(name(i)) ?? 0) + bytes);
  }
  // And by kind of node (constructor or string type), self sizes: what the heap is made of.
  const byKind = new Map<string, number>();
  for (let i = 0; i < count; i++) {
    const t = type(i);
    const k = t === 'object' || t === 'closure' ? `${t} ${name(i)}` : t;
    byKind.set(k, (byKind.get(k) ?? 0) + size(i));
  }
  return { total, caches: caches.sort((a, b) => b.bytes - a.bytes), holders, byKind };
}

/** Classes of the reconciler that hold state besides the informer caches (not the Applier: it holds the caches, the index and VerifiedContent, counted on their own). */
const HOLDERS = new Set(['CacheIndex', 'VerifiedContent', 'WorkQueue', 'CreatedObjects', 'Registry', 'DefinitionsCache', 'Revisions', 'ClaimController', 'PoolController', 'RolloutMemory', 'EventRecorder', 'StaticGate', 'EventRouter']);

const MB = 2 ** 20;
const args = process.argv.slice(2);
const flagValue = (f: string) => (args.includes(f) ? args[args.indexOf(f) + 1] : undefined);
const record = flagValue('--record');
const relisted = flagValue('--after-relist');
const positional = args.filter((a, i) => !a.startsWith('--') && !['--record', '--after-relist'].includes(args[i - 1] ?? ''));
const [before, after, worlds] = positional;
if (!before) {
  process.stderr.write('usage: npx tsx bench/heapsnapshot.ts BEFORE.heapsnapshot [AFTER.heapsnapshot [worlds] [--after-relist AFTER-RELIST.heapsnapshot] [--record REVISION]]\n');
  process.exit(2);
}
const results = [before, ...(after ? [after] : []), ...(relisted ? [relisted] : [])].map((f) => ({ file: f, ...analyse(f) }));
for (const r of results) {
  process.stdout.write(`${r.file}: live heap ${(r.total / MB).toFixed(1)} MB\n`);
  for (const c of r.caches.filter((c) => c.bytes > MB / 10)) {
    process.stdout.write(`  cache ${c.path}: ${(c.bytes / MB).toFixed(2)} MB (strings ${(c.stringBytes / MB).toFixed(2)} MB, of which distinct ${(c.uniqueStringBytes / MB).toFixed(2)} MB)\n`);
  }
  const all = r.caches.reduce((a, c) => a + c.bytes, 0);
  process.stdout.write(`  all caches: ${(all / MB).toFixed(1)} MB\n`);
  for (const [h, bytes] of [...r.holders].sort((a, b) => b[1] - a[1])) if (bytes > MB / 10) process.stdout.write(`  ${h} (beyond the caches): ${(bytes / MB).toFixed(2)} MB\n`);
  const kinds = [...r.byKind].sort((a, b) => b[1] - a[1]).slice(0, 12);
  process.stdout.write(`  by kind of node: ${kinds.map(([k, b]) => `${k} ${(b / MB).toFixed(1)}`).join(', ')} (MB)\n`);
}
if (results.length >= 2 && worlds) {
  const [a, b] = results as [(typeof results)[0], (typeof results)[0]];
  const cachesOf = (r: typeof a) => r.caches.reduce((s, c) => s + c.bytes, 0);
  process.stdout.write(`per world (${worlds}): live heap ${((b.total - a.total) / Number(worlds) / 1024).toFixed(1)} KB, of which caches ${((cachesOf(b) - cachesOf(a)) / Number(worlds) / 1024).toFixed(1)} KB\n`);
}

/**
 * `--record REVISION`: the breakdown per world into bench/results.json (`heapBreakdown`), for
 * RESULTS.md (bench/report.ts): the snapshots' figures, with the revision they were taken at.
 */
if (record && results.length >= 2 && worlds) {
  const [a, b, c] = results as [(typeof results)[0], (typeof results)[0], (typeof results)[0] | undefined];
  const w = Number(worlds);
  const kb = (bytes: number) => Math.round((bytes / w / 1024) * 100) / 100;
  const mb = (bytes: number) => Math.round((bytes / MB) * 10) / 10;
  const cacheOf = (r: typeof a, path: string) => r.caches.filter((x) => x.path === path).reduce((s2, x) => s2 + x.bytes, 0);
  const paths = [...new Set(b.caches.map((x) => x.path))];
  const perCache = paths.map((p) => ({ path: p, kbPerWorld: kb(cacheOf(b, p) - cacheOf(a, p)) })).filter((x) => x.kbPerWorld >= 0.05).sort((x, y) => y.kbPerWorld - x.kbPerWorld);
  const holders = [...b.holders.keys()].map((h) => ({ holder: h, kbPerWorld: kb((b.holders.get(h) ?? 0) - (a.holders.get(h) ?? 0)) })).filter((x) => x.kbPerWorld >= 0.05).sort((x, y) => y.kbPerWorld - x.kbPerWorld);
  const cachesTotal = (r: typeof a) => r.caches.reduce((s2, x) => s2 + x.bytes, 0);
  const breakdown = {
    revision: record,
    worlds: w,
    liveIdleMb: mb(a.total),
    liveAfterBurstMb: mb(b.total),
    ...(c ? { liveAfterRelistMb: mb(c.total) } : {}),
    kbPerWorld: kb(b.total - a.total),
    cachesKbPerWorld: kb(cachesTotal(b) - cachesTotal(a)),
    caches: perCache,
    holders,
    idleByKindMb: [...a.byKind].sort((x, y) => y[1] - x[1]).slice(0, 5).map(([kind, bytes]) => ({ kind, mb: mb(bytes) })),
  };
  const file = 'bench/results.json';
  const all = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  writeFileSync(file, `${JSON.stringify({ ...all, heapBreakdown: breakdown }, null, 2)}\n`);
  process.stdout.write(`recorded heapBreakdown in ${file}\n`);
}
