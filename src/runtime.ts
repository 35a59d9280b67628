import type { Config } from './config/schema.js';
import type { ConversationHub } from './conversations/conversation-hub.js';
import { wireConversations } from './conversations/conversation-wiring.js';
import { errorMessage } from './errors.js';
import { createInspector } from './inspector/create-inspector.js';
import { statelyRequested } from './inspector/stately-forwarder.js';
import type { LlmClient } from './llm/llm-client.js';
import { createLlmChain } from './llm/create-llm-client.js';
import { createLogger, type Logger } from './logger.js';
import { RuntimeMetrics } from './metrics/runtime-metrics.js';
import { McpRegistry, configuredServers } from './mcp/registry.js';
import { createRateLimits } from './limits/rate-limits.js';
import { createAuthenticator, logAuthSetup } from './server/auth.js';
import { refuseExposedDevMode } from './server/dev-mode-guard.js';
import { ProtocolHandler, QUEUE_FULL_SCOPE } from './server/protocol-handler.js';
import { checkTlsFiles } from './server/tls.js';
import { RuntimeServer } from './server/ws-server.js';
import { WriteProbe } from './storage/write-probe.js';
import { startSummaryPipeline, fromNotification } from './queue/summary-pipeline.js';
import type { SummaryQueue } from './queue/summary-queue.js';
import { MailAccountClient, mailAccountsUrl } from './mail-account/account-client.js';
import { runtimeRoutes } from './runtime-routes.js';
import { stopRuntime } from './runtime-shutdown.js';
import { toNotificationMessage, userTopic } from './server/socket-sign-in.js';
import type { Db } from './storage/database.js';
import { openStorage } from './storage/open-storage.js';
import { getReadyToServe } from './runtime-readiness.js';
import { TRACING_OFF, type Tracing } from './tracing/setup-tracing.js';
import { ToolSpans } from './tracing/tool-spans.js';
import { TurnSpans } from './tracing/turn-spans.js';

export interface RuntimeOptions {
  config: Config;
  logger?: Logger;
  /** Ping interval for MCP servers (tests shorten it). */
  mcpPingIntervalMs?: number;
  /** Where traces go (`setupTracing(process.env)`); the runtime owns it from here and shuts it down last in `close()`. @default tracing off */
  tracing?: Tracing;
}

export interface Runtime {
  readonly port: number;
  /** Resolves once this node listens for notifications on Redis (never, without Redis). */
  readonly notificationsReady: Promise<void>;
  readonly queue: SummaryQueue | undefined;
  readonly httpUrl: string;
  readonly wsUrl: string;
  readonly hub: ConversationHub;
  readonly mcp: McpRegistry;
  readonly llm: LlmClient;
  readonly db: Db;
  /** Every HTTP route it serves, `"METHOD /path"` (`:name` for a parameter): what the edge fuzz covers. */
  readonly routes: readonly string[];
  /**
   * Graceful stop: stops listening, lets answers in flight finish within the grace period (then cuts them, saved as
   * interrupted), closes sockets with 1001, lets active summary jobs finish, stops actors, closes the database. Safe to
   * call twice (the second call's options are ignored).
   */
  close(options?: RuntimeCloseOptions): Promise<void>;
}

export interface RuntimeCloseOptions {
  /** How long answers in flight may take to finish before they are cut. @default `[server] shutdown_grace_s` × 1000 */
  graceMs?: number;
}

