import OpenAI, { APIConnectionError, APIConnectionTimeoutError, APIError, APIUserAbortError } from 'openai';
import { Agent } from 'undici';
import { z } from 'zod';
import type { LlmProviderConfig } from '../config/schema.js';
import { ErrorCode, LlmRequestError, LlmUnavailableError } from '../errors.js';
import { LlmStatus, type LlmChatRequest, type LlmClient, type LlmCompletionRequest, type LlmHealth, type LlmStreamEvent } from './llm-client.js';
import { retryAfterMsOf } from './retry-after.js';
import { ChunkSchema, CompletionSchema, ErrorBodySchema, ToolCallAccumulator, toOpenAiMessages, toOpenAiResponseFormat, toOpenAiTool } from './openai-wire.js';
import { dispatcherFetch } from './dispatcher-fetch.js';

export interface OpenAiClientOptions {
  /** `[llm] api_key` or `OPENAI_API_KEY`; `""` for servers that take none (vLLM, llama.cpp, LM Studio, Ollama). */
  apiKey: string;
}

/** Keep-alive between calls saves a TCP (and TLS) handshake per message; idle sockets are closed well before servers drop them. */
const KEEP_ALIVE_MS = 30_000;
/**
 * Time to the response headers, not to the end of the answer (the SDK clears it once headers arrive). Local servers
 * load the model before they answer, which takes a while for a large one.
 */
const HEADERS_TIMEOUT_MS = 120_000;
const HEALTH_TIMEOUT_MS = 5_000;
/** The SDK will not run without a key; this stands in when there is none, and its header is removed before sending. */
const NO_KEY = 'no-key';

const ModelListSchema = z.array(z.object({ id: z.string() }));
/** vLLM adds `max_model_len` (the window it serves the model with) to each entry; OpenAI and most others don't. */
const ModelWindowsSchema = z.array(z.looseObject({ id: z.string(), max_model_len: z.int().positive().nullish() }));

export class OpenAiClient implements LlmClient {
  readonly model: string;
  private readonly agent = new Agent({ keepAliveTimeout: KEEP_ALIVE_MS, keepAliveMaxTimeout: KEEP_ALIVE_MS });
  private readonly baseUrl: string;
  private readonly openai: OpenAI;
  private lastHealth: LlmHealth;
  private closing: Promise<void> | undefined;

  constructor(
    private readonly config: LlmProviderConfig,
    options: OpenAiClientOptions,
  ) {
    this.model = config.model;
    this.baseUrl = config.base_url.replace(/\/+$/, '');
    this.lastHealth = { status: LlmStatus.Unknown, baseUrl: this.baseUrl, model: this.model };
    this.openai = new OpenAI({
      baseURL: this.baseUrl,
      apiKey: options.apiKey || NO_KEY,
      // A `null` header is dropped by the SDK: keyless servers get no `Authorization` at all rather than a fake one.
      ...(options.apiKey ? {} : { defaultHeaders: { Authorization: null } }),
      // Retries and fallbacks are decided above this client, which sees every provider; the SDK's would double them.
      maxRetries: 0,
      timeout: HEADERS_TIMEOUT_MS,
      fetch: dispatcherFetch(this.agent),
    });
  }

  private unreachable(cause: unknown, why = 'is not reachable'): LlmUnavailableError {
    return new LlmUnavailableError(
      ErrorCode.LlmUnavailable,
      `The OpenAI-compatible server at ${this.baseUrl} ${why}. Start it, or point [llm] base_url at it (with its /v1).`,
      this.baseUrl,
      { cause },
    );
  }

  private modelMissing(detail?: string): LlmUnavailableError {
    return new LlmUnavailableError(
      ErrorCode.ModelNotFound,
      `Model "${this.model}" is not available at ${this.baseUrl}${detail ? ` (${detail})` : ''}. Set [llm] model to one the server serves.`,
      this.baseUrl,
    );
  }

