/**
 * What a module says about its own pod (issue 17): command and args, environment from
 * Secrets and ConfigMaps, files, probes, security context within the restricted profile,
 * annotations and labels, pull secrets, identity and region placement. Pure functions from
 * the module's spec to pieces of the pod spec; workload.ts puts them together.
 */
import { k8s } from '../../imports/k8s.js';
import type { ModuleManifest, ModuleManifestSpec, Port, Probe } from '../api/schema.js';
import type { RegionPlacement } from './settings.js';

/** The uid and gid pods run as when the module does not say (distroless "nonroot"). */
export const RUN_AS = 65532;

/** The container security context of the restricted Pod Security Standard; only readOnlyRootFilesystem is the module's. */
export const restrictedContainer = (readOnlyRootFilesystem = true): k8s.SecurityContext => ({
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem,
  runAsNonRoot: true,
  capabilities: { drop: ['ALL'] },
  seccompProfile: { type: 'RuntimeDefault' },
});

/** The pod security context: restricted, with the module's own user, group and fsGroup. */
export function podSecurityContext(spec: ModuleManifestSpec): k8s.PodSecurityContext {
  const sc = spec.securityContext ?? {};
  return {
    runAsNonRoot: true,
    runAsUser: sc.runAsUser ?? RUN_AS,
    runAsGroup: sc.runAsGroup ?? RUN_AS,
    fsGroup: sc.fsGroup ?? RUN_AS,
    seccompProfile: { type: 'RuntimeDefault' },
  };
}

/** A module port named or numbered in a probe or in `metrics`. */
export function modulePort(ports: readonly Port[], ref: number | string): Port | undefined {
  return ports.find((p) => (typeof ref === 'number' ? p.port === ref : p.name === ref));
}

const portOf = (ref: number | string): k8s.IntOrString => (typeof ref === 'number' ? k8s.IntOrString.fromNumber(ref) : k8s.IntOrString.fromString(ref));

/** One probe as the module wrote it; gRPC probes take a number, so a port name is looked up. */
export function probeOf(p: Probe, ports: readonly Port[]): k8s.Probe {
  const timings = {
    ...(p.initialDelaySeconds !== undefined ? { initialDelaySeconds: p.initialDelaySeconds } : {}),
    ...(p.periodSeconds !== undefined ? { periodSeconds: p.periodSeconds } : {}),
    ...(p.timeoutSeconds !== undefined ? { timeoutSeconds: p.timeoutSeconds } : {}),
    ...(p.successThreshold !== undefined ? { successThreshold: p.successThreshold } : {}),
    ...(p.failureThreshold !== undefined ? { failureThreshold: p.failureThreshold } : {}),
  };
  if (p.httpGet) return { httpGet: { path: p.httpGet.path, port: portOf(p.httpGet.port), ...(p.httpGet.scheme ? { scheme: p.httpGet.scheme } : {}) }, ...timings };
  if (p.grpc) {
    const port = typeof p.grpc.port === 'number' ? p.grpc.port : (modulePort(ports, p.grpc.port)?.port ?? 0);
    return { grpc: { port, ...(p.grpc.service !== undefined ? { service: p.grpc.service } : {}) }, ...timings };
  }
  if (p.tcpSocket) return { tcpSocket: { port: portOf(p.tcpSocket.port) }, ...timings };
  return { exec: { command: [...(p.exec?.command ?? [])] }, ...timings };
}

/** The first TCP port: what the default readiness probe checks. */
export const firstTcpPort = (ports: readonly Port[]): Port | undefined => ports.find((p) => (p.protocol ?? 'TCP') === 'TCP');

/** Readiness, liveness and startup probes; without a readiness probe, a TCP check of the first TCP port. */
export function containerProbes(spec: ModuleManifestSpec): Pick<k8s.Container, 'readinessProbe' | 'livenessProbe' | 'startupProbe'> {
  const ports = spec.ports ?? [];
  const probes = spec.probes ?? {};
  const tcp = firstTcpPort(ports);
  const readiness = probes.readiness
    ? probeOf(probes.readiness, ports)
    : tcp
      ? { tcpSocket: { port: k8s.IntOrString.fromString(tcp.name) }, periodSeconds: 5 }
      : undefined;
  return {
    ...(readiness ? { readinessProbe: readiness } : {}),
    ...(probes.liveness ? { livenessProbe: probeOf(probes.liveness, ports) } : {}),
    ...(probes.startup ? { startupProbe: probeOf(probes.startup, ports) } : {}),
  };
}

/**
 * The module's own variables. Fresh literals: cdk8s resolves raw props before the L1
 * conversion, and its NumberStringUnionResolver turns any `{…, value: string}` that is not a
 * plain-Object literal (null prototype, another realm) into `{ value }`, which would drop
 * the variable's name.
 */
export function userEnv(spec: ModuleManifestSpec): k8s.EnvVar[] {
  return (spec.env ?? []).map(({ name, value, valueFrom }) => {
    if (!valueFrom) return { name, value: value ?? '' };
    const { secretKeyRef: s, configMapKeyRef: c, fieldRef: f } = valueFrom;
    const ref = (r: { name: string; key: string; optional?: boolean }) => ({ name: r.name, key: r.key, ...(r.optional !== undefined ? { optional: r.optional } : {}) });
    return {
      name,
      valueFrom: s ? { secretKeyRef: ref(s) } : c ? { configMapKeyRef: ref(c) } : { fieldRef: { fieldPath: f?.fieldPath ?? '' } },
    };
  });
}

