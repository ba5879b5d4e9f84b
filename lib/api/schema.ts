/**
 * The anvil.dev/v1alpha1 API: one source of truth.
 *
 * Each schema below is at once the OpenAPI v3 schema written into the CRD (dist/), the
 * TypeScript type the library works with (generated into types.ts with the descriptions as
 * TSDoc, equal to `Static<typeof …>`), and the JSON schema the CLI
 * and the reconciler validate input with (ajv) before resolving it. Keep them structural
 * (every node typed, no anyOf/const/patternProperties) so the API server accepts them.
 */
import { Type, type TSchema } from '@sinclair/typebox';

export const GROUP = 'anvil.dev';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;

export const SCOPES = ['cluster', 'region', 'world', 'world-shard', 'session'] as const;
export type Scope = (typeof SCOPES)[number];
export const MULTIPLICITIES = ['1', 'many'] as const;
export type Multiplicity = (typeof MULTIPLICITIES)[number];
export const DEPENDENCY_MODES = ['required', 'optional'] as const;
export type DependencyMode = (typeof DEPENDENCY_MODES)[number];
export const PROTOCOLS = ['TCP', 'UDP', 'SCTP'] as const;
export const EXPOSE_TYPES = ['LoadBalancer', 'NodePort'] as const;
export type ExposeType = (typeof EXPOSE_TYPES)[number];
export const STORAGE_ACCESS_MODES = ['ReadWriteOnce', 'ReadWriteMany'] as const;
export type StorageAccessMode = (typeof STORAGE_ACCESS_MODES)[number];
export const BOOKLET_STRATEGIES = ['SameNode', 'SameZone'] as const;
export type BookletStrategy = (typeof BOOKLET_STRATEGIES)[number];
export const WORLD_PHASES = ['Pending', 'Provisioning', 'Running', 'Degraded', 'Failed', 'Terminating'] as const;
export type WorldPhase = (typeof WORLD_PHASES)[number];

/** The capability id of the synthetic binding that makes a root module part of a world. */
export const ROOT_CAPABILITY = 'root';

/** SemVer 2.0.0, the regular expression semver.org publishes. */
export const SEMVER_PATTERN =
  '^(0|[1-9]\\d*)\\.(0|[1-9]\\d*)\\.(0|[1-9]\\d*)(?:-((?:0|[1-9]\\d*|\\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\\.(?:0|[1-9]\\d*|\\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\\+([0-9a-zA-Z-]+(?:\\.[0-9a-zA-Z-]+)*))?$';
/** A DNS-1123 label: what module, world and capability names become in object names. */
export const DNS_LABEL_PATTERN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$';
/** Capability ids may be dotted (`physics.engine`), like DNS subdomains. */
export const CAPABILITY_ID_PATTERN = '^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$';
/** A Kubernetes quantity as storage sizes are written (`512Mi`, `2Gi`). */
export const QUANTITY_PATTERN = '^[0-9]+(\\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$';

// ---- helpers that keep schemas structural --------------------------------------------

/** A string enum as Kubernetes wants it (`enum`, not `anyOf` of `const`), typed as a union. */
function stringEnum<T extends readonly string[]>(values: T, opts: { default?: T[number]; description?: string } = {}) {
  return Type.Unsafe<T[number]>({ type: 'string', enum: [...values], ...opts });
}
const dnsLabel = (description: string) =>
  Type.String({ pattern: DNS_LABEL_PATTERN, minLength: 1, maxLength: 63, description });
/** A free-form object (affinity, tolerations): Kubernetes validates it on the Pod. */
const opaqueObject = (description: string) =>
  Type.Unsafe<Record<string, unknown>>({ type: 'object', 'x-kubernetes-preserve-unknown-fields': true, description });
/** `cpu: 1` or `memory: 128Mi`. */
const quantityMap = (description: string) =>
  Type.Unsafe<Record<string, string | number>>({
    type: 'object',
    additionalProperties: { 'x-kubernetes-int-or-string': true, anyOf: [{ type: 'integer' }, { type: 'string' }] },
    description,
  });
const stringMap = (description: string) =>
  Type.Unsafe<Record<string, string>>({ type: 'object', additionalProperties: { type: 'string' }, description });
/**
 * A CEL rule for the API server and, next to it, the same rule in TypeScript for Anvil's own
 * validation (lib/api/structural.ts), so the two are written, and reviewed, together. The
 * check is a function: it never reaches the CRD (JSON drops it).
 */
const celRule = (rule: string, message: string, fieldPath: string | undefined, check: (self: any) => boolean) => ({
  rule,
  message,
  ...(fieldPath ? { fieldPath } : {}),
  check,
});

/** A label value, as Kubernetes allows it. */
const LABEL_VALUE_PATTERN = '^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$';
/** A qualified label key (`prefix/name`); the anvil.dev/ prefix is Anvil's own. */
const LABEL_KEY_PATTERN = '^([a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$';
const RESERVED_PREFIX_RULE = (what: string) =>
  celRule("self.all(k, !k.startsWith('anvil.dev/'))", `${what} may not use the anvil.dev/ prefix: Anvil sets those itself`, undefined, (self) =>
    Object.keys(self ?? {}).every((k) => !k.startsWith('anvil.dev/')),
  );
/** Labels stamped on worlds: valid label keys and values, none of Anvil's own. */
const labelMap = (description: string) =>
  Type.Unsafe<Record<string, string>>({
    type: 'object',
    maxProperties: 64,
    additionalProperties: { type: 'string', maxLength: 63, pattern: LABEL_VALUE_PATTERN },
    description,
    'x-kubernetes-validations': [
      celRule(`self.all(k, k.matches('${LABEL_KEY_PATTERN}'))`, 'keys must be label keys ([prefix/]name)', undefined, (self) =>
        Object.keys(self ?? {}).every((k) => new RegExp(LABEL_KEY_PATTERN).test(k)),
      ),
      RESERVED_PREFIX_RULE('label keys'),
    ],
  });
