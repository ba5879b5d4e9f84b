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
import type { KubeConfig } from '@kubernetes/client-node';
import type { AllocationReply } from '../api/allocation.js';

export type { AllocationBody, AllocationReply } from '../api/allocation.js';

export type EndpointResult =
  | { kind: 'reply'; reply: AllocationReply }
  | { kind: 'error'; status: number; reason: string; message: string }
  | { kind: 'unreachable'; message: string };

/** Errors raised before a request can have been sent. */
const NOT_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ERR_INVALID_URL']);

const agents = new Map<string, https.Agent>();
function agentFor(url: string, ca?: string | Buffer): https.Agent {
  const key = `${new URL(url).origin}|${ca ? ca.toString() : ''}`;
  if (!agents.has(key)) agents.set(key, new https.Agent({ keepAlive: true, maxSockets: 64, ...(ca ? { ca } : {}) }));
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
export function callEndpoint(o: { url: string; ca?: string | Buffer; method: 'POST' | 'DELETE'; path: string; authorization?: string; body?: unknown; timeoutMs: number; signal?: AbortSignal }): Promise<EndpointResult> {
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
