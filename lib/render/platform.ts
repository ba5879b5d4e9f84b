/**
 * The platform itself: the CRDs, the namespaces Anvil runs in (with the "restricted" Pod
 * Security Standard enforced), and the reconciler with exactly the RBAC it uses.
 */
import { ApiObject } from 'cdk8s';
import { Construct } from 'constructs';
import { k8s } from '../../imports/k8s.js';
import { customResourceDefinitions } from '../api/crds.js';
import { GROUP } from '../api/schema.js';
import { ALLOCATOR_CA_CONFIGMAP, ALLOCATOR_SELF_SIGNED_SECRET, ALLOCATOR_SERVICE } from '../api/allocation.js';
import { LABEL_WORLDS_NAMESPACE, MANAGED_BY } from './labels.js';
import { PLATFORM_NAMESPACE } from '../resolve/resolve.js';
import type { RenderSettings } from './settings.js';

export class CustomResourceDefinitions extends Construct {
  constructor(scope: Construct, id: string) {
    super(scope, id);
    // Plain ApiObjects: the schemas are already JSON, and the typed L1 would rename x-kubernetes-* keys.
    for (const crd of customResourceDefinitions()) {
      new ApiObject(this, (crd.metadata as { name: string }).name, crd as { apiVersion: string; kind: string });
    }
  }
}

export const podSecurityLabels = {
  'pod-security.kubernetes.io/enforce': 'restricted',
  'pod-security.kubernetes.io/enforce-version': 'latest',
  'pod-security.kubernetes.io/warn': 'restricted',
  'pod-security.kubernetes.io/audit': 'restricted',
};

/** Namespaces Anvil runs in: `platform` (global services), the others host worlds. */
export class Namespaces extends Construct {
  constructor(scope: Construct, id: string, names: readonly string[], platform?: string) {
    super(scope, id);
    for (const name of [...new Set(names)].sort()) {
      const worlds: Record<string, string> = name === platform ? {} : { [LABEL_WORLDS_NAMESPACE]: 'true' };
      new k8s.KubeNamespace(this, name, {
        metadata: { name, labels: { [MANAGED_BY]: 'anvil', ...worlds, ...podSecurityLabels } },
      });
    }
  }
}

export const MATCHMAKER_ROLE = 'anvil-matchmaker';

/**
 * What a matchmaker needs to claim worlds (claimWorld, `anvil allocate`): create a claim,
 * watch the namespace's claims until it is bound (a watch, no list), get it to resume a
 * broken watch, and delete it (on failure, or to release the world); and watch the claimed
 * worlds, where the binding's commit shows first (lib/client/claimWatch.ts `stampWatch`; a
 * watch with a label selector, no get or list). Nothing on pools or anything else.
 */
export const MATCHMAKER_RULES: k8s.PolicyRule[] = [
  { apiGroups: [GROUP], resources: ['worldclaims'], verbs: ['create', 'get', 'watch', 'delete'] },
  { apiGroups: [GROUP], resources: ['worldinstances'], verbs: ['watch'] },
];

/** An example Role `anvil-matchmaker` in each namespace with a pool; bind a matchmaker's ServiceAccount to it. */
export class MatchmakerRoles extends Construct {
  constructor(scope: Construct, id: string, namespaces: readonly string[]) {
    super(scope, id);
    for (const namespace of [...new Set(namespaces)].sort()) {
      new k8s.KubeRole(this, namespace, {
        metadata: { name: MATCHMAKER_ROLE, namespace, labels: { [MANAGED_BY]: 'anvil', 'app.kubernetes.io/part-of': 'anvil', 'app.kubernetes.io/component': 'matchmaker' } },
        rules: MATCHMAKER_RULES,
      });
    }
  }
}

export interface ReconcilerProps {
  namespace: string;
  image: string;
  replicas?: number;
  /** Synth's render settings (regions, monitoring, …): dynamic worlds are rendered with the same. */
  settings?: RenderSettings;
  /** The module ClusterRoles synth wrote: the only roles the reconciler may bind. */
  moduleRoles?: readonly string[];
}