/** Annotations stamped on worlds: any values, none of Anvil's own keys. */
const annotationMap = (description: string) =>
  Type.Unsafe<Record<string, string>>({
    type: 'object',
    maxProperties: 64,
    additionalProperties: { type: 'string', maxLength: 4096 },
    description,
    'x-kubernetes-validations': [RESERVED_PREFIX_RULE('annotation keys')],
  });

// ---- ModuleManifest ------------------------------------------------------------------

export const PortSchema = Type.Object({
  name: Type.String({ pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$', maxLength: 15, description: 'IANA_SVC_NAME' }),
  port: Type.Integer({ minimum: 1, maximum: 65535, description: 'The port the container listens on, and its Service port' }),
  protocol: Type.Optional(stringEnum(PROTOCOLS, { default: 'TCP' })),
  // Issue 11: players outside the cluster reach this port through a Service of this type.
  expose: Type.Optional(
    Type.Object({
      type: stringEnum(EXPOSE_TYPES, { description: 'LoadBalancer (the cloud gives an address) or NodePort (every node, a port in 30000-32767)' }),
      nodePort: Type.Optional(Type.Integer({ minimum: 30000, maximum: 32767, description: 'Only for NodePort; default: the cluster picks one' })),
    }, { description: 'Players outside the cluster reach this port through a Service of this type' }),
  ),
});

export const ProvidedCapabilitySchema = Type.Object({
  capabilityId: Type.String({ pattern: CAPABILITY_ID_PATTERN, maxLength: 63, description: 'What the module provides, e.g. physics (dots allowed: physics.engine)' }),
  version: Type.String({ pattern: SEMVER_PATTERN, maxLength: 128, description: 'SemVer of the capability contract' }),
  actions: Type.Optional(
    Type.Array(Type.String({ pattern: '^[a-z][a-z0-9_.-]*$', maxLength: 63 }), {
      maxItems: 128,
      'x-kubernetes-list-type': 'set',
      description: 'Player actions this capability serves; routed by routesActions modules',
    }),
  ),
});

export const RequirementSchema = Type.Object(
  {
    capabilityId: Type.String({ pattern: CAPABILITY_ID_PATTERN, maxLength: 63, description: 'The capability the module needs, e.g. physics' }),
    versionConstraint: Type.String({ minLength: 1, maxLength: 256, description: 'A SemVer range (npm semver rules)' }),
    scope: stringEnum(SCOPES, { description: 'Only providers of exactly this scope can satisfy it' }),
    multiplicity: Type.Optional(stringEnum(MULTIPLICITIES, { default: '1', description: "'1': the highest matching version; 'many': every matching provider" })),
    dependencyMode: Type.Optional(
      stringEnum(DEPENDENCY_MODES, { default: 'required', description: 'required: unresolved is an error and the pods wait for it; optional: unresolved is a warning' }),
    ),
  },
  {
    'x-kubernetes-validations': [
      celRule("self.capabilityId != 'root'", "capabilityId 'root' is reserved for root bindings", '.capabilityId', (self) => self.capabilityId !== 'root'),
    ],
  },
);

// ---- what a real server needs (issue 17): env from Secrets, files, probes, egress, identity

/** A port of the module, by name (`http`) or number (8080). */
const portRef = (description: string) =>
  Type.Unsafe<number | string>({ 'x-kubernetes-int-or-string': true, anyOf: [{ type: 'integer' }, { type: 'string' }], description });
const keyRef = (what: string) =>
  Type.Object({
    name: Type.String({ minLength: 1, maxLength: 253, description: `The ${what}` }),
    key: Type.String({ minLength: 1, maxLength: 253 }),
    optional: Type.Optional(Type.Boolean()),
  });
const sourceRef = (what: string) =>
  Type.Object({ name: Type.String({ minLength: 1, maxLength: 253, description: `The ${what}` }), optional: Type.Optional(Type.Boolean()) });
const keyToPath = Type.Array(Type.Object({ key: Type.String({ minLength: 1, maxLength: 253 }), path: Type.String({ minLength: 1, maxLength: 1024 }) }), { maxItems: 64 });
const names = (description: string, maxItems = 64) => Type.Array(Type.String({ minLength: 1, maxLength: 253 }), { maxItems, description });

export const EnvVarSchema = Type.Object({
  name: Type.String({ pattern: '^[-._a-zA-Z][-._a-zA-Z0-9]*$' }),
  value: Type.Optional(Type.String()),
  valueFrom: Type.Optional(
    Type.Object({
      secretKeyRef: Type.Optional(keyRef('Secret in the module\'s namespace')),
      configMapKeyRef: Type.Optional(keyRef('ConfigMap in the module\'s namespace')),
      fieldRef: Type.Optional(Type.Object({ fieldPath: Type.String({ minLength: 1, maxLength: 253, description: 'e.g. metadata.name, status.podIP' }) })),
    }),
  ),
});

export const EnvFromSchema = Type.Object({
  secretRef: Type.Optional(sourceRef('Secret')),
  configMapRef: Type.Optional(sourceRef('ConfigMap')),
  prefix: Type.Optional(Type.String({ maxLength: 253 })),
});

export const EMPTY_DIR_MEDIA = ['', 'Memory'] as const;
export const VolumeSchema = Type.Object({
  name: dnsLabel('Volume name'),
  mountPath: Type.String({ pattern: '^/', maxLength: 1024 }),
  readOnly: Type.Optional(Type.Boolean()),
  secret: Type.Optional(Type.Object({ secretName: Type.String({ minLength: 1, maxLength: 253 }), items: Type.Optional(keyToPath), optional: Type.Optional(Type.Boolean()) })),
  configMap: Type.Optional(Type.Object({ name: Type.String({ minLength: 1, maxLength: 253 }), items: Type.Optional(keyToPath), optional: Type.Optional(Type.Boolean()) })),
  emptyDir: Type.Optional(
    Type.Object({
      sizeLimit: Type.Optional(Type.String({ pattern: '^[0-9]+(\\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$' })),
      medium: Type.Optional(stringEnum(EMPTY_DIR_MEDIA, { description: "'' (node disk) or Memory (tmpfs)" })),
    }),
  ),
});

export const ProbeSchema = Type.Object({
  httpGet: Type.Optional(
    Type.Object({
      path: Type.String({ pattern: '^/', maxLength: 1024 }),
      port: portRef('A port of the module, by name or number'),
      scheme: Type.Optional(stringEnum(['HTTP', 'HTTPS'] as const)),
    }),
  ),
  grpc: Type.Optional(Type.Object({ port: portRef('A port of the module, by name or number'), service: Type.Optional(Type.String({ maxLength: 253 })) })),
  tcpSocket: Type.Optional(Type.Object({ port: portRef('A port of the module, by name or number') })),
  exec: Type.Optional(Type.Object({ command: Type.Array(Type.String(), { minItems: 1, maxItems: 64 }) })),
  initialDelaySeconds: Type.Optional(Type.Integer({ minimum: 0, maximum: 3600 })),
  periodSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 3600 })),
  timeoutSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 3600 })),
  successThreshold: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
  failureThreshold: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
});
export const PROBE_KINDS = ['readiness', 'liveness', 'startup'] as const;
export const PROBE_HANDLERS = ['httpGet', 'grpc', 'tcpSocket', 'exec'] as const;

