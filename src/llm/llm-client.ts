import type { Context } from '@opentelemetry/api';
import type { ChatMessage, ToolCallRequest } from '../conversations/chat-message.js';
import type { ToolDescriptor } from '../mcp/tool-descriptor.js';

/** What a streaming LLM call yields, independent of the provider's wire format. */
export type LlmStreamEvent =
  | { type: 'token'; text: string }
  | { type: 'tool_calls'; calls: Array<Omit<ToolCallRequest, 'id'>> }
  | {
      type: 'done';
      reason: string;
      /** The whole prompt, cached parts included. */
      promptTokens: number;
      completionTokens: number;
      /** Of `promptTokens`, read from the provider's prompt cache (Anthropic); absent where there is none. */
      cacheReadTokens?: number;
      /** Of `promptTokens`, written to the prompt cache by this request (Anthropic). */
      cacheCreationTokens?: number;
      /** Who answered (`anthropic:claude-…`), where several providers are configured. */
      provider?: string;
      /** The model that answered, as the provider names it (it may be more specific than the one asked for). */
      model?: string;
    };

/** How a whole answer (`complete`) ended and what it cost, as the provider reported it. */
export interface LlmAnswerInfo {
  reason: string;
  promptTokens: number;
  completionTokens: number;
  /** The model that answered, as the provider names it. */
  model?: string;
}

export interface LlmChatRequest {
  system: string;
  messages: readonly ChatMessage[];
  tools: readonly ToolDescriptor[];
  /** Aborting it closes the HTTP stream to the provider. */
  signal: AbortSignal;
  /** The trace the call belongs to (its turn's); the call's `chat` span starts under it. Absent: none. */
  trace?: Context;
}

export const LlmStatus = {
  Unknown: 'unknown',
  Ok: 'ok',
  Unreachable: 'unreachable',
  ModelMissing: 'model_missing',
} as const;
export type LlmStatus = (typeof LlmStatus)[keyof typeof LlmStatus];

export interface LlmHealth {
  status: LlmStatus;
  baseUrl: string;
  model: string;
  /** What is wrong and how to fix it, when status is not ok. */
  message?: string;
  checkedAt?: string;
}

export interface LlmCompletionRequest {
  system: string;
  prompt: string;
  /** Overrides the configured model (summaries may use a smaller one). */
  model?: string;
  signal?: AbortSignal;
  /**
   * Structured output: the answer is JSON text meant to match `schema` (Ollama's `format`, OpenAI's `json_schema`
   * response format, Anthropic's equivalent). Meant, not guaranteed: the caller still parses and validates it.
   */
  format?: JsonOutputFormat;
  /** The trace the call belongs to (a summary job, a turn); the call's `chat` span starts under it. */
  trace?: Context;
  /** Told, before `complete` resolves, how the answer ended and what it cost (for its span). */
  onAnswer?: (info: LlmAnswerInfo) => void;
}

export interface JsonOutputFormat {
  /** A short identifier (OpenAI wants one): letters, digits, `_` and `-`. */
  name: string;
  /** A JSON Schema object (e.g. from `z.toJSONSchema`). */
  schema: Record<string, unknown>;
}

export interface LlmClient {
  readonly model: string;
  stream(request: LlmChatRequest): AsyncIterable<LlmStreamEvent>;
  /** One whole answer, no tools, no streaming. Throws the same errors as `stream`. */
  complete(request: LlmCompletionRequest): Promise<string>;
  checkHealth(): Promise<LlmHealth>;
  /**
   * The model's own context window in tokens, as its server reports it (Ollama's `<arch>.context_length`, vLLM's
   * `max_model_len`); undefined when the server reports none. One request, no caching: `PromptBudget` caches and
   * bounds it. Absent: the provider never reports one.
   */
  contextLength?(signal: AbortSignal): Promise<number | undefined>;
  /** The last health check's result, without a request. */
  health(): LlmHealth;
  /** Each configured provider's health, where there are several (fallbacks). */
  healthOfEach?(): Array<{ name: string; health: LlmHealth }>;
  close(): Promise<void>;
}
