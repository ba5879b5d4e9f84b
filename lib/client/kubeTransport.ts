/**
 * client-node API clients over one keep-alive connection pool. KubeConfig builds a new
 * https.Agent for every request, so each call pays a TCP and TLS handshake; a matchmaker
 * claiming worlds, or a load test comparing claims with raw PATCHes, must not measure that.
 */
import * as http from 'node:http';
import * as https from 'node:https';
import * as tls from 'node:tls';
import { createConfiguration, KubeConfig, ServerConfiguration, type Configuration, type RequestContext, type SecurityAuthentication } from '@kubernetes/client-node';

/** `path` wins; else KUBECONFIG / ~/.kube/config / in-cluster, as kubectl does. A KubeConfig is used as it is. */
export function kubeConfigOf(from?: KubeConfig | string): KubeConfig {
  if (from instanceof KubeConfig) return from;
  const kc = new KubeConfig();
  if (from) kc.loadFromFile(from);
  else kc.loadFromDefault();
  return kc;
}

/**
 * `auth` (KubeConfig's authentication: tokens, client certificates, exec plugins, still
 * applied per request), with the agent it builds replaced by one shared keep-alive agent
 * made from the first one's TLS options. Agents through a proxy are left as they are.
 * The reconciler's client and the claim clients share this one rule.
 */
export function keepAliveAuth(
  auth: Pick<SecurityAuthentication, 'applySecurityAuthentication'> & { getName?: () => string },
  maxSockets: number,
): SecurityAuthentication {
  let shared: http.Agent | undefined;
  return {
    getName: () => auth.getName?.() ?? 'keep-alive',
    applySecurityAuthentication: async (ctx: RequestContext) => {
      await auth.applySecurityAuthentication(ctx);
      const agent = ctx.getAgent();
      if (agent?.constructor !== https.Agent && agent?.constructor !== http.Agent) return;
      if (!shared) {
        const AgentClass = agent.constructor as typeof http.Agent;
        const options = (agent as http.Agent & { options?: https.AgentOptions }).options ?? {};
        shared = new AgentClass({ ...options, ...oneTlsContext(AgentClass, options), keepAlive: true, maxSockets, maxFreeSockets: maxSockets });
      }
      ctx.setAgent(shared);
    },
  };
}

/**
 * One TLS context for every connection of an https agent. Without it Node builds a context per
 * new connection from the agent's options (parsing the CA and the client certificate again):
 * in the claims bench's burst of 50 new connections that took 38.5 ms of the reconciler's
 * 305 ms of CPU (its profile, `--cpu-prof`).
 */
export function oneTlsContext(AgentClass: typeof http.Agent, options: tls.SecureContextOptions): { secureContext?: tls.SecureContext } {
  return AgentClass === https.Agent ? { secureContext: tls.createSecureContext(options) } : {};
}

/** `new Api(configuration)` for the current cluster of `kc`, over one keep-alive pool of `maxSockets` connections. */
export function keepAliveClient<T>(kc: KubeConfig, Api: new (config: Configuration) => T, maxSockets = 64): T {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('the kubeconfig has no current cluster');
  return new Api(createConfiguration({ baseServer: new ServerConfiguration(cluster.server, {}), authMethods: { default: keepAliveAuth(kc, maxSockets) } }));
}
