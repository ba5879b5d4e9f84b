/** The reconciler's HTTP endpoints: /healthz (the process serves), /readyz (caches synced), /metrics. */
import * as http from 'node:http';
import type { Registry } from 'prom-client';

export interface ServerOptions {
  port: number;
  registry: Registry;
  ready: () => boolean;
}

export function startServer(o: ServerOptions): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/healthz' || path === '/livez') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    } else if (path === '/readyz') {
      const ok = o.ready();
      res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' }).end(ok ? 'ok\n' : 'caches not synced\n');
    } else if (path === '/metrics') {
      o.registry
        .metrics()
        .then((text) => res.writeHead(200, { 'content-type': o.registry.contentType }).end(text))
        .catch((e: unknown) => res.writeHead(500).end(String(e)));
    } else {
      res.writeHead(404).end('not found\n');
    }
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, () => resolve(server));
  });
}
