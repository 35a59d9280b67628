import { randomBytes } from 'node:crypto';
import { loadConfigOrExit } from './config/load.js';
import type { Config } from './config/schema.js';
import { ChildService } from './embedded/child-service.js';
import { EmbeddedRedis } from './embedded/redis-server.js';
import { errorMessage } from './errors.js';
import { createLogger, type Logger } from './logger.js';
import { startRuntime } from './runtime.js';

/** Shutdown that hangs (a stuck socket, a slow disk) must not keep the process alive forever. */
const SHUTDOWN_TIMEOUT_MS = 10_000;

/** The bundled mail server, in its own process, pointed at this runtime's webhook with the shared secret. */
function embeddedMailServer(config: Config, runtimePort: number, logger: Logger): ChildService {
  return new ChildService({
    name: 'mail-server',
    command: process.execPath,
    args: ['--import', 'tsx', new URL('./mail/main.ts', import.meta.url).pathname, ...process.argv.slice(2)],
    env: {
      ...process.env,
      WEBHOOK_SECRET: config.webhooks.secret,
      MAIL_RUNTIME_WEBHOOK_URL: `http://127.0.0.1:${runtimePort}/api/webhooks/email`,
    },
    readyPattern: /SMTP intake listening on/,
    logger,
  });
}

async function main(): Promise<void> {
  const loaded = loadConfigOrExit('ai-runtime');
  let { config } = loaded;
  const logger = createLogger(config.log.level);
  logger.info({ config: loaded.path ?? '(defaults)' }, 'configuration loaded');
  if (!config.webhooks.secret) {
    // Only this run's processes need to agree on it; a fixed secret is for senders outside (set WEBHOOK_SECRET).
    config = { ...config, webhooks: { ...config.webhooks, secret: randomBytes(32).toString('hex') } };
  }
  const children: Array<{ close(): Promise<void> }> = [];
  if (!config.redis.url && config.summarization.enabled) {
    const redis = new EmbeddedRedis({
      confPath: new URL('../redis.conf', import.meta.url).pathname,
      port: config.redis.embedded_port,
      dataDir: config.redis.data_dir,
      logger,
    });
    try {
      await redis.start();
      children.push(redis);
      config = { ...config, redis: { ...config.redis, url: redis.url } };
      logger.info(`Redis (redis.conf) listening on 127.0.0.1:${config.redis.embedded_port}, data in ${config.redis.data_dir}`);
    } catch (error) {
      // Chat works without Redis; only summaries need it, and the runtime says so.
      logger.error({ err: errorMessage(error) }, 'could not start the bundled Redis; email summaries are off');
    }
  }
  const runtime = await startRuntime({ config, logger });
  if (config.mail.embedded) {
    const mail = embeddedMailServer(config, runtime.port, logger);
    children.push(mail);
    await mail.start().catch((err: unknown) => logger.error({ err: errorMessage(err) }, 'the bundled mail server did not start; mail tools are unavailable'));
  }

  const shutdown = (signal: NodeJS.Signals) => {
    logger.info({ signal }, 'shutting down');
    setTimeout(() => process.exit(1), SHUTDOWN_TIMEOUT_MS).unref();
    // The runtime first (its worker hands active jobs back to Redis), then what it depends on.
    runtime
      .close()
      .then(() => Promise.allSettled(children.reverse().map((c) => c.close())))
      .then(() => process.exit(0))
      .catch(() => process.exit(1));
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
}

main().catch((error: unknown) => {
  process.stderr.write(`ai-runtime failed to start: ${errorMessage(error)}\n`);
  process.exit(1);
});
