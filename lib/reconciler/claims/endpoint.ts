/**
 * The allocation endpoint (issue 20), served by the reconciler over HTTPS on its own port:
 *
 *   POST   /v1alpha1/namespaces/{ns}/allocations              {"requestId", "pool" | "selector", "timeoutSeconds"?}
 *   DELETE /v1alpha1/namespaces/{ns}/allocations/{requestId}
 *
 * Every request carries the caller's Kubernetes bearer token: reviewed by the API server
 * (TokenReview, 401 Unauthenticated) and authorized as "may create worldclaims in {ns}"
 * (release: "may delete worldclaims"), asked of the API server (SubjectAccessReview, 403
 * Forbidden). The reply is the world and its endpoints (200), or `{"reason","message"}`:
 * 400 Invalid, 404 PoolNotFound, 429 PoolExhausted, 503 NotLeader (a standby: retry),
 * 503 TakingOver (a new leader in its takeover window, takeover.ts: retry), 504 Timeout.
 * The logic is allocations.ts; this is only HTTP.
 */
import * as https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Allocations, AllocationOutcome } from './allocations.js';
import { validateRequest } from './allocations.js';
import type { Authorizer } from '../runtime/auth.js';
import { errorMessage } from '../runtime/kube.js';
import { trace } from '../runtime/trace.js';

export interface AllocationServerOptions {
  port: number;
  cert: string | Buffer;
  key: string | Buffer;
  allocations: Allocations;
  auth: Authorizer;
  log: (msg: string) => void;
}

const ROUTE = /^\/v1alpha1\/namespaces\/([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)\/allocations(?:\/([^/]+))?$/;
const MAX_BODY = 64 * 1024;

const send = (res: ServerResponse, status: number, body: unknown) => {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text);
};
const fail = (res: ServerResponse, status: number, reason: string, message: string) => send(res, status, { reason, message });

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) reject(new Error(`the body is larger than ${MAX_BODY} bytes`));
      else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

export function startAllocationServer(o: AllocationServerOptions): Promise<https.Server> {
  const server = https.createServer({ cert: o.cert, key: o.key, keepAliveTimeout: 65_000 }, (req, res) => {
    handle(o, req, res).catch((e: unknown) => {
      o.log(`allocation endpoint: ${req.method} ${req.url}: ${errorMessage(e)}`);
      if (!res.headersSent) fail(res, 500, 'InternalError', `${errorMessage(e)}: retry with the same requestId`);
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, () => resolve(server));
  });
}

async function handle(o: AllocationServerOptions, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const m = ROUTE.exec((req.url ?? '/').split('?')[0]!);
  if (!m) return fail(res, 404, 'NotFound', 'the endpoint is POST /v1alpha1/namespaces/{namespace}/allocations and DELETE /v1alpha1/namespaces/{namespace}/allocations/{requestId}');
  const namespace = m[1]!;
  const requestId = m[3] === undefined ? undefined : decodeURIComponent(m[3]);
  const verb = req.method === 'POST' && requestId === undefined ? 'create' : req.method === 'DELETE' && requestId !== undefined ? 'delete' : undefined;
  if (!verb) return fail(res, 405, 'MethodNotAllowed', `${req.method} is not served here: POST .../allocations, DELETE .../allocations/{requestId}`);
  const body = verb === 'create' ? await readBody(req) : '';
  const t0 = performance.now();
  const who = await o.auth.check(req.headers.authorization, verb, 'worldclaims', namespace);
  const tAuth = performance.now();
  if (!who.ok) return fail(res, who.status, who.reason, who.message);
  if (verb === 'delete') {
    const released = await o.allocations.release(namespace, requestId!);
    if (released === 'NotLeader') return fail(res, 503, 'NotLeader', 'this replica is a standby: retry (the Service reaches the leader)');
    if (!released.world) return fail(res, 404, 'NotFound', `no world is allocated to request ${requestId} in namespace ${namespace}`);
    return send(res, 200, { requestId, namespace, world: released.world, released: true });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch (e) {
    return fail(res, 400, 'Invalid', `the body is not JSON: ${errorMessage(e)}`);
  }
  const valid = validateRequest(parsed);
  if (!valid.ok) return fail(res, 400, 'Invalid', valid.message);
  const out: AllocationOutcome = await o.allocations.allocate(namespace, valid.request, who.caller.username);
  trace('allocation', { auth: tAuth - t0, allocate: performance.now() - tAuth });
  if (out.ok) return send(res, 200, out.reply);
  return fail(res, out.status, out.reason, out.message);
}
