/**
 * The allocation endpoint's client (issue 20): `POST {url}/v1alpha1/namespaces/{ns}/allocations`
 * with the kubeconfig user's bearer token, over one keep-alive agent per endpoint (and CA).
 *
 * What a caller may safely do after each outcome: a reply is final; a 4xx is final (the
 * request is wrong, or not allowed, or no world is there); a 5xx or a connection broken
 * after the request was sent is retried with the same request id (the endpoint answers it
 * with the same world if the first attempt committed one); only an endpoint that could not
 * be reached at all (refused, no such host: nothing was sent) is `unreachable`, after which
 * falling back to the WorldClaim resource cannot give the request a second world.
 */
import * as https from 'node:https';
import { rootCertificates } from 'node:tls';
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { oneTlsContext } from './kubeTransport.js';
import { ALLOCATOR_CA_CONFIGMAP, ALLOCATOR_CA_KEY, ALLOCATOR_DEFAULT_NAMESPACE, ALLOCATOR_SERVICE, type AllocationReply } from '../api/allocation.js';

export type { AllocationBody, AllocationReply } from '../api/allocation.js';

export type EndpointResult =
  | { kind: 'reply'; reply: AllocationReply }
  | { kind: 'error'; status: number; reason: string; message: string }
  | { kind: 'unreachable'; message: string };

/** Errors raised before a request can have been sent. */
const NOT_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ERR_INVALID_URL']);

/** What the endpoint's certificate is checked against: a CA (PEM), or several. */
export type EndpointCa = string | Buffer | (string | Buffer)[];

const agents = new Map<string, https.Agent>();
function agentFor(url: string, ca?: EndpointCa): https.Agent {
  const key = `${new URL(url).origin}|${ca ? [ca].flat().join('') : ''}`;
  if (!agents.has(key)) agents.set(key, new https.Agent({ keepAlive: true, maxSockets: 64, ...oneTlsContext(https.Agent, ca ? { ca } : {}) }));
  return agents.get(key)!;
}

/** The kubeconfig user's `Authorization` header (a token, a token file, an exec plugin): what the endpoint reviews. */
export async function bearerOf(kc: KubeConfig): Promise<string | undefined> {
  const opts: https.RequestOptions = {};
  await kc.applyToHTTPSOptions(opts);
  const h = (opts.headers ?? {}) as Record<string, string>;
  return h.Authorization ?? h.authorization;
}

/** One HTTP exchange with the endpoint: JSON in, JSON out. */
export function callEndpoint(o: { url: string; ca?: EndpointCa; method: 'POST' | 'DELETE'; path: string; authorization?: string; body?: unknown; timeoutMs: number; signal?: AbortSignal }): Promise<EndpointResult> {
  return new Promise((resolve) => {
    let target: URL;
    try {
      target = new URL(o.path, o.url.endsWith('/') ? o.url : `${o.url}/`);
    } catch (e) {
      return resolve({ kind: 'unreachable', message: `allocation URL ${o.url}: ${(e as Error).message}` });
    }
    const text = o.body === undefined ? '' : JSON.stringify(o.body);
    const req = https.request(
      target,
      {
        method: o.method,
        agent: agentFor(o.url, o.ca),
        timeout: o.timeoutMs,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...(o.authorization ? { authorization: o.authorization } : {}) },
        ...(o.signal ? { signal: o.signal } : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (e) => resolve({ kind: 'error', status: 0, reason: 'ConnectionLost', message: e.message }));
        res.on('end', () => {
          let json: any;
          try {
            json = JSON.parse(Buffer.concat(chunks).toString('utf8'));
          } catch {
            json = { reason: 'BadReply', message: `HTTP ${res.statusCode}: not JSON` };
          }
          if (res.statusCode === 200) resolve({ kind: 'reply', reply: json as AllocationReply });
          else resolve({ kind: 'error', status: res.statusCode ?? 0, reason: String(json?.reason ?? 'Error'), message: String(json?.message ?? `HTTP ${res.statusCode}`) });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no reply within ${o.timeoutMs} ms`)));
    req.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code && NOT_SENT.has(e.code)) resolve({ kind: 'unreachable', message: `${o.url}: ${e.code}` });
      else resolve({ kind: 'error', status: 0, reason: 'ConnectionLost', message: e.message });
    });
    req.end(text);
  });
}

/** Worth another attempt with the same request id: a standby (503), the endpoint's or the connection's trouble. */
export const retryable = (r: EndpointResult): boolean => r.kind === 'error' && (r.status === 0 || r.status >= 500);

/**
 * The namespace of the reconciler behind an endpoint URL: from the Service's DNS name
 * (`anvil-allocator.<ns>`, `.svc`, `.svc.cluster.local`), else anvil-system (a port-forward
 * to localhost, an Ingress's name).
 */
export function reconcilerNamespaceOf(url: string): string {
  let host: string;
  try {
    host = new URL(url).hostname;
  } catch {
    return ALLOCATOR_DEFAULT_NAMESPACE;
  }
  const m = new RegExp(`^${ALLOCATOR_SERVICE}\\.([a-z0-9]([-a-z0-9]*[a-z0-9])?)(\\.svc(\\..*)?)?$`).exec(host);
  return m ? m[1]! : ALLOCATOR_DEFAULT_NAMESPACE;
}

const PUBLISHED_TTL_MS = 60_000;
const published = new WeakMap<KubeConfig, Map<string, { at: number; ca: Promise<string | undefined> }>>();

/**
 * The CA to check the endpoint against when the caller gave none: the one the reconciler
 * publishes for its self-signed certificate (ConfigMap anvil-allocator-ca, `ca.crt`, in its
 * namespace; readable by any authenticated user), added to the system's roots so a
 * certificate from a public CA still passes; the system's alone when there is no such
 * ConfigMap (or it cannot be read). Read once a minute at most per kubeconfig.
 */
export async function endpointTrust(kc: KubeConfig, url: string, ca?: string | Buffer): Promise<EndpointCa | undefined> {
  if (ca) return ca;
  const namespace = reconcilerNamespaceOf(url);
  if (!published.has(kc)) published.set(kc, new Map());
  const cache = published.get(kc)!;
  let entry = cache.get(namespace);
  if (!entry || performance.now() - entry.at > PUBLISHED_TTL_MS) {
    const read = kc
      .makeApiClient(CoreV1Api)
      .readNamespacedConfigMap({ name: ALLOCATOR_CA_CONFIGMAP, namespace })
      .then((cm) => cm.data?.[ALLOCATOR_CA_KEY])
      .catch(() => undefined);
    entry = { at: performance.now(), ca: read };
    cache.set(namespace, entry);
  }
  const found = await entry.ca;
  return found ? [...rootCertificates, found] : undefined;
}
