import { Counter, Gauge, Histogram } from 'prom-client';
import type { LlmStreamMetrics } from '../actors/llm-stream.js';
import type { ToolCallMetrics } from '../actors/tool-call.js';
import type { ConversationHub } from '../conversations/conversation-hub.js';
import type { ConversationHubMetrics } from '../conversations/conversation-hub-options.js';
import { ConversationState, wireState } from '../machines/conversation-machine.js';
import { METRIC_PREFIX as PREFIX, createMetricsRegistry, renderMetrics, type MetricsText } from './metrics-registry.js';
import { SummaryMetrics, type SummarySources } from './summary-metrics.js';

/** A local model answers in tens of milliseconds when warm and in tens of seconds when it loads first. */
const FIRST_TOKEN_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60];
/** Up to the default `mcp.tool_timeout_ms` (30 s), past which a call fails anyway. */
const TOOL_CALL_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/**
 * The label of a tool name the LLM made up. Names come from the model, so labelling them as given would let it create
 * series without bound.
 */
export const UNKNOWN_TOOL = 'unknown';

export interface RuntimeMetricsOptions {
  /** Whether a connected MCP server offers this tool; other names are labelled `unknown`. */
  isKnownTool: (tool: string) => boolean;
}

/** The conversation side, read at scrape time so that nothing is counted on the paths between scrapes. */
export interface ConversationSources {
  hub: Pick<ConversationHub, 'conversations'>;
  server: { readonly chatConnections: number };
}

/**
 * This runtime's Prometheus metrics, on a registry of its own (not prom-client's global one), so that two runtimes in
 * one process each report their own. Event-driven instruments are updated where things happen; gauges of state are
 * read when scraped.
 */
export class RuntimeMetrics implements ConversationHubMetrics, LlmStreamMetrics, ToolCallMetrics {
  readonly registry = createMetricsRegistry();
  private readonly tokensRelayed: Counter;
  private readonly timeToFirstToken: Histogram;
  private readonly toolCallDuration: Histogram<'tool'>;
  private readonly toolCallErrors: Counter<'tool'>;
  private readonly summaries: SummaryMetrics;
  private readonly rateLimitHits: Counter<'scope'>;
  private readonly llmAnswers: Counter<'provider'>;
  private readonly llmTokens: Counter<'provider' | 'kind'>;

  constructor(private readonly options: RuntimeMetricsOptions) {
    const registers = [this.registry];
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
    this.summaries = new SummaryMetrics(this.registry);
    this.llmAnswers = new Counter({ name: `${PREFIX}llm_answers_total`, help: 'LLM requests answered, by the provider that answered (fallbacks included).', labelNames: ['provider'], registers });
    this.llmTokens = new Counter({ name: `${PREFIX}llm_tokens_total`, help: 'Tokens the providers counted, by provider and kind (prompt, completion).', labelNames: ['provider', 'kind'], registers });
    this.rateLimitHits = new Counter({ name: `${PREFIX}rate_limit_hits_total`, help: 'Requests refused by a rate limit, by scope.', labelNames: ['scope'], registers });
  }

  tokenRelayed(): void {
    this.tokensRelayed.inc();
  }

  firstToken(seconds: number): void {
    this.timeToFirstToken.observe(seconds);
  }

  answered(provider: string, promptTokens: number, completionTokens: number): void {
    this.llmAnswers.inc({ provider });
    this.llmTokens.inc({ provider, kind: 'prompt' }, promptTokens);
    this.llmTokens.inc({ provider, kind: 'completion' }, completionTokens);
  }

  toolCallFinished(tool: string, seconds: number, failed: boolean): void {
    const labels = { tool: this.options.isKnownTool(tool) ? tool : UNKNOWN_TOOL };
    this.toolCallDuration.observe(labels, seconds);
    if (failed) this.toolCallErrors.inc(labels);
  }

  rateLimitHit(scope: string): void {
    this.rateLimitHits.inc({ scope });
  }

  /** Registers the connection and actor gauges, read at scrape time. Call once. */
  watchConversations({ hub, server }: ConversationSources): void {
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
  }

  /** Registers the queue gauge and listens to this runtime's summary worker, when there are. Call once. */
  watchSummaries(sources: SummarySources): void {
    this.summaries.watch(sources);
  }

  /** The text a scraper reads. */
  render(): Promise<MetricsText> {
    return renderMetrics(this.registry);
  }
}
