import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { Logger } from '../logger.js';
import { answerClientErrors, guardedListener, requestPath, sendJson as json } from '../net/node-http-guard.js';
import { renderMetrics } from './metrics-registry.js';
import { refusedScrape } from './scrape-auth.js';

export interface MetricsServerOptions {
  /** `host:port` (an IPv6 host in brackets); port 0 takes a free one. */
  addr: string;
  /** `[server] metrics_token`: `GET /metrics` then needs it as a bearer token. Empty: open. */
  token: string;
  registry: Registry;
  logger: Logger;
}

export interface MetricsServer {
  /** Where to scrape, with the port actually bound: `http://<host>:<port>/metrics`. */
  readonly url: string;
  /** Safe to call twice. */
  close(): Promise<void>;
}

/** A wildcard address is not one to connect to: the URL names loopback instead, as the runtime's own URLs do. */
const WILDCARD_HOSTS = new Set(['0.0.0.0', '[::]']);

/**
 * `GET /metrics` and `GET /health` on a plain `node:http` server, for processes without the runtime's uWS server
 * (`npm run worker`). Anything else is 404; a request target `new URL` cannot read is 400, a bug 500 and a log line,
 * never an exception that ends the worker.
 */
export async function startMetricsServer({ addr, token, registry, logger }: MetricsServerOptions): Promise<MetricsServer> {
  const separator = addr.lastIndexOf(':');
  const host = addr.slice(0, separator);
  const port = Number(addr.slice(separator + 1));
  const route = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = requestPath(req);
    if (req.method === 'GET' && path === '/health') return json(res, 200, { status: 'ok' });
    if (req.method !== 'GET' || path !== '/metrics') return json(res, 404, { status: 'error', message: `No route for ${req.method} ${path}` });
    const refused = refusedScrape(req.headers.authorization, token);
    if (refused) return json(res, refused.status, refused.body, refused.headers);
    const { contentType, body } = await renderMetrics(registry);
    res.writeHead(200, { 'Content-Type': contentType, 'Cache-Control': 'no-store' }).end(body);
  };
  const http = createServer(guardedListener(route, { logger, name: 'worker metrics', errorBody: (_status, message) => ({ status: 'error', message }) }));
  answerClientErrors(http, logger, 'worker metrics');
  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(port, host.replace(/^\[(.*)\]$/, '$1'), () => {
      http.off('error', reject);
      resolve();
    });
  });
  const bound = (http.address() as AddressInfo).port;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${WILDCARD_HOSTS.has(host) ? '127.0.0.1' : host}:${bound}/metrics`,
    close() {
      closing ??= new Promise<void>((resolve) => {
        // A scraper's keep-alive connection would otherwise hold the port until it times out.
        http.closeAllConnections();
        http.close(() => resolve());
      });
      return closing;
    },
  };
}
