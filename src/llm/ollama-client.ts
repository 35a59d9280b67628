import { Ollama, type Message, type Tool } from 'ollama';
import { Agent } from 'undici';
import { z } from 'zod';
import type { LlmProviderConfig } from '../config/schema.js';
import type { ChatMessage } from '../conversations/chat-message.js';
import { ErrorCode, LlmRequestError, LlmUnavailableError } from '../errors.js';
import type { ToolDescriptor } from '../mcp/tool-descriptor.js';
import { dispatcherFetch } from './dispatcher-fetch.js';
import { untrustedData } from './untrusted-data.js';
import { LlmStatus, type LlmChatRequest, type LlmClient, type LlmCompletionRequest, type LlmHealth, type LlmStreamEvent } from './llm-client.js';

/** The ollama client throws a `ResponseError` (not exported) for non-2xx answers; this is its shape. */
const ResponseErrorShape = z.object({ name: z.literal('ResponseError'), status_code: z.number(), message: z.string() });

/** Chunks are parsed at the edge: a provider that changes its stream shape fails here, not deep in the machine. */
const ChatChunkSchema = z.object({
  model: z.string().optional(),
  message: z
    .object({
      content: z.string().default(''),
      tool_calls: z
        .array(z.object({ function: z.object({ name: z.string(), arguments: z.record(z.string(), z.unknown()).default({}) }) }))
        .optional(),
    })
    .optional(),
  done: z.boolean(),
  done_reason: z.string().optional(),
  prompt_eval_count: z.number().optional(),
  eval_count: z.number().optional(),
});

/** `/api/show`'s `model_info`: GGUF metadata, where `<arch>.context_length` is the window the model was trained with. */
const ShowSchema = z.object({ model_info: z.record(z.string(), z.unknown()).nullish() });
const ContextLengthSchema = z.int().positive();

/** Keep-alive between calls saves a TCP handshake per message; idle sockets are closed well before Ollama's own timeout. */
const KEEP_ALIVE_MS = 30_000;

function toOllamaMessage(message: ChatMessage): Message {
  switch (message.role) {
    case 'user':
      return { role: 'user', content: message.content };
    case 'assistant':
      return {
        role: 'assistant',
        content: message.content,
        ...(message.toolCalls?.length ? { tool_calls: message.toolCalls.map((c) => ({ function: { name: c.name, arguments: c.arguments } })) } : {}),
      };
    case 'tool':
      // What a tool returns (an email's text, a web page) may hold instructions from anyone: it goes in as data.
      return { role: 'tool', tool_name: message.toolName, content: `${message.result.isError ? 'Error: ' : ''}${untrustedData(`tool:${message.toolName}`, message.result.text)}` };
  }
}

function toOllamaTool(tool: ToolDescriptor): Tool {
  // Ollama forwards the JSON Schema to the model's template as is; its TS type is narrower than JSON Schema.
  return { type: 'function', function: { name: tool.name, description: tool.description, parameters: tool.inputSchema as Tool['function']['parameters'] } };
}

function sameModel(installed: string, wanted: string): boolean {
  const norm = (name: string) => (name.includes(':') ? name : `${name}:latest`);
  return norm(installed) === norm(wanted);
}

export class OllamaClient implements LlmClient {
  readonly model: string;
  private readonly agent = new Agent({ keepAliveTimeout: KEEP_ALIVE_MS, keepAliveMaxTimeout: KEEP_ALIVE_MS });
  private readonly fetch = dispatcherFetch(this.agent);
  private readonly baseUrl: string;
  private lastHealth: LlmHealth;
  /** The model's own window once read: `num_ctx` never asks for more (Ollama would cap it, with a warning per load). */
  private modelWindow: number | undefined;

  constructor(private readonly config: LlmProviderConfig) {
    this.model = config.model;
    this.baseUrl = config.base_url.replace(/\/+$/, '');
    this.lastHealth = { status: LlmStatus.Unknown, baseUrl: this.baseUrl, model: this.model };
  }

  /** One ollama instance per call: `ollama.abort()` is per instance, and our signal must reach the fetch itself. */
  private clientFor(signal?: AbortSignal): Ollama {
    const fetch = this.fetch;
    // Our signal alone reaches the fetch: the instance's own (ollama makes one per stream) is only ever aborted by its
    // `abort()`, which nothing here calls; combining both with AbortSignal.any cost a transferable signal per request.
    const boundFetch = (input: string | URL | Request, init?: RequestInit) => fetch(input, { ...init, signal });
    return new Ollama({ host: this.baseUrl, fetch: boundFetch });
  }

  private unreachable(cause: unknown): LlmUnavailableError {
    return new LlmUnavailableError(
      ErrorCode.LlmUnavailable,
      `Ollama is not reachable at ${this.baseUrl}. Start it with \`ollama serve\` (or point OLLAMA_BASE_URL / [llm] base_url at it).`,
      this.baseUrl,
      { cause },
    );
  }

  private modelMissing(): LlmUnavailableError {
    return new LlmUnavailableError(
      ErrorCode.ModelNotFound,
      `Model "${this.model}" is not available in Ollama at ${this.baseUrl}. Run \`ollama pull ${this.model}\` (or set [llm] model).`,
      this.baseUrl,
    );
  }

