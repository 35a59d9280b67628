import type { HttpResponse, HttpRoute } from '../server/ws-server.js';
import type { RuntimeMetrics } from './runtime-metrics.js';
import { refusedScrape } from './scrape-auth.js';

/** `GET /metrics` on a runtime node: Prometheus text format, behind `token` when it is set (see `refusedScrape`). */
export function metricsRoute(metrics: RuntimeMetrics, token: string): HttpRoute {
  return async ({ headers }): Promise<HttpResponse> => {
    const refused = refusedScrape(headers.authorization, token);
    if (refused) return refused;
    const { contentType, body } = await metrics.render();
    return { status: 200, body, contentType, headers: { 'Cache-Control': 'no-store' } };
  };
}
