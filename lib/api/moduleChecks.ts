/**
 * What the schema cannot say about a module's pod fields (issue 17): one of several
 * alternatives (a probe is httpGet, grpc, tcpSocket or exec), references to the module's
 * own ports, and the restricted Pod Security Standard for the security context and the
 * `podTemplate` escape hatch. Synth, the CLI and the reconciler all run these (validate.ts),
 * so a module refused at synth is refused in the cluster too, with the same message.
 */
import { isIP } from 'node:net';
import { error, warning, type Diagnostic } from '../diagnostics/diagnostics.js';
import { PROBE_HANDLERS, PROBE_KINDS, type ModuleManifest, type Port } from './schema.js';

const RESTRICTED = 'the restricted Pod Security Standard';
/** Volume types the restricted profile allows. */
const RESTRICTED_VOLUMES = ['configMap', 'csi', 'downwardAPI', 'emptyDir', 'ephemeral', 'persistentVolumeClaim', 'projected', 'secret'];
/** Verbs a module's own rules may not grant: they would let it grant itself (or act as) anything. */
const REFUSED_VERBS = ['*', 'escalate', 'bind', 'impersonate'];

type Obj = Record<string, any>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const list = <T>(v: T[] | undefined): T[] => (Array.isArray(v) ? v : []);
/** Which of `keys` are set on `o`. */
const setOf = (o: unknown, keys: readonly string[]): string[] => (isObj(o) ? keys.filter((k) => o[k] !== undefined) : []);

function exactlyOne(out: Diagnostic[], source: string, field: string, o: unknown, keys: readonly string[]): void {
  const set = setOf(o, keys);
  if (set.length !== 1) out.push(error(source, field, `must set exactly one of ${keys.join(', ')} (${set.length ? `has ${set.join(', ')}` : 'has none'})`));
}

/** Every issue-17 field check of one module, all problems at once. */
export function moduleFieldProblems(m: ModuleManifest, source: string): Diagnostic[] {
  const out: Diagnostic[] = [];
  const spec = m.spec;
  const ports = list(spec.ports);
  list(spec.env).forEach((e, i) => {
    if (e?.valueFrom !== undefined && e.value !== undefined) out.push(error(source, `spec.env[${i}]`, `${e.name} has both value and valueFrom; set one`));
    if (e?.valueFrom !== undefined) exactlyOne(out, source, `spec.env[${i}].valueFrom`, e.valueFrom, ['secretKeyRef', 'configMapKeyRef', 'fieldRef']);
  });
  list(spec.envFrom).forEach((e, i) => exactlyOne(out, source, `spec.envFrom[${i}]`, e, ['secretRef', 'configMapRef']));
  volumeProblems(m, source, out);
  probeProblems(m, source, ports, out);
  securityContextProblems(m, source, out);
  egressProblems(m, source, out);
  rulesProblems(m, source, out);
  metricsProblems(m, source, ports, out);
  if (spec.service !== undefined && !ports.some((p) => p?.expose)) {
    out.push(error(source, 'spec.service', 'applies to the Services that expose ports to players, and no port has expose; set ports[].expose or remove spec.service'));
  }
  if (spec.podTemplate !== undefined) out.push(...podTemplateProblems(spec.podTemplate, source, 'spec.podTemplate'));
  return out;
}

/** Mount paths Anvil itself uses in every pod. */
const ANVIL_MOUNTS = ['/tmp', '/etc/anvil/routes'];

function volumeProblems(m: ModuleManifest, source: string, out: Diagnostic[]): void {
  const taken = new Map<string, string>(ANVIL_MOUNTS.map((p) => [p, 'Anvil']));
  if (m.spec.storage?.mountPath) taken.set(m.spec.storage.mountPath, 'spec.storage.mountPath');
  list(m.spec.volumes).forEach((v, i) => {
    exactlyOne(out, source, `spec.volumes[${i}]`, v, ['secret', 'configMap', 'emptyDir']);
    const by = taken.get(v?.mountPath);
    if (by !== undefined) out.push(error(source, `spec.volumes[${i}].mountPath`, `${v.mountPath} is already mounted (${by === 'Anvil' ? 'by Anvil itself' : by}); choose another path`));
    else if (typeof v?.mountPath === 'string') taken.set(v.mountPath, `spec.volumes[${i}]`);
  });
}

/** A port reference of a probe or of metrics: one of the module's ports (TCP when `tcpOnly`). */
function portProblem(ports: readonly Port[], ref: unknown, tcpOnly: boolean): string | undefined {
  if (ref === undefined) return undefined;
  const p = ports.find((x) => (typeof ref === 'number' ? x?.port === ref : x?.name === ref));
  const known = ports.map((x) => `${x.name} (${x.port})`).join(', ') || 'none';
  if (!p) return `${JSON.stringify(ref)} is not a port of this module; its ports: ${known}`;
  if (tcpOnly && (p.protocol ?? 'TCP') !== 'TCP') return `${JSON.stringify(ref)} is a ${p.protocol} port; this check needs a TCP port`;
  return undefined;
}

