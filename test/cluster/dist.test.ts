// dist/ on a real API server (issue 3): the README's apply sequence, run exactly as written,
// applies every file with no error and no warning and every synthesized object exists; the
// CRDs' own validation rejects bad custom resources with their messages; the printer
// columns; the static worlds' Deployments become Available on kwok's fake nodes under the
// namespace's `restricted` Pod Security enforcement; and deleting a WorldInstance
// garbage-collects what the library renders for it (owner references).
//
// The dist objects are shared with the other cluster test files and are left in place; what
// this file creates itself lives in namespaces `dist-…-<suffix>` or is named `dist-…`.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';
import { MULTIPLICITIES, SCOPES, SEMVER_PATTERN, WORLD_PHASES, type WorldInstance } from '../../lib/api/schema.js';
import { formatDiagnostic } from '../../lib/diagnostics/diagnostics.js';
import { loadDefinitions } from '../../lib/cli/load.js';
import { buildCatalog } from '../../lib/resolve/catalog.js';
import { bindingName, resolveWorld } from '../../lib/resolve/resolve.js';
import { workloadName } from '../../lib/render/topology.js';
import { DEFAULT_SETTINGS } from '../../lib/render/settings.js';
import { renderWorld } from '../../lib/render/world.js';
import { kubectl, kubectlOk, type KubectlResult } from './kubectl.js';

const ROOT = process.cwd(); // Jest's rootDir: the repository
const DIST = path.join(ROOT, 'dist');
const TIMEOUT = 300_000;
const suffix = Math.random().toString(36).slice(2, 7);
const badNs = `dist-bad-${suffix}`;
const gcNs = `dist-gc-${suffix}`;
const TEST_LABEL = 'anvil.dev/test';

// ---------------------------------------------------------------------------------------
// Helpers

interface Obj {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; [k: string]: unknown };
  spec?: any;
  [k: string]: unknown;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Polls `check` until it returns something other than undefined/false. On timeout the error
 * shows the last state that `check` reported through `observe` (or its last exception).
 */
async function eventually<T>(what: string, check: (observe: (state: unknown) => void) => Promise<T | undefined | false>, timeoutMs = 180_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown = '(nothing observed)';
  const observe = (s: unknown) => (last = s);
  for (;;) {
    try {
      const v = await check(observe);
      if (v !== undefined && v !== false) return v;
    } catch (e) {
      last = e instanceof Error ? e.message : e;
    }
    if (Date.now() > deadline) {
      const shown = typeof last === 'string' ? last : JSON.stringify(last, null, 2);
      throw new Error(`timed out after ${timeoutMs / 1000}s waiting for ${what}; last observed:\n${shown}`);
    }
    await sleep(1000);
  }
}

/** Every object in dist/, with the file it comes from. */
function distObjects(): (Obj & { file: string })[] {
  const out: (Obj & { file: string })[] = [];
  for (const file of fs.readdirSync(DIST).filter((f) => f.endsWith('.yaml')).sort()) {
    for (const doc of parseAllDocuments(fs.readFileSync(path.join(DIST, file), 'utf8'))) {
      const o = doc.toJS() as Obj | null;
      if (o) out.push({ ...o, file });
    }
  }
  return out;
}

const ref = (o: Obj) => `${o.apiVersion} ${o.kind} ${o.metadata.namespace ? `${o.metadata.namespace}/` : ''}${o.metadata.name}`;

/** `kind.version.group` (or just `kind` for the core group): unambiguous for `kubectl get`. */
function resourceArg(o: Obj): string {
  const [group, version] = o.apiVersion.includes('/') ? o.apiVersion.split('/') : ['', o.apiVersion];
  return group ? `${o.kind.toLowerCase()}.${version}.${group}` : o.kind.toLowerCase();
}

/** Splits one shell command line into words (plain words and '…'/"…" quoting; no expansion). */
function shellWords(line: string): string[] {
  const words: string[] = [];
  for (const m of line.matchAll(/"((?:[^"\\]|\\.)*)"|'([^']*)'|(\S+)/g)) words.push(m[1] ?? m[2] ?? m[3]!);
  return words;
}