export const RECONCILER_NAME = 'anvil-reconciler';
export const RECONCILER_PORT = 8080;
/**
 * The V8 heap settings the reconciler runs with (its Deployment's `command`; the benches'
 * reconciler too, so that they measure what ships). V8's defaults let the old generation
 * grow up to 4× what is live before a full collection and give the young generation 16 MB
 * semi-spaces: measured at 1,000 worlds (`npm run bench -- --only heapflags`, RESULTS.md),
 * the reconciler's RSS was 394 MB with them and 222 MB with these, for 32 % more CPU per
 * world during a burst and the same resync times. `--optimize-for-size` held 175 MB at twice
 * the CPU. The image's ENTRYPOINT is `node` and IMAGE_ENTRYPOINT (Dockerfile); these go before it.
 */
export const RECONCILER_NODE_FLAGS: readonly string[] = ['--heap-growing-percent=25', '--max-semi-space-size=4'];
/**
 * Where the image keeps the CLI (Dockerfile's ENTRYPOINT): the bundle of scripts/bundle.ts, which
 * holds far less memory than bin/anvil.js on node_modules (`npm run bench -- --only entrypoint`).
 */
export const IMAGE_ENTRYPOINT = '/app/build/image/anvil.js';
/** The allocation endpoint (issue 20): HTTPS, behind the Service `anvil-allocator`. */
export const ALLOCATION_PORT = 8443;
export { ALLOCATOR_SERVICE };
/** The Secret (type kubernetes.io/tls) the endpoint's certificate comes from; optional: without it the endpoint serves a self-signed one (lib/reconciler/claims/endpointTls.ts). */
export const ALLOCATOR_TLS_SECRET = 'anvil-allocator-tls';
export const ALLOCATOR_TLS_DIR = '/etc/anvil/allocator-tls';

/**
 * Exactly the verbs the reconciler uses (lib/reconciler): list+watch for its informers;
 * get for an object of its plan missing from its caches (they hold only Anvil-labelled
 * objects: it must not take a foreign one for absent); server-side apply (patch; create
 * when the object is new) and delete for what it owns; status of worlds, pools and claims
 * (patch); pool worlds (create, patch to bind, delete spares); update on
 * worldinstances/finalizers, which setting `blockOwnerDeletion` on an owner reference needs
 * where the OwnerReferencesPermissionEnforcement admission plugin is on; create, get and
 * patch on Events (a repeated failure counts up one Event); for rollouts (issue 10) get on
 * worlds (a revision annotation retried after a conflict), patch on the game's status, and
 * patch on deployments (already owned) for the static worlds' rollout gate, spec.paused;
 * get on worldclaims: a repair reads the claim from the server, never from the cache alone.
 */
const OWNED = ['list', 'watch', 'get', 'create', 'patch', 'delete'];
export const RECONCILER_RULES: k8s.PolicyRule[] = [
  { apiGroups: [GROUP], resources: ['gamedefinitions', 'modulemanifests', 'worldpools', 'worldclaims'], verbs: ['list', 'watch'] },
  // A claim read from the server before a half-done binding is repaired (the cache may be stale).
  { apiGroups: [GROUP], resources: ['worldclaims'], verbs: ['get'] },
  // Pool worlds: created by the pool controller, bound (patch) by the claim controller, spares
  // removed; revision annotations set by rollouts (get: read again after a conflict).
  { apiGroups: [GROUP], resources: ['worldinstances'], verbs: ['list', 'watch', 'get', 'create', 'patch', 'delete'] },
  { apiGroups: [GROUP], resources: ['worldinstances/status', 'worldpools/status', 'worldclaims/status', 'gamedefinitions/status'], verbs: ['patch'] },
  { apiGroups: [GROUP], resources: ['worldinstances/finalizers'], verbs: ['update'] },
  { apiGroups: [GROUP], resources: ['capabilitybindings'], verbs: OWNED },
  { apiGroups: ['apps'], resources: ['deployments'], verbs: OWNED },
  { apiGroups: [''], resources: ['services', 'configmaps', 'persistentvolumeclaims'], verbs: OWNED },
  { apiGroups: ['networking.k8s.io'], resources: ['networkpolicies'], verbs: OWNED },
  { apiGroups: ['policy'], resources: ['poddisruptionbudgets'], verbs: OWNED },
  // Module identity (issue 17): the ServiceAccounts and RoleBindings of dynamic worlds' modules.
  { apiGroups: [''], resources: ['serviceaccounts'], verbs: OWNED },
  { apiGroups: ['rbac.authorization.k8s.io'], resources: ['rolebindings'], verbs: OWNED },
  { apiGroups: [''], resources: ['events'], verbs: ['create', 'get', 'patch'] },
  // Whether a world's namespace is labelled for worlds (global providers admit only those).
  { apiGroups: [''], resources: ['namespaces'], verbs: ['list', 'watch'] },
  // The allocation endpoint (issue 20): who the caller is, and whether they may create (or delete) worldclaims.
  { apiGroups: ['authentication.k8s.io'], resources: ['tokenreviews'], verbs: ['create'] },
  { apiGroups: ['authorization.k8s.io'], resources: ['subjectaccessreviews'], verbs: ['create'] },
];

