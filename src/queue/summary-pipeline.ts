import type { Config } from '../config/schema.js';
import { createLlmClient } from '../llm/create-llm-client.js';
import type { Tracing } from '../tracing/setup-tracing.js';
import type { LlmClient } from '../llm/llm-client.js';
import type { Logger } from '../logger.js';
import { UNTRIAGED, type EmailSummaryRecord, type SummaryStore } from '../storage/summary-store.js';
import type { TriageRuleStore } from '../storage/triage-rule-store.js';
import { NotificationBus, type EmailNotification } from './notification-bus.js';
import { SummaryQueue } from './summary-queue.js';
import { startSummaryWorker, type SummaryWorker } from './summary-worker.js';

export interface SummaryPipeline {
  queue: SummaryQueue;
  bus: NotificationBus;
  worker: SummaryWorker | undefined;
  /** Worker first (active jobs finish or return to the queue), then the queue and the bus. Safe to call twice. */
  close(): Promise<void>;
}

export function fromNotification(n: EmailNotification): EmailSummaryRecord {
  const triage = { category: n.category ?? UNTRIAGED.category, priority: n.priority ?? UNTRIAGED.priority, needsReply: n.needs_reply ?? null, reason: '' };
  return { userEmail: n.user_email, emailId: n.email_id, from: n.from, subject: n.subject, summary: n.summary, model: '', createdAt: n.created_at, triage };
}

/** Queue, notification bus and (unless `[summarization] worker = false`) a worker, all on `[redis] url`. */
export function startSummaryPipeline({
  config,
  llm,
  summaries,
  rules,
  logger,
  tracing,
}: {
  config: Config;
  llm: LlmClient;
  summaries: SummaryStore;
  rules: TriageRuleStore;
  logger: Logger;
  /** The job's spans join the webhook's trace; the summary's `chat` spans sit inside. @default tracing off */
  tracing?: Tracing;
}): SummaryPipeline | undefined {
  if (!config.summarization.enabled) return undefined;
  const url = config.redis.url;
  if (!url) {
    logger.warn('Email summaries are off: no Redis. Set REDIS_URL, or use `npm start`, which runs its own Redis.');
    return undefined;
  }
  const s = config.summarization;
  // A provider of its own for summaries, else the chat's (with its fallbacks).
  const summaryLlm = s.llm ? createLlmClient(s.llm, process.env, tracing) : llm;
  const queue = new SummaryQueue({ url, prefix: config.redis.prefix, attempts: s.attempts, backoffMs: s.backoff_ms, logger, ...(tracing ? { tracing } : {}) });
  const bus = new NotificationBus({ url, prefix: config.redis.prefix, logger });
  const worker = s.worker
    ? startSummaryWorker({
        url,
        prefix: config.redis.prefix,
        concurrency: s.concurrency,
        limiter: { max: s.rate_limit_max, durationMs: s.rate_limit_window_ms },
        stalledAfterMs: s.stalled_after_s * 1000,
        llm: summaryLlm,
        model: s.llm?.model ?? s.model ?? config.llm.model,
        store: summaries,
        rules,
        triage: { spamScoreThreshold: s.spam_score_threshold },
        notifications: bus,
        logger,
        ...(tracing ? { tracing } : {}),
      })
    : undefined;
  let closing: Promise<void> | undefined;
  return {
    queue,
    bus,
    worker,
    close() {
      closing ??= (async () => {
        await worker?.close();
        await Promise.allSettled([queue.close(), bus.close(), ...(summaryLlm !== llm ? [summaryLlm.close()] : [])]);
      })();
      return closing;
    },
  };
}
