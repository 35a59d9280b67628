import { createLlmStreamLogic } from './actors/llm-stream.js';
import { createPersistenceLogic } from './actors/persistence.js';
import { createToolCallLogic } from './actors/tool-call.js';
import type { Config } from './config/schema.js';
import { ConversationHub } from './conversations/conversation-hub.js';
import { errorMessage } from './errors.js';
import { createInspector } from './inspector/create-inspector.js';
import { statelyRequested } from './inspector/stately-forwarder.js';
import { LlmStatus, type LlmClient } from './llm/llm-client.js';
import { OllamaClient } from './llm/ollama-client.js';
import { createLogger, type Logger } from './logger.js';
import { createConversationMachine } from './machines/conversation-machine.js';
import { metricsRoute } from './metrics/metrics-route.js';
import { RuntimeMetrics } from './metrics/runtime-metrics.js';
import { requiresApproval } from './mcp/approval-policy.js';
import { pinMailboxArguments } from './mcp/mailbox-isolation.js';
import { McpRegistry, configuredServers } from './mcp/registry.js';
import { createAuthenticator } from './server/auth.js';
import { emailWebhookRoute } from './server/email-webhook-route.js';
import { healthRoute } from './server/health.js';
import { webAssetRoutes } from './server/web-assets.js';
import { ProtocolHandler } from './server/protocol-handler.js';
import { RuntimeServer } from './server/ws-server.js';
import { ConversationStore } from './storage/conversation-store.js';
import { SummaryStore } from './storage/summary-store.js';
import { startSummaryPipeline, fromNotification } from './queue/summary-pipeline.js';
import type { SummaryQueue } from './queue/summary-queue.js';
import { enqueueSummary, summaryRoutes, unavailableSummaryRoutes } from './server/summary-routes.js';
import { toNotificationMessage, userTopic } from './server/protocol-handler.js';
import { migrateToLatest, openDatabase, type Db } from './storage/database.js';

export interface RuntimeOptions {
  config: Config;
  logger?: Logger;
  /** Ping interval for MCP servers (tests shorten it). */
  mcpPingIntervalMs?: number;
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
  /** Stops accepting, ends sockets, stops actors, disconnects MCP servers, closes the database. Safe to call twice. */
  close(): Promise<void>;
}

/** Room left in the context window for the answer; the history gets the rest (never less than this floor). */
const MIN_HISTORY_TOKENS = 512;

