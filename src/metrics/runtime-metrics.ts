import type { Worker } from 'bullmq';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { LlmStreamMetrics } from '../actors/llm-stream.js';
import type { ToolCallMetrics } from '../actors/tool-call.js';
import type { ConversationHub, ConversationHubMetrics } from '../conversations/conversation-hub.js';
import { ConversationState, wireState } from '../machines/conversation-machine.js';
import type { SummaryQueue } from '../queue/summary-queue.js';
import type { SummaryJobData, SummaryJobResult } from '../queue/summary-job.js';

const PREFIX = 'ai_runtime_';

/** A local model answers in tens of milliseconds when warm and in tens of seconds when it loads first. */
const FIRST_TOKEN_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60];
/** Up to the default `mcp.tool_timeout_ms` (30 s), past which a call fails anyway. */
const TOOL_CALL_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const SUMMARY_JOB_BUCKETS = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];
/** A scrape must answer even when Redis hangs; the queue gauge is then left out of that scrape. */
const QUEUE_COUNTS_TIMEOUT_MS = 1_000;

/**
 * The label of a tool name the LLM made up. Names come from the model, so labelling them as given would let it create
 * series without bound.
 */
export const UNKNOWN_TOOL = 'unknown';

export interface RuntimeMetricsOptions {
  /** Whether a connected MCP server offers this tool; other names are labelled `unknown`. */
  isKnownTool: (tool: string) => boolean;
}

/** What is read at scrape time, so that nothing is counted on the paths between scrapes. */
export interface ScrapedSources {
  hub: Pick<ConversationHub, 'conversations'>;
  server: { readonly chatConnections: number };
  /** Absent when summaries are off on this runtime: the queue gauge is then not registered. */
  queue?: Pick<SummaryQueue, 'counts'> | undefined;
  /** Absent when this runtime runs no summary worker. */
  summaryWorker?: Worker<SummaryJobData, SummaryJobResult> | undefined;
}

/**
 * This runtime's Prometheus metrics, on a registry of its own (not prom-client's global one), so that two runtimes in
 * one process each report their own. Event-driven instruments are updated where things happen; gauges of state are
 * read when scraped.
 */
export class RuntimeMetrics implements ConversationHubMetrics, LlmStreamMetrics, ToolCallMetrics {
  readonly registry = new Registry();
  private readonly tokensRelayed: Counter;
  private readonly timeToFirstToken: Histogram;
  private readonly toolCallDuration: Histogram<'tool'>;
  private readonly toolCallErrors: Counter<'tool'>;
  private readonly summaryJobDuration: Histogram<'outcome'>;
  private readonly summaryJobFailures: Counter;
  private readonly rateLimitHits: Counter<'scope'>;

  constructor(private readonly options: RuntimeMetricsOptions) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    this.tokensRelayed = new Counter({ name: `${PREFIX}tokens_relayed_total`, help: 'LLM tokens relayed to conversation subscribers.', registers });
    this.timeToFirstToken = new Histogram({
      name: `${PREFIX}llm_time_to_first_token_seconds`,
      help: 'Seconds from an LLM request to its first streamed token.',
      buckets: FIRST_TOKEN_BUCKETS,
      registers,
    });
    this.toolCallDuration = new Histogram({
      name: `${PREFIX}tool_call_duration_seconds`,
      help: 'Seconds from a tool call to its result, failed calls included, cancelled ones not.',
      labelNames: ['tool'],
      buckets: TOOL_CALL_BUCKETS,
      registers,
    });
    this.toolCallErrors = new Counter({
      name: `${PREFIX}tool_call_errors_total`,
      help: 'Tool calls whose result is an error (the tool failed, its server is down, it timed out or does not exist).',
      labelNames: ['tool'],
      registers,
    });
    this.summaryJobDuration = new Histogram({
      name: `${PREFIX}summary_job_duration_seconds`,
      help: "Seconds a summary job attempt took in this runtime's worker, by outcome (completed or failed).",
      labelNames: ['outcome'],
      buckets: SUMMARY_JOB_BUCKETS,
      registers,
    });
    this.summaryJobFailures = new Counter({
      name: `${PREFIX}summary_job_failures_total`,
      help: 'Failed summary job attempts in this runtime\'s worker (retried with backoff until the attempts run out).',
      registers,
    });
    this.rateLimitHits = new Counter({ name: `${PREFIX}rate_limit_hits_total`, help: 'Requests refused by a rate limit, by scope.', labelNames: ['scope'], registers });
  }

  tokenRelayed(): void {
    this.tokensRelayed.inc();
  }

  firstToken(seconds: number): void {
    this.timeToFirstToken.observe(seconds);
  }

  toolCallFinished(tool: string, seconds: number, failed: boolean): void {
    const labels = { tool: this.options.isKnownTool(tool) ? tool : UNKNOWN_TOOL };
    this.toolCallDuration.observe(labels, seconds);
    if (failed) this.toolCallErrors.inc(labels);
  }

  rateLimitHit(scope: string): void {
    this.rateLimitHits.inc({ scope });
  }

  /** Registers the gauges read at scrape time and listens to the summary worker. Call once. */
  watch({ hub, server, queue, summaryWorker }: ScrapedSources): void {
    const registers = [this.registry];
    new Gauge({
      name: `${PREFIX}connections`,
      help: 'Open chat WebSocket connections.',
      registers,
      collect() {
        this.set(server.chatConnections);
      },
    });
    new Gauge({
      name: `${PREFIX}actors`,
      help: 'Live conversation actors by state.',
      labelNames: ['state'],
      registers,
      collect() {
        const counts = new Map<ConversationState, number>(Object.values(ConversationState).map((state) => [state, 0]));
        for (const conversation of hub.conversations()) {
          const state = wireState(conversation.actor.getSnapshot().value);
          counts.set(state, (counts.get(state) ?? 0) + 1);
        }
        for (const [state, count] of counts) this.set({ state }, count);
      },
    });
    if (queue) {
      new Gauge({
        name: `${PREFIX}summary_queue_jobs`,
        help: 'Summary jobs in the queue (shared by every runtime and worker on this Redis) by state.',
        labelNames: ['state'],
        registers,
        async collect() {
          const counts = await settleWithin(queue.counts(), QUEUE_COUNTS_TIMEOUT_MS);
          // Stale depths would look healthy: with Redis unreachable the series are left out instead.
          this.reset();
          for (const [state, count] of Object.entries(counts ?? {})) this.set({ state }, count);
        },
      });
    }
    summaryWorker?.on('completed', (job) => this.summaryJobFinished('completed', job.processedOn));
    summaryWorker?.on('failed', (job) => {
      this.summaryJobFailures.inc();
      this.summaryJobFinished('failed', job?.processedOn);
    });
  }

  /** The attempt's duration, from when BullMQ made it active; BullMQ's `processedOn` is a wall-clock time in ms. */
  private summaryJobFinished(outcome: 'completed' | 'failed', processedOn: number | undefined): void {
    if (processedOn) this.summaryJobDuration.observe({ outcome }, Math.max(0, Date.now() - processedOn) / 1000);
  }

  /** The text a scraper reads, with the content type prom-client gives it. */
  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}

/** The promise's value, or undefined when it rejects or takes longer than `ms`. */
async function settleWithin<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
  });
  try {
    return await Promise.race([promise.catch(() => undefined), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