function probeProblems(m: ModuleManifest, source: string, ports: readonly Port[], out: Diagnostic[]): void {
  for (const kind of PROBE_KINDS) {
    const p = m.spec.probes?.[kind] as Obj | undefined;
    if (!isObj(p)) continue;
    const field = `spec.probes.${kind}`;
    exactlyOne(out, source, field, p, PROBE_HANDLERS);
    for (const h of ['httpGet', 'grpc', 'tcpSocket']) {
      const problem = portProblem(ports, p[h]?.port, true);
      if (problem) out.push(error(source, `${field}.${h}.port`, problem));
    }
    if (kind !== 'readiness' && p.successThreshold !== undefined && p.successThreshold !== 1) {
      out.push(error(source, `${field}.successThreshold`, `must be 1 for a ${kind} probe (Kubernetes allows no other value)`));
    }
  }
}

function securityContextProblems(m: ModuleManifest, source: string, out: Diagnostic[]): void {
  if (m.spec.securityContext?.runAsUser === 0) {
    out.push(error(source, 'spec.securityContext.runAsUser', `0 is root, which ${RESTRICTED} refuses (runAsNonRoot stays true); choose a non-zero uid`));
  }
}

const CIDR = /^([0-9a-fA-F:.]+)\/(\d{1,3})$/;
const cidrProblem = (v: unknown): string | undefined => {
  const m = typeof v === 'string' ? CIDR.exec(v) : null;
  const family = m ? isIP(m[1]!) : 0;
  if (!m || family === 0 || Number(m[2]) > (family === 4 ? 32 : 128)) return `${JSON.stringify(v)} is not a CIDR block (e.g. 203.0.113.0/24 or 2001:db8::/32)`;
  return undefined;
};

function egressProblems(m: ModuleManifest, source: string, out: Diagnostic[]): void {
  list(m.spec.egress).forEach((e, i) => {
    const field = `spec.egress[${i}].to`;
    const to = e?.to;
    if (!isObj(to)) return;
    exactlyOne(out, source, field, to, ['cidr', 'namespace']);
    if (to.cidr !== undefined) {
      const p = cidrProblem(to.cidr);
      if (p) out.push(error(source, `${field}.cidr`, p));
      list(to.except).forEach((x, j) => {
        const q = cidrProblem(x);
        if (q) out.push(error(source, `${field}.except[${j}]`, q));
      });
      if (to.podLabels !== undefined) out.push(error(source, `${field}.podLabels`, 'selects pods of a namespace; it goes with to.namespace, not to.cidr'));
    } else if (to.except !== undefined) {
      out.push(error(source, `${field}.except`, 'carves addresses out of a CIDR block; it goes with to.cidr'));
    }
  });
}

function rulesProblems(m: ModuleManifest, source: string, out: Diagnostic[]): void {
  list(m.spec.serviceAccount?.rules).forEach((r, i) => {
    list(r?.verbs).forEach((v, j) => {
      if (REFUSED_VERBS.includes(v)) {
        out.push(error(source, `spec.serviceAccount.rules[${i}].verbs[${j}]`, `${JSON.stringify(v)} is not granted to modules (it would let one grant itself more); list the verbs it uses`));
      }
    });
    list(r?.resources).forEach((res, j) => {
      if (res === '*' || res.startsWith('*/')) out.push(error(source, `spec.serviceAccount.rules[${i}].resources[${j}]`, `${JSON.stringify(res)}: list the resources the module uses`));
    });
  });
}

function metricsProblems(m: ModuleManifest, source: string, ports: readonly Port[], out: Diagnostic[]): void {
  const metrics = m.spec.metrics;
  if (!metrics) return;
  const problem = portProblem(ports, metrics.port, true);
  if (problem) out.push(error(source, 'spec.metrics.port', problem));
  const p = ports.find((x) => (typeof metrics.port === 'number' ? x?.port === metrics.port : x?.name === metrics.port));
  if (p?.expose) out.push(error(source, 'spec.metrics.port', `port ${p.name} is exposed to players; metrics are admitted from monitoring namespaces only: serve them on a port without expose`));
}

