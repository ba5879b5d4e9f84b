// Jest globalTeardown: stops the control plane started by ./globalSetup.ts.
import type { ControlPlane } from './controlPlane.js';

export default async function globalTeardown(): Promise<void> {
  const cp = (globalThis as { __ANVIL_CONTROL_PLANE__?: ControlPlane }).__ANVIL_CONTROL_PLANE__;
  if (!cp) return;
  (globalThis as { __ANVIL_CONTROL_PLANE__?: ControlPlane }).__ANVIL_CONTROL_PLANE__ = undefined;
  await cp.stop();
}