/** The commands of the ```bash block under the README's "### Apply" heading. */
function readmeApplyCommands(): string[][] {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  // From the heading to the next heading of level 1–3 (or the end of the file).
  const section = /^### Apply[ \t]*$([\s\S]*?)(?=^#{1,3} |(?![\s\S]))/m.exec(readme)?.[1];
  if (!section) throw new Error('README.md has no "### Apply" section');
  const block = /```bash\n([\s\S]*?)```/.exec(section)?.[1];
  if (!block) throw new Error('README.md\'s "### Apply" section has no ```bash block');
  return block
    .replace(/\\\n/g, ' ') // line continuations
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map(shellWords);
}

/** A kubectl table (`kubectl get`): cells cut at the header's column starts. */
function parseTable(out: string): { header: string[]; rows: Record<string, string>[] } {
  const lines = out.split('\n').filter((l) => l.trim());
  const cols = [...(lines[0] ?? '').matchAll(/\S+/g)].map((m) => ({ name: m[0], start: m.index }));
  const rows = lines.slice(1).map((line) =>
    Object.fromEntries(cols.map((c, i) => [c.name, line.slice(c.start, cols[i + 1]?.start).trim()])),
  );
  return { header: cols.map((c) => c.name), rows };
}

const restrictedNamespace = (name: string): Obj => {
  const labels = distObjects().find((o) => o.kind === 'Namespace')!.metadata.labels!;
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels: { ...labels, [TEST_LABEL]: 'dist' } } };
};

const toYaml = (objs: readonly object[]) => objs.map((o) => stringify(o)).join('---\n');

const getJson = async (args: string[]) => JSON.parse(await kubectlOk(['get', ...args, '-o', 'json'])) as any;

// ---------------------------------------------------------------------------------------

const dist = distObjects();
const staticWorkloads = dist.filter((o) => o.kind === 'Deployment' && o.metadata.labels?.['anvil.dev/world']);
const claims = dist.filter((o) => o.kind === 'PersistentVolumeClaim');

/** The README's sequence, run once in beforeAll; the first test asserts on its results. */
const applied: { command: string; result: KubectlResult }[] = [];

beforeAll(async () => {
  // No volume provisioner here: one pre-bound PersistentVolume per claim in dist, so the
  // world-store pods can be scheduled. Cluster-scoped and harmless: left for the shared
  // dist claims (a bound volume cannot go before its claim anyway).
  const volumes = claims.map((c) => ({
    apiVersion: 'v1',
    kind: 'PersistentVolume',
    metadata: { name: `dist-${c.metadata.namespace}-${c.metadata.name}`, labels: { [TEST_LABEL]: 'dist' } },
    spec: {
      capacity: { storage: c.spec.resources.requests.storage },
      accessModes: c.spec.accessModes,
      storageClassName: c.spec.storageClassName ?? '',
      persistentVolumeReclaimPolicy: 'Retain',
      claimRef: { namespace: c.metadata.namespace, name: c.metadata.name },
      hostPath: { path: `/tmp/anvil-dist-test/${c.metadata.namespace}/${c.metadata.name}` },
    },
  }));
  if (volumes.length) await kubectlOk(['apply', '-f', '-'], { input: toYaml(volumes) });

  for (const words of readmeApplyCommands()) {
    const command = words.join(' ');
    if (words[0] !== 'kubectl') {
      applied.push({ command, result: { stdout: '', stderr: `not a kubectl command: ${command}`, code: -1 } });
      break;
    }
    const result = await kubectl(words.slice(1), { timeoutMs: 120_000 });
    applied.push({ command, result });
    if (result.code !== 0) break;
  }
}, TIMEOUT);

afterAll(async () => {
  await kubectl(['delete', 'namespace', badNs, gcNs, '--ignore-not-found', '--wait=false']);
}, TIMEOUT);