  private translate(error: unknown, signal: AbortSignal): unknown {
    if (signal.aborted) return error;
    const response = ResponseErrorShape.safeParse(error);
    if (response.success) {
      if (response.data.status_code === 404 && /not found/i.test(response.data.message)) {
        this.lastHealth = { ...this.lastHealth, status: LlmStatus.ModelMissing, message: this.modelMissing().message };
        return this.modelMissing();
      }
      return new LlmRequestError(`Ollama answered ${response.data.status_code}: ${response.data.message}`, response.data.status_code, { cause: error });
    }
    // undici says "fetch failed" when no connection could be made; a stream cut later is "terminated".
    if (error instanceof TypeError && error.message === 'fetch failed') {
      const unreachable = this.unreachable(error);
      this.lastHealth = { ...this.lastHealth, status: LlmStatus.Unreachable, message: unreachable.message };
      return unreachable;
    }
    const cause = error instanceof Error && error.cause instanceof Error ? ` (${error.cause.message})` : '';
    return new LlmRequestError(`The LLM request failed: ${error instanceof Error ? error.message : String(error)}${cause}`, undefined, { cause: error });
  }

  async *stream(request: LlmChatRequest): AsyncIterable<LlmStreamEvent> {
    const messages: Message[] = [{ role: 'system', content: request.system }, ...request.messages.map(toOllamaMessage)];
    try {
      const response = await this.clientFor(request.signal).chat({
        model: this.model,
        messages,
        stream: true,
        ...(this.config.keep_alive !== undefined ? { keep_alive: this.config.keep_alive } : {}),
        ...(request.tools.length ? { tools: request.tools.map(toOllamaTool) } : {}),
        options: { temperature: this.config.temperature, num_predict: this.config.max_tokens, num_ctx: this.numCtx() },
      });
      for await (const raw of response) {
        const chunk = ChatChunkSchema.parse(raw);
        const content = chunk.message?.content ?? '';
        if (content) yield { type: 'token', text: content };
        const calls = chunk.message?.tool_calls;
        if (calls?.length) yield { type: 'tool_calls', calls: calls.map((c) => ({ name: c.function.name, arguments: c.function.arguments })) };
        if (chunk.done) {
          this.lastHealth = { ...this.lastHealth, status: LlmStatus.Ok, message: undefined };
          yield { type: 'done', reason: chunk.done_reason ?? 'stop', promptTokens: chunk.prompt_eval_count ?? 0, completionTokens: chunk.eval_count ?? 0, ...(chunk.model ? { model: chunk.model } : {}) };
          return;
        }
      }
      if (!request.signal.aborted) throw new LlmRequestError('the LLM stream ended without a final chunk', undefined);
    } catch (error) {
      throw this.translate(error, request.signal);
    }
  }

  async complete(request: LlmCompletionRequest): Promise<string> {
    const signal = request.signal ?? new AbortController().signal;
    try {
      const response = await this.clientFor(signal).chat({
        model: request.model ?? this.model,
        messages: [
          { role: 'system', content: request.system },
          { role: 'user', content: request.prompt },
        ],
        stream: false,
        ...(this.config.keep_alive !== undefined ? { keep_alive: this.config.keep_alive } : {}),
        // Ollama takes the JSON Schema itself and constrains sampling to it; the name is only for providers that want one.
        ...(request.format ? { format: request.format.schema } : {}),
        options: { temperature: this.config.temperature, num_predict: this.config.max_tokens, num_ctx: this.numCtx() },
      });
      // With a format this is JSON text, cut short when num_predict ran out (done_reason "length"): the caller validates.
      const answer = ChatChunkSchema.parse(response);
      this.lastHealth = { ...this.lastHealth, status: LlmStatus.Ok, message: undefined };
      request.onAnswer?.({ reason: answer.done_reason ?? 'stop', promptTokens: answer.prompt_eval_count ?? 0, completionTokens: answer.eval_count ?? 0, ...(answer.model ? { model: answer.model } : {}) });
      return answer.message?.content ?? '';
    } catch (error) {
      throw this.translate(error, signal);
    }
  }

  private numCtx(): number {
    return Math.min(this.config.context_size, this.modelWindow ?? Infinity);
  }

  async contextLength(signal: AbortSignal): Promise<number | undefined> {
    try {
      const info = ShowSchema.parse(await this.clientFor(signal).show({ model: this.model })).model_info ?? {};
      const arch = info['general.architecture'];
      // Every architecture names its own key (`llama.context_length`, `qwen2.context_length`, …).
      const key = typeof arch === 'string' ? `${arch}.context_length` : Object.keys(info).find((k) => k.endsWith('.context_length'));
      const length = ContextLengthSchema.safeParse(key === undefined ? undefined : info[key]);
      if (length.success) this.modelWindow = length.data;
      return length.success ? length.data : undefined;
    } catch (error) {
      throw this.translate(error, signal);
    }
  }

  async checkHealth(): Promise<LlmHealth> {
    const checkedAt = new Date().toISOString();
    try {
      const { models } = await this.clientFor(AbortSignal.timeout(5_000)).list();
      const found = models.some((m) => sameModel(m.name, this.model) || sameModel(m.model, this.model));
      this.lastHealth = found
        ? { status: LlmStatus.Ok, baseUrl: this.baseUrl, model: this.model, checkedAt }
        : { status: LlmStatus.ModelMissing, baseUrl: this.baseUrl, model: this.model, checkedAt, message: this.modelMissing().message };
    } catch (error) {
      this.lastHealth = { status: LlmStatus.Unreachable, baseUrl: this.baseUrl, model: this.model, checkedAt, message: this.unreachable(error).message };
    }
    return this.lastHealth;
  }

  health(): LlmHealth {
    return this.lastHealth;
  }

  async close(): Promise<void> {
    await this.agent.close();
  }
}