/** The composition root: config → storage → LLM → MCP → conversations → server. */
export async function startRuntime({ config, logger = createLogger(config.log.level), mcpPingIntervalMs, tracing = TRACING_OFF }: RuntimeOptions): Promise<Runtime> {
  // First of all: nothing is opened when dev-mode sign-in would face the network.
  refuseExposedDevMode(config);
  logger.info('AI Runtime starting...');
  logAuthSetup(config.auth, logger);
  const authenticate = createAuthenticator(config.auth, { logger });

  // Before anything is opened: a bad certificate stops start-up with nothing to clean up.
  checkTlsFiles(config.server);
  const { db, storageHealth, store, summaries, triageRules, contextSummaries } = await openStorage(config, logger);
  const llm = createLlmChain(config.llm, logger, process.env, tracing);
  logger.info(`LLM: ${config.llm.provider} at ${config.llm.base_url}, model ${config.llm.model}`);
  logger.info(tracing.summary);
  const mcp = new McpRegistry(configuredServers(config), {
    logger,
    toolTimeoutMs: config.mcp.tool_timeout_ms,
    reconnectInitialMs: config.mcp.reconnect_initial_ms,
    reconnectMaxMs: config.mcp.reconnect_max_ms,
    ...(mcpPingIntervalMs ? { pingIntervalMs: mcpPingIntervalMs } : {}),
  });

  const metrics = new RuntimeMetrics({ isKnownTool: (name) => mcp.find(name) !== undefined });
  // Each turn a trace: its invoke_agent span, the chat and execute_tool spans under it. Nothing at all with tracing off.
  const turns = new TurnSpans(tracing, { provider: config.llm.provider, model: config.llm.model });
  const toolSpans = new ToolSpans(tracing, turns, (name) => mcp.find(name)?.description);
  // On Redis when there is one, so a limit holds across every node behind the load balancer.
  const limits = createRateLimits({
    config: config.rate_limits,
    redisUrl: config.redis.url,
    prefix: config.redis.prefix,
    logger,
    onLimited: (scope) => metrics.rateLimitHit(scope),
  });

  const inspector = createInspector({ config, db, logger, stately: statelyRequested(config.inspector), authenticate, limits });
  let server: RuntimeServer | undefined;
  const conversations = wireConversations({
    config,
    logger,
    store,
    storageHealth,
    contextSummaries,
    llm,
    mcp,
    metrics,
    turns,
    toolSpans,
    inspector,
    publisher: {
      publish: (topic, message) => server?.publish(topic, message),
      flush: (topic) => server?.flush(topic),
      watched: (topic) => server?.hasSubscribers(topic) ?? false,
    },
  });
  const { hub, writer, crossNode } = conversations;

  const pipeline = startSummaryPipeline({ config, llm, summaries, rules: triageRules, logger, tracing });

  const healthTimer = await getReadyToServe({ config, llm, mcp, limits, crossNode, logger });

  const queue = pipeline?.queue;
  const mailAccounts = new MailAccountClient({ accountsUrl: mailAccountsUrl(config), authToken: config.mail.auth_token, logger });
  const routes = await runtimeRoutes({ config, logger, authenticate, limits, tracing, llm, mcp, db, storageHealth, writer, queue, summaries, triageRules, mailAccounts, metrics, inspectorRoutes: inspector.routes });
  server = new RuntimeServer({
    config: config.server,
    handler: new ProtocolHandler({
      hub,
      store,
      authenticate,
      limits,
      config: config.server,
      logger,
      onQueueFull: () => metrics.rateLimitHit(QUEUE_FULL_SCOPE),
      ...(pipeline ? { notifications: { store: summaries, replayLimit: config.summarization.replay_limit } } : {}),
    }),
    routes,
    sockets: inspector.sockets,
    logger,
  });
  const liveServer = server;
  metrics.watchConversations({ hub, server });
  metrics.watchSummaries({ queue, summaryWorker: pipeline?.worker?.worker });
  const notificationsReady = pipeline
    ? pipeline.bus.subscribe((n) => liveServer.publish(userTopic(n.user_email), JSON.stringify(toNotificationMessage(fromNotification(n)))))
    : new Promise<void>(() => undefined);
  notificationsReady.catch((err: unknown) => logger.error({ err: errorMessage(err) }, 'cannot subscribe to notifications'));
  const port = await server.listen();
  // Only once serving: a start that failed leaves nothing writing in the background.
  const probe = new WriteProbe({ db, outcomes: storageHealth, intervalMs: config.storage.write_probe_interval_ms });
  void probe.probe();
  const host = config.server.listen_addr.slice(0, config.server.listen_addr.lastIndexOf(':'));
  const reachableHost = host === '0.0.0.0' || host === '::' || host === '[::]' ? '127.0.0.1' : host;
  logger.info(`WebSocket server listening on ${host}:${port}${config.server.websocket_path}`);
  logger.info(`HTTP server listening on ${host}:${port}`);

  let closing: Promise<void> | undefined;
  return {
    port,
    notificationsReady,
    queue,
    httpUrl: `${liveServer.scheme}://${reachableHost}:${port}`,
    wsUrl: `${liveServer.scheme === 'https' ? 'wss' : 'ws'}://${reachableHost}:${port}${config.server.websocket_path}`,
    hub,
    mcp,
    llm,
    db,
    routes: Object.keys(routes),
    close({ graceMs = config.server.shutdown_grace_s * 1000 }: RuntimeCloseOptions = {}) {
      closing ??= stopRuntime({ logger, healthTimer, server: liveServer, conversations, pipeline, mailAccounts, limits, mcp, llm, probe, inspector, db, tracing }, graceMs);
      return closing;
    },
  };
}