export const EgressRuleSchema = Type.Object({
  to: Type.Object({
    cidr: Type.Optional(Type.String({ maxLength: 64, description: 'An IPv4 or IPv6 block, e.g. 203.0.113.0/24' })),
    except: Type.Optional(Type.Array(Type.String({ maxLength: 64 }), { maxItems: 32 })),
    namespace: Type.Optional(dnsLabel('Pods of this namespace')),
    podLabels: Type.Optional(stringMap('Only the pods of that namespace with these labels')),
  }),
  ports: Type.Array(Type.Object({ port: Type.Integer({ minimum: 1, maximum: 65535 }), protocol: Type.Optional(stringEnum(PROTOCOLS, { default: 'TCP' })) }), {
    minItems: 1,
    maxItems: 32,
  }),
});

/** An rbac.authorization.k8s.io/v1 PolicyRule, for resources (a RoleBinding cannot grant nonResourceURLs). */
export const PolicyRuleSchema = Type.Object({
  apiGroups: Type.Array(Type.String({ maxLength: 253 }), { maxItems: 32 }),
  resources: Type.Array(Type.String({ minLength: 1, maxLength: 253 }), { minItems: 1, maxItems: 64 }),
  verbs: Type.Array(Type.String({ minLength: 1, maxLength: 63 }), { minItems: 1, maxItems: 16 }),
  resourceNames: Type.Optional(names('Only these objects')),
});

const moduleRuntimeFields = {
  envFrom: Type.Optional(Type.Array(EnvFromSchema, { maxItems: 32, description: 'Every key of a Secret or ConfigMap as a variable' })),
  volumes: Type.Optional(
    Type.Array(VolumeSchema, {
      maxItems: 32,
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['name'],
      description: 'Files for the module: exactly one of secret, configMap or emptyDir each',
    }),
  ),
  probes: Type.Optional(
    Type.Object(
      { readiness: Type.Optional(ProbeSchema), liveness: Type.Optional(ProbeSchema), startup: Type.Optional(ProbeSchema) },
      { description: 'Each probe is exactly one of httpGet, grpc, tcpSocket or exec; default: a TCP readiness probe on the first TCP port' },
    ),
  ),
  command: Type.Optional(Type.Array(Type.String(), { maxItems: 64, description: "Replaces the image's entrypoint" })),
  args: Type.Optional(Type.Array(Type.String(), { maxItems: 256, description: "Replaces the image's arguments" })),
  terminationGracePeriodSeconds: Type.Optional(Type.Integer({ minimum: 0, maximum: 86400 })),
  imagePullSecrets: Type.Optional(names('Secrets (docker-registry) in the module\'s namespace to pull the image with', 16)),
  podAnnotations: Type.Optional(annotationMap('Annotations on the pods')),
  podLabels: Type.Optional(labelMap('Labels on the pods (not in anvil.dev/)')),
  service: Type.Optional(
    Type.Object({
      annotations: Type.Optional(annotationMap('Annotations on the Services that expose the module to players (load-balancer settings)')),
      externalTrafficPolicy: Type.Optional(stringEnum(['Cluster', 'Local'] as const, { description: 'Of the exposed Services; Local keeps client addresses' })),
    }),
  ),
  securityContext: Type.Optional(
    Type.Object(
      {
        runAsUser: Type.Optional(Type.Integer({ minimum: 0, maximum: 2147483647 })),
        runAsGroup: Type.Optional(Type.Integer({ minimum: 0, maximum: 2147483647 })),
        fsGroup: Type.Optional(Type.Integer({ minimum: 0, maximum: 2147483647 })),
        readOnlyRootFilesystem: Type.Optional(Type.Boolean()),
      },
      { description: 'Within the restricted Pod Security Standard: runAsNonRoot, no privilege escalation, capabilities dropped and seccomp RuntimeDefault stay' },
    ),
  ),
  egress: Type.Optional(
    Type.Array(EgressRuleSchema, { maxItems: 32, description: 'Destinations beyond DNS and bound providers: exactly one of to.cidr or to.namespace each' }),
  ),
  serviceAccount: Type.Optional(
    Type.Object(
      {
        rules: Type.Optional(Type.Array(PolicyRuleSchema, { maxItems: 32, description: "What the module may do in its own namespace (a ClusterRole synth writes, bound there)" })),
        annotations: Type.Optional(annotationMap('Annotations on the ServiceAccount (cloud workload identity)')),
      },
      { description: 'A ServiceAccount per workload; its token is mounted only then' },
    ),
  ),
  metrics: Type.Optional(
    Type.Object(
      {
        port: portRef('A TCP port of the module, by name or number'),
        path: Type.Optional(Type.String({ pattern: '^/', maxLength: 1024, default: '/metrics' })),
      },
      { description: 'Where Prometheus scrapes the module (a PodMonitor with monitoring.podMonitors)' },
    ),
  ),
  podTemplate: Type.Optional(
    opaqueObject('A core/v1 PodTemplateSpec fragment merged onto what Anvil renders (containers and volumes by name); Anvil\'s security fields and labels win'),
  ),
};

