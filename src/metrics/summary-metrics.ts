import type { Worker } from 'bullmq';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { SummaryQueue } from '../queue/summary-queue.js';
import type { SummaryJobData, SummaryJobResult } from '../queue/summary-job.js';
import { settleWithin } from '../settle-within.js';
import { METRIC_PREFIX } from './metrics-registry.js';

const SUMMARY_JOB_BUCKETS = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];
/** A scrape must answer even when Redis hangs; the queue gauge is then left out of that scrape. */
const QUEUE_COUNTS_TIMEOUT_MS = 1_000;

/** What the summary instruments read or listen to; either may be absent (summaries off, or no worker here). */
export interface SummarySources {
  /** Absent when summaries are off here: the queue gauge is then not registered. */
  queue?: Pick<SummaryQueue, 'counts'> | undefined;
  /** Absent when this process runs no summary worker. */
  summaryWorker?: Worker<SummaryJobData, SummaryJobResult> | undefined;
}

/**
 * The summary queue and worker metrics, on a registry given by their owner: a runtime's (next to the conversation
 * metrics) or `npm run worker`'s, which has nothing else of ours.
 */
export class SummaryMetrics {
  private readonly jobDuration: Histogram<'outcome'>;
  private readonly jobFailures: Counter;
  private readonly triaged: Counter<'category' | 'priority'>;

  constructor(private readonly registry: Registry) {
    const registers = [registry];
    this.jobDuration = new Histogram({
      name: `${METRIC_PREFIX}summary_job_duration_seconds`,
      help: "Seconds a summary job attempt took in this runtime's worker, by outcome (completed or failed).",
      labelNames: ['outcome'],
      buckets: SUMMARY_JOB_BUCKETS,
      registers,
    });
    this.jobFailures = new Counter({
      name: `${METRIC_PREFIX}summary_job_failures_total`,
      help: 'Failed summary job attempts in this runtime\'s worker (retried with backoff until the attempts run out).',
      registers,
    });
    this.triaged = new Counter({
      name: `${METRIC_PREFIX}triaged_emails_total`,
      help: "Emails summarized and triaged by this runtime's worker, by category and priority (unknown: the LLM's answer was off the schema twice).",
      labelNames: ['category', 'priority'],
      registers,
    });
  }

  /** Registers the queue gauge, read at scrape time, and listens to the worker. Call once. */
  watch({ queue, summaryWorker }: SummarySources): void {
    if (queue) {
      new Gauge({
        name: `${METRIC_PREFIX}summary_queue_jobs`,
        help: 'Summary jobs in the queue (shared by every runtime and worker on this Redis) by state.',
        labelNames: ['state'],
        registers: [this.registry],
        async collect() {
          const counts = await settleWithin(queue.counts(), QUEUE_COUNTS_TIMEOUT_MS);
          // Stale depths would look healthy: with Redis unreachable the series are left out instead.
          this.reset();
          for (const [state, count] of Object.entries(counts ?? {})) this.set({ state }, count);
        },
      });
    }
    summaryWorker?.on('completed', (job, result) => {
      this.jobFinished('completed', job.processedOn);
      // Counted by the run that stored it: a rerun or a repeated announcement triaged nothing.
      if (result.created) this.triaged.inc({ category: result.category ?? 'unknown', priority: result.priority ?? 'unknown' });
    });
    summaryWorker?.on('failed', (job) => {
      this.jobFailures.inc();
      this.jobFinished('failed', job?.processedOn);
    });
  }

  /** The attempt's duration, from when BullMQ made it active; BullMQ's `processedOn` is a wall-clock time in ms. */
  private jobFinished(outcome: 'completed' | 'failed', processedOn: number | undefined): void {
    if (processedOn) this.jobDuration.observe({ outcome }, Math.max(0, Date.now() - processedOn) / 1000);
  }
}
