/**
 * The allocation endpoint's certificate when no TLS Secret is given (issue 20): a
 * self-signed one (runtime/selfSigned.ts) for the Service's names, the same on every
 * replica, and its CA published for clients.
 *
 * - Secret `anvil-allocator-selfsigned` (type kubernetes.io/tls: tls.crt, tls.key, ca.crt)
 *   in the reconciler's namespace holds it. The first replica to start makes it and creates
 *   the Secret; a replica that finds it (or loses the create: 409) uses the one stored, so
 *   leader and standby serve the same certificate and a client keeps trusting the endpoint
 *   across a failover. Created once, never changed: delete it (and restart the reconciler)
 *   to make a new one. A Secret of that name that Anvil did not create is never used.
 * - ConfigMap `anvil-allocator-ca` (ca.crt) in the same namespace publishes the CA, as
 *   kube-root-ca.crt publishes the cluster's: `claimWorld()` and `anvil allocate` read it
 *   when given no CA. Any authenticated user may read it (a certificate is public), and
 *   nothing else (dist's Role `anvil-allocator-ca-reader`).
 * These are create-once objects guarded by their name (and the ConfigMap's update by its
 * resourceVersion): any replica may write them, leader or not, so they are written through
 * the unfenced client (as the lease is) — a standby must be able to serve TLS too.
 */
import { PatchStrategy, type KubernetesObject } from '@kubernetes/client-node';
import { ALLOCATOR_CA_CONFIGMAP, ALLOCATOR_CA_KEY, ALLOCATOR_SELF_SIGNED_SECRET, ALLOCATOR_SERVICE } from '../../api/allocation.js';
import { MANAGED_BY } from '../../render/labels.js';
import { makeServingCert, type ServingCert } from '../runtime/selfSigned.js';
import { FIELD_MANAGER, isConflict, type Kube } from '../runtime/kube.js';

/** Ten years: nothing renews it (a new one is a deleted Secret and a restart away). */
const VALID_DAYS = 3650;

type Data = KubernetesObject & { data?: Record<string, string>; type?: string };

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
const unb64 = (s: string | undefined) => (s === undefined ? undefined : Buffer.from(s, 'base64').toString('utf8'));

/**
 * The names the endpoint is reached by: the Service's (short, namespaced, .svc and the
 * cluster domain's), and localhost for `kubectl port-forward svc/anvil-allocator 8443`.
 */
export function endpointNames(namespace: string): { dnsNames: string[]; ipAddresses: string[] } {
  const svc = `${ALLOCATOR_SERVICE}.${namespace}`;
  return { dnsNames: [ALLOCATOR_SERVICE, svc, `${svc}.svc`, `${svc}.svc.cluster.local`, 'localhost'], ipAddresses: ['127.0.0.1', '::1'] };
}

/** The endpoint's certificate from the Secret, made and stored first when there is none; the CA published. */
export async function selfSignedEndpointCert(kube: Kube, namespace: string, log: (msg: string) => void): Promise<ServingCert> {
  const tls = (await storedCert(kube, namespace)) ?? (await createCert(kube, namespace, log));
  await publishCa(kube, namespace, tls.ca, log);
  return tls;
}

async function storedCert(kube: Kube, namespace: string): Promise<ServingCert | undefined> {
  const s = await kube.read<Data>('v1', 'Secret', ALLOCATOR_SELF_SIGNED_SECRET, namespace);
  if (!s) return undefined;
  const where = `Secret ${namespace}/${ALLOCATOR_SELF_SIGNED_SECRET}`;
  if (s.metadata?.labels?.[MANAGED_BY] !== 'anvil') throw new Error(`${where} exists and was not made by Anvil (no label ${MANAGED_BY}=anvil): Anvil will not use it; delete it, or give the endpoint a certificate with the Secret anvil-allocator-tls`);
  const [cert, key, ca] = [unb64(s.data?.['tls.crt']), unb64(s.data?.['tls.key']), unb64(s.data?.[ALLOCATOR_CA_KEY])];
  if (!cert || !key || !ca) throw new Error(`${where} lacks tls.crt, tls.key or ${ALLOCATOR_CA_KEY}: delete it and restart the reconciler to make a new one`);
  return { cert, key, ca };
}

async function createCert(kube: Kube, namespace: string, log: (msg: string) => void): Promise<ServingCert> {
  const made = await makeServingCert({ commonName: `${ALLOCATOR_SERVICE}.${namespace}.svc`, ...endpointNames(namespace), validDays: VALID_DAYS });
  const secret: Data = {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: ALLOCATOR_SELF_SIGNED_SECRET, namespace, labels: { [MANAGED_BY]: 'anvil' } },
    type: 'kubernetes.io/tls',
    data: { 'tls.crt': b64(made.cert), 'tls.key': b64(made.key), [ALLOCATOR_CA_KEY]: b64(made.ca) },
  };
  try {
    await kube.track('create', () => kube.objects.create(secret));
    log(`allocation endpoint: made a self-signed certificate (Secret ${namespace}/${ALLOCATOR_SELF_SIGNED_SECRET}, CA in ConfigMap ${namespace}/${ALLOCATOR_CA_CONFIGMAP})`);
    return made;
  } catch (e) {
    if (!isConflict(e)) throw e;
    // Another replica stored its own first: serve that one.
    const stored = await storedCert(kube, namespace);
    if (!stored) throw new Error(`Secret ${namespace}/${ALLOCATOR_SELF_SIGNED_SECRET} was created by another replica but cannot be read`, { cause: e });
    return stored;
  }
}

/** The CA in ConfigMap anvil-allocator-ca: created, or updated (on its resourceVersion) when it holds another. */
async function publishCa(kube: Kube, namespace: string, ca: string, log: (msg: string) => void): Promise<void> {
  const where = `ConfigMap ${namespace}/${ALLOCATOR_CA_CONFIGMAP}`;
  for (let attempt = 1; attempt <= 3; attempt++) {
    const cm = await kube.read<Data>('v1', 'ConfigMap', ALLOCATOR_CA_CONFIGMAP, namespace);
    if (cm && cm.metadata?.labels?.[MANAGED_BY] !== 'anvil') {
      log(`allocation endpoint: ${where} exists and was not made by Anvil: left as it is; clients must be given the CA (--ca)`);
      return;
    }
    if (cm?.data?.[ALLOCATOR_CA_KEY] === ca) return;
    const want: Data = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: ALLOCATOR_CA_CONFIGMAP, namespace, labels: { [MANAGED_BY]: 'anvil' }, ...(cm ? { resourceVersion: cm.metadata?.resourceVersion } : {}) }, data: { [ALLOCATOR_CA_KEY]: ca } };
    try {
      await kube.track(cm ? 'patch' : 'create', () => (cm ? kube.objects.patch(want, undefined, undefined, FIELD_MANAGER, undefined, PatchStrategy.MergePatch) : kube.objects.create(want)));
      return;
    } catch (e) {
      if (!isConflict(e) || attempt === 3) throw e;
    }
  }
}
