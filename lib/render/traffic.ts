/**
 * What a module's NetworkPolicy opens beyond its bound edges (issue 17): the destinations
 * it declares in `egress`, and its metrics port to monitoring namespaces only.
 */
import { k8s } from '../../imports/k8s.js';
import type { ModuleManifest } from '../api/schema.js';
import { modulePort } from './pod.js';

/** `anvil.dev/monitoring: "true"` on a namespace whose pods (Prometheus) may scrape modules' metrics ports. */
export const LABEL_MONITORING_NAMESPACE = 'anvil.dev/monitoring';

/** One rule per declared destination, in the module's order: a CIDR block, or (some) pods of a namespace. */
export function declaredEgress(module: ModuleManifest): k8s.NetworkPolicyEgressRule[] {
  return (module.spec.egress ?? []).map((e) => {
    const peer: k8s.NetworkPolicyPeer = e.to.cidr
      ? { ipBlock: { cidr: e.to.cidr, ...(e.to.except?.length ? { except: [...e.to.except] } : {}) } }
      : {
          namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': e.to.namespace ?? '' } },
          ...(e.to.podLabels ? { podSelector: { matchLabels: { ...e.to.podLabels } } } : {}),
        };
    return { to: [peer], ports: e.ports.map((p) => ({ port: k8s.IntOrString.fromNumber(p.port), protocol: p.protocol ?? 'TCP' })) };
  });
}

/** The module's metrics port number, when it declares one. */
export const metricsPort = (module: ModuleManifest): number | undefined =>
  module.spec.metrics ? modulePort(module.spec.ports ?? [], module.spec.metrics.port)?.port : undefined;

/** The metrics port, admitted from monitoring namespaces only. */
export function metricsIngress(module: ModuleManifest): k8s.NetworkPolicyIngressRule[] {
  const port = metricsPort(module);
  if (port === undefined) return [];
  return [
    {
      from: [{ namespaceSelector: { matchLabels: { [LABEL_MONITORING_NAMESPACE]: 'true' } } }],
      ports: [{ port: k8s.IntOrString.fromNumber(port), protocol: 'TCP' }],
    },
  ];
}
