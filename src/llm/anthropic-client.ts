import Anthropic, { APIError, APIUserAbortError } from '@anthropic-ai/sdk';
import { Agent } from 'undici';
import { z } from 'zod';
import type { LlmProviderConfig } from '../config/schema.js';
import { ErrorCode, LlmRequestError, LlmUnavailableError } from '../errors.js';
import { anthropicKeyRefused, anthropicModelMissing, anthropicUnreachable, translateAnthropicError, type AnthropicErrorContext } from './anthropic-errors.js';
import { toAnthropicMessages, toAnthropicOutputConfig, toAnthropicSystem, toAnthropicTools } from './anthropic-messages.js';
import { parseStreamEvent, StreamAccumulator } from './anthropic-stream.js';
import { LlmStatus, type LlmChatRequest, type LlmClient, type LlmCompletionRequest, type LlmHealth, type LlmStreamEvent } from './llm-client.js';
import { dispatcherFetch } from './dispatcher-fetch.js';

/**
 * Until the response headers arrive. The SDK's timer stops there, so a long answer is not cut; a stream that stalls
 * after its headers is the caller's to cancel (the conversation's cancel, or its own signal).
 */
const REQUEST_TIMEOUT_MS = 60_000;
/** `complete()` waits for the whole answer in one response, so its timer covers generation too. */
const COMPLETE_TIMEOUT_MS = 300_000;
const HEALTH_TIMEOUT_MS = 5_000;
/** Keep-alive between calls saves a TLS handshake per message; idle sockets go well before Anthropic's edge drops them. */
const KEEP_ALIVE_MS = 30_000;

const CompletionSchema = z.object({
  model: z.string().optional(),
  content: z.array(z.looseObject({ type: z.string(), text: z.string().optional() })),
  stop_reason: z.string().nullish(),
  usage: z.object({ input_tokens: z.number().nullish(), output_tokens: z.number().nullish(), cache_read_input_tokens: z.number().nullish(), cache_creation_input_tokens: z.number().nullish() }).optional(),
});

export interface AnthropicClientOptions {
  /** Resolved by the factory from `[llm] api_key` or `ANTHROPIC_API_KEY`; never logged. */
  apiKey: string;
}

/**
 * The Messages API through the official SDK, with the prompt prefix (tools + system) marked for caching.
 *
 * `[llm] temperature` is not sent: API version 2026-10-21 (the one SDK 1.x speaks) dropped the sampling parameters,
 * and the SDK's request type no longer has them.
 */
export class AnthropicClient implements LlmClient {
  readonly model: string;
  private readonly agent = new Agent({ keepAliveTimeout: KEEP_ALIVE_MS, keepAliveMaxTimeout: KEEP_ALIVE_MS });
  private readonly sdk: Anthropic;
  private readonly baseUrl: string;
  private lastHealth: LlmHealth;
  private closed = false;

  constructor(
    private readonly config: LlmProviderConfig,
    options: AnthropicClientOptions,
  ) {
    this.model = config.model;
    this.baseUrl = config.base_url.replace(/\/+$/, '');
    this.lastHealth = { status: LlmStatus.Unknown, baseUrl: this.baseUrl, model: this.model };
    this.sdk = new Anthropic({
      apiKey: options.apiKey,
      baseURL: this.baseUrl,
      // Retries and fallbacks are decided above this client, with the status and retry-after it keeps on the error;
      // SDK retries underneath would multiply them and hide the first failure.
      maxRetries: 0,
      timeout: REQUEST_TIMEOUT_MS,
      // The SDK's own console logging would print around our logger; errors reach the caller instead.
      logLevel: 'off',
      fetch: dispatcherFetch(this.agent),
    });
  }

  private get context(): AnthropicErrorContext {
    return { baseUrl: this.baseUrl, model: this.model, timeoutMs: REQUEST_TIMEOUT_MS };
  }

  private translate(error: unknown, signal: AbortSignal | undefined): unknown {
    if (signal?.aborted || error instanceof APIUserAbortError) return error;
    const translated = translateAnthropicError(error, this.context);
    if (translated instanceof LlmUnavailableError) {
      const status = translated.code === ErrorCode.ModelNotFound ? LlmStatus.ModelMissing : LlmStatus.Unreachable;
      this.lastHealth = { ...this.lastHealth, status, message: translated.message };
    }
    return translated;
  }