export function envFrom(spec: ModuleManifestSpec): k8s.EnvFromSource[] | undefined {
  if (!spec.envFrom?.length) return undefined;
  const ref = (r: { name: string; optional?: boolean }) => ({ name: r.name, ...(r.optional !== undefined ? { optional: r.optional } : {}) });
  return spec.envFrom.map((e) => ({
    ...(e.secretRef ? { secretRef: ref(e.secretRef) } : {}),
    ...(e.configMapRef ? { configMapRef: ref(e.configMapRef) } : {}),
    ...(e.prefix !== undefined ? { prefix: e.prefix } : {}),
  }));
}

/** The module's volumes and where they are mounted; names are prefixed `v-` so they never meet Anvil's own (tmp, data, action-routes). */
export function userVolumes(spec: ModuleManifestSpec): { volumes: k8s.Volume[]; mounts: k8s.VolumeMount[] } {
  const volumes: k8s.Volume[] = [];
  const mounts: k8s.VolumeMount[] = [];
  for (const v of spec.volumes ?? []) {
    const name = `v-${v.name}`.slice(0, 63);
    const items = (i?: { key: string; path: string }[]) => (i ? { items: i.map((x) => ({ key: x.key, path: x.path })) } : {});
    const optional = (o?: boolean) => (o !== undefined ? { optional: o } : {});
    if (v.secret) volumes.push({ name, secret: { secretName: v.secret.secretName, ...items(v.secret.items), ...optional(v.secret.optional) } });
    else if (v.configMap) volumes.push({ name, configMap: { name: v.configMap.name, ...items(v.configMap.items), ...optional(v.configMap.optional) } });
    else {
      const e = v.emptyDir ?? {};
      volumes.push({ name, emptyDir: { ...(e.medium ? { medium: e.medium } : {}), ...(e.sizeLimit ? { sizeLimit: k8s.Quantity.fromString(e.sizeLimit) } : {}) } });
    }
    // Secrets and ConfigMaps are read-only whatever is asked; an emptyDir is writable unless asked.
    const readOnly = v.readOnly ?? (v.secret !== undefined || v.configMap !== undefined);
    mounts.push({ name, mountPath: v.mountPath, ...(readOnly ? { readOnly: true } : {}) });
  }
  return { volumes, mounts };
}

/** Pod-level fields the module sets directly: grace period, pull secrets, identity. */
export function podExtras(spec: ModuleManifestSpec, serviceAccountName: string | undefined): Partial<k8s.PodSpec> {
  return {
    // The token is mounted only for a module that declares an identity.
    automountServiceAccountToken: serviceAccountName !== undefined,
    ...(serviceAccountName ? { serviceAccountName } : {}),
    ...(spec.terminationGracePeriodSeconds !== undefined ? { terminationGracePeriodSeconds: spec.terminationGracePeriodSeconds } : {}),
    ...(spec.imagePullSecrets?.length ? { imagePullSecrets: spec.imagePullSecrets.map((name) => ({ name })) } : {}),
  };
}

/** Node labels the pods must match: the region's placement, then the module's own (which win on a shared key). */
export function nodeSelector(spec: ModuleManifestSpec, region: RegionPlacement | undefined): Record<string, string> | undefined {
  const merged = { ...region?.nodeSelector, ...spec.scheduling?.nodeSelector };
  return Object.keys(merged).length > 0 ? merged : undefined;
}

/**
 * The affinity: the module's, with the region's node affinity required too (a pod must
 * satisfy both: their required node selector terms are crossed, since Kubernetes ORs terms).
 */
export function withRegionAffinity(user: Record<string, unknown> | undefined, region: RegionPlacement | undefined): Record<string, unknown> | undefined {
  const r = region?.affinity as Record<string, any> | undefined;
  if (!r) return user;
  if (!user) return r;
  const u = user as Record<string, any>;
  const uTerms: any[] = u.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms ?? [];
  const rTerms: any[] = r.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms ?? [];
  const crossed =
    uTerms.length === 0
      ? rTerms
      : rTerms.length === 0
        ? uTerms
        : uTerms.flatMap((a) => rTerms.map((b) => ({ matchExpressions: [...(a.matchExpressions ?? []), ...(b.matchExpressions ?? [])], ...(a.matchFields || b.matchFields ? { matchFields: [...(a.matchFields ?? []), ...(b.matchFields ?? [])] } : {}) })));
  const preferred = [...(u.nodeAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? []), ...(r.nodeAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? [])];
  const nodeAffinity = {
    ...(crossed.length ? { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: crossed } } : {}),
    ...(preferred.length ? { preferredDuringSchedulingIgnoredDuringExecution: preferred } : {}),
  };
  return { ...r, ...u, ...(Object.keys(nodeAffinity).length ? { nodeAffinity } : {}) };
}

/** The region a workload's pods are placed by: world- and region-scoped workloads of a declared region. */
export function regionOf(module: ModuleManifest, region: string | undefined, regions: Readonly<Record<string, RegionPlacement>> | undefined): RegionPlacement | undefined {
  if (!region || !regions || (module.spec.scope ?? 'world') === 'cluster') return undefined;
  return regions[region];
}