/**
 * `bind` on exactly the module ClusterRoles synth wrote (lib/render/identity.ts), by name:
 * the reconciler binds those in world namespaces and can grant nothing else. No rule at all
 * without module roles (an empty resourceNames would mean every ClusterRole).
 */
export const bindRules = (moduleRoles: readonly string[]): k8s.PolicyRule[] =>
  moduleRoles.length === 0 ? [] : [{ apiGroups: ['rbac.authorization.k8s.io'], resources: ['clusterroles'], resourceNames: [...moduleRoles].sort(), verbs: ['bind'] }];

/** PodMonitors, only when synth renders them (AnvilApp monitoring.podMonitors): a cluster without the Prometheus Operator needs no rule for its CRD. */
export const MONITORING_RULES: k8s.PolicyRule[] = [{ apiGroups: ['monitoring.coreos.com'], resources: ['podmonitors'], verbs: OWNED }];

/** The settings file the reconciler renders dynamic worlds with (the same as synth's): mounted from a ConfigMap. */
export const SETTINGS_DIR = '/etc/anvil/settings';
export const SETTINGS_FILE = 'settings.json';

/**
 * The leader-election Lease: get and update only the reconciler's own Lease by name.
 * `create` cannot be limited by resourceNames (the name is not known to RBAC before the
 * object exists), so it is a rule of its own, on leases of this namespace only.
 */
export const LEASE_RULES: k8s.PolicyRule[] = [
  { apiGroups: ['coordination.k8s.io'], resources: ['leases'], resourceNames: [RECONCILER_NAME], verbs: ['get', 'update'] },
  { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['create'] },
];

/** Game revisions are ControllerRevisions in the platform namespace only (lib/reconciler/shared/revisions.ts); delete: those beyond revisionHistoryLimit. */
export const REVISION_RULES: k8s.PolicyRule[] = [{ apiGroups: ['apps'], resources: ['controllerrevisions'], verbs: ['list', 'watch', 'create', 'delete'] }];

/**
 * The allocation endpoint's self-signed certificate (lib/reconciler/claims/endpointTls.ts),
 * in the reconciler's namespace: its one Secret read by name; create cannot be narrowed to a
 * name (RBAC knows no name at create), so it is create on Secrets of this namespace only.
 * The CA's ConfigMap is written under the ClusterRole's configmaps rule.
 */
export const ALLOCATOR_CERT_RULES: k8s.PolicyRule[] = [
  { apiGroups: [''], resources: ['secrets'], resourceNames: [ALLOCATOR_SELF_SIGNED_SECRET], verbs: ['get'] },
  { apiGroups: [''], resources: ['secrets'], verbs: ['create'] },
];
/** Anyone authenticated may read the endpoint's CA (a certificate is public, as kube-root-ca.crt is): that one ConfigMap, get only. */
export const ALLOCATOR_CA_READER_RULES: k8s.PolicyRule[] = [{ apiGroups: [''], resources: ['configmaps'], resourceNames: [ALLOCATOR_CA_CONFIGMAP], verbs: ['get'] }];

type Meta = (name: string, ns?: boolean) => k8s.ObjectMeta;

