/**
 * The API calls of Anvil's clients (claims, the CLI, the load test), on @kubernetes/client-node: one KubeConfig, typed
 * clients, and error text that says what the API server said.
 */
import { CoreV1Api, CustomObjectsApi, KubeConfig, KubernetesObjectApi, Watch } from '@kubernetes/client-node';
import { GROUP, VERSION } from '../api/schema.js';

export interface Kube {
  kc: KubeConfig;
  core: CoreV1Api;
  custom: CustomObjectsApi;
  objects: KubernetesObjectApi;
  watch: Watch;
}

/** `path` wins; else KUBECONFIG / ~/.kube/config / in-cluster, as kubectl does. */
export function connect(path?: string): Kube {
  const kc = new KubeConfig();
  if (path) kc.loadFromFile(path);
  else kc.loadFromDefault();
  return {
    kc,
    core: kc.makeApiClient(CoreV1Api),
    custom: kc.makeApiClient(CustomObjectsApi),
    objects: KubernetesObjectApi.makeApiClient(kc),
    watch: new Watch(kc),
  };
}

export const anvil = { group: GROUP, version: VERSION };

/** The HTTP status of a client-node error (ApiException.code), if any. */
export const statusOf = (e: unknown): number | undefined => {
  const code = (e as { code?: unknown; statusCode?: unknown })?.code ?? (e as { statusCode?: unknown })?.statusCode;
  return typeof code === 'number' ? code : undefined;
};

/** A one-line reason: the API server's Status message when there is one. */
export function errorText(e: unknown): string {
  const body = (e as { body?: unknown })?.body;
  if (typeof body === 'string') {
    try {
      const status = JSON.parse(body) as { message?: string };
      if (status.message) return status.message;
    } catch {
      /* not JSON */
    }
  }
  if (body && typeof body === 'object' && typeof (body as { message?: unknown }).message === 'string') return (body as { message: string }).message;
  return e instanceof Error ? e.message.split('\n')[0]! : String(e);
}

/** Creates the namespace unless it exists; true when this call created it. */
export async function ensureNamespace(kube: Kube, name: string, labels: Record<string, string> = {}): Promise<boolean> {
  try {
    await kube.core.readNamespace({ name });
    return false;
  } catch (e) {
    if (statusOf(e) !== 404) throw new Error(`reading namespace ${name}: ${errorText(e)}`);
  }
  await kube.core.createNamespace({ body: { metadata: { name, labels } } });
  return true;
}

/** Deletes a namespace and waits (polling, up to timeoutMs) until it is gone; true when gone. */
export async function deleteNamespace(kube: Kube, name: string, timeoutMs: number): Promise<boolean> {
  try {
    await kube.core.deleteNamespace({ name });
  } catch (e) {
    if (statusOf(e) === 404) return true;
    throw new Error(`deleting namespace ${name}: ${errorText(e)}`);
  }
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      await kube.core.readNamespace({ name });
    } catch (e) {
      if (statusOf(e) === 404) return true;
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
  return false;
}
