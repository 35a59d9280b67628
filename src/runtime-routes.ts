import type { Config } from './config/schema.js';
import type { RateLimits } from './limits/rate-limits.js';
import type { LlmClient } from './llm/llm-client.js';
import type { Logger } from './logger.js';
import type { MailAccountClient } from './mail-account/account-client.js';
import { readOwnEmail } from './mcp/mail-tool.js';
import type { McpRegistry } from './mcp/registry.js';
import { metricsRoute } from './metrics/metrics-route.js';
import type { RuntimeMetrics } from './metrics/runtime-metrics.js';
import type { SummaryQueue } from './queue/summary-queue.js';
import type { Authenticate } from './server/auth.js';
import { emailWebhookRoute } from './server/email-webhook-route.js';
import { healthRoute } from './server/health.js';
import { mailAccountRoutes } from './server/mail-account-routes.js';
import { replyRoutes } from './server/reply-routes.js';
import { summaryRoutes, unavailableSummaryRoutes } from './server/summary-routes.js';
import { triageRoutes } from './server/triage-routes.js';
import { webAssetRoutes } from './server/web-assets.js';
import type { HttpRoute } from './server/ws-server.js';
import type { ConversationWriter } from './storage/conversation-writer.js';
import type { Db } from './storage/database.js';
import type { StorageHealth } from './storage/storage-health.js';
import type { SummaryStore } from './storage/summary-store.js';
import type { TriageRuleStore } from './storage/triage-rule-store.js';
import type { Tracing } from './tracing/setup-tracing.js';

/** The runtime's parts the HTTP routes answer from. */
export interface RuntimeRoutesDeps {
  config: Config;
  logger: Logger;
  authenticate: Authenticate;
  limits: RateLimits;
  tracing: Tracing;
  llm: LlmClient;
  mcp: McpRegistry;
  db: Db;
  storageHealth: StorageHealth;
  writer: Pick<ConversationWriter, 'unsavedCount'>;
  /** Absent when summaries are off or there is no Redis. */
  queue: SummaryQueue | undefined;
  summaries: SummaryStore;
  triageRules: TriageRuleStore;
  mailAccounts: MailAccountClient;
  metrics: RuntimeMetrics;
  /** The inspector's own routes (`/api/inspector/…`). */
  inspectorRoutes: Record<string, HttpRoute>;
}

/** Every HTTP route of a runtime, keyed `"METHOD /path"`: the README's HTTP table, in code. */
export async function runtimeRoutes(deps: RuntimeRoutesDeps): Promise<Record<string, HttpRoute>> {
  const { config, logger, authenticate, limits, tracing, llm, mcp, db, queue, summaries } = deps;
  return {
    'GET /health': healthRoute({
      llm,
      mcp,
      db,
      writes: { health: deps.storageHealth, unsaved: () => deps.writer.unsavedCount() },
      queue,
      summariesUnavailable: config.summarization.enabled && !queue ? 'enabled, but no Redis is configured (REDIS_URL), or the bundled one did not start' : undefined,
    }),
    'GET /metrics': metricsRoute(deps.metrics, config.server.metrics_token),
    'POST /api/webhooks/email': emailWebhookRoute({
      secret: config.webhooks.secret,
      toleranceSeconds: config.webhooks.tolerance_s,
      limit: (ip) => limits.consume('webhooks_per_ip', ip),
      accept: async (email, trace) => {
        logger.info({ user: email.user_email, emailId: email.email_id }, 'new mail announced');
        if (!queue || !config.summarization.auto_summarize) return { status: 'ignored', reason: 'summaries are off on this runtime' };
        return { status: 'accepted', id: await queue.add(email, trace) };
      },
      tracing,
    }),
    ...(await webAssetRoutes()),
    ...deps.inspectorRoutes,
    ...(queue
      ? summaryRoutes({ queue, store: summaries, authenticate, config, limit: (ip) => limits.consume('summary_requests_per_ip', ip) })
      : unavailableSummaryRoutes(config.summarization.enabled ? 'no Redis is configured (REDIS_URL)' : '[summarization] enabled = false', { store: summaries, authenticate })),
    ...triageRoutes({ rules: deps.triageRules, summaries, authenticate, logger }),
    ...mailAccountRoutes({ accounts: deps.mailAccounts, authenticate, logger, limit: (user) => limits.consume('mail_account_connects_per_user', user) }),
    ...replyRoutes({
      llm,
      summaries,
      authenticate,
      logger,
      readEmail: (user, emailId, signal) => readOwnEmail(mcp, user, emailId, signal),
      // Drafts cost an LLM call, as a chat message does: they share its budget.
      limit: (user) => limits.consume('chat_per_user', user),
    }),
  };
}