export class Reconciler extends Construct {
  constructor(scope: Construct, id: string, props: ReconcilerProps) {
    super(scope, id);
    const { namespace } = props;
    const labels = { 'app.kubernetes.io/name': RECONCILER_NAME, 'app.kubernetes.io/part-of': 'anvil', 'app.kubernetes.io/component': 'reconciler', [MANAGED_BY]: 'anvil' };
    const selector = { 'app.kubernetes.io/name': RECONCILER_NAME };
    const meta: Meta = (name, ns = true) => ({ name, ...(ns ? { namespace } : {}), labels });
    reconcilerAccess(this, meta, namespace, props);
    if (props.settings) {
      new k8s.KubeConfigMap(this, 'settings', { metadata: meta(`${RECONCILER_NAME}-settings`), data: { [SETTINGS_FILE]: `${JSON.stringify(props.settings, null, 2)}\n` } });
    }
    reconcilerDeployment(this, meta, props, labels, selector);
    reconcilerServices(this, meta, selector);
    allocatorCertAccess(this, meta, namespace);
  }
}

/** The self-signed certificate's Secret for the reconciler; its CA's ConfigMap for every authenticated user. */
function allocatorCertAccess(scope: Construct, meta: Meta, namespace: string): void {
  const role = (id: string, name: string, rules: k8s.PolicyRule[], subject: k8s.Subject) => {
    new k8s.KubeRole(scope, `${id}-role`, { metadata: meta(name), rules });
    new k8s.KubeRoleBinding(scope, `${id}-binding`, { metadata: meta(name), roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name }, subjects: [subject] });
  };
  role('allocator-cert', `${RECONCILER_NAME}-allocator-cert`, ALLOCATOR_CERT_RULES, { kind: 'ServiceAccount', name: RECONCILER_NAME, namespace });
  role('allocator-ca-reader', `${ALLOCATOR_CA_CONFIGMAP}-reader`, ALLOCATOR_CA_READER_RULES, { kind: 'Group', name: 'system:authenticated', apiGroup: 'rbac.authorization.k8s.io' });
}

/** Its ServiceAccount and exactly the roles it uses (see RECONCILER_RULES). */
function reconcilerAccess(scope: Construct, meta: Meta, namespace: string, props: ReconcilerProps): void {
  new k8s.KubeServiceAccount(scope, 'service-account', { metadata: meta(RECONCILER_NAME), automountServiceAccountToken: true });
  const rules = [...RECONCILER_RULES, ...bindRules(props.moduleRoles ?? []), ...(props.settings?.monitoring?.podMonitors ? MONITORING_RULES : [])];
  new k8s.KubeClusterRole(scope, 'cluster-role', { metadata: meta(RECONCILER_NAME, false), rules });
  new k8s.KubeClusterRoleBinding(scope, 'cluster-role-binding', {
    metadata: meta(RECONCILER_NAME, false),
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: RECONCILER_NAME },
    subjects: [{ kind: 'ServiceAccount', name: RECONCILER_NAME, namespace }],
  });
  // Leader election needs leases only in its own namespace.
  new k8s.KubeRole(scope, 'leader-election-role', {
    metadata: meta(`${RECONCILER_NAME}-leader-election`),
    rules: LEASE_RULES,
  });
  new k8s.KubeRoleBinding(scope, 'leader-election-binding', {
    metadata: meta(`${RECONCILER_NAME}-leader-election`),
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: `${RECONCILER_NAME}-leader-election` },
    subjects: [{ kind: 'ServiceAccount', name: RECONCILER_NAME, namespace }],
  });

  reconcilerBoundary(scope, meta, namespace);

  new k8s.KubeRole(scope, 'revisions-role', { metadata: { ...meta(`${RECONCILER_NAME}-revisions`), namespace: PLATFORM_NAMESPACE }, rules: REVISION_RULES });
  new k8s.KubeRoleBinding(scope, 'revisions-binding', {
    metadata: { ...meta(`${RECONCILER_NAME}-revisions`), namespace: PLATFORM_NAMESPACE },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: `${RECONCILER_NAME}-revisions` },
    subjects: [{ kind: 'ServiceAccount', name: RECONCILER_NAME, namespace }],
  });
}

