import { Registry, collectDefaultMetrics } from 'prom-client';

/** Every metric of ours starts with it, in runtimes and in `npm run worker` alike. */
export const METRIC_PREFIX = 'ai_runtime_';

/** What a scraper reads, with the content type prom-client gives it. */
export interface MetricsText {
  contentType: string;
  body: string;
}

/**
 * A registry of its own (not prom-client's global one), so that two runtimes or workers in one process each report
 * their own, with Node's default process metrics on it.
 */
export function createMetricsRegistry(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return registry;
}

export async function renderMetrics(registry: Registry): Promise<MetricsText> {
  return { contentType: registry.contentType, body: await registry.metrics() };
}