export const ModuleManifestSpecSchema = Type.Object(
  {
    version: Type.String({ pattern: SEMVER_PATTERN, maxLength: 128, description: 'SemVer of the module' }),
    scope: Type.Optional(
      stringEnum(SCOPES, { default: 'world', description: 'How many instances run: one per cluster, region, world, world shard, or per world serving its sessions' }),
    ),
    image: Type.String({ minLength: 1, maxLength: 512, description: 'The container image' }),
    ports: Type.Optional(
      Type.Array(PortSchema, { maxItems: 16, 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['name'], description: 'Ports of the module; with ports it gets a ClusterIP Service' }),
    ),
    provides: Type.Optional(
      Type.Array(ProvidedCapabilitySchema, {
        maxItems: 64,
        'x-kubernetes-list-type': 'map',
        'x-kubernetes-list-map-keys': ['capabilityId'],
        description: 'Capabilities the module provides to the modules that require them',
      }),
    ),
    requires: Type.Optional(
      Type.Array(RequirementSchema, {
        maxItems: 64,
        'x-kubernetes-list-type': 'map',
        'x-kubernetes-list-map-keys': ['capabilityId'],
        description: 'Capabilities the module needs; each becomes an ANVIL_DEP_<CAPABILITY> variable with the host:port of its provider',
      }),
    ),
    replicas: Type.Optional(Type.Integer({ minimum: 0, maximum: 1000, default: 1, description: 'Pods per instance' })),
    resources: Type.Optional(
      Type.Object(
        {
          requests: Type.Optional(quantityMap('e.g. cpu: 100m, memory: 128Mi')),
          limits: Type.Optional(quantityMap('e.g. memory: 256Mi')),
        },
        { description: 'The container\'s resources; default: requests cpu 100m, memory 128Mi, limit memory 256Mi' },
      ),
    ),
    env: Type.Optional(
      Type.Array(EnvVarSchema, {
        maxItems: 128,
        'x-kubernetes-list-type': 'map',
        'x-kubernetes-list-map-keys': ['name'],
        description: 'Environment variables besides the ANVIL_* ones Anvil sets',
      }),
    ),
    scheduling: Type.Optional(
      Type.Object({
        priorityClassName: Type.Optional(Type.String({ maxLength: 253 })),
        nodeSelector: Type.Optional(stringMap('Node labels the pods must match')),
        affinity: Type.Optional(opaqueObject('A core/v1 Affinity, passed through to the pods')),
        tolerations: Type.Optional(Type.Array(opaqueObject('A core/v1 Toleration'), { maxItems: 32 })),
      }, { description: 'Where the pods run, passed through to them' }),
    ),
    storage: Type.Optional(
      Type.Object({
        size: Type.String({ pattern: QUANTITY_PATTERN, description: 'The claim\'s size, a quantity such as 512Mi or 2Gi' }),
        mountPath: Type.String({ pattern: '^/', maxLength: 1024, description: 'Where the claim is mounted in the container' }),
        storageClassName: Type.Optional(Type.String({ maxLength: 253, description: "The claim's StorageClass; default: the cluster's default class" })),
        accessMode: Type.Optional(
          stringEnum(STORAGE_ACCESS_MODES, {
            description: 'ReadWriteOnce (default): one node mounts the claim, so replicas must be 1; ReadWriteMany: every replica mounts it (the storage class must support it)',
          }),
        ),
        // Like a StatefulSet's persistentVolumeClaimRetentionPolicy: data outlives a plan change unless asked.
        retention: Type.Optional(
          Type.Object({
            whenModuleRemoved: Type.Optional(
              stringEnum(['Retain', 'Delete'] as const, { default: 'Retain', description: 'The game (or the catalog) drops this module or its storage: Retain keeps the claim, labelled anvil.dev/orphaned and reported in status; Delete deletes it' }),
            ),
            whenWorldDeleted: Type.Optional(
              stringEnum(['Delete', 'Retain'] as const, { default: 'Delete', description: "The world is deleted: Delete lets the garbage collector remove the claim with it; Retain keeps it (no owner reference), and a new world of the same name adopts it" }),
            ),
          }),
        ),
      }, { description: 'A PersistentVolumeClaim per world, mounted into the module (the Deployment uses the Recreate strategy)' }),
    ),
    routesActions: Type.Optional(
      Type.Boolean({ default: false, description: 'This module is a gateway: it gets the world action route table' }),
    ),
    ...moduleRuntimeFields,
  },
  {
    'x-kubernetes-validations': [
      celRule(
        "!has(self.routesActions) || !self.routesActions || !has(self.scope) || self.scope in ['world', 'world-shard', 'session']",
        'routesActions needs a per-world scope (world, world-shard or session): action routes differ per world',
        '.routesActions',
        (self) => self.routesActions !== true || self.scope === undefined || ['world', 'world-shard', 'session'].includes(self.scope),
      ),
    ],
  },
);

// ---- rollout policy (issue 10) ------------------------------------------------------

export const ROLLOUT_STRATEGIES = ['Rolling', 'Immediate'] as const;
export type RolloutStrategy = (typeof ROLLOUT_STRATEGIES)[number];
export const CLAIMED_WORLDS_POLICIES = ['OnRelease', 'Rolling'] as const;
export type ClaimedWorldsPolicy = (typeof CLAIMED_WORLDS_POLICIES)[number];

