/**
 * What synth renders (issue 2, "What synth renders"): snapshots of each chart built from small
 * plans, and the behaviour behind them asserted explicitly, so that a snapshot update cannot
 * quietly accept a broken pod, a missing wait or a too-open NetworkPolicy.
 */
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { Testing as AnvilTesting } from '../../lib/testing.js';
import { describe, expect, test } from '@jest/globals';
import { Testing } from 'cdk8s';
import { customResourceDefinitions } from '../../lib/api/crds.js';
import { LABEL_MODULE, LABEL_WORLD } from '../../lib/render/labels.js';
import { GlobalServices, globalInstances } from '../../lib/render/global.js';
import { CustomResourceDefinitions, IMAGE_ENTRYPOINT, MATCHMAKER_RULES, MatchmakerRoles, RECONCILER_RULES, Reconciler } from '../../lib/render/platform.js';
import { DEFAULT_SETTINGS } from '../../lib/render/settings.js';
import { workloadName } from '../../lib/render/topology.js';
import { WorldResources, renderWorld } from '../../lib/render/world.js';
import { bindingName, resolveAll } from '../../lib/resolve/resolve.js';
import { buildApp } from '../../games/index.js';
import { catalogOf, game, mod, provides, req, world } from './fixtures.js';

type K8sObject = Record<string, any>;

/** Workload names as lib/names/names.ts makes them (`<world>-<module>[-s<shard>]-<hash>`, `<module>-<region>-<hash>`). */
const wl = (w: string, module: string, shard?: number): string =>
  workloadName(mod(module) as never, { namespace: 'any', world: w, ...(shard !== undefined ? { shard } : {}) });
const rl = (module: string, region: string): string => workloadName(mod(module, { scope: 'region' }) as never, { namespace: 'anvil-system', region });

// ---- a small platform that exercises every rendering rule ------------------------------

const arena = [
  mod('bus', { scope: 'cluster', ports: [{ name: 'nats', port: 4222 }], provides: [provides('event-bus', '2.0.0')] }),
  mod('relay', {
    scope: 'region',
    ports: [{ name: 'grpc', port: 7000 }],
    provides: [provides('relay', '1.0.0')],
    requires: [req('event-bus', '^2.0.0', { scope: 'cluster' })],
  }),
  mod('gateway', {
    routesActions: true,
    replicas: 2,
    ports: [
      { name: 'ws', port: 8080 },
      { name: 'metrics', port: 9090 },
    ],
    requires: [
      req('mechanic', '^1.0.0', { multiplicity: 'many' }),
      req('event-bus', '^2.0.0', { scope: 'cluster' }),
      req('relay', '^1.0.0', { scope: 'region' }),
    ],
  }),
  mod('movement', { ports: [{ name: 'grpc', port: 50051 }], provides: [provides('mechanic', '1.0.0', ['move'])] }),
  mod('combat', {
    ports: [{ name: 'grpc', port: 50052 }],
    provides: [provides('mechanic', '1.0.0', ['attack'])],
    requires: [req('event-bus', '^2.0.0', { scope: 'cluster' }), req('snapshots', '^1.0.0', { dependencyMode: 'optional' })],
    scheduling: { priorityClassName: 'game-critical', nodeSelector: { pool: 'game' }, tolerations: [{ key: 'game', operator: 'Exists' }] },
  }),
  mod('store', {
    ports: [{ name: 'grpc', port: 50060 }],
    provides: [provides('snapshots', '1.0.0')],
    storage: { size: '2Gi', mountPath: '/data', storageClassName: 'fast' },
  }),
  mod('zone', {
    scope: 'world-shard',
    ports: [{ name: 'udp', port: 6000, protocol: 'UDP' }],
    provides: [provides('zone', '1.0.0')],
    requires: [req('snapshots', '^1.0.0')],
    env: [{ name: 'TICK_RATE', value: '30' }],
  }),
  game('arena', ['gateway', 'movement', 'combat', 'store', 'zone', 'bus', 'relay'], [
    { name: 'melee', modules: ['movement', 'combat'], strategy: 'SameNode' },
  ]),
  world('w1', 'arena', { namespace: 'games', region: 'eu', shards: 2 }),
  world('w2', 'arena', { namespace: 'games', region: 'us' }),
  world('w3', 'arena', { namespace: 'other', region: 'eu' }),
];

const resolved = resolveAll(catalogOf(arena));
const planFor = (name: string) => resolved.worlds.find((w) => w.world.metadata.name === name)!;

function worldChart(name: string): K8sObject[] {
  const chart = Testing.chart();
  new WorldResources(chart, 'world', { plan: planFor(name), settings: DEFAULT_SETTINGS });
  return Testing.synth(chart);
}
function globalChart(): K8sObject[] {
  const chart = Testing.chart();
  new GlobalServices(chart, 'global', { plan: resolved.global, instances: globalInstances(resolved.global, resolved.worlds), settings: DEFAULT_SETTINGS });
  return Testing.synth(chart);
}
function reconcilerChart(): K8sObject[] {
  const chart = Testing.chart();
  new Reconciler(chart, 'reconciler', { namespace: 'anvil-system', image: 'registry.example/anvil:test' });
  return Testing.synth(chart);
}
function matchmakerChart(): K8sObject[] {
  const chart = Testing.chart();
  new MatchmakerRoles(chart, 'matchmaker', ['games-b', 'games-a', 'games-b']);
  return Testing.synth(chart);
}
function crdChart(): K8sObject[] {
  const chart = Testing.chart();
  new CustomResourceDefinitions(chart, 'crds');
  return Testing.synth(chart);
}
/** Every object of the real app (games/), as `npm run synth` renders it. */
function fullApp(): K8sObject[] {
  // Anvil's own testing helper, as a game author would use it: in memory, nothing written.
  const out = AnvilTesting.synthApp(buildApp({ outdir: '/nonexistent/never-written' }));
  expect(out.errors).toEqual([]);
  return [...out.platform, ...out.definitions, ...out.global, ...Object.values(out.worlds).flat()] as K8sObject[];
}

