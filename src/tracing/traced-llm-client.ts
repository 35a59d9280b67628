import type { Attributes } from '@opentelemetry/api';
import type { LlmChatRequest, LlmClient, LlmCompletionRequest, LlmHealth, LlmStreamEvent } from '../llm/llm-client.js';
import { TextBuilder } from '../conversations/text-builder.js';
import { recordAnswer, serverAttributes, startChatSpan, type ChatTarget } from './chat-span.js';
import { GenAiAttr } from './gen-ai-attributes.js';
import { inputMessages, outputMessages, promptMessages, systemInstructions } from './gen-ai-content.js';
import type { Tracing } from './setup-tracing.js';
import { CANCELLED, markError, markFailed } from './span-status.js';

/**
 * One provider's client with a `chat {model}` span around each call, under the call's `trace`. Each provider of a
 * fallback chain is wrapped on its own, so a turn that fell back shows the failed call and the one that answered.
 * Only used with tracing on: off, the client is not wrapped at all, and a token costs no extra step.
 */
export class TracedLlmClient implements LlmClient {
  private readonly target: ChatTarget & { server: Attributes };

  constructor(
    private readonly inner: LlmClient,
    target: ChatTarget,
    private readonly tracing: Tracing,
  ) {
    this.target = { ...target, server: serverAttributes(target.baseUrl) };
  }

  get model(): string {
    return this.inner.model;
  }

  async *stream(request: LlmChatRequest): AsyncIterable<LlmStreamEvent> {
    const span = startChatSpan(this.tracing, this.target, this.inner.model, { stream: true, parent: request.trace });
    const capture = this.tracing.captureContent;
    if (capture) span.setAttributes({ [GenAiAttr.SystemInstructions]: systemInstructions(request.system), [GenAiAttr.InputMessages]: inputMessages(request.messages) });
    const startedAt = performance.now();
    let firstChunk = true;
    let ended = false;
    const text = capture ? new TextBuilder() : undefined;
    const calls: Array<{ name: string; arguments: unknown }> = [];
    try {
      for await (const event of this.inner.stream(request)) {
        if (firstChunk && event.type !== 'done') {
          firstChunk = false;
          span.setAttribute(GenAiAttr.ResponseTimeToFirstChunk, (performance.now() - startedAt) / 1000);
        }
        if (event.type === 'token') text?.append(event.text);
        else if (event.type === 'tool_calls') {
          if (capture) calls.push(...event.calls);
        } else {
          recordAnswer(span, event);
          if (capture) span.setAttribute(GenAiAttr.OutputMessages, outputMessages(text?.toString() ?? '', calls, event.reason));
          ended = true;
        }
        yield event;
      }
    } catch (error) {
      if (!request.signal.aborted) markError(span, error);
      throw error;
    } finally {
      // Here also when the caller stops reading (a cancelled turn): the span ends with the stream.
      if (!ended && request.signal.aborted) markFailed(span, CANCELLED);
      span.end();
    }
  }

  async complete(request: LlmCompletionRequest): Promise<string> {
    const model = request.model ?? this.inner.model;
    const span = startChatSpan(this.tracing, this.target, model, { stream: false, json: request.format !== undefined, parent: request.trace });
    const capture = this.tracing.captureContent;
    if (capture) span.setAttributes({ [GenAiAttr.SystemInstructions]: systemInstructions(request.system), [GenAiAttr.InputMessages]: promptMessages(request.prompt) });
    let reason = 'stop';
    try {
      const answer = await this.inner.complete({
        ...request,
        onAnswer: (info) => {
          reason = info.reason;
          recordAnswer(span, info);
          request.onAnswer?.(info);
        },
      });
      if (capture) span.setAttribute(GenAiAttr.OutputMessages, outputMessages(answer, [], reason));
      return answer;
    } catch (error) {
      if (request.signal?.aborted) markFailed(span, CANCELLED);
      else markError(span, error);
      throw error;
    } finally {
      span.end();
    }
  }

  checkHealth(): Promise<LlmHealth> {
    return this.inner.checkHealth();
  }

  contextLength(signal: AbortSignal): Promise<number | undefined> {
    return this.inner.contextLength?.(signal) ?? Promise.resolve(undefined);
  }

  health(): LlmHealth {
    return this.inner.health();
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
