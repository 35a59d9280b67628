import type { Context } from '@opentelemetry/api';
import { Job, Queue, QueueEvents } from 'bullmq';
import type { Redis } from 'ioredis';
import { errorMessage } from '../errors.js';
import type { Logger } from '../logger.js';
import { TRACING_OFF, type Tracing } from '../tracing/setup-tracing.js';
import { inSpan } from '../tracing/in-span.js';
import { sendJobSpan } from '../tracing/summary-spans.js';
import { injectTrace } from '../tracing/trace-carrier.js';
import { redisConnection } from './redis-connection.js';
import { SUMMARY_QUEUE_NAME, SummaryJobResultSchema, summaryJobId, type SummaryJobData, type SummaryJobResult } from './summary-job.js';

export interface SummaryQueueOptions {
  url: string;
  prefix: string;
  attempts: number;
  backoffMs: number;
  logger: Logger;
  /** @default tracing off */
  tracing?: Tracing;
}

export interface FailedSummaryJob {
  id: string;
  user_email: string;
  email_id: string;
  subject: string;
  failed_reason: string;
  attempts_made: number;
  failed_at: string | null;
}

/** Redis's refusal when `maxmemory` is reached under `noeviction`: "OOM command not allowed when used memory > 'maxmemory'". */
const REDIS_FULL = /^OOM command not allowed/;

/** The queue could not take the job (Redis down, or full): the caller must say "try again", not lose the mail. */
export class QueueUnavailableError extends Error {
  /** Redis answered but is at `maxmemory`: it frees up as jobs finish, which takes longer than a reconnect. */
  readonly redisFull: boolean;

  constructor(cause: unknown) {
    const full = REDIS_FULL.test(errorMessage(cause));
    super(full ? 'The summary queue is full (Redis reached its maxmemory); try again later.' : `The summary queue is unavailable (Redis: ${errorMessage(cause)}); try again shortly.`, { cause });
    this.name = 'QueueUnavailableError';
    this.redisFull = full;
  }
}

export class SummaryTimeoutError extends Error {
  constructor(ms: number) {
    super(`The summary was not ready within ${ms} ms (the LLM is slow or down); it is still queued and will be stored when done.`);
    this.name = 'SummaryTimeoutError';
  }
}

/**
 * Finished jobs hold a whole email each, so Redis keeps them for a bounded time and number (BullMQ's `age` is in
 * seconds). A completed job only dedupes a repeated announcement, and the summaries table's primary key does that
 * too once the job is gone (its id can then be reused: the new job finds the stored summary and neither calls the
 * LLM nor notifies again). Failed jobs stay longer, for an admin to see and retry.
 */
export const KEEP_COMPLETED_JOBS = { age: 24 * 3600, count: 1_000 };
export const KEEP_FAILED_JOBS = { age: 7 * 24 * 3600, count: 1_000 };

/** Producer side of summaries: add (idempotently), wait for a result, inspect and retry failures. */
export class SummaryQueue {
  private readonly connection: Redis;
  private readonly queue: Queue<SummaryJobData, SummaryJobResult>;
  private events: QueueEvents | undefined;

  constructor(private readonly options: SummaryQueueOptions) {
    this.connection = redisConnection(options.url, 'producer', options.logger);
    this.queue = new Queue<SummaryJobData, SummaryJobResult>(SUMMARY_QUEUE_NAME, { connection: this.connection, prefix: options.prefix });
    this.queue.on('error', (err) => options.logger.debug({ err: errorMessage(err) }, 'summary queue error'));
  }

  /** Adds the job in a `send` span under `trace` (the webhook's); the job carries that span's context to the worker. */
  async add(email: Omit<SummaryJobData, 'trace_context'>, trace?: Context): Promise<string> {
    const jobId = summaryJobId(email.user_email, email.email_id);
    const { name, options } = sendJobSpan(SUMMARY_QUEUE_NAME, jobId);
    return inSpan(this.options.tracing ?? TRACING_OFF, name, options, trace, async ({ context }) => {
      const carrier = injectTrace(context);
      await this.enqueue(jobId, carrier ? { ...email, trace_context: carrier } : email);
      return jobId;
    });
  }

  private async enqueue(jobId: string, data: SummaryJobData): Promise<void> {
    try {
      await this.queue.add('summarize', data, {
        jobId,
        attempts: this.options.attempts,
        backoff: { type: 'exponential', delay: this.options.backoffMs },
        removeOnComplete: KEEP_COMPLETED_JOBS,
        removeOnFail: KEEP_FAILED_JOBS,
      });
    } catch (error) {
      const unavailable = new QueueUnavailableError(error);
      this.options.logger.warn({ jobId, user: data.user_email, emailId: data.email_id, err: errorMessage(error) }, unavailable.redisFull ? 'summary job not queued: Redis is full' : 'summary job not queued: Redis unavailable');
      throw unavailable;
    }
    // Also for an email announced twice: BullMQ then keeps the existing job, and this line repeats its id.
    this.options.logger.info({ jobId, user: data.user_email, emailId: data.email_id }, 'summary job queued');
  }

  /** Waits for the job's result; on timeout the job goes on (and will still be stored and announced). */
  async waitForResult(jobId: string, timeoutMs: number): Promise<SummaryJobResult> {
    this.events ??= new QueueEvents(SUMMARY_QUEUE_NAME, {
      connection: redisConnection(this.options.url, 'blocking', this.options.logger),
      prefix: this.options.prefix,
    });
    await this.events.waitUntilReady();
    const job = await Job.fromId<SummaryJobData, SummaryJobResult>(this.queue, jobId);
    if (!job) throw new Error(`summary job ${jobId} disappeared`);
    // waitUntilFinished also answers for a job that finished before we asked (it checks Redis, not our copy).
    try {
      return SummaryJobResultSchema.parse(await job.waitUntilFinished(this.events, timeoutMs));
    } catch (error) {
      if (/timed out/i.test(errorMessage(error))) throw new SummaryTimeoutError(timeoutMs);
      throw error;
    }
  }

  async failed(limit = 100): Promise<FailedSummaryJob[]> {
    const jobs = await this.queue.getFailed(0, limit - 1);
    return jobs.map((job) => ({
      id: String(job.id),
      user_email: String(job.data.user_email),
      email_id: String(job.data.email_id),
      subject: String(job.data.subject),
      failed_reason: job.failedReason ?? '',
      attempts_made: job.attemptsMade,
      failed_at: job.finishedOn ? new Date(job.finishedOn).toISOString() : null,
    }));
  }

  /** Puts a failed job back in the queue with a fresh set of attempts; false when no failed job has that id. */
  async retry(jobId: string): Promise<boolean> {
    const job = await Job.fromId(this.queue, jobId);
    if (!job || !(await job.isFailed())) return false;
    await job.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true });
    this.options.logger.info({ jobId, user: String(job.data.user_email), emailId: String(job.data.email_id) }, 'failed summary job retried by an admin');
    return true;
  }

  async counts(): Promise<Record<string, number>> {
    return this.queue.getJobCounts('waiting', 'active', 'delayed', 'completed', 'failed');
  }

  /** Safe to call twice. */
  async close(): Promise<void> {
    await Promise.allSettled([this.events?.close(), this.queue.close()]);
    this.connection.disconnect();
  }
}
