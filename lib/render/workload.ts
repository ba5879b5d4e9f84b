/**
 * One running instance of a module: its Deployment, Service, NetworkPolicy and (with
 * `storage`) PersistentVolumeClaim. Pods meet the "restricted" Pod Security Standard, wait
 * for the DNS names of their required providers, and learn each dependency's address from
 * the environment.
 */
import { ApiObject, JsonPatch } from 'cdk8s';
import { Construct } from 'constructs';
import { k8s } from '../../imports/k8s.js';
import type { Booklet, ModuleManifest, Port } from '../api/schema.js';
import { envName } from '../names/names.js';
import { EXPOSE_TYPES } from '../api/schema.js';
import { ANNOTATION_WHEN_MODULE_REMOVED, ANNOTATION_WHEN_WORLD_DELETED, LABEL_BOOKLET, LABEL_EXPOSE, LABEL_WORLD, LABEL_MODULE, LABEL_WORLDS_NAMESPACE, USES_PREFIX, selectorLabels, workloadLabels, type Placement } from './labels.js';
import { exposedServiceName, providerAddress, providerPlacement, serviceHost, workloadName } from './topology.js';
import { isGlobalModule, scopeOf } from '../resolve/resolve.js';
import type { RenderSettings } from './settings.js';
import { workloadIdentity } from './identity.js';
import { containerProbes, envFrom, modulePort, nodeSelector, podExtras, podSecurityContext, regionOf, restrictedContainer, userEnv, userVolumes, withRegionAffinity } from './pod.js';
import { mergePodTemplate } from './podTemplate.js';
import { declaredEgress, metricsIngress, metricsPort } from './traffic.js';

/** A requirement with the providers it was bound to. */
export interface Dependency {
  capabilityId: string;
  multiplicity: '1' | 'many';
  optional: boolean;
  providers: ModuleManifest[];
}

export interface ModuleWorkloadProps {
  module: ModuleManifest;
  placement: Placement;
  /** Total shards of the world, for ANVIL_SHARDS. */
  shards?: number;
  dependencies: readonly Dependency[];
  /** Modules of the same world bound to this one: the only pods admitted (besides openIngress). */
  consumers: readonly ModuleManifest[];
  /** Admit any client on the module's ports: root modules and gateways face players. */
  openIngress: boolean;
  /** The world's action route table, mounted into routesActions modules. */
  routesConfigMap?: string;
  booklet?: Booklet;
  settings: RenderSettings;
  /** The Deployment's progress deadline: the game's rollout policy's (default 600 s, Kubernetes' own default, set explicitly). */
  progressDeadlineSeconds?: number;
}

const ROUTES_DIR = '/etc/anvil/routes';
export const ROUTES_FILE = 'action_routes.yaml';

const quantities = (m: Record<string, string | number> | undefined): Record<string, k8s.Quantity> | undefined =>
  m === undefined
    ? undefined
    : Object.fromEntries(
        Object.keys(m)
          .sort()
          .map((k) => [k, typeof m[k] === 'number' ? k8s.Quantity.fromNumber(m[k] as number) : k8s.Quantity.fromString(String(m[k]))]),
      );


export class ModuleWorkload extends Construct {
  readonly name: string;
  readonly deployment: k8s.KubeDeployment;
  readonly service?: k8s.KubeService;