/** The composition root: config → storage → LLM → MCP → conversations → server. */
export async function startRuntime({ config, logger = createLogger(config.log.level), mcpPingIntervalMs }: RuntimeOptions): Promise<Runtime> {
  logger.info('AI Runtime starting...');
  if (config.auth.dev_mode) logger.warn('auth.dev_mode is on: anyone can sign in as any email address. Use it only on a trusted machine.');

  const db = openDatabase(config, logger);
  await migrateToLatest(db);
  const store = new ConversationStore(db);

  const summaries = new SummaryStore(db);
  const llm = new OllamaClient(config.llm);
  logger.info(`Connecting to Ollama at ${config.llm.base_url}`);
  const mcp = new McpRegistry(configuredServers(config), {
    logger,
    toolTimeoutMs: config.mcp.tool_timeout_ms,
    reconnectInitialMs: config.mcp.reconnect_initial_ms,
    reconnectMaxMs: config.mcp.reconnect_max_ms,
    ...(mcpPingIntervalMs ? { pingIntervalMs: mcpPingIntervalMs } : {}),
  });

  const metrics = new RuntimeMetrics({ isKnownTool: (name) => mcp.find(name) !== undefined });
  const prepareArguments = (tool: string, args: Record<string, unknown>, userEmail: string) => pinMailboxArguments(mcp.find(tool), args, userEmail);

  const inspector = createInspector({ config, db, logger, stately: statelyRequested(config.inspector) });
  let server: RuntimeServer | undefined;
  const hub = new ConversationHub({
    store,
    publisher: { publish: (topic, message) => server?.publish(topic, message) },
    logger,
    prepareArguments,
    maxToolSteps: config.mcp.max_tool_steps,
    replayBufferEvents: config.conversation.replay_buffer_events,
    idleActorTtlMs: config.conversation.idle_actor_ttl_s * 1000,
    observe: inspector.observe,
    lifecycle: inspector.lifecycle,
    metrics,
  });
  hub.useMachine(
    createConversationMachine({
      llmStream: createLlmStreamLogic({
        llm,
        tools: () => mcp.tools(),
        requiresApproval: (name) => requiresApproval(config.mcp.approval, mcp.find(name), name),
        prepareArguments,
        relay: (conversationId, text) => hub.relay(conversationId, text),
        historyBudgetTokens: Math.max(config.llm.context_size - config.llm.max_tokens, MIN_HISTORY_TOKENS),
        metrics,
      }),
      toolCall: createToolCallLogic({
        // Pinned again at the last moment: an approval may have edited the arguments since they were planned.
        callTool: (input, signal) => mcp.callTool(input.tool, prepareArguments(input.tool, input.arguments, input.userEmail), signal),
        metrics,
      }),
      persistence: createPersistenceLogic({ append: (id, from, messages) => store.append(id, from, messages, hub.lastSeq(id)) }),
    }),
  );

  const pipeline = startSummaryPipeline({ config, llm, summaries, logger });

  const reportLlm = async () => {
    const health = await llm.checkHealth();
    if (health.status === LlmStatus.Ok) logger.info(`Model: ${config.llm.model} loaded successfully`);
    else logger.warn({ llm: health.status }, health.message ?? 'LLM unavailable');
  };
  const healthTimer = setInterval(() => void llm.checkHealth(), config.llm.health_check_interval_s * 1000);
  healthTimer.unref();
  await Promise.all([reportLlm(), mcp.start()]);

  const authenticate = createAuthenticator(config.auth);
  const queue = pipeline?.queue;
  server = new RuntimeServer({
    config: config.server,
    handler: new ProtocolHandler({
      hub,
      store,
      authenticate,
      config: config.server,
      logger,
      ...(pipeline ? { notifications: { store: summaries, replayLimit: config.summarization.replay_limit } } : {}),
    }),
    routes: {
      'GET /health': healthRoute({ llm, mcp, db, queue }),
      'GET /metrics': metricsRoute(metrics),
      'POST /api/webhooks/email': emailWebhookRoute({
        secret: config.webhooks.secret,
        toleranceSeconds: config.webhooks.tolerance_s,
        accept: async (email) => {
          logger.info({ user: email.user_email, emailId: email.email_id, subject: email.subject }, 'new mail announced');
          if (!queue || !config.summarization.auto_summarize) return { status: 'ignored', reason: 'summaries are off on this runtime' };
          return { status: 'accepted', id: await enqueueSummary(queue, email) };
        },
      }),
      ...(await webAssetRoutes()),
      ...inspector.routes,
      ...(queue
        ? summaryRoutes({ queue, store: summaries, authenticate, config })
        : unavailableSummaryRoutes(config.summarization.enabled ? 'no Redis is configured (REDIS_URL)' : '[summarization] enabled = false')),
    },
    sockets: inspector.sockets,
    logger,
  });
  const liveServer = server;
  metrics.watch({ hub, server, queue, summaryWorker: pipeline?.worker?.worker });
  const notificationsReady = pipeline
    ? pipeline.bus.subscribe((n) => liveServer.publish(userTopic(n.user_email), JSON.stringify(toNotificationMessage(fromNotification(n)))))
    : new Promise<void>(() => undefined);
  notificationsReady.catch((err: unknown) => logger.error({ err: errorMessage(err) }, 'cannot subscribe to notifications'));
  const port = await server.listen();
  const host = config.server.listen_addr.slice(0, config.server.listen_addr.lastIndexOf(':'));
  const reachableHost = host === '0.0.0.0' || host === '::' || host === '[::]' ? '127.0.0.1' : host;
  logger.info(`WebSocket server listening on ${host}:${port}${config.server.websocket_path}`);
  logger.info(`HTTP server listening on ${host}:${port}`);

  let closing: Promise<void> | undefined;
  return {
    port,
    notificationsReady,
    queue,
    httpUrl: `http://${reachableHost}:${port}`,
    wsUrl: `ws://${reachableHost}:${port}${config.server.websocket_path}`,
    hub,
    mcp,
    llm,
    db,
    close() {
      closing ??= (async () => {
        clearInterval(healthTimer);
        server?.close();
        // The worker first: its active jobs finish (or go back to the queue) while the database is still open.
        await pipeline?.close();
        const steps = await Promise.allSettled([hub.close(), mcp.close(), llm.close()]);
        // After the hub (its last events are journaled), before the database.
        await inspector.close();
        await db.destroy().catch((err) => logger.warn({ err: errorMessage(err) }, 'database close failed'));
        for (const step of steps) if (step.status === 'rejected') logger.warn({ err: errorMessage(step.reason) }, 'shutdown step failed');
      })();
      return closing;
    },
  };
}