  /** The server's words are kept, except on 401: OpenAI's message there quotes part of the key. */
  private badKey(error: APIError): LlmRequestError {
    return new LlmRequestError(
      `${this.baseUrl} refused the API key (401). Set [llm] api_key or OPENAI_API_KEY to a valid key for this server.`,
      401,
      // Not the SDK error as cause: logs print causes, and its message is the server's.
      { cause: new Error(`401 from ${this.baseUrl}`), retryAfterMs: retryAfterMsOf(error.headers) },
    );
  }

  private translate(error: unknown, signal: AbortSignal | undefined): unknown {
    if (signal?.aborted || error instanceof APIUserAbortError) return error;
    if (error instanceof APIConnectionTimeoutError) {
      return this.noteUnreachable(this.unreachable(error, `sent no answer within ${HEADERS_TIMEOUT_MS / 1000} s`));
    }
    if (error instanceof APIConnectionError) return this.noteUnreachable(this.unreachable(error));
    if (error instanceof APIError) {
      if (error.status === 401) return this.badKey(error);
      const body = ErrorBodySchema.safeParse(error.error);
      const said = body.success ? body.data.message : error.message;
      if (error.status === 404) {
        // A 404 naming no model is a wrong path, most often a base_url without its /v1.
        if ((body.success && body.data.code === 'model_not_found') || /model/i.test(said)) {
          const missing = this.modelMissing(said);
          this.lastHealth = { ...this.lastHealth, status: LlmStatus.ModelMissing, message: missing.message };
          return missing;
        }
        return new LlmRequestError(`${this.baseUrl} answered 404 (${said}): check that [llm] base_url ends in /v1`, 404, { cause: error });
      }
      // No status: the server sent an error event inside a stream that had started fine.
      const status = error.status === undefined ? 'sent an error' : `answered ${error.status}`;
      return new LlmRequestError(`${this.baseUrl} ${status}: ${said}`, error.status, { cause: error, retryAfterMs: retryAfterMsOf(error.headers) });
    }
    if (error instanceof LlmRequestError) return error;
    const cause = error instanceof Error && error.cause instanceof Error ? ` (${error.cause.message})` : '';
    return new LlmRequestError(`The LLM request failed: ${error instanceof Error ? error.message : String(error)}${cause}`, undefined, { cause: error });
  }

  private noteUnreachable(error: LlmUnavailableError): LlmUnavailableError {
    this.lastHealth = { ...this.lastHealth, status: LlmStatus.Unreachable, message: error.message };
    return error;
  }

  private noteOk(): void {
    if (this.lastHealth.status !== LlmStatus.Ok) this.lastHealth = { ...this.lastHealth, status: LlmStatus.Ok, message: undefined };
  }

  async *stream(request: LlmChatRequest): AsyncIterable<LlmStreamEvent> {
    const calls = new ToolCallAccumulator();
    let finishReason: string | undefined;
    let usage = { prompt_tokens: 0, completion_tokens: 0 };
    let answeredBy: string | undefined;
    try {
      const stream = await this.openai.chat.completions.create(
        {
          model: this.model,
          messages: toOpenAiMessages(request.system, request.messages),
          // Left out when empty: some servers refuse `tools: []`.
          ...(request.tools.length ? { tools: request.tools.map(toOpenAiTool) } : {}),
          stream: true,
          stream_options: { include_usage: true },
          temperature: this.config.temperature,
          max_tokens: this.config.max_tokens,
        },
        { signal: request.signal },
      );
      for await (const raw of stream) {
        const chunk = ChunkSchema.parse(raw);
        // Usage comes in its own last chunk with no choices (or, on some servers, with the finish chunk).
        if (chunk.usage) usage = chunk.usage;
        answeredBy ??= chunk.model ?? undefined;
        const choice = chunk.choices[0];
        if (choice === undefined) continue;
        if (choice.delta?.content) yield { type: 'token', text: choice.delta.content };
        if (choice.delta?.tool_calls?.length) calls.add(choice.delta.tool_calls);
        if (choice.finish_reason) {
          finishReason = choice.finish_reason;
          if (calls.size) yield { type: 'tool_calls', calls: calls.drain(finishReason) };
        }
      }
      // The SDK ends the loop quietly when the signal aborts: what came so far is not a whole answer.
      if (request.signal.aborted) return;
      if (calls.size) yield { type: 'tool_calls', calls: calls.drain(finishReason) };
      else if (finishReason === undefined) throw new LlmRequestError(`the stream from ${this.baseUrl} ended without a finish_reason`, undefined);
      this.noteOk();
      yield { type: 'done', reason: finishReason ?? 'tool_calls', promptTokens: usage.prompt_tokens, completionTokens: usage.completion_tokens, ...(answeredBy ? { model: answeredBy } : {}) };
    } catch (error) {
      throw this.translate(error, request.signal);
    }
  }