  constructor(scope: Construct, id: string, props: ModuleWorkloadProps) {
    super(scope, id);
    const { module, placement: at } = props;
    const spec = module.spec;
    this.name = workloadName(module, at);
    const namespace = at.namespace;
    const labels = workloadLabels(module, at, this.name);
    const selector = selectorLabels(module, at);
    const ports = spec.ports ?? [];
    const replicas = spec.replicas ?? 1;

    // The claim (when the module has storage) comes before the Deployment that mounts it.
    const storage = spec.storage ? dataClaim(this, this.name, spec.storage, { namespace, labels }) : undefined;
    // Its identity before the pods that use it.
    const serviceAccount = workloadIdentity(this, module, { name: this.name, namespace, labels });
    const region = regionOf(module, at.region, props.settings.regions);
    this.deployment = new k8s.KubeDeployment(this, 'deployment', {
      metadata: { name: this.name, namespace, labels },
      spec: {
        replicas,
        revisionHistoryLimit: 3,
        progressDeadlineSeconds: props.progressDeadlineSeconds ?? 600,
        selector: { matchLabels: selector },
        // A ReadWriteOnce volume cannot be attached to the old and the new pod at once.
        strategy: spec.storage ? { type: 'Recreate' } : { type: 'RollingUpdate' },
        template: {
          metadata: { labels: podLabels(props, labels), ...(spec.podAnnotations ? { annotations: { ...spec.podAnnotations } } : {}) },
          spec: podSpec(props, selector, storage, serviceAccount),
        },
      },
    });
    // Affinity and tolerations are passed through as the user wrote them (the API server
    // validates them on the Pod); booklet colocation adds one required pod-affinity term.
    const affinity = withBooklet(withRegionAffinity(spec.scheduling?.affinity, region), props.booklet, at);
    if (affinity) this.deployment.addJsonPatch(JsonPatch.add('/spec/template/spec/affinity', affinity));
    const tolerations = [...(region?.tolerations ?? []), ...(spec.scheduling?.tolerations ?? [])];
    if (tolerations.length) this.deployment.addJsonPatch(JsonPatch.add('/spec/template/spec/tolerations', tolerations));
    // The escape hatch last, onto everything above (lib/render/podTemplate.ts).
    if (spec.podTemplate) {
      const template = (this.deployment.toJson() as { spec: { template: Record<string, unknown> } }).spec.template;
      this.deployment.addJsonPatch(JsonPatch.replace('/spec/template', mergePodTemplate(template, spec.podTemplate)));
    }

    if (ports.length > 0) {
      this.service = new k8s.KubeService(this, 'service', {
        metadata: { name: this.name, namespace, labels },
        spec: {
          type: 'ClusterIP',
          selector,
          ports: ports.map((p) => ({ name: p.name, port: p.port, targetPort: k8s.IntOrString.fromString(p.name), protocol: p.protocol ?? 'TCP' })),
        },
      });
    }

    exposedServices(this, this.name, ports, { namespace, labels, selector, service: spec.service });
    if (spec.metrics && props.settings.monitoring?.podMonitors) podMonitor(this, this.name, module, { namespace, labels, selector });

    new NetworkPolicyFor(this, 'network-policy', { ...props, name: this.name, labels, selector });

    // …and a voluntary disruption (a drain) takes at most one replica at a time.
    if (replicas > 1) {
      new k8s.KubePodDisruptionBudget(this, 'pdb', {
        metadata: { name: this.name, namespace, labels },
        spec: { maxUnavailable: k8s.IntOrString.fromNumber(1), selector: { matchLabels: selector } },
      });
    }
  }
}

/**
 * The value of `uses.anvil.dev/<provider>` that the provider's policy admits: its region for
 * a region-scoped provider (it admits only the consumers of its own region), else "true".
 */
const usesValue = (provider: ModuleManifest, region: string | undefined): string => (scopeOf(provider) === 'region' ? (region ?? 'default') : 'true');

/** The workload's labels, a `uses.anvil.dev/<module>` label per global provider (its policy admits them) and the booklet. */
function podLabels(props: ModuleWorkloadProps, labels: Record<string, string>): Record<string, string> {
  const usesLabels = Object.fromEntries(
    props.dependencies
      .flatMap((d) => d.providers)
      .filter(isGlobalModule)
      .map((p) => [`${USES_PREFIX}${p.metadata.name}`, usesValue(p, props.placement.region)] as const)
      .sort(([a], [b]) => a.localeCompare(b)),
  );
  return { ...props.module.spec.podLabels, ...labels, ...usesLabels, ...(props.booklet ? { [LABEL_BOOKLET]: props.booklet.name } : {}) };
}

/** The module's own storage: a claim (ReadWriteOnce unless the module says ReadWriteMany) named `<workload>-data`, and where it is mounted. */
function dataClaim(
  scope: Construct,
  name: string,
  storage: NonNullable<ModuleManifest['spec']['storage']>,
  at: { namespace: string; labels: Record<string, string> },
): { claimName: string; mountPath: string } {
  const claimName = `${name}-data`;
  const retention = storage.retention ?? {};
  new k8s.KubePersistentVolumeClaim(scope, 'data', {
    metadata: {
      name: claimName,
      namespace: at.namespace,
      labels: at.labels,
      // The policy travels with the claim: cleanup reads it from the live object (render/labels.ts).
      annotations: {
        [ANNOTATION_WHEN_MODULE_REMOVED]: retention.whenModuleRemoved ?? 'Retain',
        ...(retention.whenWorldDeleted === 'Retain' ? { [ANNOTATION_WHEN_WORLD_DELETED]: 'Retain' } : {}),
      },
    },
    spec: {
      accessModes: [storage.accessMode ?? 'ReadWriteOnce'],
      resources: { requests: { storage: k8s.Quantity.fromString(storage.size) } },
      ...(storage.storageClassName ? { storageClassName: storage.storageClassName } : {}),
    },
  });
  return { claimName, mountPath: storage.mountPath };
}