const ofKind = (objs: K8sObject[], kind: string): K8sObject[] => objs.filter((o) => o.kind === kind);
function one(objs: K8sObject[], kind: string, name: string): K8sObject {
  const found = objs.filter((o) => o.kind === kind && o.metadata.name === name);
  if (found.length !== 1) throw new Error(`expected one ${kind}/${name}, found ${found.length} (have: ${ofKind(objs, kind).map((o) => o.metadata.name).join(', ')})`);
  return found[0]!;
}
const podSpec = (d: K8sObject): K8sObject => d.spec.template.spec;
const mainContainer = (d: K8sObject): K8sObject => podSpec(d).containers[0];
const envOf = (d: K8sObject): Record<string, string> => Object.fromEntries(mainContainer(d).env.map((e: K8sObject) => [e.name, e.value]));
/** The hosts the init container waits for (the arguments after `sh -c SCRIPT NAME`). */
const waitsFor = (d: K8sObject): string[] => {
  const init = (podSpec(d).initContainers ?? []) as K8sObject[];
  if (init.length === 0) return [];
  expect(init.map((c) => c.name)).toEqual(['wait-for-dependencies']);
  return init[0]!.command.slice(4);
};

// ---- the restricted Pod Security Standard ----------------------------------------------

const RESTRICTED_VOLUME_TYPES = ['configMap', 'csi', 'downwardAPI', 'emptyDir', 'ephemeral', 'persistentVolumeClaim', 'projected', 'secret'];

/**
 * The checks of the "restricted" Pod Security Standard (baseline included) that a pod
 * template can fail, per https://kubernetes.io/docs/concepts/security/pod-security-standards/.
 * Returns what is wrong; empty means compliant.
 */
export function restrictedViolations(pod: K8sObject): string[] {
  const out: string[] = [];
  const podSc = pod.securityContext ?? {};
  for (const f of ['hostNetwork', 'hostPID', 'hostIPC']) if (pod[f]) out.push(`${f} is set`);
  for (const v of pod.volumes ?? []) {
    const types = Object.keys(v).filter((k) => k !== 'name');
    if (!types.every((t) => RESTRICTED_VOLUME_TYPES.includes(t))) out.push(`volume ${v.name} is of type ${types.join(',')}`);
  }
  if (podSc.runAsUser === 0) out.push('pod runs as user 0');
  if (podSc.sysctls?.length) out.push('pod sets sysctls');
  const containers = [...(pod.initContainers ?? []), ...(pod.containers ?? []), ...(pod.ephemeralContainers ?? [])] as K8sObject[];
  if ((pod.containers ?? []).length === 0) out.push('no containers');
  for (const c of containers) {
    const sc = c.securityContext ?? {};
    const where = `container ${c.name}`;
    if (sc.privileged) out.push(`${where} is privileged`);
    if (sc.allowPrivilegeEscalation !== false) out.push(`${where} does not set allowPrivilegeEscalation: false`);
    if (!(sc.capabilities?.drop ?? []).includes('ALL')) out.push(`${where} does not drop ALL capabilities`);
    const added = (sc.capabilities?.add ?? []) as string[];
    if (added.some((a) => a !== 'NET_BIND_SERVICE')) out.push(`${where} adds capabilities ${added.join(',')}`);
    if ((sc.runAsNonRoot ?? podSc.runAsNonRoot) !== true) out.push(`${where} may run as root (runAsNonRoot not true)`);
    if ((sc.runAsUser ?? podSc.runAsUser) === 0) out.push(`${where} runs as user 0`);
    const seccomp = (sc.seccompProfile ?? podSc.seccompProfile)?.type;
    if (seccomp !== 'RuntimeDefault' && seccomp !== 'Localhost') out.push(`${where} has seccomp profile ${seccomp ?? 'unset'}`);
    if (sc.procMount && sc.procMount !== 'Default') out.push(`${where} sets procMount ${sc.procMount}`);
    if (sc.seLinuxOptions?.type && !['container_t', 'container_init_t', 'container_kvm_t'].includes(sc.seLinuxOptions.type)) out.push(`${where} sets SELinux type`);
    if ((c.ports ?? []).some((p: K8sObject) => p.hostPort)) out.push(`${where} uses a hostPort`);
  }
  return out;
}

const allPodTemplates = (objs: K8sObject[]): [string, K8sObject][] =>
  ofKind(objs, 'Deployment').map((d) => [`${d.metadata.namespace}/${d.metadata.name}`, podSpec(d)]);