/** How a new revision of a game reaches its worlds; no defaults here so that a pool's override can leave a field to its game. */
const rolloutPolicyFields = {
  strategy: Type.Optional(stringEnum(ROLLOUT_STRATEGIES, { description: 'Rolling (default): in batches; Immediate: every world at once' })),
  maxUnavailableWorlds: Type.Optional(
    Type.Unsafe<number | string>({
      'x-kubernetes-int-or-string': true,
      anyOf: [{ type: 'integer' }, { type: 'string' }],
      description: "Worlds updated (so possibly not Running) at once: a count or a percent of the worlds, rounded down, at least 1 (default '25%')",
    }),
  ),
  claimedWorlds: Type.Optional(
    stringEnum(CLAIMED_WORLDS_POLICIES, { description: 'OnRelease (default): a claimed world keeps its revision until its claim is released; Rolling: updated like the others' }),
  ),
};
export const PoolRolloutSchema = Type.Object(rolloutPolicyFields);
export const GameRolloutSchema = Type.Object({
  ...rolloutPolicyFields,
  progressDeadlineSeconds: Type.Optional(
    Type.Integer({ minimum: 1, maximum: 86400, description: 'A batch not Running within this pauses the rollout; also the Deployments\' progressDeadlineSeconds (default 600)' }),
  ),
  paused: Type.Optional(Type.Boolean({ description: 'No new batch starts while true (anvil rollout pause|resume)' })),
  revisionHistoryLimit: Type.Optional(
    Type.Integer({ minimum: 0, maximum: 1000, description: 'Old ControllerRevisions of this game kept besides those in use (a world runs it, the target, the pinned one): the newest this many (default 10); older ones are deleted' }),
  ),
  revision: Type.Optional(
    Type.String({ maxLength: 253, pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$', description: 'Run this ControllerRevision (a rollback: anvil rollout undo); unset: the latest revision of the definitions' }),
  ),
});

// ---- GameDefinition ------------------------------------------------------------------

export const GameDefinitionSpecSchema = Type.Object(
  {
    modules: Type.Array(Type.Object({ name: dnsLabel('A ModuleManifest name') }), {
      minItems: 1,
      maxItems: 256,
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['name'],
      description: 'The modules every world of the game runs',
    }),
    booklets: Type.Optional(
      Type.Array(
        Type.Object({
          name: dnsLabel('Booklet name'),
          // 32, not more: the CEL rule below must stay within the API server's cost budget.
          modules: Type.Array(dnsLabel('A module of this game'), { minItems: 1, maxItems: 32, 'x-kubernetes-list-type': 'set' }),
          strategy: stringEnum(BOOKLET_STRATEGIES, { description: 'Where the booklet modules are colocated' }),
        }),
        { maxItems: 32, 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['name'], description: 'Groups of modules to colocate (same node or same zone)' },
      ),
    ),
    rollout: Type.Optional(Type.Object(GameRolloutSchema.properties, { description: 'How a new revision reaches the worlds of the game, static ones included' })),
  },
  {
    'x-kubernetes-validations': [
      celRule(
        '!has(self.booklets) || self.booklets.all(b, b.modules.all(m, self.modules.exists(x, x.name == m)))',
        'every booklet module must be one of spec.modules',
        '.booklets',
        (self) =>
          self.booklets === undefined ||
          self.booklets.every((b: { modules: string[] }) => b.modules.every((m) => self.modules.some((x: { name: string }) => x.name === m))),
      ),
    ],
  },
);

// ---- WorldInstance -------------------------------------------------------------------

export const WorldInstanceSpecSchema = Type.Object({
  gameRef: Type.Object({ name: dnsLabel('A GameDefinition name') }, { description: 'The game this world runs' }),
  region: Type.Optional(
    Type.String({ pattern: DNS_LABEL_PATTERN, maxLength: 40, default: 'default', description: 'Where the world runs; region-scoped modules run once per region' }),
  ),
  shards: Type.Optional(Type.Integer({ minimum: 1, maximum: 64, default: 1, description: "Instances of the game's world-shard modules" })),
});

export const ConditionSchema = Type.Object({
  type: Type.String({ maxLength: 316 }),
  status: stringEnum(['True', 'False', 'Unknown'] as const),
  // metav1.Condition's reason: CamelCase, machine-readable.
  reason: Type.String({ minLength: 1, maxLength: 1024, pattern: '^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$' }),
  message: Type.String({ maxLength: 32768 }),
  lastTransitionTime: Type.String({ format: 'date-time' }),
  observedGeneration: Type.Optional(Type.Integer({ minimum: 0 })),
});

/** Where clients reach one root module of a world: its Service's DNS name and ports. */
export const EndpointSchema = Type.Object({
  module: dnsLabel('The root module'),
  host: Type.String({ maxLength: 253, description: '<service>.<namespace>.svc' }),
  ports: Type.Array(
    Type.Object({
      name: Type.String({ maxLength: 15 }),
      port: Type.Integer({ minimum: 1, maximum: 65535 }),
      protocol: stringEnum(PROTOCOLS),
      nodePort: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535, description: 'The node port the cluster assigned (ports exposed as NodePort or LoadBalancer)' })),
    }),
    { maxItems: 16 },
  ),
  external: Type.Optional(
    Type.Array(
      Type.Object({
        type: stringEnum(EXPOSE_TYPES),
        name: Type.String({ maxLength: 15, description: 'The port' }),
        port: Type.Integer({ minimum: 1, maximum: 65535 }),
        ip: Type.Optional(Type.String({ maxLength: 64 })),
        hostname: Type.Optional(Type.String({ maxLength: 253 })),
      }),
      { maxItems: 64, description: "Addresses outside the cluster, as the load balancer's status gives them" },
    ),
  ),
});
const EndpointsSchema = Type.Array(EndpointSchema, {
  maxItems: 256,
  'x-kubernetes-list-type': 'map',
  'x-kubernetes-list-map-keys': ['module'],
  description: "One entry per root module of the world",
});