  private markOk(): void {
    this.lastHealth = { ...this.lastHealth, status: LlmStatus.Ok, message: undefined };
  }

  async *stream(request: LlmChatRequest): AsyncIterable<LlmStreamEvent> {
    try {
      const events = await this.sdk.messages.create(
        {
          model: this.model,
          system: toAnthropicSystem(request.system),
          messages: toAnthropicMessages(request.messages),
          ...(request.tools.length ? { tools: toAnthropicTools(request.tools) } : {}),
          max_tokens: this.config.max_tokens,
          stream: true,
        },
        // The SDK aborts the fetch (headers and body) when this fires: the HTTP stream closes, not just our loop.
        { signal: request.signal },
      );
      const accumulator = new StreamAccumulator();
      for await (const raw of events) {
        // Events the SDK had already buffered still come after an abort; the caller asked for no more.
        if (request.signal.aborted) return;
        const event = parseStreamEvent(raw);
        if (event === undefined) continue;
        for (const out of accumulator.accept(event)) {
          if (out.type === 'done') this.markOk();
          yield out;
          if (out.type === 'done') return;
        }
      }
      // The SDK ends quietly when the stream is aborted; anything else without message_stop is a cut connection.
      if (!request.signal.aborted) throw new LlmRequestError('the Anthropic stream ended without message_stop', undefined);
    } catch (error) {
      throw this.translate(error, request.signal);
    }
  }

  async complete(request: LlmCompletionRequest): Promise<string> {
    // Outside the try: a schema the API cannot take is the caller's bug, not a provider failure to translate.
    const outputConfig = request.format ? toAnthropicOutputConfig(request.format) : undefined;
    try {
      const message = await this.sdk.messages.create(
        {
          model: request.model ?? this.model,
          system: toAnthropicSystem(request.system),
          messages: [{ role: 'user', content: request.prompt }],
          max_tokens: this.config.max_tokens,
          ...(outputConfig ? { output_config: outputConfig } : {}),
        },
        { timeout: COMPLETE_TIMEOUT_MS, ...(request.signal ? { signal: request.signal } : {}) },
      );
      const { content, model, stop_reason: reason, usage } = CompletionSchema.parse(message);
      this.markOk();
      // As in the stream: the prompt is what came after the cache breakpoint plus what was read from or written to it.
      const promptTokens = (usage?.input_tokens ?? 0) + (usage?.cache_read_input_tokens ?? 0) + (usage?.cache_creation_input_tokens ?? 0);
      request.onAnswer?.({ reason: reason ?? 'end_turn', promptTokens, completionTokens: usage?.output_tokens ?? 0, ...(model ? { model } : {}) });
      // With a format this is JSON text, cut short on stop_reason "max_tokens" or not JSON on "refusal": the caller validates.
      return content.flatMap((block) => (block.type === 'text' && block.text ? [block.text] : [])).join('');
    } catch (error) {
      throw this.translate(error, request.signal);
    }
  }

  /** `GET /v1/models/{model}`: one cheap call that checks the key, the network and the model (aliases included). */
  async checkHealth(): Promise<LlmHealth> {
    const checkedAt = new Date().toISOString();
    const base = { baseUrl: this.baseUrl, model: this.model, checkedAt };
    try {
      await this.sdk.models.retrieve(this.model, {}, { timeout: HEALTH_TIMEOUT_MS });
      this.lastHealth = { ...base, status: LlmStatus.Ok };
    } catch (error) {
      const status = error instanceof APIError ? error.status : undefined;
      if (status === 404) this.lastHealth = { ...base, status: LlmStatus.ModelMissing, message: anthropicModelMissing(this.context).message };
      // A refused key is as good as unreachable for the runtime: no answer will come until the key is fixed.
      else if (status === 401 || status === 403) this.lastHealth = { ...base, status: LlmStatus.Unreachable, message: anthropicKeyRefused(status, error).message };
      else if (status !== undefined) this.lastHealth = { ...base, status: LlmStatus.Unreachable, message: `Anthropic answered ${status} to a health check at ${this.baseUrl}.` };
      else this.lastHealth = { ...base, status: LlmStatus.Unreachable, message: anthropicUnreachable(this.context, error).message };
    }
    return this.lastHealth;
  }

  health(): LlmHealth {
    return this.lastHealth;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.agent.close();
  }
}
