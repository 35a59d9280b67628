import { createLlmStreamLogic } from '../actors/llm-stream.js';
import { createPersistenceLogic } from '../actors/persistence.js';
import { createToolCallLogic } from '../actors/tool-call.js';
import type { Config } from '../config/schema.js';
import { errorMessage } from '../errors.js';
import type { Inspector } from '../inspector/create-inspector.js';
import { foldHistory } from '../llm/history-folding.js';
import type { FallbackLlmClient } from '../llm/fallback-client.js';
import type { Logger } from '../logger.js';
import { createConversationMachine } from '../machines/conversation-machine.js';
import { requiresApproval } from '../mcp/approval-policy.js';
import { findMailTool } from '../mcp/mail-tool.js';
import { pinMailboxArguments } from '../mcp/mailbox-isolation.js';
import { movedToolResult } from '../mcp/planned-tool.js';
import type { McpRegistry } from '../mcp/registry.js';
import type { RuntimeMetrics } from '../metrics/runtime-metrics.js';
import type { ContextSummaryStore } from '../storage/context-summary-store.js';
import type { ConversationStore } from '../storage/conversation-store.js';
import { ConversationWriter } from '../storage/conversation-writer.js';
import type { StorageHealth } from '../storage/storage-health.js';
import type { ToolSpans } from '../tracing/tool-spans.js';
import type { TurnSpans } from '../tracing/turn-spans.js';
import { grantTarget } from './approval-grants.js';
import type { Publisher } from './conversation-channel.js';
import { ConversationHub } from './conversation-hub.js';
import { composeObservers, conversationLog } from './conversation-log.js';
import { CrossNode } from './cross-node.js';
import { observeAfterIo } from './observe-after-io.js';

export interface ConversationWiringOptions {
  config: Config;
  logger: Logger;
  store: ConversationStore;
  storageHealth: StorageHealth;
  contextSummaries: ContextSummaryStore;
  /** The provider chain: it also says how many tokens a request may take. */
  llm: FallbackLlmClient;
  mcp: McpRegistry;
  metrics: RuntimeMetrics;
  turns: TurnSpans;
  toolSpans: ToolSpans;
  inspector: Pick<Inspector, 'observe' | 'lifecycle'>;
  /** Where conversation events go: the server's topics (it is built after the hub). */
  publisher: Publisher;
}

/** The conversations of one node, ready to serve: the hub with its machine, and the writer that stores their turns. */
export interface ConversationWiring {
  hub: ConversationHub;
  writer: ConversationWriter;
  /** Present when storage is shared and Redis carries other nodes' live events and leases. */
  crossNode: CrossNode | undefined;
  /** Settles once every write handed to a writer has landed, also for actors stopped mid-write: then the database may close. */
  writesSettled(): Promise<void>;
}

/**
 * Wires the conversation actors to what they use: the LLM (its stream, the history fitted and folded), MCP tools (with
 * mailbox arguments pinned and approvals asked), storage through one ordered writer per conversation, the inspector
 * and the conversation log, spans and metrics, and, with shared storage, the other nodes.
 */
export function wireConversations(options: ConversationWiringOptions): ConversationWiring {
  const { config, logger, store, llm, mcp, metrics, turns, inspector } = options;
  const prepareArguments = (tool: string, args: Record<string, unknown>, userEmail: string) => pinMailboxArguments(mcp.find(tool), args, userEmail);
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
    publisher: options.publisher,
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
    // Both read what the step did; neither needs to before the step's I/O has gone out.
    observe: (conversation) => {
      const observer = composeObservers(inspector.observe(conversation), conversationLog(logger)(conversation));
      return observer && observeAfterIo(observer, (err) => logger.error({ conversationId: conversation.id, err: errorMessage(err) }, 'an inspection observer failed'));
    },
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
  options.storageHealth.onWritable(() => writer.retryNow());
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
          foldHistory({ llm, store: options.contextSummaries, logger, trace: turns.context(conversationId) }, conversationId, messages, budget, signal),
        metrics,
        traceContext: (conversationId) => turns.context(conversationId),
      }),
      toolCall: createToolCallLogic({
        // Pinned again at the last moment: an approval may have edited the arguments since they were planned.
        refuse: (input) => movedToolResult(input.tool, mcp.find(input.tool), input.target),
        callTool: (input, signal, meta) => mcp.callTool(input.tool, prepareArguments(input.tool, input.arguments, input.userEmail), signal, meta),
        markStarted: (input) => trackWrite(writer.markStarted(input.conversationId, input.callId)),
        metrics,
        spans: options.toolSpans,
      }),
      persistence: createPersistenceLogic({ append: (id, write) => trackWrite(writer.append(id, write)) }),
    }),
  );
  return {
    hub,
    writer,
    crossNode,
    writesSettled: async () => {
      await Promise.allSettled([...pendingWrites]);
    },
  };
}
