import { dirname, join } from 'node:path';
import { loadConfigOrExit } from './config/load.js';
import type { Config } from './config/schema.js';
import { ChildService } from './embedded/child-service.js';
import { EmbeddedRedis } from './embedded/redis-server.js';
import { MAIL_SERVER_PIDFILE, stopStaleProcess } from './embedded/stale-process.js';
import { loadOrCreateWebhookSecret } from './embedded/webhook-secret.js';
import { ConfigError, errorMessage } from './errors.js';
import { createLogger, type Logger } from './logger.js';
import { startRuntime, type Runtime } from './runtime.js';
import { stopOnSignals } from './stop-signals.js';
import { devModeByDefault } from './server/auth.js';
import { refuseExposedDevMode } from './server/dev-mode-guard.js';
import { setupTracing } from './tracing/setup-tracing.js';

/** What `loadConfigOrExit` answers a bad configuration with, so scripts can tell it from a crash (1). */
const EXIT_CONFIG_ERROR = 2;

/**
 * Shutdown past the grace period (saving cut answers, the worker's last job, the database, the children) gets this
 * long; then the process exits anyway, so a hang (a stuck socket, a slow disk) cannot keep it alive forever.
 */
const SHUTDOWN_SLACK_MS = 10_000;

/** Next to the SQLite database (`[summarization] db_path`): the webhook secret `npm start` makes once. */
const WEBHOOK_SECRET_FILE = 'webhook-secret';

/** Where the generated webhook secret is kept; beside the database, or in `data/` for an in-memory one. */
function webhookSecretPath(config: Config): string {
  const dbPath = config.summarization.db_path;
  return join(dbPath === ':memory:' ? 'data' : dirname(dbPath), WEBHOOK_SECRET_FILE);
}

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
    watchParent: true,
  });
}

async function main(): Promise<void> {
  const loaded = loadConfigOrExit('ai-runtime');
  let { config } = loaded;
  const logger = createLogger(config.log.level);
  logger.info({ config: loaded.path ?? '(defaults)' }, 'configuration loaded');
  const byDefault = devModeByDefault(config.auth);
  if (byDefault) {
    // `npm start` on a fresh checkout must let someone in; a deployment configures tokens (or says dev_mode = false).
    config = { ...config, auth: { ...config.auth, dev_mode: true } };
  }
  // Before Redis or the mail server start: a refusal leaves nothing behind.
  refuseExposedDevMode(config, { devModeByDefault: byDefault });
  // Here too: a bad OTEL_* value is a configuration error (exit 2), found before anything is started.
  const tracing = setupTracing(process.env, logger);
  if (byDefault) {
    logger.warn('npm start: no JWT verification is configured (JWT_SECRET or [auth] jwks_url), so email-only DEV MODE sign-in is ON for this run (loopback only). Set [auth] dev_mode = false to keep it off.');
  }
  if (!config.webhooks.secret) {
    // Kept across runs: a mail server that outlived a crashed run, or mail announced around a restart, still signs
    // with the secret this run checks. A secret for senders outside is configured (WEBHOOK_SECRET).
    const path = webhookSecretPath(config);
    config = { ...config, webhooks: { ...config.webhooks, secret: loadOrCreateWebhookSecret(path) } };
    logger.info({ path }, 'webhook secret (generated once) loaded');
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
  let runtime: Runtime;
  try {
    runtime = await startRuntime({ config, logger, tracing });
  } catch (error) {
    // A refused start must not leave the bundled Redis running without its parent.
    await Promise.allSettled([...children.map((c) => c.close()), tracing.shutdown()]);
    throw error;
  }
  if (config.mail.embedded) {
    // One left behind by a kill -9 of an earlier run (if it has not noticed yet) would hold the ports.
    await stopStaleProcess({
      pidfile: join(config.mail.maildir_root, MAIL_SERVER_PIDFILE),
      name: 'mail-server',
      isOurs: ({ cmdline }) => cmdline.includes('mail/main.ts'),
      logger,
    });
    const mail = embeddedMailServer(config, runtime.port, logger);
    children.push(mail);
    await mail.start().catch((err: unknown) => logger.error({ err: errorMessage(err) }, 'the bundled mail server did not start; mail tools are unavailable'));
  }

  stopOnSignals((signal) => {
    const graceMs = config.server.shutdown_grace_s * 1000;
    const limitMs = graceMs + SHUTDOWN_SLACK_MS;
    logger.info({ signal }, `shutting down: no new connections; answers in flight get up to ${graceMs / 1000} s to finish (${signal} again to exit at once)`);
    setTimeout(() => {
      logger.error(`shutdown still not finished after ${limitMs / 1000} s; exiting now`);
      process.exit(1);
    }, limitMs).unref();
    // The runtime first (its worker finishes its active jobs while Redis is up), then what it depends on.
    return runtime.close({ graceMs }).then(() => Promise.allSettled(children.reverse().map((c) => c.close())));
  });
}

main().catch((error: unknown) => {
  if (error instanceof ConfigError) {
    process.stderr.write(`ai-runtime: ${error.message}\n`);
    process.exit(EXIT_CONFIG_ERROR);
  }
  process.stderr.write(`ai-runtime failed to start: ${errorMessage(error)}\n`);
  process.exit(1);
});