describe('the restricted Pod Security Standard', () => {
  test('the checker catches what it should', () => {
    const bad = {
      hostNetwork: true,
      volumes: [{ name: 'root', hostPath: { path: '/' } }],
      containers: [{ name: 'c', securityContext: { privileged: true, capabilities: { add: ['SYS_ADMIN'] } }, ports: [{ containerPort: 80, hostPort: 80 }] }],
    };
    expect(restrictedViolations(bad)).toEqual([
      'hostNetwork is set',
      'volume root is of type hostPath',
      'container c is privileged',
      'container c does not set allowPrivilegeEscalation: false',
      'container c does not drop ALL capabilities',
      'container c adds capabilities SYS_ADMIN',
      'container c may run as root (runAsNonRoot not true)',
      'container c has seccomp profile unset',
      'container c uses a hostPort',
    ]);
  });

  test('every pod template of the small platform and of the reconciler is restricted', () => {
    const objs = [...worldChart('w1'), ...worldChart('w2'), ...worldChart('w3'), ...globalChart(), ...reconcilerChart()];
    const pods = allPodTemplates(objs);
    expect(pods.length).toBeGreaterThan(10);
    for (const [name, pod] of pods) expect({ name, violations: restrictedViolations(pod) }).toEqual({ name, violations: [] });
  });

  test('every Deployment of the full app synth is restricted', () => {
    const objs = fullApp();
    const pods = allPodTemplates(objs);
    // Whatever the example games are: one pod template per Deployment, and some in every world.
    expect(pods).toHaveLength(ofKind(objs, 'Deployment').length);
    const worlds = ofKind(objs, 'WorldInstance').map((w) => w.metadata.namespace);
    for (const ns of worlds) expect(pods.some(([name]) => name.startsWith(`${ns}/`))).toBe(true);
    for (const [name, pod] of pods) expect({ name, violations: restrictedViolations(pod) }).toEqual({ name, violations: [] });
  });
});

describe('snapshots', () => {
  test('world chart (w1: two shards, booklet, storage, routes)', () => expect(worldChart('w1')).toMatchSnapshot());
  test('global services chart', () => expect(globalChart()).toMatchSnapshot());
  test('reconciler chart', () => expect(reconcilerChart()).toMatchSnapshot());
  test('CRD chart', () => expect(crdChart()).toMatchSnapshot());
  test('matchmaker Roles chart', () => expect(matchmakerChart()).toMatchSnapshot());
  test('renderWorld gives the world chart, with owner references when owned', () => {
    expect(renderWorld(planFor('w1'), DEFAULT_SETTINGS)).toEqual(worldChart('w1'));
    const owned = renderWorld(planFor('w2'), DEFAULT_SETTINGS, { uid: 'uid-123' });
    for (const o of owned) {
      expect(o.metadata.ownerReferences).toEqual([
        { apiVersion: 'anvil.dev/v1alpha1', kind: 'WorldInstance', name: 'w2', uid: 'uid-123', controller: true, blockOwnerDeletion: true },
      ]);
    }
  });
});

describe('readiness: the init container waits for exactly the required providers', () => {
  const w1 = worldChart('w1');

  test('all required providers, world and global, and nothing else', () => {
    expect(waitsFor(one(w1, 'Deployment', wl('w1', 'gateway')))).toEqual([
      'bus.anvil-system.svc',
      `${rl('relay', 'eu')}.anvil-system.svc`,
      `${wl('w1', 'combat')}.games.svc`,
      `${wl('w1', 'movement')}.games.svc`,
    ]);
    expect(waitsFor(one(w1, 'Deployment', wl('w1', 'zone', 0)))).toEqual([`${wl('w1', 'store')}.games.svc`]);
  });

  test('an optional provider is used but not waited for', () => {
    const combat = one(w1, 'Deployment', wl('w1', 'combat'));
    expect(waitsFor(combat)).toEqual(['bus.anvil-system.svc']);
    expect(envOf(combat).ANVIL_DEP_SNAPSHOTS).toBe(`${wl('w1', 'store')}.games.svc:50060`);
  });

  test('a module without dependencies has no init container', () => {
    expect(podSpec(one(w1, 'Deployment', wl('w1', 'movement'))).initContainers).toBeUndefined();
  });

  test('global providers in another region: the relay of the world region', () => {
    expect(waitsFor(one(worldChart('w2'), 'Deployment', wl('w2', 'gateway')))).toContain(`${rl('relay', 'us')}.anvil-system.svc`);
  });
});

test('env: each dependency address, the module identity, user env', () => {
  const w1 = worldChart('w1');
  expect(envOf(one(w1, 'Deployment', wl('w1', 'gateway')))).toEqual({
    ANVIL_MODULE: 'gateway',
    ANVIL_MODULE_VERSION: '1.0.0',
    ANVIL_SCOPE: 'world',
    ANVIL_WORLD: 'w1',
    ANVIL_REGION: 'eu',
    ANVIL_DEP_MECHANIC: `${wl('w1', 'combat')}.games.svc:50052,${wl('w1', 'movement')}.games.svc:50051`,
    ANVIL_DEP_EVENT_BUS: 'bus.anvil-system.svc:4222',
    ANVIL_DEP_RELAY: `${rl('relay', 'eu')}.anvil-system.svc:7000`,
    ACTION_ROUTES_CONFIG: '/etc/anvil/routes/action_routes.yaml',
  });
  expect(envOf(one(w1, 'Deployment', wl('w1', 'zone', 1)))).toEqual(
    expect.objectContaining({ ANVIL_SHARD: '1', ANVIL_SHARDS: '2', ANVIL_DEP_SNAPSHOTS: `${wl('w1', 'store')}.games.svc:50060`, TICK_RATE: '30' }),
  );
  expect(envOf(one(globalChart(), 'Deployment', rl('relay', 'us')))).toEqual(
    expect.objectContaining({ ANVIL_REGION: 'us', ANVIL_DEP_EVENT_BUS: 'bus.anvil-system.svc:4222' }),
  );
});