describe("the README's apply sequence", () => {
  test('is read from README.md and covers every file of dist/', () => {
    const cmds = readmeApplyCommands().map((w) => w.join(' '));
    expect(cmds.length).toBeGreaterThan(0);
    // Every file of dist/ is applied: by the folder, or each file named.
    const all = cmds.some((c) => /^kubectl apply (.* )?-f dist\/?( |$)/.test(c));
    const files = fs.readdirSync(DIST).filter((f) => f.endsWith('.yaml'));
    expect(all || files.every((f) => cmds.some((c) => c.includes(`dist/${f}`)))).toBe(true);
  });

  test('applies every file of dist/ with no error and no warning', () => {
    expect(applied.length).toBe(readmeApplyCommands().length);
    for (const { command, result } of applied) {
      // The whole result in the message when it fails: the command, its exit code, stderr.
      expect({ command, code: result.code, stderr: result.stderr }).toEqual({ command, code: 0, stderr: '' });
    }
  });

  test('every object synthesized in dist/ exists afterwards', async () => {
    expect(dist.length).toBeGreaterThan(50);
    const byNamespace = new Map<string, Obj[]>();
    for (const o of dist) byNamespace.set(o.metadata.namespace ?? '', [...(byNamespace.get(o.metadata.namespace ?? '') ?? []), o]);
    const missing: string[] = [];
    for (const [ns, objs] of byNamespace) {
      const r = await kubectl(['get', ...(ns ? ['-n', ns] : []), '-o', 'json', ...objs.map((o) => `${resourceArg(o)}/${o.metadata.name}`)]);
      const parsed = r.stdout.trim() ? JSON.parse(r.stdout) : { items: [] };
      const found: Obj[] = parsed.kind === 'List' ? parsed.items : [parsed];
      for (const o of objs) {
        const live = found.find(
          (f) => f.apiVersion === o.apiVersion && f.kind === o.kind && f.metadata.name === o.metadata.name && (f.metadata.namespace ?? '') === ns,
        );
        if (!live) missing.push(`${ref(o)} (from dist/${o.file})${r.stderr ? `: ${r.stderr.trim()}` : ''}`);
      }
    }
    expect(missing).toEqual([]);
  });
});

describe("the API server's validation rejects bad custom resources with the CRD's message", () => {
  beforeAll(async () => {
    await kubectlOk(['apply', '-f', '-'], { input: toYaml([restrictedNamespace(badNs)]) });
  });

  const module = (name: string, spec: Record<string, unknown>) =>
    toYaml([{ apiVersion: 'anvil.dev/v1alpha1', kind: 'ModuleManifest', metadata: { name }, spec: { version: '1.0.0', image: 'example/m:1', ...spec } }]);
  const binding = (name: string, spec: Record<string, unknown>) =>
    toYaml([
      {
        apiVersion: 'anvil.dev/v1alpha1',
        kind: 'CapabilityBinding',
        metadata: { name, namespace: badNs },
        spec: {
          capabilityId: 'physics',
          scope: 'world',
          multiplicity: '1',
          consumer: { kind: 'ModuleManifest', name: 'interaction-engine' },
          provider: { module: 'physics-engine', capabilityVersion: '2.1.4' },
          worldRef: { name: 'w1' },
          ...spec,
        },
      },
    ]);

  /** Creates the object; expects the API server to refuse it and returns its message. */
  async function rejected(yaml: string, kind: string, name: string, ns?: string): Promise<string> {
    const r = await kubectl(['create', '-f', '-'], { input: yaml });
    const exists = (await kubectl(['get', kind, name, ...(ns ? ['-n', ns] : [])])).code === 0;
    if (exists) await kubectl(['delete', kind, name, ...(ns ? ['-n', ns] : []), '--wait=false']);
    expect({ code: r.code, exists }).toEqual({ code: 1, exists: false });
    expect(r.stderr).toContain(`"${name}" is invalid`);
    return r.stderr;
  }

  test('a control: a good binding and module are accepted (dry run)', async () => {
    for (const yaml of [binding('dist-good', {}), module('dist-good', {})]) {
      const r = await kubectl(['create', '--dry-run=server', '-f', '-'], { input: yaml });
      expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
    }
  });

  test('an invalid SemVer version on a ModuleManifest', async () => {
    const msg = await rejected(module('dist-bad-version', { version: '1.2' }), 'modulemanifests', 'dist-bad-version');
    expect(msg).toContain(`spec.version: Invalid value: "1.2": spec.version in body should match '${SEMVER_PATTERN}'`);
  });

  test('an unknown scope on a ModuleManifest', async () => {
    const msg = await rejected(module('dist-bad-scope', { scope: 'galaxy' }), 'modulemanifests', 'dist-bad-scope');
    expect(msg).toContain(`spec.scope: Unsupported value: "galaxy": supported values: ${SCOPES.map((s) => `"${s}"`).join(', ')}`);
  });

  test('a multiplicity other than "1"/"many", on a requirement and on a binding', async () => {
    const supported = `supported values: ${MULTIPLICITIES.map((m) => `"${m}"`).join(', ')}`;
    const req = { capabilityId: 'physics', versionConstraint: '^2.0.0', scope: 'world', multiplicity: '2' };
    const m = await rejected(module('dist-bad-multiplicity', { requires: [req] }), 'modulemanifests', 'dist-bad-multiplicity');
    expect(m).toContain(`spec.requires[0].multiplicity: Unsupported value: "2": ${supported}`);
    const b = await rejected(binding('dist-bad-multiplicity', { multiplicity: 'some' }), 'capabilitybindings', 'dist-bad-multiplicity', badNs);
    expect(b).toContain(`spec.multiplicity: Unsupported value: "some": ${supported}`);
  });

  test('a CapabilityBinding without a provider', async () => {
    const msg = await rejected(binding('dist-no-provider', { provider: undefined }), 'capabilitybindings', 'dist-no-provider', badNs);
    expect(msg).toContain('spec.provider: Required value');
  });

  test('a binding whose consumer is a WorldInstance, without worldRef (CEL rule)', async () => {
    const root = { capabilityId: 'root', consumer: { kind: 'WorldInstance', name: 'w1' }, provider: { module: 'cp-gateway', capabilityVersion: '1.4.0' } };
    const msg = await rejected(binding('dist-root-no-world', { ...root, worldRef: undefined }), 'capabilitybindings', 'dist-root-no-world', badNs);
    expect(msg).toContain('spec.worldRef: Invalid value: a binding whose consumer is a WorldInstance must have worldRef');
  });
});