export const WorldInstanceStatusSchema = Type.Object({
  phase: Type.Optional(stringEnum(WORLD_PHASES)),
  observedGeneration: Type.Optional(Type.Integer({ minimum: 0 })),
  conditions: Type.Optional(
    Type.Array(ConditionSchema, { 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['type'] }),
  ),
  bindings: Type.Optional(Type.Integer({ minimum: 0, description: 'CapabilityBindings of this world' })),
  modules: Type.Optional(Type.Integer({ minimum: 0, description: 'Workloads this world runs' })),
  readyModules: Type.Optional(Type.Integer({ minimum: 0, description: 'Workloads that are Available' })),
  runningSince: Type.Optional(Type.String({ format: 'date-time', description: 'When the world first became Running' })),
  managedBy: Type.Optional(stringEnum(['synth', 'reconciler'] as const)),
  endpoints: Type.Optional(EndpointsSchema),
  revision: Type.Optional(Type.String({ maxLength: 253, description: 'The ControllerRevision (in anvil-system) the world is rendered from' })),
  upToDate: Type.Optional(Type.Boolean({ description: "The world runs its game's target revision" })),
  heldModules: Type.Optional(
    Type.Integer({ minimum: 0, description: 'A static world: Deployments holding a newer template (a newer dist) until its rollout batch releases them (spec.paused)' }),
  ),
  orphanedClaims: Type.Optional(
    Type.Array(Type.String({ maxLength: 253 }), {
      maxItems: 256,
      description: 'PersistentVolumeClaims of this world its plan no longer has, kept by their retention policy (labelled anvil.dev/orphaned): delete them by hand when their data is no longer needed',
    }),
  ),
  moduleVersions: Type.Optional(
    Type.Array(Type.Object({ name: dnsLabel('A module of the world'), version: Type.String({ maxLength: 128 }), image: Type.String({ maxLength: 512 }) }), {
      maxItems: 256,
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['name'],
      description: 'The modules of its revision, with version and image',
    }),
  ),
});

// ---- WorldPool -----------------------------------------------------------------------

export const WorldPoolSpecSchema = Type.Object(
  {
    gameRef: Type.Object({ name: dnsLabel('A GameDefinition name') }, { description: "The game of the pool's worlds" }),
    region: Type.Optional(Type.String({ pattern: DNS_LABEL_PATTERN, maxLength: 40, default: 'default', description: 'The region of every world of the pool' })),
    shards: Type.Optional(Type.Integer({ minimum: 1, maximum: 64, default: 1, description: 'Shards of each world' })),
    worldLabels: Type.Optional(labelMap('Labels stamped on every world of the pool')),
    buffer: Type.Optional(
      Type.Object(
        { ready: Type.Optional(Type.Integer({ minimum: 0, maximum: 10000, default: 1, description: 'Unclaimed Running worlds to keep' })) },
        { default: {}, description: 'kubectl scale worldpool sets buffer.ready' },
      ),
    ),
    minWorlds: Type.Optional(Type.Integer({ minimum: 0, maximum: 10000, default: 0, description: 'Never fewer worlds in all' })),
    maxWorlds: Type.Optional(Type.Integer({ minimum: 0, maximum: 10000, default: 100, description: 'Never more worlds in all (claimed included)' })),
    rollout: Type.Optional(Type.Object(rolloutPolicyFields, { description: "Overrides the game's rollout policy for this pool's worlds" })),
  },
  {
    'x-kubernetes-validations': [
      celRule('!has(self.minWorlds) || !has(self.maxWorlds) || self.minWorlds <= self.maxWorlds', 'minWorlds must not exceed maxWorlds', '.minWorlds', (self) =>
        self.minWorlds === undefined || self.maxWorlds === undefined || self.minWorlds <= self.maxWorlds,
      ),
    ],
  },
);

export const WorldPoolStatusSchema = Type.Object({
  ready: Type.Optional(Type.Integer({ minimum: 0, description: 'Unclaimed Running worlds' })),
  claimed: Type.Optional(Type.Integer({ minimum: 0, description: 'Worlds bound to a claim' })),
  starting: Type.Optional(Type.Integer({ minimum: 0, description: 'Unclaimed worlds not Running yet' })),
  total: Type.Optional(Type.Integer({ minimum: 0, description: 'All worlds of the pool' })),
  selector: Type.Optional(Type.String({ description: 'Label selector of the pool worlds (scale subresource)' })),
  observedGeneration: Type.Optional(Type.Integer({ minimum: 0 })),
  conditions: Type.Optional(
    Type.Array(ConditionSchema, { 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['type'] }),
  ),
});

// ---- WorldClaim ----------------------------------------------------------------------

export const CLAIM_PHASES = ['Pending', 'Bound', 'Failed'] as const;
export type ClaimPhase = (typeof CLAIM_PHASES)[number];

export const WorldClaimSpecSchema = Type.Object(
  {
    poolRef: Type.Optional(Type.Object({ name: dnsLabel('A WorldPool in the claim\'s namespace') })),
    selector: Type.Optional(
      Type.Object({
        gameRef: Type.Object({ name: dnsLabel('A GameDefinition name') }),
        region: Type.Optional(Type.String({ pattern: DNS_LABEL_PATTERN, maxLength: 40 })),
        matchLabels: Type.Optional(stringMap("Labels the pool's worldLabels must carry")),
      }),
    ),
    timeoutSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 3600, default: 30, description: 'Failed (PoolExhausted) when not bound by then' })),
    worldLabels: Type.Optional(labelMap('Labels stamped on the bound world (a match id, say)')),
    worldAnnotations: Type.Optional(annotationMap('Annotations stamped on the bound world')),
  },
  {
    'x-kubernetes-validations': [
      celRule('has(self.poolRef) != has(self.selector)', 'exactly one of spec.poolRef or spec.selector must be set', undefined, (self) =>
        (self.poolRef !== undefined) !== (self.selector !== undefined),
      ),
    ],
  },
);

