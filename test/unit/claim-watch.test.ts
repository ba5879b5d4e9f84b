// claimWorld() through the WorldClaim resource, against a fake API server on a loopback port:
// the world is the client's as soon as the binding's commit stamps it (the shared watch on
// claimed worlds), one write before the claim's Bound status; a caller whose RBAC has no
// `watch` on worldinstances does without that watch and waits for the claim's status.
import * as http from 'node:http';
import { afterEach, describe, expect, test } from '@jest/globals';
import type { KubeConfig } from '@kubernetes/client-node';
import { claimWorld } from '../../lib/client/claims.js';
import { claimName } from '../../lib/api/claimName.js';
import { closeLoopback, listenLoopback } from './loopback.js';

const NS = 'arena';
const CLAIMS = `/apis/anvil.dev/v1alpha1/namespaces/${NS}/worldclaims`;
const WORLDS = `/apis/anvil.dev/v1alpha1/namespaces/${NS}/worldinstances`;
const endpoints = [{ module: 'gw', host: 'w-1-gw.arena.svc', ports: [{ name: 'ws', port: 4000, protocol: 'TCP' }] }];

interface Fake {
  kc: KubeConfig;
  /** Watch requests by path, with their query. */
  watches: { path: string; query: URLSearchParams }[];
  /** The open watch responses by path: a test writes events to them. */
  open: Map<string, http.ServerResponse>;
  server: http.Server;
  /** The next claim is created Bound with this status (as if bound before its watch event could be seen). */
  bindNext: (status: unknown) => void;
  /** Claims read with a GET, by name. */
  reads: string[];
  /** The next create is held (not answered) until the test answers it, at a resourceVersion of its choice. */
  holdNext: () => void;
  held?: (resourceVersion: string) => void;
}

let fake: Fake | undefined;
afterEach(async () => {
  if (fake) await closeLoopback(fake.server);
  fake = undefined;
});

/** `worldWatch`: what the watch on claimed worlds gets: a stream, or a refusal (RBAC). */
async function start(worldWatch: 'stream' | 403): Promise<Fake> {
  let bindOnCreate: unknown;
  let hold = false;
  const reads: string[] = [];
  const watches: Fake['watches'] = [];
  const open = new Map<string, http.ServerResponse>();
  /** Created claims, as a GET reads them (Pending: the fake binds nothing). */
  const claims = new Map<string, unknown>();
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (req.method === 'POST' && url.pathname === CLAIMS) {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        const claim = JSON.parse(body);
        if (hold) {
          hold = false;
          fake!.held = (resourceVersion) => {
            const created = { ...claim, metadata: { ...claim.metadata, uid: `uid-${claim.metadata.name}`, resourceVersion } };
            claims.set(claim.metadata.name, created);
            res.writeHead(201, { 'content-type': 'application/json' });
            res.end(JSON.stringify(created));
          };
          return;
        }
        // A claim bound at once answers its create Pending at an older resourceVersion than the
        // open watch's start, and a GET finds it Bound.
        const created = { ...claim, metadata: { ...claim.metadata, uid: `uid-${claim.metadata.name}`, resourceVersion: bindOnCreate ? '9' : '10' } };
        claims.set(claim.metadata.name, bindOnCreate ? { ...created, status: bindOnCreate } : created);
        res.writeHead(201, { 'content-type': 'application/json' });
        res.end(JSON.stringify(created));
      });
      return;
    }
    const claim = req.method === 'GET' && url.pathname.startsWith(`${CLAIMS}/`) ? claims.get(url.pathname.slice(CLAIMS.length + 1)) : undefined;
    if (claim) {
      reads.push(url.pathname.slice(CLAIMS.length + 1));
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(claim));
      return;
    }
    if (req.method === 'GET' && url.searchParams.get('watch') === 'true') {
      watches.push({ path: url.pathname, query: url.searchParams });
      if (url.pathname === WORLDS && worldWatch === 403) {
        res.writeHead(403, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ kind: 'Status', code: 403, reason: 'Forbidden' }));
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.flushHeaders();
      open.set(url.pathname, res);
      return;
    }
    res.writeHead(404).end();
  });
  return (fake = { kc: await listenLoopback(server), watches, open, server, reads, bindNext: (status) => (bindOnCreate = status), holdNext: () => (hold = true) });
}

const event = (res: http.ServerResponse | undefined, type: string, object: unknown) => res?.write(`${JSON.stringify({ type, object })}\n`);

