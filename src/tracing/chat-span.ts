import { SpanKind, type Attributes, type Context, type Span } from '@opentelemetry/api';
import { ATTR_SERVER_ADDRESS, ATTR_SERVER_PORT } from '@opentelemetry/semantic-conventions';
import type { LlmAnswerInfo } from '../llm/llm-client.js';
import { GenAiAttr, GenAiOperation } from './gen-ai-attributes.js';
import type { Tracing } from './setup-tracing.js';
import { conversationIdOf } from './turn-spans.js';

/** Who a `chat` span talks to: fixed per configured provider, so computed once. */
export interface ChatTarget {
  /** `gen_ai.provider.name`: `ollama`, `openai` or `anthropic` (the conventions' values where they have one). */
  provider: string;
  /** The provider's base URL, for `server.address` and `server.port`. */
  baseUrl: string;
  maxTokens: number;
  /** Absent where the client does not send one. */
  temperature?: number;
}

/** `server.address` and `server.port` of a base URL, with the scheme's port when it names none. */
export function serverAttributes(baseUrl: string): Attributes {
  const url = new URL(baseUrl);
  const port = url.port ? Number(url.port) : url.protocol === 'https:' ? 443 : 80;
  return { [ATTR_SERVER_ADDRESS]: url.hostname, [ATTR_SERVER_PORT]: port };
}

/**
 * Starts a `chat {model}` span (kind CLIENT: the model answers over HTTP) under `parent`, with what the conventions ask
 * for at creation (operation, provider, model, server) so that samplers can see them.
 */
export function startChatSpan(tracing: Tracing, target: ChatTarget & { server: Attributes }, model: string, options: { stream: boolean; json?: boolean; parent: Context | undefined }): Span {
  const conversationId = conversationIdOf(options.parent);
  return tracing.tracer.startSpan(
    `${GenAiOperation.Chat} ${model}`,
    {
      kind: SpanKind.CLIENT,
      attributes: {
        [GenAiAttr.OperationName]: GenAiOperation.Chat,
        [GenAiAttr.ProviderName]: target.provider,
        [GenAiAttr.RequestModel]: model,
        [GenAiAttr.RequestMaxTokens]: target.maxTokens,
        ...(target.temperature !== undefined ? { [GenAiAttr.RequestTemperature]: target.temperature } : {}),
        ...(options.stream ? { [GenAiAttr.RequestStream]: true } : {}),
        ...(options.json ? { [GenAiAttr.OutputType]: 'json' } : {}),
        ...(conversationId ? { [GenAiAttr.ConversationId]: conversationId } : {}),
        ...target.server,
      },
    },
    options.parent,
  );
}

/** What the provider said about the answer: why it ended, what it cost, which model gave it. */
export function recordAnswer(span: Span, answer: LlmAnswerInfo & { cacheReadTokens?: number; cacheCreationTokens?: number }): void {
  span.setAttributes({
    [GenAiAttr.ResponseFinishReasons]: [answer.reason],
    [GenAiAttr.UsageInputTokens]: answer.promptTokens,
    [GenAiAttr.UsageOutputTokens]: answer.completionTokens,
    ...(answer.model ? { [GenAiAttr.ResponseModel]: answer.model } : {}),
    ...(answer.cacheReadTokens !== undefined ? { [GenAiAttr.UsageCacheReadInputTokens]: answer.cacheReadTokens } : {}),
    ...(answer.cacheCreationTokens !== undefined ? { [GenAiAttr.UsageCacheCreationInputTokens]: answer.cacheCreationTokens } : {}),
  });
}