describe('kubectl get shows the printer columns', () => {
  test('capabilitybindings -A: CAPABILITY SCOPE PROVIDER CONSUMER WORLD AGE', async () => {
    const t = parseTable(await kubectlOk(['get', 'capabilitybindings', '-A']));
    expect(t.header).toEqual(['NAMESPACE', 'NAME', 'CAPABILITY', 'SCOPE', 'PROVIDER', 'CONSUMER', 'WORLD', 'AGE']);
    const row = (ns: string, name: string) => t.rows.find((r) => r.NAMESPACE === ns && r.NAME === name);
    expect(row('command-path', bindingName.world('cp-eu-1', 'physics-engine', 'snapshots', 'world-store'))).toMatchObject({
      CAPABILITY: 'snapshots', SCOPE: 'world', PROVIDER: 'world-store', CONSUMER: 'physics-engine', WORLD: 'cp-eu-1',
    });
    // A binding between global modules has no world.
    expect(row('anvil-system', bindingName.platform('matchmaker', 'event-bus', 'event-bus'))).toMatchObject({
      CAPABILITY: 'event-bus', SCOPE: 'cluster', PROVIDER: 'event-bus', CONSUMER: 'matchmaker', WORLD: '',
    });
  });

  test('worldinstances -A: GAME PHASE REGION CLAIM CURRENT AGE', async () => {
    const t = parseTable(await kubectlOk(['get', 'worldinstances', '-A']));
    expect(t.header).toEqual(['NAMESPACE', 'NAME', 'GAME', 'PHASE', 'REGION', 'CLAIM', 'CURRENT', 'AGE']);
    const row = t.rows.find((r) => r.NAMESPACE === 'roguelike' && r.NAME === 'crypt-1');
    // A static world is bound to no claim.
    expect(row).toMatchObject({ GAME: 'roguelike', REGION: 'eu-west', CLAIM: '' });
    // Phase is the reconciler's to report (another test file may have run one): empty or a phase.
    expect(['', ...WORLD_PHASES]).toContain(row!.PHASE);
  });

  test('modulemanifests: VERSION SCOPE AGE (and IMAGE with -o wide)', async () => {
    const t = parseTable(await kubectlOk(['get', 'modulemanifests']));
    expect(t.header).toEqual(['NAME', 'VERSION', 'SCOPE', 'AGE']);
    expect(t.rows.find((r) => r.NAME === 'physics-engine')).toMatchObject({ VERSION: '2.1.4', SCOPE: 'world' });
    expect(t.rows.find((r) => r.NAME === 'event-bus')).toMatchObject({ VERSION: '2.3.1', SCOPE: 'cluster' });
    const wide = parseTable(await kubectlOk(['get', 'modulemanifests', '-o', 'wide']));
    expect(wide.header).toEqual(['NAME', 'VERSION', 'SCOPE', 'IMAGE', 'AGE']);
    expect(wide.rows.find((r) => r.NAME === 'physics-engine')?.IMAGE).toBe('ghcr.io/anvil-dev/examples/physics-engine:2.1.4');
  });
});

