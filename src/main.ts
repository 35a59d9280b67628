import { loadConfig } from './config/load.js';
import { ConfigError, errorMessage } from './errors.js';
import { createLogger } from './logger.js';
import { startRuntime } from './runtime.js';

/** Shutdown that hangs (a stuck socket, a slow disk) must not keep the process alive forever. */
const SHUTDOWN_TIMEOUT_MS = 10_000;

async function main(): Promise<void> {
  let loaded;
  try {
    loaded = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`ai-runtime: ${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  const { config, path } = loaded;
  const logger = createLogger(config.log.level);
  logger.info({ config: path ?? '(defaults)' }, 'configuration loaded');
  const runtime = await startRuntime({ config, logger });

  const shutdown = (signal: NodeJS.Signals) => {
    logger.info({ signal }, 'shutting down');
    setTimeout(() => process.exit(1), SHUTDOWN_TIMEOUT_MS).unref();
    runtime
      .close()
      .then(() => process.exit(0))
      .catch((err) => {
        logger.error({ err: errorMessage(err) }, 'shutdown failed');
        process.exit(1);
      });
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
}

main().catch((error: unknown) => {
  process.stderr.write(`ai-runtime failed to start: ${errorMessage(error)}\n`);
  process.exit(1);
});
