import type { Context } from '@opentelemetry/api';
import { Worker, type Job } from 'bullmq';
import { errorMessage } from '../errors.js';
import type { LlmClient } from '../llm/llm-client.js';
import type { Logger } from '../logger.js';
import type { SummaryStore } from '../storage/summary-store.js';
import type { TriageRuleStore } from '../storage/triage-rule-store.js';
import { summarizeAndTriage, type TriageSettings } from '../triage/summarize-and-triage.js';
import { wireTriage } from '../triage/triage.js';
import { inSpan } from '../tracing/in-span.js';
import { TRACING_OFF, type Tracing } from '../tracing/setup-tracing.js';
import { processJobSpan, publishSpan } from '../tracing/summary-spans.js';
import { extractTrace } from '../tracing/trace-carrier.js';
import type { NotificationBus } from './notification-bus.js';
import { redisConnection } from './redis-connection.js';
import { SUMMARY_QUEUE_NAME, SummaryJobDataSchema, type SummaryJobData, type SummaryJobResult } from './summary-job.js';

export interface SummaryWorkerOptions {
  url: string;
  prefix: string;
  concurrency: number;
  /** At most `max` LLM calls per `durationMs`, shared by every worker on this Redis. */
  limiter: { max: number; durationMs: number };
  /** BullMQ's lock duration and stalled-job check interval: how soon a dead worker's job runs elsewhere. */
  stalledAfterMs: number;
  llm: LlmClient;
  model: string;
  store: SummaryStore;
  /** The users' own triage rules, read per mail. */
  rules: TriageRuleStore;
  triage: TriageSettings;
  notifications: NotificationBus;
  logger: Logger;
  /** @default tracing off */
  tracing?: Tracing;
}

/**
 * Summarizes one email per job. Jobs are at-least-once (a stalled job runs again), so every step is idempotent: an
 * existing summary is returned as is, the insert ignores duplicates, and only the run that stored the summary
 * announces it (or a rerun, when an earlier run may have stored it and stopped before announcing). The summary and the
 * triage come from one LLM call and are stored together.
 */
export function createSummaryProcessor({
  llm,
  model,
  store,
  rules,
  triage,
  notifications,
  logger,
  tracing = TRACING_OFF,
}: Pick<SummaryWorkerOptions, 'llm' | 'model' | 'store' | 'rules' | 'triage' | 'notifications' | 'logger' | 'tracing'>) {
  return (job: Job<SummaryJobData, SummaryJobResult>): Promise<SummaryJobResult> => {
    // A child of the span that added the job, whichever process added it: one trace from the webhook on.
    const { name, options } = processJobSpan(SUMMARY_QUEUE_NAME, job.id, job.attemptsMade + 1);
    return inSpan(tracing, name, options, extractTrace(job.data.trace_context), ({ context }) => summarize(job, context));
  };

  async function summarize(job: Job<SummaryJobData, SummaryJobResult>, trace: Context | undefined): Promise<SummaryJobResult> {
    const startedAt = performance.now();
    const email = SummaryJobDataSchema.parse(job.data);
    logger.info({ ...jobFields(job), attempt: job.attemptsMade + 1 }, 'summary job started');
    let record = await store.find(email.user_email, email.email_id);
    let created = false;
    if (!record) {
      const made = await summarizeAndTriage({ llm, model, logger: logger.child(jobFields(job)), trace }, email, await rules.list(email.user_email.toLowerCase()), triage);
      const stored = await store.insert({
        userEmail: email.user_email,
        emailId: email.email_id,
        from: email.from,
        subject: email.subject,
        summary: made.summary,
        model,
        createdAt: new Date().toISOString(),
        triage: made.triage,
      });
      record = stored.record;
      created = stored.inserted;
    }
    // A run after a failed attempt, or after a worker died mid-job (BullMQ counts that start but no attempt), cannot
    // know whether the earlier one announced: announcing again is safe (clients dedupe by email_id), missing is not.
    if (created || job.attemptsMade > 0 || job.attemptsStarted > 1) {
      const notification = {
        user_email: record.userEmail,
        email_id: record.emailId,
        from: record.from,
        subject: record.subject,
        summary: record.summary,
        created_at: record.createdAt,
        ...wireTriage(record.triage),
      };
      const { name, options } = publishSpan(notifications.channel);
      await inSpan(tracing, name, options, trace, () => notifications.publish(notification));
    }
    const { category, priority } = record.triage;
    logger.info({ ...jobFields(job), created, category, priority, durationMs: Math.round(performance.now() - startedAt) }, 'email summarized');
    return { summary: record.summary, model: record.model, created_at: record.createdAt, created, category, priority };
  }
}

/**
 * The fields every line about a job carries, read from the raw data: they must be there even for a job whose data
 * does not parse. Never the subject or body: mail stays out of logs.
 */
function jobFields(job: Job<SummaryJobData, SummaryJobResult>): { jobId: string | undefined; user: string; emailId: string } {
  return { jobId: job.id, user: String(job.data.user_email), emailId: String(job.data.email_id) };
}

export interface SummaryWorker {
  readonly worker: Worker<SummaryJobData, SummaryJobResult>;
  /** Waits for active jobs, then disconnects (BullMQ leaves a connection it was given open). Safe to call twice. */
  close(): Promise<void>;
}

export function startSummaryWorker(options: SummaryWorkerOptions): SummaryWorker {
  const connection = redisConnection(options.url, 'blocking', options.logger);
  const worker = new Worker<SummaryJobData, SummaryJobResult>(SUMMARY_QUEUE_NAME, createSummaryProcessor(options), {
    connection,
    prefix: options.prefix,
    concurrency: options.concurrency,
    limiter: { max: options.limiter.max, duration: options.limiter.durationMs },
    lockDuration: options.stalledAfterMs,
    stalledInterval: options.stalledAfterMs,
  });
  worker.on('failed', (job, error) => {
    const err = errorMessage(error);
    // BullMQ reports some failures without the job (one that stalled too often): the error is all there is.
    if (!job) return options.logger.error({ err }, 'summary job failed');
    // BullMQ counts the failed attempt before this event: attempts left means it is already scheduled again.
    const attempts = job.opts.attempts ?? 1;
    const fields = { ...jobFields(job), attempt: job.attemptsMade, attempts, err };
    if (job.attemptsMade < attempts) options.logger.warn(fields, 'summary attempt failed; retrying with backoff');
    else options.logger.error(fields, 'summary job failed for good: listed in /api/summaries/failed');
  });
  worker.on('stalled', (jobId) => options.logger.warn({ jobId }, 'summary job stalled (its worker stopped answering); it runs again'));
  worker.on('error', (error) => options.logger.debug({ err: errorMessage(error) }, 'summary worker error'));
  let closing: Promise<void> | undefined;
  return {
    worker,
    close() {
      closing ??= worker.close().finally(() => connection.disconnect());
      return closing;
    },
  };
}
