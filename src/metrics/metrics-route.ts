import { timingSafeEqual } from 'node:crypto';
import type { HttpResponse, HttpRoute } from '../server/ws-server.js';
import type { RuntimeMetrics } from './runtime-metrics.js';

function bearerMatches(authorization: string | undefined, token: string): boolean {
  const given = Buffer.from(authorization ?? '');
  const expected = Buffer.from(`Bearer ${token}`);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/**
 * `GET /metrics`: Prometheus text format. It holds counts and tool names, no user data; still, on a node facing the
 * internet `token` keeps it for the scraper (Prometheus `authorization: { credentials: … }`). Empty token: open.
 */
export function metricsRoute(metrics: RuntimeMetrics, token: string): HttpRoute {
  return async ({ headers }): Promise<HttpResponse> => {
    if (token && !bearerMatches(headers.authorization, token)) {
      return { status: 401, body: { status: 'error', message: 'GET /metrics needs Authorization: Bearer <[server] metrics_token>.' }, headers: { 'WWW-Authenticate': 'Bearer' } };
    }
    const { contentType, body } = await metrics.render();
    return { status: 200, body, contentType, headers: { 'Cache-Control': 'no-store' } };
  };
}