describe('the static worlds run on fake nodes under restricted Pod Security', () => {
  const worldNamespaces = [...new Set(staticWorkloads.map((d) => d.metadata.namespace!))];

  test('the worlds include roguelike/crypt-1 and command-path/cp-eu-1 (with a PersistentVolumeClaim)', () => {
    const worlds = new Set(staticWorkloads.map((d) => `${d.metadata.namespace}/${d.metadata.labels!['anvil.dev/world']}`));
    expect([...worlds]).toEqual(expect.arrayContaining(['roguelike/crypt-1', 'command-path/cp-eu-1']));
    expect(claims.map((c) => `${c.metadata.namespace}/${c.metadata.name}`)).toContain(`command-path/${workloadName({ metadata: { name: 'world-store' }, spec: {} } as never, { namespace: 'command-path', world: 'cp-eu-1' })}-data`);
  });

  test("each world's namespace enforces the restricted level", async () => {
    for (const ns of worldNamespaces) {
      const labels = (await getJson(['namespace', ns])).metadata.labels;
      expect({ ns, enforce: labels['pod-security.kubernetes.io/enforce'] }).toEqual({ ns, enforce: 'restricted' });
    }
  });

  test('every Deployment of every static world becomes Available with all pods Ready on kwok nodes', async () => {
    const pending = new Set(staticWorkloads.map((d) => `${d.metadata.namespace}/${d.metadata.name}`));
    await eventually(`${pending.size} Deployments Available`, async (observe) => {
      const state: Record<string, string> = {};
      for (const ns of worldNamespaces) {
        for (const d of (await getJson(['deployments', '-n', ns, '-l', 'anvil.dev/world'])).items) {
          const key = `${ns}/${d.metadata.name}`;
          if (!pending.has(key)) continue;
          const available = d.status?.conditions?.find((c: any) => c.type === 'Available')?.status === 'True';
          const ready = (d.status?.readyReplicas ?? 0) === d.spec.replicas && (d.status?.updatedReplicas ?? 0) === d.spec.replicas;
          if (available && ready) pending.delete(key);
          else state[key] = `Available=${available} ready ${d.status?.readyReplicas ?? 0}/${d.spec.replicas}; ${JSON.stringify(d.status?.conditions?.map((c: any) => c.message))}`;
        }
      }
      for (const key of pending) state[key] ??= 'not found';
      observe(state);
      return pending.size === 0;
    });

    for (const d of staticWorkloads) {
      const ns = d.metadata.namespace!;
      const selector = Object.entries(d.spec.selector.matchLabels as Record<string, string>).map(([k, v]) => `${k}=${v}`).join(',');
      const pods = (await getJson(['pods', '-n', ns, '-l', selector])).items;
      const where = `${ns}/${d.metadata.name}`;
      expect({ where, pods: pods.length }).toEqual({ where, pods: d.spec.replicas ?? 1 });
      for (const pod of pods) {
        expect({ where, node: pod.spec.nodeName }).toEqual({ where, node: expect.stringMatching(/^kwok-node-/) });
        expect({ where, ready: pod.status.conditions?.find((c: any) => c.type === 'Ready')?.status }).toEqual({ where, ready: 'True' });
        // Scheduling passed through: the PriorityClass from dist resolved to its value.
        if (d.spec.template.spec.priorityClassName === 'high-priority-game') expect(pod.spec.priority).toBe(1_000_000);
      }
    }
  });

  test('the world-store claim is bound to its volume', async () => {
    for (const c of claims) {
      const pvc = await getJson(['pvc', c.metadata.name, '-n', c.metadata.namespace!]);
      expect({ claim: c.metadata.name, phase: pvc.status.phase }).toEqual({ claim: c.metadata.name, phase: 'Bound' });
    }
  });

  test('a privileged pod is rejected in those namespaces', async () => {
    for (const ns of worldNamespaces) {
      const r = await kubectl(['create', '-n', ns, '-f', '-'], {
        input: toYaml([
          {
            apiVersion: 'v1',
            kind: 'Pod',
            metadata: { name: 'dist-privileged', labels: { [TEST_LABEL]: 'dist' } },
            spec: { containers: [{ name: 'app', image: 'registry.k8s.io/pause:3.10', securityContext: { privileged: true } }] },
          },
        ]),
      });
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/forbidden: violates PodSecurity "restricted:latest": privileged/);
      expect((await kubectl(['get', 'pod', 'dist-privileged', '-n', ns])).code).not.toBe(0);
    }
  });
});

