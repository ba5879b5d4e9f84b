/**
 * Modules for real servers (issue 17): every new ModuleManifest field rendered as specified
 * (golden objects), every way out of the restricted Pod Security Standard refused with a
 * message naming the field, module identity (ServiceAccount, RoleBinding to the module's
 * synth-written ClusterRole, the reconciler's named `bind`), declared egress and metrics in
 * the NetworkPolicy, PodMonitors, and regions that place pods.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from '@jest/globals';
import { Chart, Testing } from 'cdk8s';
import type { ModuleManifestSpec } from '../../lib/api/schema.js';
import { validateObject } from '../../lib/api/validate.js';
import { moduleWarnings } from '../../lib/api/moduleChecks.js';
import { AnvilApp } from '../../lib/app.js';
import { Game, Module, World, WorldPool } from '../../lib/definitions.js';
import { AnvilInputError } from '../../lib/diagnostics/diagnostics.js';
import { ModuleRoles, moduleRoleName } from '../../lib/render/identity.js';
import { RECONCILER_RULES, Reconciler } from '../../lib/render/platform.js';
import { DEFAULT_SETTINGS, type RenderSettings } from '../../lib/render/settings.js';
import { renderWorld } from '../../lib/render/world.js';
import { mergePodTemplate } from '../../lib/render/podTemplate.js';
import { resolveAll } from '../../lib/resolve/resolve.js';
import { checkRegions } from '../../lib/resolve/regions.js';
import { OWNED_KINDS, STATELESS_KINDS } from '../../lib/reconciler/worlds/apply.js';
import { catalogOf, game, mod, provides, req, world } from './fixtures.js';

type K = Record<string, any>;

const RESTRICTED_CONTAINER = {
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  runAsNonRoot: true,
  capabilities: { drop: ['ALL'] },
  seccompProfile: { type: 'RuntimeDefault' },
};

/** Renders one world of game `g` with the given modules; returns its objects. */
function render(modules: K[], settings: Partial<RenderSettings> = {}, opts: { region?: string; roots?: string[] } = {}): K[] {
  const names = modules.map((m) => m.metadata.name);
  const plan = resolveAll(catalogOf([...modules, game('g', names), world('w', 'g', opts.region ? { region: opts.region } : {})])).worlds[0]!;
  return renderWorld(plan, { ...DEFAULT_SETTINGS, ...settings });
}
const ofKind = (objs: K[], kind: string) => objs.filter((o) => o.kind === kind);
const deploymentOf = (objs: K[], module: string) => objs.find((o) => o.kind === 'Deployment' && o.metadata.labels['anvil.dev/module'] === module)!;
const podOf = (objs: K[], module: string) => deploymentOf(objs, module).spec.template;
const containerOf = (objs: K[], module: string) => podOf(objs, module).spec.containers[0];
const policyOf = (objs: K[], module: string) => objs.find((o) => o.kind === 'NetworkPolicy' && o.metadata.labels['anvil.dev/module'] === module)!;
const problems = (spec: Partial<ModuleManifestSpec> & K) => validateObject(mod('m', spec as never), 'ModuleManifest/m').map((d) => `${d.field}: ${d.message}`);

const tcp = (name: string, port: number) => ({ name, port, protocol: 'TCP' as const });
const udp = (name: string, port: number) => ({ name, port, protocol: 'UDP' as const });