export const WorldClaimStatusSchema = Type.Object({
  phase: Type.Optional(stringEnum(CLAIM_PHASES)),
  worldRef: Type.Optional(Type.Object({ name: dnsLabel('The bound WorldInstance') })),
  endpoints: Type.Optional(EndpointsSchema),
  boundAt: Type.Optional(Type.String({ format: 'date-time', description: 'When the claim was bound (RFC 3339)' })),
  observedGeneration: Type.Optional(Type.Integer({ minimum: 0 })),
  conditions: Type.Optional(
    Type.Array(ConditionSchema, { 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['type'] }),
  ),
});

// ---- CapabilityBinding ---------------------------------------------------------------

export const CapabilityBindingSpecSchema = Type.Object(
  {
    capabilityId: Type.String({ pattern: CAPABILITY_ID_PATTERN, maxLength: 63 }),
    scope: stringEnum(SCOPES),
    multiplicity: stringEnum(MULTIPLICITIES),
    consumer: Type.Object({
      kind: stringEnum(['ModuleManifest', 'WorldInstance'] as const),
      name: dnsLabel('The consuming module, or the world for root bindings'),
    }),
    provider: Type.Object({
      module: dnsLabel('The providing module'),
      capabilityVersion: Type.String({ pattern: SEMVER_PATTERN, maxLength: 128 }),
    }),
    worldRef: Type.Optional(Type.Object({ name: dnsLabel('The world this binding belongs to') })),
  },
  {
    'x-kubernetes-validations': [
      celRule(
        "self.consumer.kind != 'WorldInstance' || has(self.worldRef)",
        'a binding whose consumer is a WorldInstance must have worldRef',
        '.worldRef',
        (self) => self.consumer.kind !== 'WorldInstance' || self.worldRef !== undefined,
      ),
      celRule(
        "(self.capabilityId == 'root') == (self.consumer.kind == 'WorldInstance')",
        "capabilityId 'root' is used exactly by bindings whose consumer is a WorldInstance",
        '.capabilityId',
        (self) => (self.capabilityId === 'root') === (self.consumer.kind === 'WorldInstance'),
      ),
      celRule(
        "self.scope in ['cluster', 'region'] || has(self.worldRef)",
        'a binding of a per-world scope must have worldRef',
        '.worldRef',
        (self) => ['cluster', 'region'].includes(self.scope) || self.worldRef !== undefined,
      ),
    ],
  },
);

/** Where a game's rollout is (written by the reconciler; read by anvil rollout status). */
export const RolloutStatusSchema = Type.Object({
  targetRevision: Type.Optional(Type.String({ maxLength: 253, description: 'The ControllerRevision worlds are moving to' })),
  batch: Type.Optional(Type.Integer({ minimum: 0, description: 'The current (or last) batch of this rollout, from 1' })),
  batchWorlds: Type.Optional(Type.Array(Type.String({ maxLength: 317 }), { maxItems: 10000, description: 'namespace/name of the worlds of that batch' })),
  batchStartedAt: Type.Optional(Type.String({ format: 'date-time' })),
  updatedWorlds: Type.Optional(Type.Integer({ minimum: 0, description: 'Worlds Running on the target revision' })),
  totalWorlds: Type.Optional(Type.Integer({ minimum: 0 })),
  waitingClaimedWorlds: Type.Optional(Type.Integer({ minimum: 0, description: 'Claimed worlds on an older revision, kept until their claim is released' })),
});

/** Status common to the definitions that the reconciler reports on. */
export const GenericStatusSchema = Type.Object({
  observedGeneration: Type.Optional(Type.Integer({ minimum: 0 })),
  conditions: Type.Optional(
    Type.Array(ConditionSchema, { 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['type'] }),
  ),
});

export const GameDefinitionStatusSchema = Type.Object({
  observedGeneration: Type.Optional(Type.Integer({ minimum: 0 })),
  conditions: Type.Optional(
    Type.Array(ConditionSchema, { 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['type'] }),
  ),
  rollout: Type.Optional(RolloutStatusSchema),
});

// ---- the object types ----------------------------------------------------------------

// Generated from the schemas above by scripts/gen-types.ts (`npm run gen:types`), each
// property with its schema description as TSDoc: TypeBox's Static<typeof …> types carry no
// comments, so an editor would show none. test/unit/schemaTypes.test.ts holds each one equal
// to its Static<typeof …Schema> and the file current.
import type {
  Port,
  ProvidedCapability,
  Requirement,
  ModuleManifestSpec,
  EnvVar,
  Volume,
  Probe,
  EgressRule,
  PolicyRule,
  GameDefinitionSpec,
  WorldInstanceSpec,
  WorldInstanceStatus,
  Condition,
  CapabilityBindingSpec,
  Endpoint,
  WorldPoolSpec,
  WorldPoolStatus,
  WorldClaimSpec,
  WorldClaimStatus,
  GameRollout,
  PoolRollout,
  RolloutStatus,
  GameDefinitionStatus
} from './types.js';
export type {
  Port,
  ProvidedCapability,
  Requirement,
  ModuleManifestSpec,
  EnvVar,
  Volume,
  Probe,
  EgressRule,
  PolicyRule,
  GameDefinitionSpec,
  WorldInstanceSpec,
  WorldInstanceStatus,
  Condition,
  CapabilityBindingSpec,
  Endpoint,
  WorldPoolSpec,
  WorldPoolStatus,
  WorldClaimSpec,
  WorldClaimStatus,
  GameRollout,
  PoolRollout,
  RolloutStatus,
  GameDefinitionStatus
};
export type Booklet = NonNullable<GameDefinitionSpec['booklets']>[number];

