// The keep-alive transport shared by the reconciler's client and claimWorld(): one agent per
// client, and one TLS context for all its connections (Node builds one per new connection
// otherwise, parsing the CA and client certificate each time a burst opens another).
import * as http from 'node:http';
import * as https from 'node:https';
import { describe, expect, test } from '@jest/globals';
import { HttpMethod, RequestContext } from '@kubernetes/client-node';
import { keepAliveAuth, oneTlsContext } from '../../lib/client/kubeTransport.js';

/** What KubeConfig does per request: a new agent from the cluster's TLS options. */
const kubeConfigLike = (Agent: typeof http.Agent, options: https.AgentOptions) => ({
  applySecurityAuthentication: async (ctx: RequestContext) => ctx.setAgent(new Agent(options) as https.Agent),
});

describe('keepAliveAuth', () => {
  test('https: every request gets the same keep-alive agent, built with one TLS context', async () => {
    const auth = keepAliveAuth(kubeConfigLike(https.Agent, { rejectUnauthorized: false, servername: 'api' }), 8);
    const agents = await Promise.all(
      [1, 2, 3].map(async () => {
        const ctx = new RequestContext('https://127.0.0.1:6443/api', HttpMethod.GET);
        await auth.applySecurityAuthentication(ctx);
        return ctx.getAgent() as https.Agent & { options: https.AgentOptions & { secureContext?: unknown } };
      }),
    );
    expect(new Set(agents).size).toBe(1);
    expect(agents[0]!.options).toMatchObject({ keepAlive: true, maxSockets: 8, rejectUnauthorized: false, servername: 'api' });
    expect(agents[0]!.options.secureContext).toBeDefined();
  });

  test('plain http: shared too, and no TLS context', async () => {
    const auth = keepAliveAuth(kubeConfigLike(http.Agent, {}), 4);
    const ctx = new RequestContext('http://127.0.0.1:8080/api', HttpMethod.GET);
    await auth.applySecurityAuthentication(ctx);
    expect((ctx.getAgent() as http.Agent & { options: { secureContext?: unknown } }).options.secureContext).toBeUndefined();
    expect(oneTlsContext(http.Agent, {})).toEqual({});
  });
});