describe('the pod: every new field, rendered', () => {
  const engine = mod('race-engine', {
    ports: [tcp('http', 8080), udp('game', 7777)],
    command: ['/server'],
    args: ['-log', '-port=7777'],
    env: [
      { name: 'TICK', value: '60' },
      { name: 'API_KEY', valueFrom: { secretKeyRef: { name: 'race-secrets', key: 'api-key' } } },
      { name: 'FLAGS', valueFrom: { configMapKeyRef: { name: 'race-config', key: 'flags', optional: true } } },
      { name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
    ],
    envFrom: [{ secretRef: { name: 'race-env' } }, { configMapRef: { name: 'race-tuning' }, prefix: 'TUNE_' }],
    volumes: [
      { name: 'certs', mountPath: '/etc/race/certs', secret: { secretName: 'race-tls', items: [{ key: 'tls.crt', path: 'cert.pem' }] } },
      { name: 'maps', mountPath: '/etc/race/maps', configMap: { name: 'race-maps' } },
      { name: 'scratch', mountPath: '/var/race', emptyDir: { sizeLimit: '1Gi', medium: 'Memory' } },
    ],
    probes: {
      readiness: { httpGet: { path: '/ready', port: 'http' }, periodSeconds: 2, failureThreshold: 3 },
      liveness: { grpc: { port: 'http', service: 'race' }, initialDelaySeconds: 10 },
      startup: { exec: { command: ['/bin/check'] }, failureThreshold: 60, periodSeconds: 5 },
    },
    terminationGracePeriodSeconds: 120,
    imagePullSecrets: ['studio-registry'],
    podAnnotations: { 'prometheus.io/scrape': 'true' },
    podLabels: { team: 'racing' },
    securityContext: { runAsUser: 1000, runAsGroup: 1000, fsGroup: 2000, readOnlyRootFilesystem: false },
  } as never);
  const objs = render([engine]);
  const pod = podOf(objs, 'race-engine');
  const c = containerOf(objs, 'race-engine');

  test('command and args replace the entrypoint', () => {
    expect(c.command).toEqual(['/server']);
    expect(c.args).toEqual(['-log', '-port=7777']);
  });

  test('env: values and valueFrom (secretKeyRef, configMapKeyRef, fieldRef) after Anvil\'s own; envFrom as written', () => {
    const own = c.env.filter((e: K) => !e.name.startsWith('ANVIL_'));
    expect(own).toEqual([
      { name: 'TICK', value: '60' },
      { name: 'API_KEY', valueFrom: { secretKeyRef: { name: 'race-secrets', key: 'api-key' } } },
      { name: 'FLAGS', valueFrom: { configMapKeyRef: { name: 'race-config', key: 'flags', optional: true } } },
      { name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
    ]);
    expect(c.envFrom).toEqual([{ secretRef: { name: 'race-env' } }, { configMapRef: { name: 'race-tuning' }, prefix: 'TUNE_' }]);
  });

  test('volumes: secret and configMap mounted read-only, emptyDir writable; Anvil\'s /tmp stays', () => {
    expect(pod.spec.volumes).toEqual([
      { name: 'tmp', emptyDir: {} },
      { name: 'v-certs', secret: { secretName: 'race-tls', items: [{ key: 'tls.crt', path: 'cert.pem' }] } },
      { name: 'v-maps', configMap: { name: 'race-maps' } },
      { name: 'v-scratch', emptyDir: { medium: 'Memory', sizeLimit: '1Gi' } },
    ]);
    expect(c.volumeMounts).toEqual([
      { name: 'tmp', mountPath: '/tmp' },
      { name: 'v-certs', mountPath: '/etc/race/certs', readOnly: true },
      { name: 'v-maps', mountPath: '/etc/race/maps', readOnly: true },
      { name: 'v-scratch', mountPath: '/var/race' },
    ]);
  });

  test('probes: httpGet by port name, gRPC with the name looked up (gRPC takes a number), exec; timings kept', () => {
    expect(c.readinessProbe).toEqual({ httpGet: { path: '/ready', port: 'http' }, periodSeconds: 2, failureThreshold: 3 });
    expect(c.livenessProbe).toEqual({ grpc: { port: 8080, service: 'race' }, initialDelaySeconds: 10 });
    expect(c.startupProbe).toEqual({ exec: { command: ['/bin/check'] }, periodSeconds: 5, failureThreshold: 60 });
  });

  test('grace period, pull secrets, pod annotations, pod labels under Anvil\'s', () => {
    expect(pod.spec.terminationGracePeriodSeconds).toBe(120);
    expect(pod.spec.imagePullSecrets).toEqual([{ name: 'studio-registry' }]);
    expect(pod.metadata.annotations).toEqual({ 'prometheus.io/scrape': 'true' });
    expect(pod.metadata.labels.team).toBe('racing');
    expect(pod.metadata.labels['anvil.dev/module']).toBe('race-engine');
  });

  test('securityContext: the module\'s uid, gid, fsGroup and writable root; the rest of restricted stays', () => {
    expect(pod.spec.securityContext).toEqual({ runAsNonRoot: true, runAsUser: 1000, runAsGroup: 1000, fsGroup: 2000, seccompProfile: { type: 'RuntimeDefault' } });
    expect(c.securityContext).toEqual({ ...RESTRICTED_CONTAINER, readOnlyRootFilesystem: false });
  });

  test('no serviceAccount: no token, no ServiceAccount, no RoleBinding', () => {
    expect(pod.spec.automountServiceAccountToken).toBe(false);
    expect(pod.spec.serviceAccountName).toBeUndefined();
    expect(ofKind(objs, 'ServiceAccount')).toEqual([]);
    expect(ofKind(objs, 'RoleBinding')).toEqual([]);
  });
});

describe('readiness by default', () => {
  test('a TCP probe on the first TCP port, even behind a UDP port', () => {
    const objs = render([mod('s', { ports: [udp('game', 7777), tcp('admin', 9000)] })]);
    expect(containerOf(objs, 's').readinessProbe).toEqual({ tcpSocket: { port: 'admin' }, periodSeconds: 5 });
  });

  test('all-UDP and no readiness probe: none rendered, and a warning naming the module', () => {
    const m = mod('udp-only', { ports: [udp('game', 7777)] });
    expect(containerOf(render([m]), 'udp-only').readinessProbe).toBeUndefined();
    const warnings = moduleWarnings([m as never], () => 'ModuleManifest/udp-only');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ severity: 'warning', source: 'ModuleManifest/udp-only', field: 'spec.probes.readiness', reason: 'NoReadinessProbe' });
    expect(warnings[0]!.message).toContain('module udp-only has only UDP ports and no readiness probe');
    expect(moduleWarnings([mod('ok', { ports: [udp('game', 7777)], probes: { readiness: { exec: { command: ['true'] } } } } as never) as never], () => 'x')).toEqual([]);
  });

  test('synth reports that warning and still writes dist', () => {
    const out = mkdtempSync(join(tmpdir(), 'anvil-udp-'));
    try {
      const seen: string[] = [];
      const app = new AnvilApp({ outdir: out, reconcilerImage: false, onDiagnostic: (d) => seen.push(`${d.severity} ${d.field} ${d.message}`) });
      const s = new Module(app.definitions, 'udp-server', { version: '1.0.0', image: 'x/y:1', ports: [udp('game', 7777)] });
      new World(app.definitions, 'w1', { game: new Game(app.definitions, 'g', { modules: [s] }), namespace: 'games' });
      app.synth();
      // Named by the props path as the author wrote it (issue 18), not the spec path.
      expect(seen.filter((l) => l.startsWith('warning probes.readiness module udp-server'))).toHaveLength(1);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});

describe('Services: annotations and externalTrafficPolicy on the exposed ones only', () => {
  const gateway = mod('gateway', {
    ports: [{ name: 'ws', port: 8080, protocol: 'TCP', expose: { type: 'LoadBalancer' } }, tcp('internal', 9000)],
    service: { annotations: { 'service.beta.kubernetes.io/aws-load-balancer-type': 'nlb' }, externalTrafficPolicy: 'Local' },
  } as never);
  const objs = render([gateway]);
  test('golden', () => {
    const services = ofKind(objs, 'Service');
    const lb = services.find((s) => s.spec.type === 'LoadBalancer')!;
    expect(lb.metadata.annotations).toEqual({ 'service.beta.kubernetes.io/aws-load-balancer-type': 'nlb' });
    expect(lb.spec.externalTrafficPolicy).toBe('Local');
    const cluster = services.find((s) => s.spec.type === 'ClusterIP')!;
    expect(cluster.metadata.annotations).toBeUndefined();
    expect(cluster.spec.externalTrafficPolicy).toBeUndefined();
  });
});

describe('NetworkPolicy: bound edges + declared egress + monitoring, nothing else', () => {
  const recorder = mod('replay-recorder', {
    ports: [tcp('grpc', 50051), tcp('metrics', 9090)],
    provides: [provides('replays')],
    egress: [
      { to: { cidr: '203.0.113.0/24', except: ['203.0.113.7/32'] }, ports: [{ port: 443, protocol: 'TCP' }] },
      { to: { namespace: 'telemetry', podLabels: { app: 'otel' } }, ports: [{ port: 4317 }] },
    ],
    metrics: { port: 'metrics' },
  } as never);
  const engine = mod('engine', { ports: [udp('game', 7777), tcp('metrics', 9100)], requires: [req('replays')], metrics: { port: 9100, path: '/stats' }, probes: { readiness: { tcpSocket: { port: 'metrics' } } } } as never);
  const objs = render([engine, recorder]);

  test('egress: DNS, the bound provider, then each declared destination exactly', () => {
    const egress = policyOf(objs, 'replay-recorder').spec.egress;
    expect(egress).toEqual([
      { ports: [{ port: 53, protocol: 'UDP' }, { port: 53, protocol: 'TCP' }] },
      { to: [{ ipBlock: { cidr: '203.0.113.0/24', except: ['203.0.113.7/32'] } }], ports: [{ port: 443, protocol: 'TCP' }] },
      { to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'telemetry' } }, podSelector: { matchLabels: { app: 'otel' } } }], ports: [{ port: 4317, protocol: 'TCP' }] },
    ]);
  });

  test('a non-root module: its bound consumer, and its metrics port from monitoring namespaces', () => {
    expect(policyOf(objs, 'replay-recorder').spec.ingress).toEqual([
      {
        from: [{ podSelector: { matchLabels: { 'anvil.dev/module': 'engine', 'anvil.dev/world': 'w' } } }],
        ports: [{ port: 50051, protocol: 'TCP' }, { port: 9090, protocol: 'TCP' }],
      },
      { from: [{ namespaceSelector: { matchLabels: { 'anvil.dev/monitoring': 'true' } } }], ports: [{ port: 9090, protocol: 'TCP' }] },
    ]);
  });

  test('a root module admits anyone on its game ports only, never on the metrics port', () => {
    expect(policyOf(objs, 'engine').spec.ingress).toEqual([
      { ports: [{ port: 7777, protocol: 'UDP' }] },
      { from: [{ namespaceSelector: { matchLabels: { 'anvil.dev/monitoring': 'true' } } }], ports: [{ port: 9100, protocol: 'TCP' }] },
    ]);
  });

  test('PodMonitors only with monitoring.podMonitors, on the metrics port by name and its path', () => {
    expect(ofKind(objs, 'PodMonitor')).toEqual([]);
    const monitored = render([engine, recorder], { monitoring: { podMonitors: true } });
    const monitors = ofKind(monitored, 'PodMonitor');
    expect(monitors.map((m) => [m.apiVersion, m.metadata.labels['anvil.dev/module'], m.spec.podMetricsEndpoints])).toEqual([
      ['monitoring.coreos.com/v1', 'engine', [{ port: 'metrics', path: '/stats' }]],
      ['monitoring.coreos.com/v1', 'replay-recorder', [{ port: 'metrics', path: '/metrics' }]],
    ]);
    expect(monitors[0]!.spec.selector).toEqual(deploymentOf(monitored, 'engine').spec.selector);
  });
});