export interface ObjectMeta {
  name: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  generation?: number;
  ownerReferences?: OwnerReference[];
  resourceVersion?: string;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

interface AnvilObject<K extends string, S, St = undefined> {
  apiVersion: typeof API_VERSION;
  kind: K;
  metadata: ObjectMeta;
  spec: S;
  status?: St;
}
export type ModuleManifest = AnvilObject<'ModuleManifest', ModuleManifestSpec>;
export type GameDefinition = AnvilObject<'GameDefinition', GameDefinitionSpec, GameDefinitionStatus>;
export type WorldInstance = AnvilObject<'WorldInstance', WorldInstanceSpec, WorldInstanceStatus>;
export type CapabilityBinding = AnvilObject<'CapabilityBinding', CapabilityBindingSpec>;
export type WorldPool = AnvilObject<'WorldPool', WorldPoolSpec, WorldPoolStatus>;
export type WorldClaim = AnvilObject<'WorldClaim', WorldClaimSpec, WorldClaimStatus>;
export type AnvilResource = ModuleManifest | GameDefinition | WorldInstance | CapabilityBinding | WorldPool | WorldClaim;

// ---- what the CRDs are made of -------------------------------------------------------

export interface KindDefinition {
  kind: AnvilResource['kind'];
  plural: string;
  singular: string;
  shortNames: string[];
  namespaced: boolean;
  spec: TSchema;
  status: TSchema;
  columns: { name: string; type: string; jsonPath: string; description?: string; priority?: number }[];
  /** The scale subresource (`kubectl scale`), when the kind has one. */
  scale?: { specReplicasPath: string; statusReplicasPath: string; labelSelectorPath?: string };
}

const age = { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' };

/** The kinds, in the order they are written to dist. */
export const KINDS: readonly KindDefinition[] = [
  {
    kind: 'ModuleManifest',
    plural: 'modulemanifests',
    singular: 'modulemanifest',
    shortNames: ['mm', 'module'],
    namespaced: false,
    spec: ModuleManifestSpecSchema,
    status: GenericStatusSchema,
    columns: [
      { name: 'Version', type: 'string', jsonPath: '.spec.version' },
      { name: 'Scope', type: 'string', jsonPath: '.spec.scope' },
      { name: 'Image', type: 'string', jsonPath: '.spec.image', priority: 1 },
      age,
    ],
  },
  {
    kind: 'GameDefinition',
    plural: 'gamedefinitions',
    singular: 'gamedefinition',
    shortNames: ['gd', 'game'],
    namespaced: false,
    spec: GameDefinitionSpecSchema,
    status: GameDefinitionStatusSchema,
    columns: [
      { name: 'Revision', type: 'string', jsonPath: '.status.rollout.targetRevision', description: 'The revision worlds are moving to' },
      { name: 'Updated', type: 'integer', jsonPath: '.status.rollout.updatedWorlds' },
      { name: 'Worlds', type: 'integer', jsonPath: '.status.rollout.totalWorlds' },
      { name: 'Paused', type: 'string', jsonPath: '.status.conditions[?(@.type=="RolloutPaused")].status' },
      age,
    ],
  },
  {
    kind: 'WorldInstance',
    plural: 'worldinstances',
    singular: 'worldinstance',
    shortNames: ['wi', 'world', 'worlds'],
    namespaced: true,
    spec: WorldInstanceSpecSchema,
    status: WorldInstanceStatusSchema,
    columns: [
      { name: 'Game', type: 'string', jsonPath: '.spec.gameRef.name' },
      { name: 'Phase', type: 'string', jsonPath: '.status.phase' },
      { name: 'Region', type: 'string', jsonPath: '.spec.region' },
      { name: 'Ready', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].status', priority: 1 },
      { name: 'Claim', type: 'string', jsonPath: '.metadata.labels.anvil\\.dev/claim', description: 'The WorldClaim this world is bound to' },
      { name: 'Current', type: 'boolean', jsonPath: '.status.upToDate', description: "Runs its game's target revision" },
      { name: 'Revision', type: 'string', jsonPath: '.status.revision', priority: 1 },
      age,
    ],
  },
  {
    kind: 'CapabilityBinding',
    plural: 'capabilitybindings',
    singular: 'capabilitybinding',
    shortNames: ['cb', 'binding'],
    namespaced: true,
    spec: CapabilityBindingSpecSchema,
    status: GenericStatusSchema,
    columns: [
      { name: 'Capability', type: 'string', jsonPath: '.spec.capabilityId' },
      { name: 'Scope', type: 'string', jsonPath: '.spec.scope' },
      { name: 'Provider', type: 'string', jsonPath: '.spec.provider.module' },
      { name: 'Consumer', type: 'string', jsonPath: '.spec.consumer.name' },
      { name: 'World', type: 'string', jsonPath: '.spec.worldRef.name' },
      age,
    ],
  },
  {
    kind: 'WorldPool',
    plural: 'worldpools',
    singular: 'worldpool',
    shortNames: ['wp', 'pool'],
    namespaced: true,
    spec: WorldPoolSpecSchema,
    status: WorldPoolStatusSchema,
    columns: [
      { name: 'Game', type: 'string', jsonPath: '.spec.gameRef.name' },
      { name: 'Region', type: 'string', jsonPath: '.spec.region' },
      { name: 'Ready', type: 'integer', jsonPath: '.status.ready' },
      { name: 'Claimed', type: 'integer', jsonPath: '.status.claimed' },
      { name: 'Total', type: 'integer', jsonPath: '.status.total' },
      age,
    ],
    scale: { specReplicasPath: '.spec.buffer.ready', statusReplicasPath: '.status.ready', labelSelectorPath: '.status.selector' },
  },
  {
    kind: 'WorldClaim',
    plural: 'worldclaims',
    singular: 'worldclaim',
    shortNames: ['wc', 'claim'],
    namespaced: true,
    spec: WorldClaimSpecSchema,
    status: WorldClaimStatusSchema,
    columns: [
      { name: 'Pool', type: 'string', jsonPath: '.spec.poolRef.name' },
      { name: 'Phase', type: 'string', jsonPath: '.status.phase' },
      { name: 'World', type: 'string', jsonPath: '.status.worldRef.name' },
      age,
    ],
  },
];

export function kindDefinition(kind: string): KindDefinition | undefined {
  return KINDS.find((k) => k.kind === kind);
}
