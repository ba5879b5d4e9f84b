// Anvil validates what the API server validates (issue 8, item 7), proved differentially:
// fast-check generates many mutated anvil.dev objects (duplicate list-map keys and set
// values, CEL rule violations, bad names, patterns, enums, bounds), each is judged by
// validateAgainstCrd and by the API server (`kubectl create --dry-run=server`, with the
// CRDs the library generates), and the verdicts must agree. Objects go to the server in
// batches, one kubectl call per batch, each with its own name, so that the server's verdict
// for each object can be read back from kubectl's per-object output. On a disagreement the
// first one is shrunk (fast-check, replaying that run one object per call) and printed.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { customResourceDefinitions } from '../../lib/api/crds.js';
import { API_VERSION } from '../../lib/api/schema.js';
import { validateAgainstCrd } from '../../lib/api/validate.js';
import { kubectl, kubectlOk } from './kubectl.js';

const suffix = Math.random().toString(36).slice(2, 7);
const NS = `parity-${suffix}`;
const SEED = Number(process.env.ANVIL_PARITY_SEED ?? 20261125);
const RUNS = Number(process.env.ANVIL_PARITY_RUNS ?? 1000);
const BATCH = 250;

type Obj = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string }; spec: Record<string, unknown> };

// ---- generators: valid bases, mutated by picks that are sometimes invalid --------------

const maybe = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: undefined, freq: 3 });
const list = <T>(arb: fc.Arbitrary<T>, max = 2) => fc.array(arb, { maxLength: max });
/** Mostly one of `valid`, sometimes one of `invalid`: a definition gets a mutation or two, not ten. */
const pick = <T>(valid: readonly T[], invalid: readonly T[]) =>
  fc.oneof({ weight: 12, arbitrary: fc.constantFrom(...valid) }, { weight: 1, arbitrary: fc.constantFrom(...invalid) });
/** Drops undefined fields: "absent", as in YAML. */
const compact = (o: Record<string, unknown>): Record<string, unknown> => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));

const semverish = pick(['1.0.0', '2.1.4', '1.0.0-rc.1'], ['1.2', 'v1.0.0', '01.0.0']);
// Few ids, so that lists often repeat one (a duplicate list-map key).
const capabilityId = pick(['physics', 'event-bus', 'game.mechanic', 'snapshots'], ['root', 'Bad_Id', '-x']);
const scope = pick(['world', 'cluster', 'region', 'world-shard', 'session'], ['galaxy']);
const dnsish = pick(['a', 'b', 'gateway'], ['B', 'x_y', 'a'.repeat(64)]);

const requirement = fc
  .record({
    capabilityId,
    versionConstraint: pick(['^1.0.0', '*'], ['']),
    scope,
    multiplicity: maybe(pick(['1', 'many'], ['2'])),
    dependencyMode: maybe(pick(['required', 'optional'], ['maybe'])),
  })
  .map(compact);
const provided = fc
  .record({ capabilityId, version: semverish, actions: maybe(list(pick(['move', 'jump', 'attack'], ['Bad']), 3)) })
  .map(compact);
const port = fc
  .record({ name: pick(['grpc', 'http', 'metrics'], ['Bad', 'a-very-long-port-name']), port: pick([80, 50051], [0, 70000]), protocol: maybe(pick(['TCP', 'UDP'], ['HTTP'])) })
  .map(compact);
const envVar = fc.record({ name: pick(['A', 'B', 'LOG_LEVEL'], ['1x']), value: fc.constantFrom('1', '') });

const moduleSpec = fc
  .record({
    version: semverish,
    scope: maybe(scope),
    image: pick(['registry.example/m:1'], ['']),
    ports: maybe(list(port)),
    provides: maybe(list(provided)),
    requires: maybe(list(requirement)),
    replicas: maybe(pick([1, 0, 1000], [-1, 1001])),
    env: maybe(list(envVar)),
    routesActions: maybe(fc.boolean()),
  })
  .map(compact);

const gameSpec = fc
  .record({
    modules: fc.array(fc.record({ name: dnsish }), { minLength: 0, maxLength: 3 }),
    booklets: maybe(list(fc.record({ name: dnsish, modules: list(dnsish, 2), strategy: pick(['SameNode', 'SameZone'], ['Anywhere']) }))),
  })
  .map(compact);

const worldSpec = fc
  .record({
    gameRef: fc.record({ name: dnsish }),
    region: maybe(pick(['eu-west', 'default'], ['EU', 'a'.repeat(41)])),
    shards: maybe(pick([1, 64], [0, 65])),
  })
  .map(compact);

const bindingSpec = fc
  .record({
    capabilityId: fc.constantFrom('root', 'physics', 'physics', 'Bad'),
    scope,
    multiplicity: pick(['1', 'many'], ['2']),
    consumer: fc.record({ kind: pick(['ModuleManifest', 'WorldInstance'], ['Pod']), name: dnsish }),
    provider: fc.record({ module: dnsish, capabilityVersion: semverish }),
    worldRef: maybe(fc.record({ name: dnsish })),
  })
  .map(compact);

/** A name suffix that is fine, or breaks the CRD's DNS-label rule in one way. */
const nameTail = pick([''], ['X', '.x', `-${'n'.repeat(60)}`]);