describe('action routes', () => {
  const w1 = worldChart('w1');

  test('one ConfigMap per world: each action -> service:port', () => {
    const cm = one(w1, 'ConfigMap', 'w1-action-routes');
    expect(cm.metadata.namespace).toBe('games');
    expect(parse(cm.data['action_routes.yaml'])).toEqual({
      world: 'w1',
      routes: {
        attack: { address: `${wl('w1', 'combat')}.games.svc:50052`, module: 'combat', port: 'grpc' },
        move: { address: `${wl('w1', 'movement')}.games.svc:50051`, module: 'movement', port: 'grpc' },
      },
    });
  });

  test('mounted only into routesActions modules', () => {
    const mounting = ofKind(w1, 'Deployment')
      .filter((d) => (podSpec(d).volumes ?? []).some((v: K8sObject) => v.configMap?.name === 'w1-action-routes'))
      .map((d) => d.metadata.name);
    expect(mounting).toEqual([wl('w1', 'gateway')]);
    expect(mainContainer(one(w1, 'Deployment', wl('w1', 'gateway'))).volumeMounts).toContainEqual({ name: 'action-routes', mountPath: '/etc/anvil/routes', readOnly: true });
  });

  test('a world without a routesActions module gets no route table', () => {
    const plain = resolveAll(catalogOf([mod('a', { provides: [provides('x', '1.0.0', ['act'])] }), game('g', ['a']), world('w', 'g')]));
    expect(ofKind(renderWorld(plain.worlds[0]!, DEFAULT_SETTINGS), 'ConfigMap')).toEqual([]);
  });
});

test('storage: one PersistentVolumeClaim per world, mounted, with Recreate', () => {
  const claims = [...worldChart('w1'), ...worldChart('w2'), ...worldChart('w3')].filter((o) => o.kind === 'PersistentVolumeClaim');
  expect(claims.map((c) => `${c.metadata.namespace}/${c.metadata.name}`)).toEqual([`games/${wl('w1', 'store')}-data`, `games/${wl('w2', 'store')}-data`, `other/${wl('w3', 'store')}-data`]);
  expect(claims[0]!.spec).toEqual({ accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '2Gi' } }, storageClassName: 'fast' });
  const store = one(worldChart('w1'), 'Deployment', wl('w1', 'store'));
  expect(podSpec(store).volumes).toContainEqual({ name: 'data', persistentVolumeClaim: { claimName: `${wl('w1', 'store')}-data` } });
  expect(mainContainer(store).volumeMounts).toContainEqual({ name: 'data', mountPath: '/data' });
  expect(store.spec.strategy).toEqual({ type: 'Recreate' });
});

describe('placement', () => {
  test('a world-shard module once per shard; a world module once per world', () => {
    const names = ofKind(worldChart('w1'), 'Deployment').map((d) => d.metadata.name).sort();
    expect(names).toEqual([wl('w1', 'combat'), wl('w1', 'gateway'), wl('w1', 'movement'), wl('w1', 'store'), wl('w1', 'zone', 0), wl('w1', 'zone', 1)]);
    expect(ofKind(worldChart('w2'), 'Deployment').map((d) => d.metadata.name).filter((n) => n.includes('zone'))).toEqual([wl('w2', 'zone', 0)]);
    expect(one(worldChart('w1'), 'Deployment', wl('w1', 'zone', 1)).spec.selector.matchLabels).toEqual({
      [LABEL_MODULE]: 'zone',
      [LABEL_WORLD]: 'w1',
      'anvil.dev/shard': '1',
    });
  });

  test('no world renders global modules', () => {
    for (const w of ['w1', 'w2', 'w3']) {
      expect(ofKind(worldChart(w), 'Deployment').map((d) => d.metadata.labels[LABEL_MODULE])).not.toEqual(expect.arrayContaining(['bus']));
    }
  });

  test('a cluster module once in anvil-system; a region module once per region with worlds', () => {
    const deployments = ofKind(globalChart(), 'Deployment').map((d) => `${d.metadata.namespace}/${d.metadata.name}`);
    expect(deployments).toEqual(['anvil-system/bus', `anvil-system/${rl('relay', 'eu')}`, `anvil-system/${rl('relay', 'us')}`]);
  });

  test('scheduling is passed through', () => {
    const spec = podSpec(one(worldChart('w1'), 'Deployment', wl('w1', 'combat')));
    expect(spec.priorityClassName).toBe('game-critical');
    expect(spec.nodeSelector).toEqual({ pool: 'game' });
    expect(spec.tolerations).toEqual([{ key: 'game', operator: 'Exists' }]);
  });

  test('booklets become required pod affinity within the world', () => {
    const w1 = worldChart('w1');
    for (const name of [wl('w1', 'movement'), wl('w1', 'combat')]) {
      const d = one(w1, 'Deployment', name);
      expect(d.spec.template.metadata.labels['anvil.dev/booklet']).toBe('melee');
      expect(podSpec(d).affinity).toEqual({
        podAffinity: {
          requiredDuringSchedulingIgnoredDuringExecution: [
            { labelSelector: { matchLabels: { 'anvil.dev/booklet': 'melee', [LABEL_WORLD]: 'w1' } }, topologyKey: 'kubernetes.io/hostname' },
          ],
        },
      });
    }
    expect(podSpec(one(w1, 'Deployment', wl('w1', 'gateway'))).affinity).toBeUndefined();
  });

  test('a SameZone booklet uses the zone topology key, added to the user affinity', () => {
    const userAffinity = { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'gpu', operator: 'Exists' }] }] } } };
    const plan = resolveAll(
      catalogOf([
        mod('a', { scheduling: { affinity: userAffinity } }),
        mod('b'),
        game('g', ['a', 'b'], [{ name: 'pair', modules: ['a', 'b'], strategy: 'SameZone' }]),
        world('w', 'g'),
      ]),
    ).worlds[0]!;
    const a = one(renderWorld(plan, DEFAULT_SETTINGS), 'Deployment', wl('w', 'a'));
    expect(podSpec(a).affinity).toEqual({
      ...userAffinity,
      podAffinity: {
        requiredDuringSchedulingIgnoredDuringExecution: [
          { labelSelector: { matchLabels: { 'anvil.dev/booklet': 'pair', [LABEL_WORLD]: 'w' } }, topologyKey: 'topology.kubernetes.io/zone' },
        ],
      },
    });
  });
});

