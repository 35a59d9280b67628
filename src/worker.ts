import { loadConfigOrExit } from './config/load.js';
import { errorMessage } from './errors.js';
import { createLogger } from './logger.js';
import { startWorkerProcess } from './queue/worker-process.js';
import { stopOnSignals } from './stop-signals.js';
import { setupTracing } from './tracing/setup-tracing.js';

/**
 * `npm run worker`: summary workers alone, for scaling out. Same config file as the runtime; Redis from `REDIS_URL`
 * (or the Redis `npm start` runs, on `[redis] embedded_port`); metrics on `[summarization] worker_metrics_addr`.
 */
async function main(): Promise<void> {
  const { config } = loadConfigOrExit('worker');
  const logger = createLogger(config.log.level, 'summary-worker');
  const tracing = setupTracing(process.env, logger);
  const worker = await startWorkerProcess({ config, logger, tracing });
  stopOnSignals(() => worker.close());
}

main().catch((error: unknown) => {
  process.stderr.write(`worker failed to start: ${errorMessage(error)}\n`);
  process.exit(1);
});