/** Resolves once `f` holds (checked as requests arrive). */
async function until(f: () => boolean): Promise<void> {
  while (!f()) await new Promise((r) => setImmediate(r));
}

describe('claimWorld through the WorldClaim resource', () => {
  test('the world is returned from its stamp (the commit), before the claim says Bound; one watch per kind, from the create', async () => {
    const f = await start('stream');
    const got = claimWorld({ kubeconfig: f.kc, namespace: NS, pool: 'p', requestId: 'r-1' });
    await until(() => f.open.has(WORLDS) && f.open.has(CLAIMS));
    const name = claimName({ pool: 'p' }, 'r-1');
    // Another claim's world first: not ours.
    event(f.open.get(WORLDS), 'ADDED', { metadata: { name: 'w-0', resourceVersion: '11', annotations: { 'anvil.dev/claim-uid': 'uid-someone-else' } } });
    event(f.open.get(WORLDS), 'MODIFIED', { metadata: { name: 'w-1', resourceVersion: '12', annotations: { 'anvil.dev/claim-uid': `uid-${name}` } }, status: { endpoints } });
    await expect(got).resolves.toMatchObject({ world: 'w-1', endpoints, claim: name, namespace: NS });
    const worlds = f.watches.filter((w) => w.path === WORLDS);
    expect(worlds).toHaveLength(1);
    expect(worlds[0]!.query.get('labelSelector')).toBe('anvil.dev/claim');
    expect(worlds[0]!.query.get('resourceVersion')).toBe('10');
  });

  test('without watch on worldinstances (403): the claim Bound on its own watch, and the refused watch is not asked again', async () => {
    const f = await start(403);
    const first = claimWorld({ kubeconfig: f.kc, namespace: NS, pool: 'p', requestId: 'r-2' });
    await until(() => f.open.has(CLAIMS) && f.watches.some((w) => w.path === WORLDS));
    const name = claimName({ pool: 'p' }, 'r-2');
    event(f.open.get(CLAIMS), 'MODIFIED', { metadata: { name, resourceVersion: '12' }, status: { phase: 'Bound', worldRef: { name: 'w-2' }, endpoints } });
    await expect(first).resolves.toMatchObject({ world: 'w-2', endpoints });
    const before = f.watches.length;
    // Bound by the time the client follows it (the shared claim watch reads it once, as it
    // reads any claim whose create it cannot place after the watch's start).
    f.bindNext({ phase: 'Bound', worldRef: { name: 'w-3' }, endpoints: [] });
    const second = claimWorld({ kubeconfig: f.kc, namespace: NS, pool: 'p', requestId: 'r-3' });
    await expect(second).resolves.toMatchObject({ world: 'w-3' });
    expect(f.watches.filter((w) => w.path === WORLDS)).toHaveLength(1);
    expect(f.watches.length).toBe(before);
    expect(f.reads).toContain(claimName({ pool: 'p' }, 'r-3'));
  });

  test('a verdict the watch brings before the create has answered is not missed (nor read again)', async () => {
    const f = await start(403);
    const first = claimWorld({ kubeconfig: f.kc, namespace: NS, pool: 'p', requestId: 'r-4' });
    await until(() => f.open.has(CLAIMS));
    f.holdNext();
    const second = claimWorld({ kubeconfig: f.kc, namespace: NS, pool: 'p', requestId: 'r-5', timeoutSeconds: 1, graceSeconds: 0 });
    await until(() => f.held !== undefined);
    // The reconciler binds the second claim before its create's reply reaches the client; the
    // first claim's verdict, later on the same stream, shows when the client has read both.
    const [a, b] = [claimName({ pool: 'p' }, 'r-4'), claimName({ pool: 'p' }, 'r-5')];
    event(f.open.get(CLAIMS), 'ADDED', { metadata: { name: b, resourceVersion: '20' } });
    event(f.open.get(CLAIMS), 'MODIFIED', { metadata: { name: b, resourceVersion: '22' }, status: { phase: 'Bound', worldRef: { name: 'w-5' }, endpoints } });
    event(f.open.get(CLAIMS), 'MODIFIED', { metadata: { name: a, resourceVersion: '23' }, status: { phase: 'Bound', worldRef: { name: 'w-4' }, endpoints } });
    await expect(first).resolves.toMatchObject({ world: 'w-4' });
    f.held!('20');
    await expect(second).resolves.toMatchObject({ world: 'w-5', endpoints });
    expect(f.reads).not.toContain(b);
  });
});