describe('NetworkPolicies: deny by default, allow exactly the bound edges plus DNS', () => {
  const w1 = worldChart('w1');
  const plan = planFor('w1');
  const DNS = { ports: [{ port: 53, protocol: 'UDP' }, { port: 53, protocol: 'TCP' }] };
  const peerModule = (peer: K8sObject): string => peer.podSelector.matchLabels[LABEL_MODULE];

  test('every workload has one policy for both directions, selecting exactly its pods', () => {
    for (const d of ofKind(w1, 'Deployment')) {
      const np = one(w1, 'NetworkPolicy', d.metadata.name);
      expect(np.spec.policyTypes).toEqual(['Ingress', 'Egress']);
      expect(np.spec.podSelector.matchLabels).toEqual(d.spec.selector.matchLabels);
    }
  });

  test('egress: DNS, then exactly the providers bound to the module', () => {
    for (const module of ['gateway', 'movement', 'combat', 'store']) {
      const np = one(w1, 'NetworkPolicy', wl('w1', module));
      const [dns, ...rest] = np.spec.egress as K8sObject[];
      expect(dns).toEqual(DNS);
      const bound = plan.bindings.filter((b) => b.spec.consumer.kind === 'ModuleManifest' && b.spec.consumer.name === module).map((b) => b.spec.provider.module);
      expect(rest.map((r) => peerModule(r.to[0])).sort()).toEqual([...new Set(bound)].sort());
    }
  });

  test('egress to a global provider goes to its namespace and ports only', () => {
    const np = one(w1, 'NetworkPolicy', wl('w1', 'combat'));
    expect(np.spec.egress).toEqual([
      DNS,
      {
        to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'anvil-system' } }, podSelector: { matchLabels: { [LABEL_MODULE]: 'bus' } } }],
        ports: [{ port: 4222, protocol: 'TCP' }],
      },
      { to: [{ podSelector: { matchLabels: { [LABEL_MODULE]: 'store', [LABEL_WORLD]: 'w1' } } }], ports: [{ port: 50060, protocol: 'TCP' }] },
    ]);
  });

  test('ingress: only from bound consumers of the same world, on the module ports', () => {
    expect(one(w1, 'NetworkPolicy', wl('w1', 'store')).spec.ingress).toEqual([
      {
        from: [
          { podSelector: { matchLabels: { [LABEL_MODULE]: 'combat', [LABEL_WORLD]: 'w1' } } },
          { podSelector: { matchLabels: { [LABEL_MODULE]: 'zone', [LABEL_WORLD]: 'w1' } } },
        ],
        ports: [{ port: 50060, protocol: 'TCP' }],
      },
    ]);
    expect(one(w1, 'NetworkPolicy', wl('w1', 'movement')).spec.ingress).toEqual([
      { from: [{ podSelector: { matchLabels: { [LABEL_MODULE]: 'gateway', [LABEL_WORLD]: 'w1' } } }], ports: [{ port: 50051, protocol: 'TCP' }] },
    ]);
  });

  test('the gateway (root, routesActions) faces clients: open on its ports only', () => {
    expect(one(w1, 'NetworkPolicy', wl('w1', 'gateway')).spec.ingress).toEqual([
      { ports: [{ port: 8080, protocol: 'TCP' }, { port: 9090, protocol: 'TCP' }] },
    ]);
  });

  test('a module with no bound consumers and not a root admits nothing', () => {
    // zone provides to nobody in this world, so it is a root: open. Check a provider-less case instead.
    const plain = resolveAll(
      catalogOf([mod('a', { requires: [req('x')] }), mod('b', { ports: [{ name: 'p', port: 1000 }], provides: [provides('x')], requires: [req('y')] }), mod('c', { ports: [], provides: [provides('y')] }), game('g', ['a', 'b', 'c']), world('w', 'g')]),
    ).worlds[0]!;
    const objs = renderWorld(plain, DEFAULT_SETTINGS);
    // c has no ports: no ingress at all.
    expect(one(objs, 'NetworkPolicy', wl('w', 'c')).spec.ingress).toEqual([]);
    expect(one(objs, 'NetworkPolicy', wl('w', 'b')).spec.ingress).toEqual([{ from: [{ podSelector: { matchLabels: { [LABEL_MODULE]: 'a', [LABEL_WORLD]: 'w' } } }], ports: [{ port: 1000, protocol: 'TCP' }] }]);
  });

  test('a global provider admits the pods labelled as its users, and they carry the label', () => {
    const g = globalChart();
    expect(one(g, 'NetworkPolicy', 'bus').spec.ingress).toEqual([
      {
        // Its users in its own namespace, and in namespaces that host worlds: not a pod that
        // labels itself in any other namespace.
        from: [
          { podSelector: { matchLabels: { 'uses.anvil.dev/bus': 'true' } } },
          { namespaceSelector: { matchLabels: { 'anvil.dev/worlds': 'true' } }, podSelector: { matchLabels: { 'uses.anvil.dev/bus': 'true' } } },
        ],
        ports: [{ port: 4222, protocol: 'TCP' }],
      },
    ]);
    const gatewayPodLabels = one(w1, 'Deployment', wl('w1', 'gateway')).spec.template.metadata.labels;
    expect(gatewayPodLabels['uses.anvil.dev/bus']).toBe('true');
    // relay is region-scoped: the value is the world's region, which only that region's relay admits.
    expect(gatewayPodLabels['uses.anvil.dev/relay']).toBe('eu');
    expect(one(w1, 'Deployment', wl('w1', 'movement')).spec.template.metadata.labels['uses.anvil.dev/bus']).toBeUndefined();
  });
});