/** The pod: restricted security context, the module's container, the dependency wait and the volumes. */
function podSpec(
  props: ModuleWorkloadProps,
  selector: Record<string, string>,
  storage: { claimName: string; mountPath: string } | undefined,
  serviceAccount: string | undefined,
): k8s.PodSpec {
  const spec = props.module.spec;
  const ports = spec.ports ?? [];
  const { volumes, mounts } = podVolumes(props.routesConfigMap, storage);
  const own = userVolumes(spec);
  const resources = spec.resources ?? props.settings.defaultResources;
  // More than one replica: spread over nodes, so losing or draining one node leaves the others.
  const spread: k8s.TopologySpreadConstraint[] | undefined =
    (spec.replicas ?? 1) > 1 ? [{ maxSkew: 1, topologyKey: 'kubernetes.io/hostname', whenUnsatisfiable: 'DoNotSchedule', labelSelector: { matchLabels: selector } }] : undefined;
  const initContainers = dependencyWait(props);
  const nodes = nodeSelector(spec, regionOf(props.module, props.placement.region, props.settings.regions));
  return {
    ...podExtras(spec, serviceAccount),
    enableServiceLinks: false,
    securityContext: podSecurityContext(spec),
    ...(spec.scheduling?.priorityClassName ? { priorityClassName: spec.scheduling.priorityClassName } : {}),
    ...(nodes ? { nodeSelector: nodes } : {}),
    ...(spread ? { topologySpreadConstraints: spread } : {}),
    initContainers: initContainers.length ? initContainers : undefined,
    containers: [
      {
        name: 'module',
        image: spec.image,
        ...(spec.command ? { command: [...spec.command] } : {}),
        ...(spec.args ? { args: [...spec.args] } : {}),
        ports: ports.map((p) => ({ name: p.name, containerPort: p.port, protocol: p.protocol ?? 'TCP' })),
        env: moduleEnv(props),
        envFrom: envFrom(spec),
        resources: { requests: quantities(resources.requests), limits: quantities(resources.limits) },
        securityContext: restrictedContainer(spec.securityContext?.readOnlyRootFilesystem ?? true),
        volumeMounts: [...mounts, ...own.mounts],
        ...containerProbes(spec),
      },
    ],
    volumes: [...volumes, ...own.volumes],
  };
}

/** Who am I, where are my dependencies: Anvil's variables, then the module's own (which win). */
function moduleEnv(props: ModuleWorkloadProps): k8s.EnvVar[] {
  const { module, placement: at } = props;
  const spec = module.spec;
  const anvilEnv: k8s.EnvVar[] = [
    { name: 'ANVIL_MODULE', value: module.metadata.name },
    { name: 'ANVIL_MODULE_VERSION', value: spec.version },
    { name: 'ANVIL_SCOPE', value: scopeOf(module) },
    ...(at.world ? [{ name: 'ANVIL_WORLD', value: at.world }] : []),
    ...(at.region ? [{ name: 'ANVIL_REGION', value: at.region }] : []),
    ...(at.shard !== undefined ? [{ name: 'ANVIL_SHARD', value: String(at.shard) }, { name: 'ANVIL_SHARDS', value: String(props.shards ?? 1) }] : []),
    ...props.dependencies
      .filter((d) => d.providers.length > 0)
      .map((d) => ({
        name: `ANVIL_DEP_${envName(d.capabilityId)}`,
        value: d.providers.map((p) => providerAddress(p, at)).join(','),
      })),
    ...(props.routesConfigMap ? [{ name: 'ACTION_ROUTES_CONFIG', value: `${ROUTES_DIR}/${ROUTES_FILE}` }] : []),
  ];
  const own = userEnv(spec);
  return [...anvilEnv.filter((e) => !own.some((u) => u.name === e.name)), ...own];
}