  async complete(request: LlmCompletionRequest): Promise<string> {
    try {
      const response = await this.openai.chat.completions.create(
        {
          model: request.model ?? this.model,
          messages: toOpenAiMessages(request.system, [{ role: 'user', content: request.prompt }]),
          stream: false,
          temperature: this.config.temperature,
          max_tokens: this.config.max_tokens,
          ...(request.format ? { response_format: toOpenAiResponseFormat(request.format) } : {}),
        },
        { signal: request.signal },
      );
      // With a format this is JSON text, cut short on finish_reason "length": the caller validates.
      const answer = CompletionSchema.parse(response);
      this.noteOk();
      const choice = answer.choices[0];
      request.onAnswer?.({
        reason: choice?.finish_reason ?? 'stop',
        promptTokens: answer.usage?.prompt_tokens ?? 0,
        completionTokens: answer.usage?.completion_tokens ?? 0,
        ...(answer.model ? { model: answer.model } : {}),
      });
      return choice?.message.content ?? '';
    } catch (error) {
      throw this.translate(error, request.signal);
    }
  }

  async checkHealth(): Promise<LlmHealth> {
    const checkedAt = new Date().toISOString();
    const at = { baseUrl: this.baseUrl, model: this.model, checkedAt };
    try {
      const page = await this.openai.models.list({ timeout: HEALTH_TIMEOUT_MS, signal: AbortSignal.timeout(HEALTH_TIMEOUT_MS) });
      const ids = ModelListSchema.parse(page.data).map((m) => m.id);
      this.lastHealth = ids.includes(this.model)
        ? { status: LlmStatus.Ok, ...at }
        : { status: LlmStatus.ModelMissing, ...at, message: this.modelMissing(`it serves ${ids.slice(0, 5).join(', ') || 'none'}`).message };
    } catch (error) {
      // Not every compatible server lists models; one that answers at all is up, and chat requests will tell the rest.
      if (error instanceof APIError && error.status === 404) this.lastHealth = { status: LlmStatus.Ok, ...at };
      else if (error instanceof APIError && error.status === 401) this.lastHealth = { status: LlmStatus.Unreachable, ...at, message: this.badKey(error).message };
      else this.lastHealth = { status: LlmStatus.Unreachable, ...at, message: this.unreachable(error).message };
    }
    return this.lastHealth;
  }

  async contextLength(signal: AbortSignal): Promise<number | undefined> {
    try {
      const page = await this.openai.models.list({ signal });
      return ModelWindowsSchema.parse(page.data).find((m) => m.id === this.model)?.max_model_len ?? undefined;
    } catch (error) {
      // A server without `/models` reports no window: nothing failed.
      if (error instanceof APIError && error.status === 404) return undefined;
      throw this.translate(error, signal);
    }
  }

  health(): LlmHealth {
    return this.lastHealth;
  }

  close(): Promise<void> {
    this.closing ??= this.agent.close();
    return this.closing;
  }
}