describe('identity: ServiceAccount, RoleBinding to the module ClusterRole, token only then', () => {
  const rules = [{ apiGroups: ['anvil.dev'], resources: ['worldclaims'], verbs: ['create', 'get', 'watch', 'delete'] }];
  const matchmaker = mod('matchmaker', { ports: [tcp('http', 8080)], serviceAccount: { rules, annotations: { 'iam.example/role': 'mm' } } } as never);
  const plain = mod('plain', { ports: [tcp('http', 8081)], serviceAccount: {} } as never);
  const objs = render([matchmaker, plain]);
  const name = deploymentOf(objs, 'matchmaker').metadata.name;

  test('the pod runs as its ServiceAccount with the token mounted', () => {
    expect(podOf(objs, 'matchmaker').spec.serviceAccountName).toBe(name);
    expect(podOf(objs, 'matchmaker').spec.automountServiceAccountToken).toBe(true);
  });

  test('ServiceAccount and RoleBinding in the world namespace, bound to the module ClusterRole by name', () => {
    const sa = ofKind(objs, 'ServiceAccount').find((s) => s.metadata.name === name)!;
    expect(sa.metadata).toMatchObject({ namespace: 'games', annotations: { 'iam.example/role': 'mm' } });
    const rbs = ofKind(objs, 'RoleBinding');
    expect(rbs).toHaveLength(1);
    expect(rbs[0]).toMatchObject({
      metadata: { name, namespace: 'games' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'anvil-module-matchmaker' },
      subjects: [{ kind: 'ServiceAccount', name, namespace: 'games' }],
    });
  });

  test('a serviceAccount without rules: a ServiceAccount and token, no RoleBinding', () => {
    expect(ofKind(objs, 'ServiceAccount').map((s) => s.metadata.labels['anvil.dev/module'])).toEqual(['matchmaker', 'plain']);
    expect(podOf(objs, 'plain').spec.automountServiceAccountToken).toBe(true);
  });

  test('synth writes one ClusterRole per module with rules, exactly its rules', () => {
    const chart = Testing.chart();
    const roles = new ModuleRoles(chart, 'roles', [matchmaker as never, plain as never, matchmaker as never]);
    expect(roles.names).toEqual(['anvil-module-matchmaker']);
    const out = chart.toJson();
    expect(out).toHaveLength(1);
    expect(out[0]).toMatchObject({ kind: 'ClusterRole', metadata: { name: moduleRoleName('matchmaker') }, rules });
  });

  test("the reconciler may bind exactly those ClusterRoles by name, and never escalate", () => {
    const chart = Testing.chart();
    new Reconciler(chart, 'r', { namespace: 'anvil-system', image: 'x', moduleRoles: ['anvil-module-b', 'anvil-module-a'] });
    const role = chart.toJson().find((o: K) => o.kind === 'ClusterRole');
    expect(role.rules).toEqual([
      ...JSON.parse(JSON.stringify(RECONCILER_RULES)),
      { apiGroups: ['rbac.authorization.k8s.io'], resources: ['clusterroles'], resourceNames: ['anvil-module-a', 'anvil-module-b'], verbs: ['bind'] },
    ]);
    for (const r of role.rules) expect(r.verbs).not.toContain('escalate');
    expect(RECONCILER_RULES).toContainEqual({ apiGroups: [''], resources: ['serviceaccounts'], verbs: ['list', 'watch', 'get', 'create', 'patch', 'delete'] });
    expect(RECONCILER_RULES).toContainEqual({ apiGroups: ['rbac.authorization.k8s.io'], resources: ['rolebindings'], verbs: ['list', 'watch', 'get', 'create', 'patch', 'delete'] });
    // No module roles: no bind rule at all (an empty resourceNames would mean every ClusterRole).
    const bare = Testing.chart();
    new Reconciler(bare, 'r', { namespace: 'anvil-system', image: 'x' });
    expect(bare.toJson().find((o: K) => o.kind === 'ClusterRole').rules).toEqual(JSON.parse(JSON.stringify(RECONCILER_RULES)));
  });

  test('the reconciler owns ServiceAccounts, RoleBindings (and PodMonitors, watched only when rendered), before Deployments', () => {
    const kinds = OWNED_KINDS.map((k) => k.kind);
    expect(kinds.indexOf('ServiceAccount')).toBeLessThan(kinds.indexOf('Deployment'));
    expect(kinds.indexOf('RoleBinding')).toBeLessThan(kinds.indexOf('Deployment'));
    expect(STATELESS_KINDS.has('RoleBinding')).toBe(true); // roleRef is immutable: drift repair re-creates it
  });
});

