/**
 * Platform modules shared by every game: one event bus for the cluster. A module shared by
 * several games is defined once and listed by each.
 */
import type { Construct } from 'constructs';
import { Module } from '../lib/definitions.js';

export const EXAMPLE_REGISTRY = 'ghcr.io/anvil-dev/examples';

export function eventBus(scope: Construct): Module {
  return new Module(scope, 'event-bus', {
    version: '2.3.1',
    scope: 'cluster',
    image: `${EXAMPLE_REGISTRY}/event-bus:2.3.1`,
    ports: [{ name: 'nats', port: 4222, protocol: 'TCP' }],
    provides: [{ capabilityId: 'event-bus', version: '2.3.1' }],
    replicas: 3,
    resources: { requests: { cpu: '250m', memory: '256Mi' }, limits: { memory: '512Mi' } },
    scheduling: { priorityClassName: 'system-cluster-critical' },
  });
}
