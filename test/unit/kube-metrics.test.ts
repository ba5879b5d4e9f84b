// anvil_api_requests_total counts every request of the reconciler's Kube client by verb and
// by the HTTP status code it got (0: no response). A plain HTTP server on loopback plays the
// API server: the client, its keep-alive agent and its response middleware are the real ones.
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { KubeConfig } from '@kubernetes/client-node';
import { Kube } from '../../lib/reconciler/runtime/kube.js';
import { ReconcilerMetrics } from '../../lib/reconciler/runtime/metrics.js';
import { byLabel, parseMetrics } from '../../lib/loadtest/metrics.js';

let server: http.Server;
let url: string;

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const send = (code: number, body: unknown) => {
      res.writeHead(code, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    req.resume();
    req.on('end', () => {
      if (req.url?.includes('/configmaps/present')) send(200, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'present', namespace: 'n' } });
      else if (req.url?.includes('/configmaps/taken')) send(409, { kind: 'Status', apiVersion: 'v1', code: 409, message: 'conflict' });
      else if (req.url?.startsWith('/api/v1/configmaps')) send(200, { kind: 'ConfigMapList', apiVersion: 'v1', metadata: { resourceVersion: '7' }, items: [] });
      else if (req.method === 'POST') send(201, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'new', namespace: 'n' } });
      else if (req.url === '/api/v1') send(200, { kind: 'APIResourceList', groupVersion: 'v1', resources: [{ name: 'configmaps', namespaced: true, kind: 'ConfigMap', verbs: ['get'] }] });
      else send(404, { kind: 'Status', apiVersion: 'v1', code: 404, message: 'not found' });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

async function countsOf(metrics: ReconcilerMetrics): Promise<Record<string, number>> {
  const samples = parseMetrics(await metrics.registry.metrics()).filter((s) => s.name === 'anvil_api_requests_total');
  return Object.fromEntries(samples.map((s) => [`${s.labels.verb} ${s.labels.code}`, s.value]));
}

describe('anvil_api_requests_total{verb, code}', () => {
  test('counts each request by verb and the status code of its response', async () => {
    const kc = new KubeConfig();
    kc.loadFromOptions({ clusters: [{ name: 'c', server: url, skipTLSVerify: true }], users: [{ name: 'u' }], contexts: [{ name: 'x', cluster: 'c', user: 'u' }], currentContext: 'x' });
    const metrics = new ReconcilerMetrics();
    const kube = new Kube(kc, metrics, { maxSockets: 4 });
    const cm = (name: string) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'n' } });

    expect(await kube.read('v1', 'ConfigMap', 'present', 'n')).toMatchObject({ metadata: { name: 'present' } });
    expect(await kube.read('v1', 'ConfigMap', 'absent', 'n')).toBeUndefined();
    await expect(kube.apply(cm('taken'))).rejects.toMatchObject({ code: 409 });
    await kube.create(cm('new'));
    await kube.listRaw('/api/v1/configmaps');

    expect(await countsOf(metrics)).toEqual({ 'get 200': 1, 'get 404': 1, 'apply 409': 1, 'create 201': 1, 'list 200': 1 });
    // Readers that sum by verb still get one figure per verb.
    const byVerb = byLabel(parseMetrics(await metrics.registry.metrics()), 'anvil_api_requests_total', 'verb');
    expect(byVerb).toEqual({ get: 2, apply: 1, create: 1, list: 1 });
  });

  test('anvil_api_writes_total counts the writes by verb and kind (reads are not writes)', async () => {
    const kc = new KubeConfig();
    kc.loadFromOptions({ clusters: [{ name: 'c', server: url, skipTLSVerify: true }], users: [{ name: 'u' }], contexts: [{ name: 'x', cluster: 'c', user: 'u' }], currentContext: 'x' });
    const metrics = new ReconcilerMetrics();
    const kube = new Kube(kc, metrics, { maxSockets: 4 });
    await kube.read('v1', 'ConfigMap', 'present', 'n');
    await kube.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'new', namespace: 'n' } });
    await expect(kube.apply({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'taken', namespace: 'n' } })).rejects.toMatchObject({ code: 409 });
    const writes = byLabel(parseMetrics(await metrics.registry.metrics()), 'anvil_api_writes_total', ['verb', 'kind']);
    expect(writes).toEqual({ 'create ConfigMap': 1, 'apply ConfigMap': 1 });
  });

  test('a request that got no response counts with code 0', async () => {
    const closed = http.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    const kc = new KubeConfig();
    kc.loadFromOptions({ clusters: [{ name: 'c', server: `http://127.0.0.1:${port}`, skipTLSVerify: true }], users: [{ name: 'u' }], contexts: [{ name: 'x', cluster: 'c', user: 'u' }], currentContext: 'x' });
    const metrics = new ReconcilerMetrics();
    const kube = new Kube(kc, metrics);
    await expect(kube.listRaw('/api/v1/configmaps')).rejects.toThrow();
    await expect(kube.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x', namespace: 'n' } })).rejects.toThrow();
    expect(await countsOf(metrics)).toEqual({ 'list 0': 1, 'create 0': 1 });
  });
});