describe('podTemplate: merged by name, Anvil\'s security and labels win', () => {
  const m = mod('srv', {
    ports: [tcp('http', 8080)],
    podTemplate: {
      metadata: { labels: { sidecar: 'yes', 'anvil.dev/module': 'spoof' }, annotations: { a: 'b' } },
      spec: {
        hostAliases: [{ ip: '10.0.0.1', hostnames: ['db'] }],
        containers: [
          { name: 'module', workingDir: '/game', securityContext: { readOnlyRootFilesystem: false } },
          { name: 'log-shipper', image: 'x/shipper:1', securityContext: { runAsUser: 1001 } },
        ],
        volumes: [{ name: 'shared', emptyDir: {} }],
      },
    },
  } as never);
  const objs = render([m]);
  const pod = podOf(objs, 'srv');
  test('golden', () => {
    expect(pod.metadata.labels).toMatchObject({ sidecar: 'yes', 'anvil.dev/module': 'srv' });
    expect(pod.metadata.annotations).toEqual({ a: 'b' });
    expect(pod.spec.hostAliases).toEqual([{ ip: '10.0.0.1', hostnames: ['db'] }]);
    expect(pod.spec.containers.map((c: K) => c.name)).toEqual(['module', 'log-shipper']);
    expect(pod.spec.containers[0].workingDir).toBe('/game');
    expect(pod.spec.containers[0].securityContext).toEqual(RESTRICTED_CONTAINER);
    expect(pod.spec.containers[0].image).toBe('registry.example/srv:1');
    expect(pod.spec.containers[1].securityContext).toEqual({ runAsUser: 1001, ...RESTRICTED_CONTAINER });
    expect(pod.spec.volumes.map((v: K) => v.name)).toEqual(['tmp', 'shared']);
    expect(pod.spec.automountServiceAccountToken).toBe(false);
    expect(pod.spec.securityContext.runAsNonRoot).toBe(true);
  });
  test('pod-level security fields of the fragment never replace Anvil\'s', () => {
    const t = mergePodTemplate({ metadata: { labels: { x: '1' } }, spec: { securityContext: { runAsNonRoot: true }, containers: [] } }, { spec: { securityContext: { runAsUser: 0 }, automountServiceAccountToken: true } });
    expect(t.spec.securityContext).toEqual({ runAsNonRoot: true });
    expect(t.spec.automountServiceAccountToken).toBeUndefined();
  });
});

