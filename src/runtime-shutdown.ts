import type { ConversationWiring } from './conversations/conversation-wiring.js';
import { finishAnswers } from './conversations/finish-answers.js';
import { drainObservers } from './conversations/observe-after-io.js';
import type { Inspector } from './inspector/create-inspector.js';
import type { RateLimits } from './limits/rate-limits.js';
import type { LlmClient } from './llm/llm-client.js';
import type { Logger } from './logger.js';
import type { MailAccountClient } from './mail-account/account-client.js';
import type { McpRegistry } from './mcp/registry.js';
import type { SummaryPipeline } from './queue/summary-pipeline.js';
import type { RuntimeServer } from './server/ws-server.js';
import { shutdownStep } from './shutdown-step.js';
import type { Db } from './storage/database.js';
import type { WriteProbe } from './storage/write-probe.js';
import type { Tracing } from './tracing/setup-tracing.js';

/** Close code for sockets at shutdown: "going away", so clients reconnect (to another node) and resume. */
const GOING_AWAY = 1001;

/** What a running node holds, in the order it was opened; `stopRuntime` closes it in reverse, each step bounded. */
export interface RunningRuntime {
  logger: Logger;
  healthTimer: NodeJS.Timeout;
  server: RuntimeServer;
  conversations: ConversationWiring;
  pipeline: SummaryPipeline | undefined;
  mailAccounts: MailAccountClient;
  limits: RateLimits;
  mcp: McpRegistry;
  llm: LlmClient;
  probe: WriteProbe;
  inspector: Inspector;
  db: Db;
  tracing: Tracing;
}

/**
 * The graceful stop: no new connection or job, answers in flight finish within `graceMs` (then are cut, saved as
 * interrupted), sockets closed with 1001, then everything that writes before the database, and traces last.
 */
export async function stopRuntime(running: RunningRuntime, graceMs: number): Promise<void> {
  const { logger, server, conversations, pipeline, limits, mcp, llm, inspector, db, tracing } = running;
  const { hub, writer, crossNode } = conversations;
  const step = shutdownStep(logger);
  clearInterval(running.healthTimer);
  server.stopListening();
  hub.drain();
  // The worker takes no new job from now on; its active ones use the grace period too, and finish before the
  // database closes (a process killed before that leaves them stalled, and BullMQ hands them to the next worker).
  const workerClosed = step('closing the summary worker', () => pipeline?.worker?.close());
  // Account requests in flight answer 503 now rather than hold a socket for up to 45 s.
  await step('closing the mail account client', () => running.mailAccounts.close());
  await finishAnswers(hub, graceMs, logger);
  server.closeSockets(GOING_AWAY, 'server restarting');
  await workerClosed;
  await step('closing the summary queue', () => pipeline?.close());
  await step('closing the rate limits', () => limits.close());
  // Turns are over: a last try at the writes the database refused, while the actors still give their sequence
  // numbers (a write retried after they stop would save an older one).
  await step('writing refused conversation writes', () => writer.close());
  await Promise.all([step('stopping conversations', () => hub.close()), step('closing MCP servers', () => mcp.close()), step('closing the LLM client', () => llm.close())]);
  await step('closing the conversation streams', () => crossNode?.close());
  await conversations.writesSettled();
  await step('stopping the write probe', () => running.probe.close());
  // After the hub (its last events are journaled, the observers' queue run), before the database.
  drainObservers();
  await step('closing the inspector', () => inspector.close());
  await step('closing the database', () => db.destroy());
  // Last: every span above has ended, and is exported now (a collector that is down costs the export timeout).
  await step('flushing traces', () => tracing.shutdown());
}
