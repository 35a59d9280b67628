import type { Registry } from 'prom-client';
import type { Config } from '../config/schema.js';
import { ConfigError, errorMessage } from '../errors.js';
import { createLlmChain } from '../llm/create-llm-client.js';
import type { Logger } from '../logger.js';
import { createMetricsRegistry } from '../metrics/metrics-registry.js';
import { startMetricsServer, type MetricsServer } from '../metrics/metrics-server.js';
import { SummaryMetrics } from '../metrics/summary-metrics.js';
import { shutdownStep } from '../shutdown-step.js';
import { migrateToLatest, openDatabase } from '../storage/database.js';
import { SummaryStore } from '../storage/summary-store.js';
import { TriageRuleStore } from '../storage/triage-rule-store.js';
import { TRACING_OFF, type Tracing } from '../tracing/setup-tracing.js';
import { startSummaryPipeline } from './summary-pipeline.js';

export interface WorkerProcessOptions {
  config: Config;
  logger: Logger;
  /** Where traces go (`setupTracing(process.env)`); owned from here, shut down last by `close()`. @default tracing off */
  tracing?: Tracing;
}

export interface WorkerProcess {
  /** Where Prometheus scrapes this worker, with the port actually bound; undefined with `worker_metrics_addr = ""`. */
  readonly metricsUrl: string | undefined;
  /** Active jobs finish (waiting ones stay in Redis for the next worker), then everything else closes. Safe to call twice. */
  close(): Promise<void>;
}

/**
 * The body of `npm run worker`: summary workers alone, for scaling out, with their metrics on
 * `[summarization] worker_metrics_addr`. Redis is `[redis] url`, else the one `npm start` runs on `embedded_port`.
 */
export async function startWorkerProcess({ config: given, logger, tracing = TRACING_OFF }: WorkerProcessOptions): Promise<WorkerProcess> {
  const config: Config = {
    ...given,
    redis: { ...given.redis, url: given.redis.url || `redis://127.0.0.1:${given.redis.embedded_port}` },
    summarization: { ...given.summarization, enabled: true, worker: true },
  };
  const registry = createMetricsRegistry();
  const metrics = new SummaryMetrics(registry);
  // First, so that a port already taken stops start-up before anything else is opened.
  const metricsServer = await startWorkerMetrics(config, registry, logger);

  const db = openDatabase(config, logger);
  try {
    await migrateToLatest(db);
  } catch (error) {
    await Promise.allSettled([db.destroy(), metricsServer?.close()]);
    throw error;
  }
  const llm = createLlmChain(config.llm, logger, process.env, tracing);
  const pipeline = startSummaryPipeline({ config, llm, summaries: new SummaryStore(db), rules: new TriageRuleStore(db), logger, tracing });
  metrics.watch({ queue: pipeline?.queue, summaryWorker: pipeline?.worker?.worker });
  logger.info(tracing.summary);
  logger.info({ redis: config.redis.url.replace(/\/\/[^@]*@/, '//***@'), concurrency: config.summarization.concurrency }, 'summary worker running');

  let closing: Promise<void> | undefined;
  return {
    metricsUrl: metricsServer?.url,
    close() {
      closing ??= (async () => {
        const step = shutdownStep(logger);
        await step('closing the summary worker and queue', () => pipeline?.close());
        await Promise.all([step('closing the LLM client', () => llm.close()), step('closing the database', () => db.destroy())]);
        // Last: the drain above can still be watched.
        await step('closing the metrics server', () => metricsServer?.close());
        // After the last job's spans have ended.
        await step('flushing traces', () => tracing.shutdown());
      })();
      return closing;
    },
  };
}

async function startWorkerMetrics(config: Config, registry: Registry, logger: Logger): Promise<MetricsServer | undefined> {
  const addr = config.summarization.worker_metrics_addr;
  if (!addr) {
    logger.info('worker metrics off ([summarization] worker_metrics_addr = "")');
    return undefined;
  }
  try {
    const server = await startMetricsServer({ addr, token: config.server.metrics_token, registry, logger });
    logger.info({ metrics: server.url }, `worker metrics at ${server.url}`);
    return server;
  } catch (cause) {
    // Two workers on one machine both take the default port: say which key gives the second one another.
    throw new ConfigError(`[summarization] worker_metrics_addr: cannot listen on ${addr} (${errorMessage(cause)}); set another host:port, or "" for no metrics`, { cause });
  }
}