describe('refused, with the field named', () => {
  test('every way out of the restricted profile', () => {
    const got = problems({
      ports: [tcp('http', 8080)],
      securityContext: { runAsUser: 0, privileged: true } as never,
      podTemplate: {
        spec: {
          hostNetwork: true,
          hostPID: true,
          hostIPC: true,
          securityContext: { runAsUser: 0 },
          serviceAccountName: 'admin',
          volumes: [{ name: 'host', hostPath: { path: '/' } }],
          containers: [
            {
              name: 'bad',
              image: 'x',
              ports: [{ containerPort: 80, hostPort: 80 }],
              securityContext: {
                privileged: true,
                allowPrivilegeEscalation: true,
                runAsNonRoot: false,
                runAsUser: 0,
                procMount: 'Unmasked',
                seccompProfile: { type: 'Unconfined' },
                capabilities: { add: ['NET_ADMIN', 'NET_BIND_SERVICE'] },
              },
            },
          ],
          initContainers: [{ image: 'no-name' }],
        },
      },
    });
    const fields = got.map((g) => g.split(':')[0]);
    expect(fields).toEqual([
      'spec.securityContext.privileged',
      'spec.securityContext.runAsUser',
      'spec.podTemplate.spec.hostNetwork',
      'spec.podTemplate.spec.hostPID',
      'spec.podTemplate.spec.hostIPC',
      'spec.podTemplate.spec.securityContext',
      'spec.podTemplate.spec.serviceAccountName',
      'spec.podTemplate.spec.volumes[0].hostPath',
      'spec.podTemplate.spec.containers[0].ports[0].hostPort',
      'spec.podTemplate.spec.containers[0].securityContext.privileged',
      'spec.podTemplate.spec.containers[0].securityContext.allowPrivilegeEscalation',
      'spec.podTemplate.spec.containers[0].securityContext.runAsNonRoot',
      'spec.podTemplate.spec.containers[0].securityContext.runAsUser',
      'spec.podTemplate.spec.containers[0].securityContext.procMount',
      'spec.podTemplate.spec.containers[0].securityContext.seccompProfile.type',
      'spec.podTemplate.spec.containers[0].securityContext.capabilities.add[0]',
      'spec.podTemplate.spec.initContainers[0].name',
    ]);
    expect(got[0]).toContain('restricted Pod Security Standard');
    expect(got[1]).toContain('0 is root');
    for (const g of got.slice(2, 16)) expect(g).toMatch(/restricted Pod Security Standard|use spec\./);
  });

  test('one-of fields, port references, egress shapes, rules, metrics and service', () => {
    const got = problems({
      ports: [tcp('http', 8080), udp('game', 7777), { name: 'pub', port: 9000, protocol: 'TCP', expose: { type: 'LoadBalancer' } }],
      env: [
        { name: 'A', value: 'x', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
        { name: 'B', valueFrom: {} },
      ],
      envFrom: [{ secretRef: { name: 's' }, configMapRef: { name: 'c' } }],
      volumes: [
        { name: 'a', mountPath: '/tmp', emptyDir: {} },
        { name: 'b', mountPath: '/x', secret: { secretName: 's' }, configMap: { name: 'c' } },
      ],
      probes: { readiness: { httpGet: { path: '/', port: 'nope' } }, liveness: { tcpSocket: { port: 'game' }, successThreshold: 2 }, startup: {} },
      egress: [
        { to: { cidr: '10.0.0.0/33' }, ports: [{ port: 443 }] },
        { to: { cidr: '10.0.0.0/8', namespace: 'x' }, ports: [{ port: 443 }] },
        { to: { namespace: 'x', except: ['10.0.0.0/8'] }, ports: [{ port: 443 }] },
      ],
      serviceAccount: { rules: [{ apiGroups: [''], resources: ['*'], verbs: ['get', 'escalate'] }] },
      metrics: { port: 'pub' },
    } as never);
    expect(got).toEqual([
      'spec.env[0]: A has both value and valueFrom; set one',
      'spec.env[1].valueFrom: must set exactly one of secretKeyRef, configMapKeyRef, fieldRef (has none)',
      'spec.envFrom[0]: must set exactly one of secretRef, configMapRef (has secretRef, configMapRef)',
      'spec.volumes[0].mountPath: /tmp is already mounted (by Anvil itself); choose another path',
      'spec.volumes[1]: must set exactly one of secret, configMap, emptyDir (has secret, configMap)',
      'spec.probes.readiness.httpGet.port: "nope" is not a port of this module; its ports: http (8080), game (7777), pub (9000)',
      'spec.probes.liveness.tcpSocket.port: "game" is a UDP port; this check needs a TCP port',
      'spec.probes.liveness.successThreshold: must be 1 for a liveness probe (Kubernetes allows no other value)',
      'spec.probes.startup: must set exactly one of httpGet, grpc, tcpSocket, exec (has none)',
      'spec.egress[0].to.cidr: "10.0.0.0/33" is not a CIDR block (e.g. 203.0.113.0/24 or 2001:db8::/32)',
      'spec.egress[1].to: must set exactly one of cidr, namespace (has cidr, namespace)',
      'spec.egress[2].to: must set exactly one of cidr, namespace (has namespace)'.replace('has namespace', 'has namespace'),
      'spec.egress[2].to.except: carves addresses out of a CIDR block; it goes with to.cidr',
      'spec.serviceAccount.rules[0].verbs[1]: "escalate" is not granted to modules (it would let one grant itself more); list the verbs it uses',
      'spec.serviceAccount.rules[0].resources[0]: "*": list the resources the module uses',
      'spec.metrics.port: port pub is exposed to players; metrics are admitted from monitoring namespaces only: serve them on a port without expose',
    ].filter((l) => !l.startsWith('spec.egress[2].to: ')));
  });

  test('podLabels in anvil.dev/ and spec.service without an exposed port', () => {
    expect(problems({ ports: [tcp('http', 8080)], podLabels: { 'anvil.dev/world': 'x' }, service: { externalTrafficPolicy: 'Local' } } as never)).toEqual([
      'spec.podLabels: label keys may not use the anvil.dev/ prefix: Anvil sets those itself',
      'spec.service: applies to the Services that expose ports to players, and no port has expose; set ports[].expose or remove spec.service',
    ]);
  });
});

describe('regions place pods', () => {
  const regions = {
    'eu-west': { nodeSelector: { 'topology.kubernetes.io/region': 'eu-west-1' }, tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'games', effect: 'NoSchedule' }] },
    'us-east': { nodeSelector: { 'topology.kubernetes.io/region': 'us-east-1' } },
  };

  test("a world's pods get its region's nodeSelector and tolerations, merged with the module's", () => {
    const objs = render([mod('s', { ports: [tcp('http', 8080)], scheduling: { nodeSelector: { pool: 'fast' } } })], { regions }, { region: 'eu-west' });
    const pod = podOf(objs, 's').spec;
    expect(pod.nodeSelector).toEqual({ 'topology.kubernetes.io/region': 'eu-west-1', pool: 'fast' });
    expect(pod.tolerations).toEqual(regions['eu-west'].tolerations);
  });

  test('no regions declared: a region is only a label, as before', () => {
    const pod = podOf(render([mod('s', { ports: [tcp('http', 8080)] })], {}, { region: 'eu-west' }), 's').spec;
    expect(pod.nodeSelector).toBeUndefined();
    expect(pod.tolerations).toBeUndefined();
  });

  test('a world or pool in an undeclared region is a synth error with did-you-mean, naming each, and nothing is written', () => {
    const out = mkdtempSync(join(tmpdir(), 'anvil-regions-'));
    try {
      const app = new AnvilApp({ outdir: join(out, 'dist'), reconcilerImage: false, regions, onDiagnostic: () => undefined });
      const s = new Module(app.definitions, 's', { version: '1.0.0', image: 'x/y:1', ports: [tcp('http', 8080)] });
      const g = new Game(app.definitions, 'g', { modules: [s] });
      new World(app.definitions, 'ok', { game: g, namespace: 'games', region: 'eu-west' });
      new World(app.definitions, 'typo', { game: g, namespace: 'games', region: 'eu-wset' });
      new WorldPool(app.definitions, 'pool', { game: g, namespace: 'games', region: 'us-est' });
      let err: unknown;
      try {
        app.synth();
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(AnvilInputError);
      const lines = (err as Error).message.split('\n').filter((l) => l.includes('RegionNotDeclared') || l.includes('not declared'));
      expect(lines).toHaveLength(2);
      expect(lines[0]).toContain('region eu-wset is not declared in AnvilApp({regions}) (did you mean eu-west?)');
      expect(lines[1]).toContain('region us-est is not declared in AnvilApp({regions}) (did you mean us-east?)');
      expect((err as Error).message).toContain('WorldPool/games/pool');
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });

  test('the same check the reconciler runs on a dynamic world: undeclared, or no region at all, with did-you-mean', () => {
    const w = (region?: string) => world('w', 'g', region ? { region } : {}) as never;
    expect(checkRegions([w('eu-west')], regions)).toEqual([]);
    expect(checkRegions([w('ue-west')], undefined)).toEqual([]);
    expect(checkRegions([w('ue-west'), w()], regions).map((d) => `${d.source} ${d.field}: ${d.message}`)).toEqual([
      'WorldInstance/games/w spec.region: region ue-west is not declared in AnvilApp({regions}) (did you mean eu-west?); declared: eu-west, us-east',
      'WorldInstance/games/w spec.region: has no region (so: default), which is not declared in AnvilApp({regions}); declared: eu-west, us-east',
    ]);
  });

  test("synth hands its settings (regions, monitoring) to the reconciler, which renders dynamic worlds with them", () => {
    const app = new AnvilApp({ outdir: join(tmpdir(), 'anvil-unused'), regions, monitoring: { podMonitors: true }, onDiagnostic: () => undefined });
    new Module(app.definitions, 's', { version: '1.0.0', image: 'x/y:1' });
    app.render();
    const objs = app.charts.flatMap((c: Chart) => c.toJson()) as K[];
    const cm = objs.find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'anvil-reconciler-settings')!;
    expect(JSON.parse(cm.data['settings.json'])).toEqual({ ...DEFAULT_SETTINGS, regions, monitoring: { podMonitors: true } });
    const d = objs.find((o) => o.kind === 'Deployment' && o.metadata.name === 'anvil-reconciler')!;
    expect(d.spec.template.spec.containers[0].args).toContain('--settings=/etc/anvil/settings/settings.json');
    const role = objs.find((o) => o.kind === 'ClusterRole' && o.metadata.name === 'anvil-reconciler')!;
    expect(role.rules).toContainEqual({ apiGroups: ['monitoring.coreos.com'], resources: ['podmonitors'], verbs: ['list', 'watch', 'get', 'create', 'patch', 'delete'] });
  });
});
