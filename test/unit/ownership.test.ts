// Issue 8 (cluster items): the reconciler's pure rules — whose an existing object is, what
// drift repair may do after a failed apply, how failures show in the status (with
// metav1.Condition reasons) — and the write fence of a replica that lost its lease, against
// a real local HTTP server standing in for the API server.
import * as http from 'node:http';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { KubeConfig } from '@kubernetes/client-node';
import { Ajv } from 'ajv';
import { WorldInstanceStatusSchema, type WorldInstance } from '../../lib/api/schema.js';
import { ConflictError, STATELESS_KINDS, immutableFieldChanged, repairAction } from '../../lib/reconciler/worlds/apply.js';
import { PLATFORM_OWNER } from '../../lib/reconciler/worlds/platform.js';
import { Kube, WriteFencedError } from '../../lib/reconciler/runtime/kube.js';
import { ReconcilerMetrics } from '../../lib/reconciler/runtime/metrics.js';
import { resolutionOf, worldOwner } from '../../lib/reconciler/worlds/reconcile.js';
import { CONDITION_REASON, computeStatus, type Failure, type WorkloadState } from '../../lib/reconciler/worlds/status.js';

const world = (status?: WorldInstance['status']): WorldInstance =>
  ({ apiVersion: 'anvil.dev/v1alpha1', kind: 'WorldInstance', metadata: { name: 'w1', namespace: 'ns', uid: 'u1', generation: 1 }, spec: { gameRef: { name: 'g' } }, ...(status ? { status } : {}) }) as WorldInstance;

describe('ownership: an existing object is written only when it is Anvil’s', () => {
  const owner = worldOwner(world(), 'u1');
  const ref = (name: string, uid: string) => ({ apiVersion: 'anvil.dev/v1alpha1', kind: 'WorldInstance', name, uid });
  const obj = (metadata: Record<string, unknown>) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'w1-action-routes', namespace: 'ns', ...metadata } });

  test("a world's object is its own only with an owner reference to this world", () => {
    expect(owner.classify(obj({ ownerReferences: [ref('w1', 'u1')] }))).toBe('ours');
    expect(owner.classify(obj({}))).toBe('foreign');
    // Anvil's labels are not enough: anyone can set them.
    expect(owner.classify(obj({ labels: { 'app.kubernetes.io/managed-by': 'anvil', 'anvil.dev/world': 'w1' } }))).toBe('foreign');
    expect(owner.classify(obj({ ownerReferences: [ref('other', 'u2')], labels: { 'anvil.dev/world': 'w1' } }))).toBe('foreign');
    // An earlier world of the same name: its objects are being garbage-collected.
    expect(owner.classify(obj({ ownerReferences: [ref('w1', 'u0')], labels: { 'anvil.dev/world': 'w1' } }))).toBe('previous');
  });

  test('a global object is the reconciler’s only with Anvil’s label and its field manager; synth’s is left to kubectl apply', () => {
    const g = (labels: Record<string, string>, managers: { manager: string; operation: string }[] = []) => ({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'bus', namespace: 'anvil-system', labels, managedFields: managers },
    });
    const anvil = { 'app.kubernetes.io/managed-by': 'anvil', 'anvil.dev/module': 'bus' };
    const applied = [{ manager: 'anvil-reconciler', operation: 'Apply' }];
    expect(PLATFORM_OWNER.classify(g(anvil, applied) as never)).toBe('ours');
    expect(PLATFORM_OWNER.classify(g(anvil, [{ manager: 'kubectl-client-side-apply', operation: 'Update' }]) as never)).toBe('foreign');
    expect(PLATFORM_OWNER.classify(g({ 'anvil.dev/module': 'bus' }, applied) as never)).toBe('foreign');
    expect(PLATFORM_OWNER.classify(g({ ...anvil, 'anvil.dev/static': 'true' }, [{ manager: 'kubectl-client-side-apply', operation: 'Update' }]) as never)).toBe('synth');
    expect(PLATFORM_OWNER.classify(g({}) as never)).toBe('foreign');
  });

  test('a conflict names every object and the owner it lacks', () => {
    const e = new ConflictError(['ConfigMap/ns/w1-action-routes', 'Deployment/ns/w1-physics'], 'WorldInstance ns/w1');
    expect(e.message).toBe('ConfigMap/ns/w1-action-routes, Deployment/ns/w1-physics already exist and are not managed by WorldInstance ns/w1; nothing was written');
  });
});