function reconcilerDeployment(scope: Construct, meta: Meta, props: ReconcilerProps, labels: Record<string, string>, selector: Record<string, string>): void {
  const { namespace } = props;
  const probe = (path: string): k8s.Probe => ({ httpGet: { path, port: k8s.IntOrString.fromString('http') }, periodSeconds: 10 });
  new k8s.KubeDeployment(scope, 'deployment', {
    metadata: meta(RECONCILER_NAME),
    spec: {
      replicas: props.replicas ?? 2,
      selector: { matchLabels: selector },
      template: {
        metadata: { labels },
        spec: {
          serviceAccountName: RECONCILER_NAME,
          securityContext: { runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532, seccompProfile: { type: 'RuntimeDefault' } },
          terminationGracePeriodSeconds: 30,
          affinity: {
            podAntiAffinity: {
              preferredDuringSchedulingIgnoredDuringExecution: [
                { weight: 100, podAffinityTerm: { labelSelector: { matchLabels: selector }, topologyKey: 'kubernetes.io/hostname' } },
              ],
            },
          },
          containers: [
            {
              name: 'reconciler',
              image: props.image,
              command: ['node', ...RECONCILER_NODE_FLAGS, IMAGE_ENTRYPOINT],
              args: [
                'reconcile',
                '--leader-elect',
                `--lease-namespace=${namespace}`,
                `--port=${RECONCILER_PORT}`,
                `--allocation-port=${ALLOCATION_PORT}`,
                `--allocation-tls-cert=${ALLOCATOR_TLS_DIR}/tls.crt`,
                `--allocation-tls-key=${ALLOCATOR_TLS_DIR}/tls.key`,
                ...(props.settings ? [`--settings=${SETTINGS_DIR}/${SETTINGS_FILE}`] : []),
              ],
              volumeMounts: [
                ...(props.settings ? [{ name: 'settings', mountPath: SETTINGS_DIR, readOnly: true }] : []),
                { name: 'allocator-tls', mountPath: ALLOCATOR_TLS_DIR, readOnly: true },
              ],
              ports: [
                { name: 'http', containerPort: RECONCILER_PORT, protocol: 'TCP' },
                { name: 'allocation', containerPort: ALLOCATION_PORT, protocol: 'TCP' },
              ],
              env: [
                { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
                { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
              ],
              livenessProbe: probe('/healthz'),
              readinessProbe: probe('/readyz'),
              // Seed 002's recommendation for a moderate cluster.
              resources: {
                requests: { cpu: k8s.Quantity.fromString('500m'), memory: k8s.Quantity.fromString('512Mi') },
                limits: { cpu: k8s.Quantity.fromString('2'), memory: k8s.Quantity.fromString('2Gi') },
              },
              securityContext: {
                allowPrivilegeEscalation: false,
                readOnlyRootFilesystem: true,
                runAsNonRoot: true,
                capabilities: { drop: ['ALL'] },
                seccompProfile: { type: 'RuntimeDefault' },
              },
            },
          ],
          volumes: [
            ...(props.settings ? [{ name: 'settings', configMap: { name: `${RECONCILER_NAME}-settings` } }] : []),
            // Optional: without the Secret (a user's, or cert-manager's) the endpoint serves a self-signed certificate (Secret anvil-allocator-selfsigned, CA in ConfigMap anvil-allocator-ca).
            { name: 'allocator-tls', secret: { secretName: ALLOCATOR_TLS_SECRET, optional: true } },
          ],
        },
      },
    },
  });
}

/** Its metrics and allocator Services, disruption budget and network policy. */
function reconcilerServices(scope: Construct, meta: Meta, selector: Record<string, string>): void {
  new k8s.KubeService(scope, 'metrics', {
    metadata: meta(`${RECONCILER_NAME}-metrics`),
    spec: { selector, ports: [{ name: 'http', port: RECONCILER_PORT, targetPort: k8s.IntOrString.fromString('http') }] },
  });
  // The allocation endpoint: only the leader allocates (a standby answers 503 NotLeader, and clients retry).
  new k8s.KubeService(scope, 'allocator', {
    metadata: meta(ALLOCATOR_SERVICE),
    spec: { selector, ports: [{ name: 'allocation', port: ALLOCATION_PORT, targetPort: k8s.IntOrString.fromString('allocation') }] },
  });
  new k8s.KubePodDisruptionBudget(scope, 'pdb', {
    metadata: meta(RECONCILER_NAME),
    spec: { minAvailable: k8s.IntOrString.fromNumber(1), selector: { matchLabels: selector } },
  });
  // The platform namespace denies by default: the reconciler may reach the API server
  // (its address is not known at synth: any destination on the API server ports, 443 for
  // the kubernetes Service and 6443 for the endpoints behind it) and DNS, and be scraped
  // on its metrics port.
  const tcp = (port: number) => ({ port: k8s.IntOrString.fromNumber(port), protocol: 'TCP' });
  new k8s.KubeNetworkPolicy(scope, 'network-policy', {
    metadata: meta(RECONCILER_NAME),
    spec: {
      podSelector: { matchLabels: selector },
      policyTypes: ['Ingress', 'Egress'],
      ingress: [{ ports: [tcp(RECONCILER_PORT), tcp(ALLOCATION_PORT)] }],
      egress: [
        { ports: [tcp(443), tcp(6443)] },
        { ports: [{ port: k8s.IntOrString.fromNumber(53), protocol: 'UDP' }, tcp(53)] },
      ],
    },
  });
}

/**
 * Its ClusterRole lets it write Deployments, Services and claims in every namespace (worlds
 * may live in any): a ValidatingAdmissionPolicy narrows that to anvil-system and the
 * namespaces labelled `anvil.dev/worlds: "true"`, whatever RBAC allows. Reports are exempt
 * (Events, and the status of Anvil's own objects): a world in an unlabelled namespace must
 * be able to say so (worlds/namespace.ts). Cluster-scoped objects (its definitions' status)
 * are not matched. The only Secret it may create is the allocation endpoint's self-signed certificate.
 */
function reconcilerBoundary(scope: Construct, meta: Meta, namespace: string): void {
  const name = `${RECONCILER_NAME}-namespaces`;
  const labelled = `namespaceObject != null && has(namespaceObject.metadata.labels) && '${LABEL_WORLDS_NAMESPACE}' in namespaceObject.metadata.labels && namespaceObject.metadata.labels['${LABEL_WORLDS_NAMESPACE}'] == 'true'`;
  const home = [...new Set([namespace, PLATFORM_NAMESPACE])].map((n) => `request.namespace == '${n}'`).join(' || ');
  const report = `request.resource.resource == 'events' || (request.resource.group == '${GROUP}' && request.subResource == 'status')`;
  new ApiObject(scope, 'boundary-policy', {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingAdmissionPolicy',
    metadata: meta(name, false),
    spec: {
      failurePolicy: 'Fail',
      matchConstraints: { resourceRules: [{ apiGroups: ['*'], apiVersions: ['*'], operations: ['CREATE', 'UPDATE', 'DELETE'], resources: ['*/*'], scope: 'Namespaced' }] },
      matchConditions: [{ name: 'is-the-reconciler', expression: `request.userInfo.username == 'system:serviceaccount:${namespace}:${RECONCILER_NAME}'` }],
      validations: [
        {
          expression: `${home} || ${labelled} || ${report}`,
          messageExpression: `'the Anvil reconciler writes only in ${[...new Set([namespace, PLATFORM_NAMESPACE])].join(', ')} and namespaces labelled ${LABEL_WORLDS_NAMESPACE}=true; ' + request.namespace + ' is not'`,
          reason: 'Forbidden',
        },
        {
          // RBAC cannot name what a create makes: its Role grants create on every Secret of its
          // namespace, for the one self-signed certificate. Any other Secret (a service-account
          // token Secret the token controller would fill for another account, say) is refused.
          expression: `request.resource.resource != 'secrets' || (object != null && has(object.metadata.name) && object.metadata.name == '${ALLOCATOR_SELF_SIGNED_SECRET}' && has(object.type) && object.type == 'kubernetes.io/tls')`,
          message: `the Anvil reconciler creates only one Secret, ${ALLOCATOR_SELF_SIGNED_SECRET} of type kubernetes.io/tls`,
          reason: 'Forbidden',
        },
      ],
    },
  });
  new ApiObject(scope, 'boundary-binding', {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingAdmissionPolicyBinding',
    metadata: meta(name, false),
    spec: { policyName: name, validationActions: ['Deny'] },
  });
}