/** Readiness coordination: an init container that waits for the DNS of every required provider. */
function dependencyWait(props: ModuleWorkloadProps): k8s.Container[] {
  const at = props.placement;
  const waitFor = [
    ...new Set(
      props.dependencies
        .filter((d) => !d.optional)
        .flatMap((d) => d.providers.map((p) => serviceHost(p, providerPlacement(p, at)))),
    ),
  ].sort();
  if (waitFor.length === 0) return [];
  return [
    {
      name: 'wait-for-dependencies',
      image: props.settings.initImage,
      command: [
        'sh',
        '-c',
        'for host in "$@"; do until nslookup "$host" >/dev/null 2>&1; do echo "waiting for $host"; sleep 2; done; done',
        'wait-for-dependencies',
        ...waitFor,
      ],
      securityContext: restrictedContainer(),
      resources: {
        requests: { cpu: k8s.Quantity.fromString('10m'), memory: k8s.Quantity.fromString('16Mi') },
        limits: { memory: k8s.Quantity.fromString('32Mi') },
      },
    },
  ];
}

/** A writable /tmp (the root filesystem is read-only), the action routes and the module's storage. */
function podVolumes(routesConfigMap: string | undefined, storage: { claimName: string; mountPath: string } | undefined): { volumes: k8s.Volume[]; mounts: k8s.VolumeMount[] } {
  const volumes: k8s.Volume[] = [{ name: 'tmp', emptyDir: {} }];
  const mounts: k8s.VolumeMount[] = [{ name: 'tmp', mountPath: '/tmp' }];
  if (routesConfigMap) {
    volumes.push({ name: 'action-routes', configMap: { name: routesConfigMap } });
    mounts.push({ name: 'action-routes', mountPath: ROUTES_DIR, readOnly: true });
  }
  if (storage) {
    volumes.push({ name: 'data', persistentVolumeClaim: { claimName: storage.claimName } });
    mounts.push({ name: 'data', mountPath: storage.mountPath });
  }
  return { volumes, mounts };
}

/**
 * The Services players use: one per `expose` type with the ports exposed that way. In-cluster
 * consumers keep using the ClusterIP Service.
 */
function exposedServices(
  scope: Construct,
  name: string,
  ports: readonly Port[],
  at: { namespace: string; labels: Record<string, string>; selector: Record<string, string>; service: ModuleManifest['spec']['service'] },
): void {
  for (const type of EXPOSE_TYPES) {
    const exposed = ports.filter((p) => p.expose?.type === type);
    if (exposed.length === 0) continue;
    new k8s.KubeService(scope, `service-${type.toLowerCase()}`, {
      metadata: {
        name: exposedServiceName(name, type),
        namespace: at.namespace,
        labels: { ...at.labels, [LABEL_EXPOSE]: type },
        ...(at.service?.annotations ? { annotations: { ...at.service.annotations } } : {}),
      },
      spec: {
        type,
        ...(at.service?.externalTrafficPolicy ? { externalTrafficPolicy: at.service.externalTrafficPolicy } : {}),
        selector: at.selector,
        ports: exposed.map((p) => ({
          name: p.name,
          port: p.port,
          targetPort: k8s.IntOrString.fromString(p.name),
          protocol: p.protocol ?? 'TCP',
          ...(p.expose?.nodePort !== undefined ? { nodePort: p.expose.nodePort } : {}),
        })),
      },
    });
  }
}

function withBooklet(user: Record<string, unknown> | undefined, booklet: Booklet | undefined, at: Placement): Record<string, unknown> | undefined {
  if (!booklet) return user;
  const term = {
    labelSelector: { matchLabels: { [LABEL_BOOKLET]: booklet.name, ...(at.world ? { [LABEL_WORLD]: at.world } : {}) } },
    topologyKey: booklet.strategy === 'SameNode' ? 'kubernetes.io/hostname' : 'topology.kubernetes.io/zone',
  };
  const podAffinity = (user?.podAffinity ?? {}) as Record<string, unknown>;
  const required = (podAffinity.requiredDuringSchedulingIgnoredDuringExecution ?? []) as unknown[];
  return { ...user, podAffinity: { ...podAffinity, requiredDuringSchedulingIgnoredDuringExecution: [...required, term] } };
}

interface NetworkPolicyProps extends ModuleWorkloadProps {
  name: string;
  labels: Record<string, string>;
  selector: Record<string, string>;
}

/**
 * Deny by default, allow exactly the bound edges: egress to each provider's pods on its
 * ports (and DNS), ingress from each bound consumer — or from anyone, for modules that face
 * clients. A global provider admits the pods labelled `uses.anvil.dev/<module>` in its own
 * namespace and in namespaces that host worlds (labelled `anvil.dev/worlds: "true"`), so a
 * new world's consumers need no change to the shared provider's policy, and a pod that
 * labels itself in an unrelated namespace is not admitted. A region-scoped provider admits
 * only its own region's users: their label's value is the region (usesValue).
 */