describe('drift repair never deletes a stateful object', () => {
  const status = (code: number, body: unknown) => Object.assign(new Error('HTTP'), { code, body: JSON.stringify(body) });
  const immutable = status(422, {
    message: 'Deployment.apps "w1-physics" is invalid: spec.selector: Invalid value: {...}: field is immutable',
    details: { causes: [{ reason: 'FieldValueInvalid', field: 'spec.selector', message: 'Invalid value: {...}: field is immutable' }] },
  });
  const shrink = status(422, {
    message: 'PersistentVolumeClaim "w1-store-data" is invalid: spec.resources.requests.storage: Forbidden: field can not be less than status.capacity',
    details: { causes: [{ reason: 'FieldValueForbidden', field: 'spec.resources.requests.storage', message: 'Forbidden: field can not be less than status.capacity' }] },
  });
  const duplicate = status(422, { message: 'Service "s" is invalid: spec.ports[1].name: Duplicate value: "grpc"', details: { causes: [{ field: 'spec.ports[1].name' }] } });

  test('only a stateless kind, and only for a changed immutable field, is re-created', () => {
    expect(immutableFieldChanged(immutable)).toBe(true);
    expect(immutableFieldChanged(shrink)).toBe(false);
    for (const kind of ['Deployment', 'Service', 'ConfigMap', 'NetworkPolicy', 'CapabilityBinding']) expect(repairAction(kind, true, immutable)).toBe('recreate');
    expect(STATELESS_KINDS.has('PersistentVolumeClaim')).toBe(false);
    expect(repairAction('PersistentVolumeClaim', true, immutable)).toBe('report');
    expect(repairAction('PersistentVolumeClaim', true, shrink)).toBe('report');
    expect(repairAction('Service', true, duplicate)).toBe('report');
  });

  test('anything else is a failure to report, not a repair', () => {
    expect(repairAction('PersistentVolumeClaim', false, shrink)).toBe('fail');
    expect(repairAction('Deployment', true, status(500, { message: 'etcd' }))).toBe('fail');
    expect(repairAction('Deployment', true, status(403, { message: 'forbidden' }))).toBe('fail');
    expect(repairAction('Deployment', true, new Error('ECONNRESET'))).toBe('fail');
  });
});

