/**
 * CustomResourceDefinitions for the anvil.dev API, built from the schemas in schema.ts so
 * that the CRDs, the library's types and the input validation can never disagree.
 */
import { DNS_LABEL_PATTERN, GROUP, KINDS, VERSION, type KindDefinition } from './schema.js';

/** A plain JSON copy: TypeBox schemas carry symbols and the API server wants none. */
const plain = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;

export function customResourceDefinition(def: KindDefinition): Record<string, unknown> {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: {
      name: `${def.plural}.${GROUP}`,
      labels: { 'app.kubernetes.io/name': 'anvil', 'app.kubernetes.io/part-of': 'anvil' },
    },
    spec: {
      group: GROUP,
      scope: def.namespaced ? 'Namespaced' : 'Cluster',
      names: {
        kind: def.kind,
        listKind: `${def.kind}List`,
        plural: def.plural,
        singular: def.singular,
        shortNames: def.shortNames,
        categories: ['anvil'],
      },
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          subresources: { status: {}, ...(def.scale ? { scale: def.scale } : {}) },
          additionalPrinterColumns: def.columns,
          schema: {
            openAPIV3Schema: {
              type: 'object',
              description: `${def.kind} (${GROUP}/${VERSION})`,
              required: ['spec'],
              properties: {
                apiVersion: { type: 'string' },
                kind: { type: 'string' },
                metadata: { type: 'object' },
                spec: plain(def.spec),
                status: plain(def.status),
              },
              // Names end up inside Deployment, Service and label values: keep them DNS labels.
              'x-kubernetes-validations': [
                {
                  rule: `self.metadata.name.size() <= 63 && self.metadata.name.matches('${DNS_LABEL_PATTERN}')`,
                  message: 'metadata.name must be a DNS-1123 label (lower case letters, digits and -, at most 63)',
                },
              ],
            },
          },
        },
      ],
    },
  };
}

export const customResourceDefinitions = (): Record<string, unknown>[] => KINDS.map(customResourceDefinition);