/** The restricted profile on a pod template fragment: host namespaces, volumes, and each container's security context. */
export function podTemplateProblems(t: unknown, source: string, field: string): Diagnostic[] {
  const out: Diagnostic[] = [];
  const spec = isObj(t) ? t.spec : undefined;
  if (!isObj(spec)) return out;
  for (const k of ['hostNetwork', 'hostPID', 'hostIPC']) {
    if (spec[k] === true) out.push(error(source, `${field}.spec.${k}`, `host namespaces are refused by ${RESTRICTED}`));
  }
  const own: Record<string, string> = {
    securityContext: 'spec.securityContext',
    automountServiceAccountToken: 'spec.serviceAccount',
    serviceAccountName: 'spec.serviceAccount',
    serviceAccount: 'spec.serviceAccount',
  };
  for (const [k, typed] of Object.entries(own)) {
    if (spec[k] !== undefined) out.push(error(source, `${field}.spec.${k}`, `is Anvil's (it keeps pods within ${RESTRICTED}); use ${typed}`));
  }
  list(spec.volumes).forEach((v: unknown, i) => {
    const types = isObj(v) ? Object.keys(v).filter((k) => k !== 'name') : [];
    for (const type of types.filter((x) => !RESTRICTED_VOLUMES.includes(x))) {
      out.push(error(source, `${field}.spec.volumes[${i}].${type}`, `${type} volumes are refused by ${RESTRICTED} (allowed: ${RESTRICTED_VOLUMES.join(', ')})`));
    }
  });
  for (const kind of ['containers', 'initContainers', 'ephemeralContainers']) {
    list(spec[kind]).forEach((c: unknown, i) => out.push(...containerProblems(c, source, `${field}.spec.${kind}[${i}]`)));
  }
  return out;
}

function containerProblems(c: unknown, source: string, field: string): Diagnostic[] {
  const out: Diagnostic[] = [];
  if (!isObj(c)) return out;
  if (typeof c.name !== 'string' || c.name === '') out.push(error(source, `${field}.name`, 'is required: containers merge by name'));
  list(c.ports).forEach((p: unknown, j) => {
    if (isObj(p) && p.hostPort !== undefined && p.hostPort !== 0) out.push(error(source, `${field}.ports[${j}].hostPort`, `host ports are refused by ${RESTRICTED}`));
  });
  const sc = c.securityContext;
  if (!isObj(sc)) return out;
  const at = (k: string) => `${field}.securityContext.${k}`;
  if (sc.privileged === true) out.push(error(source, at('privileged'), `privileged containers are refused by ${RESTRICTED}`));
  if (sc.allowPrivilegeEscalation === true) out.push(error(source, at('allowPrivilegeEscalation'), `must stay false under ${RESTRICTED}`));
  if (sc.runAsNonRoot === false) out.push(error(source, at('runAsNonRoot'), `must stay true under ${RESTRICTED}`));
  if (sc.runAsUser === 0) out.push(error(source, at('runAsUser'), `0 is root, which ${RESTRICTED} refuses`));
  if (sc.procMount !== undefined && sc.procMount !== 'Default') out.push(error(source, at('procMount'), `must be Default under ${RESTRICTED}`));
  const type = isObj(sc.seccompProfile) ? sc.seccompProfile.type : undefined;
  if (type !== undefined && type !== 'RuntimeDefault' && type !== 'Localhost') out.push(error(source, at('seccompProfile.type'), `${JSON.stringify(type)} is refused by ${RESTRICTED} (RuntimeDefault or Localhost)`));
  list(isObj(sc.capabilities) ? sc.capabilities.add : undefined).forEach((cap: unknown, j) => {
    if (cap !== 'NET_BIND_SERVICE') out.push(error(source, `${field}.securityContext.capabilities.add[${j}]`, `${JSON.stringify(cap)}: ${RESTRICTED} allows adding NET_BIND_SERVICE only`));
  });
  return out;
}

/**
 * Warnings at synth: a module whose ports are all UDP (or SCTP) and that declares no
 * readiness probe gets none, so its world's Running cannot know that the server is up.
 */
export function moduleWarnings(modules: Iterable<ModuleManifest>, sourceOf: (m: ModuleManifest) => string): Diagnostic[] {
  const out: Diagnostic[] = [];
  for (const m of modules) {
    const ports = m.spec.ports ?? [];
    if (ports.length === 0 || m.spec.probes?.readiness || ports.some((p) => (p.protocol ?? 'TCP') === 'TCP')) continue;
    out.push(
      warning(
        sourceOf(m),
        'spec.probes.readiness',
        `module ${m.metadata.name} has only ${[...new Set(ports.map((p) => p.protocol))].join('/')} ports and no readiness probe, so it gets none: its world's Running cannot know the server is up; declare probes.readiness (httpGet, grpc, tcpSocket on a TCP port, or exec)`,
        'NoReadinessProbe',
      ),
    );
  }
  return out;
}