describe('failures in the status, with metav1.Condition reasons', () => {
  const validStatus = new Ajv({ strict: false }).addFormat('date-time', true).compile(WorldInstanceStatusSchema);
  const ok = { ok: true, reason: 'Resolved', message: '4 bindings' };
  const ready: WorkloadState = { managedBy: 'reconciler', bindings: 4, modules: 3, existing: 3, readyModules: 3, notReady: [] };
  const cases: [string, Failure][] = [
    ['Conflict', { reason: 'Conflict', message: 'ConfigMap/ns/w1-action-routes already exists and is not managed by WorldInstance ns/w1' }],
    ['ReconcileFailed', { reason: 'ReconcileFailed', message: '403: deployments.apps "w1-move" is forbidden: exceeded quota' }],
    ['Drift', { reason: 'Drift', message: 'PersistentVolumeClaim/ns/w1-store-data field spec.resources.requests.storage' }],
  ];

  test.each(cases)('%s: Ready=False with the reason and message; only a conflict makes the world Failed', (_name, failure) => {
    const s = computeStatus(world({ phase: 'Running', observedGeneration: 1 }), ok, ready, new Date(), failure);
    expect(s.status.conditions?.find((c) => c.type === 'Ready')).toMatchObject({ status: 'False', reason: failure.reason, message: failure.message });
    expect(s.status.conditions?.find((c) => c.type === 'Resolved')).toMatchObject({ status: 'True' });
    expect(s.to).toBe(failure.reason === 'Conflict' ? 'Failed' : 'Degraded');
    expect(validStatus(s.status)).toBe(true);
  });

  test('the schema takes exactly metav1.Condition reasons, and every reason the reconciler writes is one', () => {
    const condition = (reason: string) => ({ conditions: [{ type: 'Ready', status: 'False', reason, message: '', lastTransitionTime: '2026-01-01T00:00:00Z' }] });
    for (const bad of ['', 'has space', '1Leading', 'Trailing:', 'dash-ed']) {
      expect(validStatus(condition(bad))).toBe(false);
      expect(CONDITION_REASON.test(bad)).toBe(false);
    }
    for (const good of ['A', 'ReconcileFailed', 'Some_Reason', 'A,B:C']) expect(validStatus(condition(good))).toBe(true);
    // Every reason a pass can produce: resolution failures, phases, failures.
    const reasons = [
      ...['GameNotFound', 'ModuleNotFound', 'ModuleInvalid', 'Unresolved', 'Invalid'].map((r) => resolutionOf({ diagnostics: [{ severity: 'error', source: 's', message: 'm', reason: r }], unresolved: [], world: world(), bindings: [], modules: [] } as never, new Map()).reason),
      ...cases.map(([r]) => r),
    ];
    const statuses = [
      computeStatus(world(), ok, ready).status,
      computeStatus(world(), ok, { ...ready, readyModules: 1, notReady: ['a', 'b'] }).status,
      computeStatus(world(), ok, { ...ready, existing: 0, readyModules: 0 }).status,
      computeStatus({ ...world(), metadata: { ...world().metadata, deletionTimestamp: '2026-01-01T00:00:00Z' } }, ok, ready).status,
      ...reasons.map((reason) => computeStatus(world(), { ok: false, reason, message: 'm' }, ready).status),
    ];
    for (const s of statuses) {
      for (const c of s.conditions ?? []) expect(`${c.reason}:${CONDITION_REASON.test(c.reason)}`).toBe(`${c.reason}:true`);
      expect(validStatus(s)).toBe(true);
    }
  });
});

describe('a replica that lost the lease stops writing at once', () => {
  let server: http.Server;
  const requests: string[] = [];
  let kube: Kube;

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      requests.push(`${req.method} ${req.url}`);
      res.setHeader('Content-Type', 'application/json');
      if (req.url?.startsWith('/api/v1') && !req.url.includes('namespaces')) {
        res.end(JSON.stringify({ kind: 'APIResourceList', groupVersion: 'v1', resources: [{ name: 'configmaps', namespaced: true, kind: 'ConfigMap', verbs: ['create', 'patch'] }] }));
        return;
      }
      res.end(JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', namespace: 'n' } }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const kc = new KubeConfig();
    const port = (server.address() as { port: number }).port;
    kc.loadFromOptions({
      clusters: [{ name: 'c', server: `http://127.0.0.1:${port}`, skipTLSVerify: true }],
      users: [{ name: 'u', token: 't' }],
      contexts: [{ name: 'c', cluster: 'c', user: 'u' }],
      currentContext: 'c',
    });
    kube = new Kube(kc, new ReconcilerMetrics());
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  test('after the fence aborts, every write is refused before a request is sent', async () => {
    const fence = new AbortController();
    kube.fence(fence.signal);
    const cm = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', namespace: 'n' }, data: { a: 'b' } };
    await kube.apply(cm);
    expect(requests.some((r) => r.startsWith('PATCH /api/v1/namespaces/n/configmaps/c'))).toBe(true);
    const before = requests.length;
    fence.abort();
    await expect(kube.apply(cm)).rejects.toBeInstanceOf(WriteFencedError);
    await expect(kube.applyStatus(cm)).rejects.toBeInstanceOf(WriteFencedError);
    await expect(kube.create(cm)).rejects.toBeInstanceOf(WriteFencedError);
    await expect(kube.mergePatch(cm)).rejects.toBeInstanceOf(WriteFencedError);
    await expect(kube.replace(cm)).rejects.toBeInstanceOf(WriteFencedError);
    await expect(kube.delete({ ...cm, metadata: { ...cm.metadata, uid: 'u', resourceVersion: '1' } })).rejects.toBeInstanceOf(WriteFencedError);
    expect(requests.length).toBe(before);
  });
});