class NetworkPolicyFor extends Construct {
  constructor(scope: Construct, id: string, props: NetworkPolicyProps) {
    super(scope, id);
    const { module, placement: at } = props;
    const ports = (module.spec.ports ?? []).map((p) => ({ port: k8s.IntOrString.fromNumber(p.port), protocol: p.protocol ?? 'TCP' }));
    const dns: k8s.NetworkPolicyEgressRule = {
      ports: [
        { port: k8s.IntOrString.fromNumber(53), protocol: 'UDP' },
        { port: k8s.IntOrString.fromNumber(53), protocol: 'TCP' },
      ],
    };
    const providers = [...new Map(props.dependencies.flatMap((d) => d.providers).map((p) => [p.metadata.name, p])).values()].sort(
      (a, b) => a.metadata.name.localeCompare(b.metadata.name),
    );
    const egress: k8s.NetworkPolicyEgressRule[] = [
      dns,
      ...providers.map((p) => {
        const pAt = providerPlacement(p, at);
        const podSelector = { matchLabels: { [LABEL_MODULE]: p.metadata.name, ...(pAt.world ? { [LABEL_WORLD]: pAt.world } : {}) } };
        const peer: k8s.NetworkPolicyPeer =
          pAt.namespace === at.namespace
            ? { podSelector }
            : { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': pAt.namespace } }, podSelector };
        return {
          to: [peer],
          ports: (p.spec.ports ?? []).map((port) => ({ port: k8s.IntOrString.fromNumber(port.port), protocol: port.protocol ?? 'TCP' })),
        };
      }),
      ...declaredEgress(module),
    ];

    let ingress: k8s.NetworkPolicyIngressRule[] = [];
    // Exposed ports admit anyone (players come from outside the cluster); never the metrics port.
    const metrics = metricsPort(module);
    const exposed = (module.spec.ports ?? []).filter((p) => p.expose && p.port !== metrics).map((p) => ({ port: k8s.IntOrString.fromNumber(p.port), protocol: p.protocol ?? 'TCP' }));
    const gamePorts = (module.spec.ports ?? []).filter((p) => p.port !== metrics).map((p) => ({ port: k8s.IntOrString.fromNumber(p.port), protocol: p.protocol ?? 'TCP' }));
    if (ports.length > 0) {
      if (props.openIngress) {
        if (gamePorts.length > 0) ingress = [{ ports: gamePorts }];
      } else {
        const from: k8s.NetworkPolicyPeer[] = [];
        if (isGlobalModule(module)) {
          const uses = { matchLabels: { [`${USES_PREFIX}${module.metadata.name}`]: usesValue(module, at.region) } };
          from.push({ podSelector: uses }, { namespaceSelector: { matchLabels: { [LABEL_WORLDS_NAMESPACE]: 'true' } }, podSelector: uses });
        }
        for (const c of [...props.consumers].sort((a, b) => a.metadata.name.localeCompare(b.metadata.name))) {
          from.push({ podSelector: { matchLabels: { [LABEL_MODULE]: c.metadata.name, ...(at.world ? { [LABEL_WORLD]: at.world } : {}) } } });
        }
        if (from.length > 0) ingress = [{ from, ports }];
        if (exposed.length > 0) ingress.push({ ports: exposed });
      }
    }
    ingress.push(...metricsIngress(module));

    new k8s.KubeNetworkPolicy(this, 'policy', {
      metadata: { name: props.name, namespace: at.namespace, labels: props.labels },
      spec: {
        podSelector: { matchLabels: props.selector },
        policyTypes: ['Ingress', 'Egress'],
        ingress,
        egress,
      },
    });
  }
}

/** A Prometheus Operator PodMonitor for the module's metrics port (AnvilApp `monitoring.podMonitors`). */
function podMonitor(scope: Construct, name: string, module: ModuleManifest, at: { namespace: string; labels: Record<string, string>; selector: Record<string, string> }): void {
  const metrics = module.spec.metrics!;
  const port = modulePort(module.spec.ports ?? [], metrics.port);
  new ApiObject(scope, 'pod-monitor', {
    apiVersion: 'monitoring.coreos.com/v1',
    kind: 'PodMonitor',
    metadata: { name, namespace: at.namespace, labels: at.labels },
    spec: {
      selector: { matchLabels: at.selector },
      podMetricsEndpoints: [{ port: port?.name ?? String(metrics.port), path: metrics.path ?? '/metrics' }],
    },
  });
}