const definition = fc
  .tuple(
    fc.oneof(
      fc.record({ kind: fc.constant('ModuleManifest'), spec: moduleSpec }),
      fc.record({ kind: fc.constant('GameDefinition'), spec: gameSpec }),
      fc.record({ kind: fc.constant('WorldInstance'), spec: worldSpec }),
      fc.record({ kind: fc.constant('CapabilityBinding'), spec: bindingSpec }),
    ),
    nameTail,
  )
  .map(([{ kind, spec }, tail]) => ({ kind, spec, tail }));
type Definition = { kind: string; spec: Record<string, unknown>; tail: string };

/** The object for run `i`: a name of its own (so the server's output maps back to it). */
function objectOf(d: Definition, i: number): Obj {
  const namespaced = d.kind === 'WorldInstance' || d.kind === 'CapabilityBinding';
  return {
    apiVersion: API_VERSION,
    kind: d.kind,
    metadata: { name: `p${suffix}-${i}${d.tail}`, ...(namespaced ? { namespace: NS } : {}) },
    // A JSON copy: validateAgainstCrd fills defaults in place.
    spec: JSON.parse(JSON.stringify(d.spec)) as Record<string, unknown>,
  };
}

const localVerdict = (o: Obj): boolean => validateAgainstCrd(JSON.parse(JSON.stringify(o)), 'parity').length === 0;

/** The server's verdict for each object of one batch (one kubectl call), by `kind/name`. */
async function serverVerdicts(objects: readonly Obj[]): Promise<{ accepted: Set<string>; output: string }> {
  const r = await kubectl(['create', '--dry-run=server', '-f', '-'], { input: objects.map((o) => stringify(o)).join('---\n'), timeoutMs: 120_000 });
  const accepted = new Set<string>();
  for (const line of r.stdout.split('\n')) {
    const m = /^([a-z]+)\.anvil\.dev\/(\S+) created \(server dry run\)$/.exec(line.trim());
    if (m) accepted.add(`${m[1]}/${m[2]}`);
  }
  return { accepted, output: `${r.stdout}\n${r.stderr}` };
}
const keyOf = (o: Obj): string => `${o.kind.toLowerCase()}/${o.metadata.name}`;

/** What the server said about one object: the error lines that name it. */
const serverSays = (output: string, o: Obj): string =>
  output.split('\n').filter((l) => l.includes(`"${o.metadata.name}"`) || l.includes(`/${o.metadata.name} `)).join('\n') || '(nothing)';

beforeAll(async () => {
  const crds = customResourceDefinitions();
  await kubectlOk(['apply', '--server-side', '--force-conflicts', '-f', '-'], { input: crds.map((c) => stringify(c)).join('---\n') });
  await kubectlOk(['wait', '--for', 'condition=established', '--timeout=120s', ...crds.map((c) => `crd/${(c.metadata as { name: string }).name}`)]);
  await kubectlOk(['create', 'namespace', NS]);
});

afterAll(async () => {
  await kubectl(['delete', 'namespace', NS, '--wait=false']);
});

describe('local validation agrees with the API server', () => {
  test(`${RUNS} generated objects: the same verdict from validateAgainstCrd and kubectl create --dry-run=server`, async () => {
    const samples = fc.sample(definition, { seed: SEED, numRuns: RUNS });
    const objects = samples.map(objectOf);
    const disagreements: { i: number; local: boolean; server: boolean; said: string }[] = [];
    for (let start = 0; start < objects.length; start += BATCH) {
      const batch = objects.slice(start, start + BATCH);
      const { accepted, output } = await serverVerdicts(batch);
      batch.forEach((o, j) => {
        const local = localVerdict(o);
        const server = accepted.has(keyOf(o));
        if (local !== server) disagreements.push({ i: start + j, local, server, said: serverSays(output, o) });
      });
    }
    const acceptedCount = objects.filter(localVerdict).length;
    process.stderr.write(`[parity] ${RUNS} objects (seed ${SEED}): ${acceptedCount} accepted, ${RUNS - acceptedCount} rejected; ${disagreements.length} disagreements\n`);
    if (disagreements.length === 0) {
      // The generator must exercise both verdicts, or the agreement says little.
      expect(acceptedCount).toBeGreaterThan(RUNS / 5);
      expect(RUNS - acceptedCount).toBeGreaterThan(RUNS / 5);
      return;
    }

    // Shrink the first disagreement: replay its run (same seed, path = its index) one object
    // per kubectl call, and let fast-check minimise it.
    const first = disagreements[0]!;
    let shrunk = '';
    try {
      await fc.assert(
        fc.asyncProperty(definition, async (d) => {
          const o = objectOf(d, 0);
          const { accepted } = await serverVerdicts([o]);
          return localVerdict(o) === accepted.has(keyOf(o));
        }),
        { seed: SEED, path: String(first.i), numRuns: RUNS },
      );
    } catch (e) {
      shrunk = e instanceof Error ? e.message : String(e);
    }
    throw new Error(
      `${disagreements.length} of ${RUNS} objects get different verdicts. First (run ${first.i}): local ${first.local ? 'accepts' : 'rejects'}, ` +
        `server ${first.server ? 'accepts' : 'rejects'}\n${stringify(objects[first.i])}\nlocal: ${JSON.stringify(validateAgainstCrd(JSON.parse(JSON.stringify(objects[first.i])), 'parity'))}\n` +
        `server: ${first.said}\nshrunk by fast-check:\n${shrunk || '(did not reproduce when replayed alone)'}`,
    );
  });
});
