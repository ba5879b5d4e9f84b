/**
 * The Testing helper game authors use (issue 11): everything synth does, in memory — the
 * objects per world, the global and platform objects, and the diagnostics — and exposure of
 * module ports to players.
 */
import { describe, expect, test } from '@jest/globals';
import { existsSync } from 'node:fs';
import { Game, Module, Testing, World, type KubeObject } from '../../lib/index.js';
import { buildApp } from '../../games/index.js';
import { workloadName } from '../../lib/render/topology.js';
import { KINDS } from '../../lib/api/schema.js';

/** A world's workload name, as the renderer makes it. */
const wl = (world: string, module: string): string => workloadName({ metadata: { name: module }, spec: {} } as never, { namespace: 'any', world });

const arena = (scope: Parameters<Parameters<typeof Testing.synthGame>[0]>[0], worlds = ['a1', 'a2']) => {
  const gateway = new Module(scope, 'gw', {
    version: '1.0.0',
    image: 'registry.example/gw:1',
    ports: [
      // A fixed node port in one world only: two worlds asking for it is an error (refusals.test.ts).
      { name: 'ws', port: 7000, protocol: 'TCP', expose: { type: 'NodePort', ...(worlds.length === 1 ? { nodePort: 30700 } : {}) } },
      { name: 'rtp', port: 7001, protocol: 'UDP', expose: { type: 'NodePort' } },
      { name: 'metrics', port: 9090, protocol: 'TCP' },
    ],
    requires: [{ capabilityId: 'rules', versionConstraint: '^1.0.0', scope: 'world' }],
    routesActions: true,
  });
  const rules = new Module(scope, 'rules', {
    version: '1.0.0',
    image: 'registry.example/rules:1',
    ports: [{ name: 'grpc', port: 50051, protocol: 'TCP' }],
    provides: [{ capabilityId: 'rules', version: '1.0.0', actions: ['move'] }],
    requires: [{ capabilityId: 'replays', versionConstraint: '*', scope: 'world', dependencyMode: 'optional' }],
  });
  const game = new Game(scope, 'arena', { modules: [gateway, rules] });
  for (const w of worlds) new World(scope, w, { game, namespace: 'arena' });
};

describe('Testing.synthGame', () => {
  test('objects per world, global and platform objects, and one diagnostic per cause; nothing written', () => {
    const out = Testing.synthGame((scope) => arena(scope));
    expect(out.ok).toBe(true);
    expect(Object.keys(out.worlds).sort()).toEqual(['arena/a1', 'arena/a2']);
    expect(Testing.find(out.worlds['arena/a1']!, 'Deployment', wl('a1', 'gw'))).toBeDefined();
    expect(Testing.ofKind(out.platform, 'CustomResourceDefinition')).toHaveLength(KINDS.length);
    expect(Testing.ofKind(out.definitions, 'WorldInstance').map((w) => w.metadata.name)).toEqual(['a1', 'a2']);
    expect(out.warnings).toEqual([expect.objectContaining({ reason: 'OptionalUnresolved', worlds: ['arena/a1', 'arena/a2'] })]);
    expect(existsSync('dist.staging-' + process.pid)).toBe(false);
  });

  test('input errors come back as diagnostics, not exceptions', () => {
    const out = Testing.synthGame((scope) => {
      new Module(scope, 'solo', { version: '1.0', image: 'x' });
      new World(scope, 'w', { game: 'nope' });
    });
    expect(out.ok).toBe(false);
    expect(out.errors.map((e) => e.reason ?? e.field)).toEqual(['version', 'GameNotFound']);
    expect(out.worlds).toEqual({});
  });

  test('the example games: every world has workloads, and no errors', () => {
    const out = Testing.synthApp(buildApp({ outdir: '/nonexistent/never-written' }));
    expect(out.errors).toEqual([]);
    for (const [key, objects] of Object.entries(out.worlds)) {
      expect({ key, deployments: Testing.ofKind(objects, 'Deployment').length > 0 }).toEqual({ key, deployments: true });
    }
  });
});

describe('expose: players reach a module from outside the cluster', () => {
  const world = Testing.synthGame((scope) => arena(scope, ['a1'])).worlds['arena/a1']!;
  const service = (name: string): KubeObject => Testing.find(world, 'Service', name)!;

  test('the exposed ports get a Service of their type (UDP included); the ClusterIP Service stays for consumers', () => {
    expect(service(wl('a1', 'gw')).spec.type).toBe('ClusterIP');
    const np = service(`${wl('a1', 'gw')}-np`);
    expect(np.spec.type).toBe('NodePort');
    expect(np.metadata.labels['anvil.dev/expose']).toBe('NodePort');
    expect(np.spec.ports).toEqual([
      { name: 'ws', port: 7000, targetPort: 'ws', protocol: 'TCP', nodePort: 30700 },
      { name: 'rtp', port: 7001, targetPort: 'rtp', protocol: 'UDP' },
    ]);
    expect(np.spec.selector).toEqual(service(wl('a1', 'gw')).spec.selector);
    expect(Testing.find(world, 'Service', `${wl('a1', 'rules')}-np`)).toBeUndefined();
  });

  test('an exposed port of a module that is not a root is open to anyone on that port only', () => {
    const out = Testing.synthGame((scope) => {
      const bus = new Module(scope, 'relay', {
        version: '1.0.0',
        image: 'x/relay:1',
        ports: [{ name: 'quic', port: 4433, protocol: 'UDP', expose: { type: 'LoadBalancer' } }, { name: 'grpc', port: 50051 }],
        provides: [{ capabilityId: 'relay', version: '1.0.0' }],
      });
      const client = new Module(scope, 'client', { version: '1.0.0', image: 'x/c:1', ports: [{ name: 'ws', port: 80 }], requires: [{ capabilityId: 'relay', versionConstraint: '*', scope: 'world' }] });
      new World(scope, 'w', { game: new Game(scope, 'g', { modules: [bus, client] }), namespace: 'g' });
    });
    const policy = Testing.find(out.worlds['g/w']!, 'NetworkPolicy', wl('w', 'relay'))!;
    expect(policy.spec.ingress).toEqual([
      expect.objectContaining({ from: [expect.anything()] }),
      { ports: [{ port: 4433, protocol: 'UDP' }] },
    ]);
    expect(Testing.find(out.worlds['g/w']!, 'Service', `${wl('w', 'relay')}-lb`)!.spec.type).toBe('LoadBalancer');
  });
});