describe('deleting a WorldInstance garbage-collects what it owns', () => {
  const world: WorldInstance = {
    apiVersion: 'anvil.dev/v1alpha1',
    kind: 'WorldInstance',
    metadata: { name: 'dist-gc-1', namespace: gcNs },
    spec: { gameRef: { name: 'command-path' }, region: 'eu-west' },
  };

  test('renders the world with the library, applies it, deletes the world, and every owned object goes', async () => {
    await kubectlOk(['apply', '-f', '-'], { input: toYaml([restrictedNamespace(gcNs), world]) });
    const uid = (await kubectlOk(['get', 'worldinstance', world.metadata.name, '-n', gcNs, '-o', 'jsonpath={.metadata.uid}'])).trim();
    expect(uid).toMatch(/^[0-9a-f-]{36}$/);

    // The library's path: dist's definitions (lib/cli/load.ts) + this world → catalog → plan → objects.
    const loaded = loadDefinitions([DIST]);
    const { catalog, diagnostics } = buildCatalog([...loaded.objects, { object: structuredClone(world), source: 'dist.test.ts' }]);
    const problems = [...loaded.diagnostics, ...diagnostics].filter((d) => d.severity === 'error').map(formatDiagnostic);
    expect(problems).toEqual([]);
    const w = catalog.worlds.find((x) => x.metadata.namespace === gcNs && x.metadata.name === world.metadata.name)!;
    const plan = resolveWorld(catalog, w);
    expect(plan.diagnostics.filter((d) => d.severity === 'error').map(formatDiagnostic)).toEqual([]);
    const objects = renderWorld(plan, DEFAULT_SETTINGS, { uid }) as Obj[];
    const kinds = new Set(objects.map((o) => o.kind));
    for (const k of ['CapabilityBinding', 'ConfigMap', 'Deployment', 'Service', 'NetworkPolicy', 'PersistentVolumeClaim']) expect(kinds).toContain(k);
    for (const o of objects) {
      expect({ o: ref(o), owners: (o.metadata as any).ownerReferences }).toEqual({
        o: ref(o),
        owners: [expect.objectContaining({ kind: 'WorldInstance', name: world.metadata.name, uid, controller: true })],
      });
    }

    const apply = await kubectl(['apply', '-f', '-'], { input: toYaml(objects) });
    expect({ code: apply.code, stderr: apply.stderr }).toEqual({ code: 0, stderr: '' });
    // The Deployments' ReplicaSets (owned in turn) exist before the world goes.
    await eventually('ReplicaSets of the world', async (observe) => {
      const rs = (await getJson(['replicasets', '-n', gcNs, '-l', `anvil.dev/world=${world.metadata.name}`])).items;
      observe(rs.map((r: any) => r.metadata.name));
      return rs.length === objects.filter((o) => o.kind === 'Deployment').length;
    });

    await kubectlOk(['delete', 'worldinstance', world.metadata.name, '-n', gcNs, '--timeout=120s'], { timeoutMs: 150_000 });

    const args = ['-n', gcNs, '-o', 'json', '--ignore-not-found', ...objects.map((o) => `${resourceArg(o)}/${o.metadata.name}`)];
    await eventually('every object the world owned to be deleted', async (observe) => {
      const out = (await kubectlOk(['get', ...args])).trim();
      const left: Obj[] = out ? (JSON.parse(out).items ?? [JSON.parse(out)]) : [];
      const dependents = (await getJson(['replicasets,pods', '-n', gcNs, '-l', `anvil.dev/world=${world.metadata.name}`])).items as Obj[];
      const remaining = [...left, ...dependents].map((o) => `${ref(o)}${(o.metadata as any).deletionTimestamp ? ' (terminating)' : ''}`);
      observe(remaining);
      return remaining.length === 0;
    });
  });
});
