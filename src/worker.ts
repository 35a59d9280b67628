import { loadConfigOrExit } from './config/load.js';
import { errorMessage } from './errors.js';
import { OllamaClient } from './llm/ollama-client.js';
import { createLogger } from './logger.js';
import { startSummaryPipeline } from './queue/summary-pipeline.js';
import { migrateToLatest, openDatabase } from './storage/database.js';
import { SummaryStore } from './storage/summary-store.js';

/**
 * `npm run worker`: summary workers alone, for scaling out. Same config file as the runtime; Redis from `REDIS_URL`
 * (or the Redis `npm start` runs, on `[redis] embedded_port`).
 */
async function main(): Promise<void> {
  const loaded = loadConfigOrExit('worker');
  let { config } = loaded;
  if (!config.redis.url) config = { ...config, redis: { ...config.redis, url: `redis://127.0.0.1:${config.redis.embedded_port}` } };
  config = { ...config, summarization: { ...config.summarization, enabled: true, worker: true } };
  const logger = createLogger(config.log.level, 'summary-worker');
  const db = openDatabase(config, logger);
  await migrateToLatest(db);
  const llm = new OllamaClient(config.llm);
  const pipeline = startSummaryPipeline({ config, llm, summaries: new SummaryStore(db), logger });
  logger.info({ redis: config.redis.url.replace(/\/\/[^@]*@/, '//***@'), concurrency: config.summarization.concurrency }, 'summary worker running');

  const shutdown = () => {
    // Active jobs finish; waiting ones stay in Redis for the next worker.
    void (pipeline?.close() ?? Promise.resolve())
      .then(() => Promise.allSettled([llm.close(), db.destroy()]))
      .then(() => process.exit(0));
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
}

main().catch((error: unknown) => {
  process.stderr.write(`worker failed to start: ${errorMessage(error)}\n`);
  process.exit(1);
});