describe('labels', () => {
  const w1 = worldChart('w1');

  test('workloads carry app.kubernetes.io/* plus anvil.dev/world and anvil.dev/module', () => {
    const workloadKinds = ['Deployment', 'Service', 'NetworkPolicy', 'PersistentVolumeClaim'];
    const objs = w1.filter((o) => workloadKinds.includes(o.kind));
    expect(objs.length).toBeGreaterThan(15);
    for (const o of objs) {
      expect(o.metadata.labels).toEqual(
        expect.objectContaining({
          'app.kubernetes.io/name': expect.any(String),
          'app.kubernetes.io/instance': expect.any(String),
          'app.kubernetes.io/version': '1.0.0',
          'app.kubernetes.io/component': expect.stringMatching(/^(world|world-shard)$/),
          'app.kubernetes.io/part-of': 'arena',
          'app.kubernetes.io/managed-by': 'anvil',
          [LABEL_WORLD]: 'w1',
          [LABEL_MODULE]: o.metadata.labels['app.kubernetes.io/name'],
        }),
      );
    }
    expect(one(w1, 'Deployment', wl('w1', 'zone', 0)).metadata.labels['app.kubernetes.io/instance']).toBe(wl('w1', 'zone', 0));
  });

  test('pods carry the workload labels, and selectors are a subset of them', () => {
    for (const d of ofKind(w1, 'Deployment')) {
      expect(d.spec.template.metadata.labels).toEqual(expect.objectContaining(d.metadata.labels));
      expect(d.metadata.labels).toEqual(expect.objectContaining(d.spec.selector.matchLabels));
    }
  });

  test('every object of the world belongs to it', () => {
    for (const o of w1) {
      expect(o.metadata.labels).toEqual(expect.objectContaining({ 'app.kubernetes.io/managed-by': 'anvil', [LABEL_WORLD]: 'w1' }));
      expect(o.metadata.namespace).toBe('games');
    }
  });

  test('global workloads are labelled by module and region, not world', () => {
    const relay = one(globalChart(), 'Deployment', rl('relay', 'eu'));
    expect(relay.metadata.labels).toEqual(expect.objectContaining({ [LABEL_MODULE]: 'relay', 'anvil.dev/region': 'eu', 'app.kubernetes.io/component': 'region' }));
    expect(relay.metadata.labels[LABEL_WORLD]).toBeUndefined();
  });
});

describe('bindings', () => {
  test('the world chart has exactly the plan bindings; the global chart the platform ones', () => {
    const fromChart = (objs: K8sObject[]) => ofKind(objs, 'CapabilityBinding').map((b) => ({ name: b.metadata.name, namespace: b.metadata.namespace, spec: b.spec }));
    expect(fromChart(worldChart('w1'))).toEqual(planFor('w1').bindings);
    expect(fromChart(globalChart())).toEqual(resolved.global.bindings);
    expect(resolved.global.bindings.map((b) => b.name)).toEqual([bindingName.platform('relay', 'event-bus', 'bus')]);
  });
});

