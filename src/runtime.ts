import { createLlmStreamLogic } from './actors/llm-stream.js';
import { createPersistenceLogic } from './actors/persistence.js';
import { createToolCallLogic } from './actors/tool-call.js';
import type { Config } from './config/schema.js';
import { ConversationHub } from './conversations/conversation-hub.js';
import { finishAnswers } from './conversations/finish-answers.js';
import { composeObservers, conversationLog } from './conversations/conversation-log.js';
import { errorMessage } from './errors.js';
import { createInspector } from './inspector/create-inspector.js';
import { statelyRequested } from './inspector/stately-forwarder.js';
import { LlmStatus, type LlmClient } from './llm/llm-client.js';
import { createLlmChain } from './llm/create-llm-client.js';
import { foldHistory } from './llm/history-folding.js';
import { ContextSummaryStore } from './storage/context-summary-store.js';
import { createLogger, type Logger } from './logger.js';
import { createConversationMachine } from './machines/conversation-machine.js';
import { RuntimeMetrics } from './metrics/runtime-metrics.js';
import { requiresApproval } from './mcp/approval-policy.js';
import { grantTarget } from './conversations/approval-grants.js';
import { pinMailboxArguments } from './mcp/mailbox-isolation.js';
import { movedToolResult } from './mcp/planned-tool.js';
import { McpRegistry, configuredServers } from './mcp/registry.js';
import { createRateLimits } from './limits/rate-limits.js';
import { createAuthenticator, logAuthSetup } from './server/auth.js';
import { refuseExposedDevMode } from './server/dev-mode-guard.js';
import { ProtocolHandler, QUEUE_FULL_SCOPE } from './server/protocol-handler.js';
import { checkTlsFiles } from './server/tls.js';
import { RuntimeServer } from './server/ws-server.js';
import { settleWithin } from './settle-within.js';
import { shutdownStep } from './shutdown-step.js';
import { CrossNode } from './conversations/cross-node.js';
import { ConversationStore } from './storage/conversation-store.js';
import { ConversationWriter } from './storage/conversation-writer.js';
import { StorageHealth } from './storage/storage-health.js';
import { WriteProbe } from './storage/write-probe.js';
import { SummaryStore } from './storage/summary-store.js';
import { TriageRuleStore } from './storage/triage-rule-store.js';
import { startSummaryPipeline, fromNotification } from './queue/summary-pipeline.js';
import type { SummaryQueue } from './queue/summary-queue.js';
import { MailAccountClient, mailAccountsUrl } from './mail-account/account-client.js';
import { findMailTool } from './mcp/mail-tool.js';
import { runtimeRoutes } from './runtime-routes.js';
import { toNotificationMessage, userTopic } from './server/protocol-handler.js';
import { migrateToLatest, openDatabase, type Db } from './storage/database.js';
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

/** How long a starting node waits for Redis before it serves with per-node rate limits and no leases. */
const REDIS_READY_TIMEOUT_MS = 5_000;
/** Close code for sockets at shutdown: "going away", so clients reconnect (to another node) and resume. */
const GOING_AWAY = 1001;

