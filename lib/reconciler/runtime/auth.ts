/**
 * Who calls the allocation endpoint, and whether they may (issue 20): the caller's bearer
 * token is reviewed by the API server (TokenReview), and what it may do is asked of the API
 * server's authorizer (SubjectAccessReview), so the endpoint honours exactly the RBAC the
 * WorldClaim resource does ("may create worldclaims in {ns}"). Answers are kept as long as
 * kube-apiserver's own webhook authenticator and authorizer keep theirs by default (a token
 * 2 minutes; an allowed request 5 minutes, a denied one 30 seconds), so a matchmaker costs two
 * reviews every few minutes, not two per request, and a burst does not begin with a cold
 * cache (measured: the first requests of a burst of 50 waited 46 ms for the reviews).
 */
import { createHash } from 'node:crypto';
import type { KubernetesObject } from '@kubernetes/client-node';
import type { Kube } from './kube.js';

export interface Caller {
  username: string;
  uid?: string;
  groups?: string[];
  extra?: Record<string, string[]>;
}

export type AuthResult = { ok: true; caller: Caller } | { ok: false; status: 401 | 403; reason: 'Unauthenticated' | 'Forbidden'; message: string };

/** kube-apiserver's defaults: --authentication-token-webhook-cache-ttl, --authorization-webhook-cache-authorized-ttl and -unauthorized-ttl. */
export const TOKEN_TTL_MS = 120_000;
export const ALLOWED_TTL_MS = 300_000;
export const DENIED_TTL_MS = 30_000;

interface Review extends KubernetesObject {
  status?: { authenticated?: boolean; allowed?: boolean; user?: Caller; error?: string; reason?: string };
}

export class Authorizer {
  /** Answers, and reviews in flight (a burst of requests with one token waits for one review). */
  private readonly tokens = new Map<string, { caller?: Caller; error?: string; until: number }>();
  private readonly access = new Map<string, { allowed: boolean; reason?: string; until: number }>();
  private readonly pending = new Map<string, Promise<unknown>>();

  constructor(
    private readonly kube: Kube,
    private readonly now: () => number = Date.now,
  ) {}

  /** The caller of `authorization` (an HTTP Authorization header), allowed to `verb` `resource` (anvil.dev) in `namespace`. */
  async check(authorization: string | undefined, verb: string, resource: string, namespace: string, group = 'anvil.dev'): Promise<AuthResult> {
    const token = /^Bearer\s+(\S+)$/i.exec(authorization ?? '')?.[1];
    if (!token) return { ok: false, status: 401, reason: 'Unauthenticated', message: 'no bearer token: send Authorization: Bearer <token> (a Kubernetes ServiceAccount or user token)' };
    const who = await this.authenticate(token);
    if (!who.caller) return { ok: false, status: 401, reason: 'Unauthenticated', message: `the token was not accepted by the API server${who.error ? `: ${who.error}` : ''}` };
    const can = await this.authorize(who.caller, verb, resource, namespace, group);
    if (!can.allowed) {
      return { ok: false, status: 403, reason: 'Forbidden', message: `${who.caller.username} may not ${verb} ${resource}.${group} in namespace ${namespace}${can.reason ? ` (${can.reason})` : ''}: grant it with a Role (e.g. anvil-matchmaker)` };
    }
    return { ok: true, caller: who.caller };
  }

  private async authenticate(token: string): Promise<{ caller?: Caller; error?: string }> {
    const key = createHash('sha256').update(token).digest('hex');
    const hit = this.tokens.get(key);
    if (hit && hit.until > this.now()) return hit;
    return this.once(`t:${key}`, () => this.tokenReview(key, token));
  }

  private async tokenReview(key: string, token: string): Promise<{ caller?: Caller; error?: string }> {
    const r = await this.kube.review<Review>({ apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', metadata: {}, spec: { token } } as KubernetesObject);
    const caller = r.status?.authenticated ? r.status.user : undefined;
    // A token refused is asked again as soon as a denied request would be.
    const entry = { ...(caller ? { caller } : {}), ...(r.status?.error ? { error: r.status.error } : {}), until: this.now() + (caller ? TOKEN_TTL_MS : DENIED_TTL_MS) };
    this.remember(this.tokens, key, entry);
    return entry;
  }

  private async authorize(c: Caller, verb: string, resource: string, namespace: string, group: string): Promise<{ allowed: boolean; reason?: string }> {
    const key = JSON.stringify([c.username, c.uid, c.groups, verb, resource, namespace, group]);
    const hit = this.access.get(key);
    if (hit && hit.until > this.now()) return hit;
    return this.once(`a:${key}`, () => this.accessReview(key, c, verb, resource, namespace, group));
  }

  private async accessReview(key: string, c: Caller, verb: string, resource: string, namespace: string, group: string): Promise<{ allowed: boolean; reason?: string }> {
    const spec = {
      user: c.username,
      ...(c.uid ? { uid: c.uid } : {}),
      ...(c.groups ? { groups: c.groups } : {}),
      ...(c.extra ? { extra: c.extra } : {}),
      resourceAttributes: { namespace, verb, group, resource },
    };
    const r = await this.kube.review<Review>({ apiVersion: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview', metadata: {}, spec } as KubernetesObject);
    const allowed = r.status?.allowed === true;
    const entry = { allowed, ...(r.status?.reason ? { reason: r.status.reason } : {}), until: this.now() + (allowed ? ALLOWED_TTL_MS : DENIED_TTL_MS) };
    this.remember(this.access, key, entry);
    return entry;
  }

  /** One review per key at a time: callers arriving meanwhile share its answer. */
  private once<T>(key: string, review: () => Promise<T>): Promise<T> {
    const running = this.pending.get(key) as Promise<T> | undefined;
    if (running) return running;
    const p = review().finally(() => this.pending.delete(key));
    this.pending.set(key, p);
    return p;
  }

  /** Bounded: expired entries go when the map grows. */
  private remember<V extends { until: number }>(m: Map<string, V>, key: string, v: V): void {
    if (m.size > 10_000) for (const [k, e] of m) if (e.until <= this.now()) m.delete(k);
    m.set(key, v);
  }
}