test("the reconciler's ClusterRole has exactly RECONCILER_RULES", () => {
  const objs = reconcilerChart();
  const roles = ofKind(objs, 'ClusterRole');
  expect(roles).toHaveLength(1);
  expect(roles[0]!.rules).toEqual(JSON.parse(JSON.stringify(RECONCILER_RULES)));
  // and it is bound to the reconciler's service account, which the Deployment uses
  const binding = one(objs, 'ClusterRoleBinding', 'anvil-reconciler');
  expect(binding.roleRef).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'anvil-reconciler' });
  expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: 'anvil-reconciler', namespace: 'anvil-system' }]);
  expect(podSpec(one(objs, 'Deployment', 'anvil-reconciler')).serviceAccountName).toBe('anvil-reconciler');
  // No wildcards anywhere.
  for (const r of roles[0]!.rules as K8sObject[]) for (const k of ['apiGroups', 'resources', 'verbs']) expect(r[k]).not.toContain('*');
});

test('the matchmaker Role: one per pool namespace, worldclaims create/get/watch/delete, worldinstances watch, and nothing else', () => {
  const roles = matchmakerChart();
  expect(roles.map((r) => `${r.kind} ${r.metadata.namespace}/${r.metadata.name}`)).toEqual(['Role games-a/anvil-matchmaker', 'Role games-b/anvil-matchmaker']);
  for (const role of roles) {
    expect(role.rules).toEqual([
      { apiGroups: ['anvil.dev'], resources: ['worldclaims'], verbs: ['create', 'get', 'watch', 'delete'] },
      { apiGroups: ['anvil.dev'], resources: ['worldinstances'], verbs: ['watch'] },
    ]);
    expect(role.rules).toEqual(JSON.parse(JSON.stringify(MATCHMAKER_RULES)));
  }
});

test('the full app: a WorldPool per example game, each namespace with its matchmaker Role', () => {
  const objs = fullApp();
  const pools = ofKind(objs, 'WorldPool').map((p) => `${p.metadata.namespace}/${p.metadata.name} ${p.spec.gameRef.name}`);
  expect(pools).toEqual(['command-path/cp-eu command-path', 'roguelike/crypt roguelike']);
  const namespaces = ofKind(objs, 'Namespace').map((n) => n.metadata.name);
  const roles = ofKind(objs, 'Role').filter((r) => r.metadata.name === 'anvil-matchmaker').map((r) => r.metadata.namespace);
  expect(roles).toEqual(['command-path', 'roguelike']);
  for (const ns of roles) expect(namespaces).toContain(ns);
});

test('the CRD chart is the CRDs, as built', () => {
  expect(crdChart()).toEqual(JSON.parse(JSON.stringify(customResourceDefinitions())));
});

test('user env keeps its names, whatever kind of object the spec was built from', () => {
  // A null-prototype entry (not a plain-Object literal) once lost its name to a cdk8s resolver.
  const entry = Object.assign(Object.create(null) as Record<string, string>, { name: 'TICK_RATE', value: '30' });
  const plan = resolveAll(catalogOf([mod('a'), game('g', ['a']), world('w', 'g')])).worlds[0]!;
  plan.modules[0]!.spec.env = [entry as { name: string; value: string }];
  expect(envOf(one(renderWorld(plan, DEFAULT_SETTINGS), 'Deployment', wl('w', 'a'))).TICK_RATE).toBe('30');
});

