import type { HttpRoute } from '../server/ws-server.js';
import type { RuntimeMetrics } from './runtime-metrics.js';

/** `GET /metrics`: Prometheus text format. Open like `/health`: it holds counts and tool names, no user data. */
export function metricsRoute(metrics: RuntimeMetrics): HttpRoute {
  return async () => {
    const { contentType, body } = await metrics.render();
    return { status: 200, body, contentType, headers: { 'Cache-Control': 'no-store' } };
  };
}