/** The composition root: config → storage → LLM → MCP → conversations → server. */
export async function startRuntime({ config, logger = createLogger(config.log.level), mcpPingIntervalMs, tracing = TRACING_OFF }: RuntimeOptions): Promise<Runtime> {
  // First of all: nothing is opened when dev-mode sign-in would face the network.
  refuseExposedDevMode(config);
  logger.info('AI Runtime starting...');
  logAuthSetup(config.auth, logger);
  const authenticate = createAuthenticator(config.auth, { logger });

  // Before anything is opened: a bad certificate stops start-up with nothing to clean up.
  checkTlsFiles(config.server);
  const db = openDatabase(config, logger);
  await migrateToLatest(db);
  // Every conversation write and the write probe (started once serving) tell it whether the database takes writes.
  const storageHealth = new StorageHealth();
  const store = new ConversationStore(db, storageHealth);

  const summaries = new SummaryStore(db);
  const triageRules = new TriageRuleStore(db);
  const contextSummaries = new ContextSummaryStore(db);
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
  const prepareArguments = (tool: string, args: Record<string, unknown>, userEmail: string) => pinMailboxArguments(mcp.find(tool), args, userEmail);

  const inspector = createInspector({ config, db, logger, stately: statelyRequested(config.inspector), authenticate, limits });
  let server: RuntimeServer | undefined;
  // Writes handed to conversation writers: the database closes only after they land, even for actors stopped mid-write.
  const pendingWrites = new Set<Promise<unknown>>();
  const trackWrite = <T>(write: Promise<T>): Promise<T> => {
    pendingWrites.add(write);
    const forget = () => pendingWrites.delete(write);
    write.then(forget, forget);
    return write;
  };
  // Another node can serve a conversation only when storage is shared; Redis then carries its live events and lease.
  const crossNode =
    config.redis.url && config.storage.database_url
      ? new CrossNode({
          redisUrl: config.redis.url,
          prefix: config.redis.prefix,
          maxEvents: config.conversation.replay_buffer_events,
          leaseTtlMs: config.conversation.lease_ttl_s * 1000,
          logger,
        })
      : undefined;
  const hub = new ConversationHub({
    store,
    publisher: { publish: (topic, message) => server?.publish(topic, message), watched: (topic) => server?.hasSubscribers(topic) ?? false },
    logger,
    prepareArguments,
    grantTarget: (name) => grantTarget(mcp.find(name)),
    sendMailTool: () => findMailTool(mcp.tools(), 'send_email'),
    maxToolSteps: config.mcp.max_tool_steps,
    replayBufferEvents: config.conversation.replay_buffer_events,
    replayBufferChars: config.conversation.replay_buffer_chars,
    idleActorTtlMs: config.conversation.idle_actor_ttl_s * 1000,
    sharedStorage: config.storage.database_url !== '',
    ...(crossNode ? { crossNode } : {}),
    observe: (conversation) => composeObservers(inspector.observe(conversation), conversationLog(logger)(conversation)),
    lifecycle: inspector.lifecycle,
    metrics,
    // Storage lacks its latest messages: evicted, it would come back without them.
    holdsUnsaved: (id): boolean => writer.holdsUnsaved(id),
    turns,
  });
  // One write order per conversation for its writer and its tool calls' start markers; refused writes wait in it.
  const writer: ConversationWriter = new ConversationWriter(store, (id) => hub.lastSeq(id), {
    retryInitialMs: config.storage.write_retry_initial_ms,
    retryMaxMs: config.storage.write_retry_max_ms,
    maxUnsavedBytesPerConversation: config.storage.max_unsaved_bytes_per_conversation,
    maxUnsavedBytes: config.storage.max_unsaved_bytes,
    logger,
  });
  storageHealth.onWritable(() => writer.retryNow());
  hub.useMachine(
    createConversationMachine({
      llmStream: createLlmStreamLogic({
        llm,
        tools: () => mcp.tools(),
        requiresApproval: (name) => requiresApproval(config.mcp.approval, mcp.find(name), name),
        grantTarget: (name) => grantTarget(mcp.find(name)),
        prepareArguments,
        relay: (conversationId, text) => hub.relay(conversationId, text),
        promptBudgetTokens: () => llm.promptBudgetTokens(),
        foldHistory: (conversationId, messages, budget, signal) =>
          foldHistory({ llm, store: contextSummaries, logger, trace: turns.context(conversationId) }, conversationId, messages, budget, signal),
        metrics,
        traceContext: (conversationId) => turns.context(conversationId),
      }),
      toolCall: createToolCallLogic({
        // Pinned again at the last moment: an approval may have edited the arguments since they were planned.
        refuse: (input) => movedToolResult(input.tool, mcp.find(input.tool), input.target),
        callTool: (input, signal, meta) => mcp.callTool(input.tool, prepareArguments(input.tool, input.arguments, input.userEmail), signal, meta),
        markStarted: (input) => trackWrite(writer.markStarted(input.conversationId, input.callId)),
        metrics,
        spans: toolSpans,
      }),
      persistence: createPersistenceLogic({ append: (id, write) => trackWrite(writer.append(id, write)) }),
    }),
  );

  const pipeline = startSummaryPipeline({ config, llm, summaries, rules: triageRules, logger, tracing });

  const reportLlm = async () => {
    const health = await llm.checkHealth();
    if (health.status === LlmStatus.Ok) logger.info(`Model: ${config.llm.model} loaded successfully`);
    else logger.warn({ llm: health.status }, health.message ?? 'LLM unavailable');
  };
  const healthTimer = setInterval(() => void llm.checkHealth(), config.llm.health_check_interval_s * 1000);
  healthTimer.unref();
  // A node that served before its budgets were shared would count a user's first messages per node, not per user,
  // and would run its first turns without a lease.
  const shareWithNodes = async () => {
    const ready = Promise.all([limits.waitUntilReady(), crossNode?.waitUntilReady()]).then(() => true);
    if (!(await settleWithin(ready, REDIS_READY_TIMEOUT_MS)))
      logger.warn(`Redis not ready after ${REDIS_READY_TIMEOUT_MS} ms: rate limits hold per node, and turns run without a lease, until it is`);
  };
  // The models' context lengths are read while starting (bounded), not on the first user's turn.
  await Promise.all([reportLlm(), mcp.start(), shareWithNodes(), llm.promptBudgetTokens()]);

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
      closing ??= (async () => {
        const step = shutdownStep(logger);
        clearInterval(healthTimer);
        liveServer.stopListening();
        hub.drain();
        // The worker takes no new job from now on; its active ones use the grace period too, and finish before the
        // database closes (a process killed before that leaves them stalled, and BullMQ hands them to the next worker).
        const workerClosed = step('closing the summary worker', () => pipeline?.worker?.close());
        // Account requests in flight answer 503 now rather than hold a socket for up to 45 s.
        await step('closing the mail account client', () => mailAccounts.close());
        await finishAnswers(hub, graceMs, logger);
        liveServer.closeSockets(GOING_AWAY, 'server restarting');
        await workerClosed;
        await step('closing the summary queue', () => pipeline?.close());
        await step('closing the rate limits', () => limits.close());
        // Turns are over: a last try at the writes the database refused, while the actors still give their sequence
        // numbers (a write retried after they stop would save an older one).
        await step('writing refused conversation writes', () => writer.close());
        await Promise.all([step('stopping conversations', () => hub.close()), step('closing MCP servers', () => mcp.close()), step('closing the LLM client', () => llm.close())]);
        await step('closing the conversation streams', () => crossNode?.close());
        await Promise.allSettled([...pendingWrites]);
        await step('stopping the write probe', () => probe.close());
        // After the hub (its last events are journaled), before the database.
        await step('closing the inspector', () => inspector.close());
        await step('closing the database', () => db.destroy());
        // Last: every span above has ended, and is exported now (a collector that is down costs the export timeout).
        await step('flushing traces', () => tracing.shutdown());
      })();
      return closing;
    },
  };
}