describe('availability and least privilege (issue 8, item 5)', () => {
  const w1 = worldChart('w1');

  test('a module with more than one replica gets a PodDisruptionBudget and a hostname spread; one replica gets neither', () => {
    const gateway = one(w1, 'Deployment', wl('w1', 'gateway'));
    expect(gateway.spec.replicas).toBe(2);
    expect(podSpec(gateway).topologySpreadConstraints).toEqual([
      { maxSkew: 1, topologyKey: 'kubernetes.io/hostname', whenUnsatisfiable: 'DoNotSchedule', labelSelector: { matchLabels: gateway.spec.selector.matchLabels } },
    ]);
    expect(one(w1, 'PodDisruptionBudget', wl('w1', 'gateway')).spec).toEqual({ maxUnavailable: 1, selector: { matchLabels: gateway.spec.selector.matchLabels } });
    const movement = one(w1, 'Deployment', wl('w1', 'movement'));
    expect(podSpec(movement).topologySpreadConstraints).toBeUndefined();
    expect(ofKind(w1, 'PodDisruptionBudget').map((p) => p.metadata.name)).toEqual([wl('w1', 'gateway')]);
  });

  test('the lease Role names its Lease for get and update; create (which resourceNames cannot limit) is a rule of its own', () => {
    const role = ofKind(reconcilerChart(), 'Role')[0]!;
    expect(role.rules).toEqual([
      { apiGroups: ['coordination.k8s.io'], resources: ['leases'], resourceNames: ['anvil-reconciler'], verbs: ['get', 'update'] },
      { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['create'] },
    ]);
  });

  test('the ClusterRole may update worldinstances/finalizers (blockOwnerDeletion) and write the PodDisruptionBudgets it renders', () => {
    expect(RECONCILER_RULES).toContainEqual({ apiGroups: ['anvil.dev'], resources: ['worldinstances/finalizers'], verbs: ['update'] });
    expect(RECONCILER_RULES.find((r) => r.resources?.includes('poddisruptionbudgets'))?.verbs).toEqual(expect.arrayContaining(['create', 'patch', 'delete']));
  });

  test("the reconciler runs node with its measured heap settings, before the image's own entrypoint (the Dockerfile's)", () => {
    const container = one(reconcilerChart(), 'Deployment', 'anvil-reconciler').spec.template.spec.containers[0];
    expect(container.command).toEqual(['node', '--heap-growing-percent=25', '--max-semi-space-size=4', IMAGE_ENTRYPOINT]);
    expect(container.args[0]).toBe('reconcile');
    const entrypoint = readFileSync(new URL('../../Dockerfile', import.meta.url), 'utf8').match(/^ENTRYPOINT (.*)$/m)?.[1];
    expect(JSON.parse(entrypoint!)).toEqual(['node', IMAGE_ENTRYPOINT]);
  });

  test("the reconciler's pod has a NetworkPolicy: egress to the API server and DNS only, ingress to its metrics and allocation ports only", () => {
    const rc = reconcilerChart();
    const policy = one(rc, 'NetworkPolicy', 'anvil-reconciler');
    expect(policy.spec.podSelector).toEqual(one(rc, 'Deployment', 'anvil-reconciler').spec.selector);
    expect(policy.spec.policyTypes).toEqual(['Ingress', 'Egress']);
    expect(policy.spec.ingress).toEqual([{ ports: [{ port: 8080, protocol: 'TCP' }, { port: 8443, protocol: 'TCP' }] }]);
    expect(policy.spec.egress).toEqual([
      { ports: [{ port: 443, protocol: 'TCP' }, { port: 6443, protocol: 'TCP' }] },
      { ports: [{ port: 53, protocol: 'UDP' }, { port: 53, protocol: 'TCP' }] },
    ]);
  });

  test('the allocation endpoint (issue 20): the anvil-allocator Service on 8443, the TLS Secret optional (else self-signed), RBAC to review tokens and access, its own Secret, and nothing more', () => {
    const rc = reconcilerChart();
    const svc = one(rc, 'Service', 'anvil-allocator');
    expect(svc.spec.ports).toEqual([{ name: 'allocation', port: 8443, targetPort: 'allocation' }]);
    const pod = one(rc, 'Deployment', 'anvil-reconciler').spec.template.spec;
    expect(pod.volumes).toContainEqual({ name: 'allocator-tls', secret: { secretName: 'anvil-allocator-tls', optional: true } });
    expect(pod.containers[0].args).toEqual(expect.arrayContaining(['--allocation-port=8443', '--allocation-tls-cert=/etc/anvil/allocator-tls/tls.crt', '--allocation-tls-key=/etc/anvil/allocator-tls/tls.key']));
    const rules = one(rc, 'ClusterRole', 'anvil-reconciler').rules;
    expect(rules.filter((r: any) => r.apiGroups.some((g: string) => g.startsWith('authentication') || g.startsWith('authorization')))).toEqual([
      { apiGroups: ['authentication.k8s.io'], resources: ['tokenreviews'], verbs: ['create'] },
      { apiGroups: ['authorization.k8s.io'], resources: ['subjectaccessreviews'], verbs: ['create'] },
    ]);
    // Without the Secret, a self-signed certificate: its one Secret read by name (create cannot be named), in anvil-system only;
    // its CA's ConfigMap readable (get, by name) by any authenticated user.
    expect(one(rc, 'Role', 'anvil-reconciler-allocator-cert').rules).toEqual([
      { apiGroups: [''], resources: ['secrets'], resourceNames: ['anvil-allocator-selfsigned'], verbs: ['get'] },
      { apiGroups: [''], resources: ['secrets'], verbs: ['create'] },
    ]);
    expect(one(rc, 'RoleBinding', 'anvil-reconciler-allocator-cert').subjects).toEqual([{ kind: 'ServiceAccount', name: 'anvil-reconciler', namespace: 'anvil-system' }]);
    expect(one(rc, 'Role', 'anvil-allocator-ca-reader').rules).toEqual([{ apiGroups: [''], resources: ['configmaps'], resourceNames: ['anvil-allocator-ca'], verbs: ['get'] }]);
    expect(one(rc, 'RoleBinding', 'anvil-allocator-ca-reader').subjects).toEqual([{ kind: 'Group', name: 'system:authenticated', apiGroup: 'rbac.authorization.k8s.io' }]);
    expect(rules.some((r: any) => r.resources.includes('secrets'))).toBe(false);
  });

  test("synth labels its worlds' namespaces (not anvil-system) as hosting worlds, and marks the global services it owns", () => {
    const all = fullApp();
    const namespaces = ofKind(all, 'Namespace');
    expect(namespaces.length).toBeGreaterThan(1);
    for (const ns of namespaces) expect(ns.metadata.labels['anvil.dev/worlds']).toBe(ns.metadata.name === 'anvil-system' ? undefined : 'true');
    const global = all.filter((o) => o.metadata?.namespace === 'anvil-system' && (o.metadata.labels?.[LABEL_MODULE] || o.kind === 'CapabilityBinding'));
    expect(global.length).toBeGreaterThan(0);
    for (const o of global) expect(o.metadata.labels['anvil.dev/static']).toBe('true');
    // What the reconciler renders for the platform is not marked: it owns that itself.
    for (const o of globalChart()) expect(o.metadata.labels?.['anvil.dev/static']).toBeUndefined();
  });
});
