import type { JSONSchema } from 'openai/lib/jsonschema';
import { toStrictJsonSchema } from 'openai/lib/transform';
import type { ChatCompletionMessageParam, ChatCompletionTool } from 'openai/resources/chat/completions';
import type { ResponseFormatJSONSchema } from 'openai/resources/shared';
import { z } from 'zod';
import type { ChatMessage } from '../conversations/chat-message.js';
import { LlmRequestError } from '../errors.js';
import type { ToolDescriptor } from '../mcp/tool-descriptor.js';
import type { JsonOutputFormat, LlmStreamEvent } from './llm-client.js';
import { untrustedData } from './untrusted-data.js';

/** How our history and tools look on the Chat Completions wire, and how its streamed chunks are read back. */

export type RequestedCall = Extract<LlmStreamEvent, { type: 'tool_calls' }>['calls'][number];

// Nullish throughout: compatible servers (vLLM, llama.cpp, Ollama) send `null` where OpenAI omits a field.
const ToolCallDeltaSchema = z.object({
  // Required by the spec; some servers leave it out when they send each call whole.
  index: z.number().int().nonnegative().nullish(),
  id: z.string().nullish(),
  function: z.object({ name: z.string().nullish(), arguments: z.string().nullish() }).nullish(),
});
type ToolCallDelta = z.infer<typeof ToolCallDeltaSchema>;

const UsageSchema = z.object({ prompt_tokens: z.number(), completion_tokens: z.number() });

/** A `chat.completion.chunk`, parsed at the edge: a server that changes the shape fails here, not in the machine. */
export const ChunkSchema = z.object({
  model: z.string().nullish(),
  choices: z
    .array(
      z.object({
        delta: z.object({ content: z.string().nullish(), tool_calls: z.array(ToolCallDeltaSchema).nullish() }).nullish(),
        finish_reason: z.string().nullish(),
      }),
    )
    .default([]),
  usage: UsageSchema.nullish(),
});

/** A non-streaming `chat.completion`, for `complete()`. */
export const CompletionSchema = z.object({
  model: z.string().nullish(),
  choices: z.array(z.object({ message: z.object({ content: z.string().nullish() }), finish_reason: z.string().nullish() })).min(1),
  usage: UsageSchema.nullish(),
});

/** The `error` object of an OpenAI error body (`{"error":{"message","type","code"}}`). */
export const ErrorBodySchema = z.object({ message: z.string(), code: z.union([z.string(), z.number()]).nullish() });

export function toOpenAiMessages(system: string, messages: readonly ChatMessage[]): ChatCompletionMessageParam[] {
  return [{ role: 'system', content: system }, ...messages.map(toOpenAiMessage)];
}

function toOpenAiMessage(message: ChatMessage): ChatCompletionMessageParam {
  switch (message.role) {
    case 'user':
      return { role: 'user', content: message.content };
    case 'assistant':
      if (!message.toolCalls?.length) return { role: 'assistant', content: message.content };
      return {
        role: 'assistant',
        // `null`, not "": some servers' chat templates render an empty string as an empty turn before the calls.
        content: message.content || null,
        // Our ids, not the server's: the tool messages below answer these, and the history outlives any server.
        tool_calls: message.toolCalls.map((c) => ({ id: c.id, type: 'function', function: { name: c.name, arguments: JSON.stringify(c.arguments) } })),
      };
    case 'tool':
      // What a tool returns (an email's text, a web page) may hold instructions from anyone: it goes in as data.
      return {
        role: 'tool',
        tool_call_id: message.callId,
        content: `${message.result.isError ? 'Error: ' : ''}${untrustedData(`tool:${message.toolName}`, message.result.text)}`,
      };
  }
}

export function toOpenAiTool(tool: ToolDescriptor): ChatCompletionTool {
  return { type: 'function', function: { name: tool.name, description: tool.description, parameters: tool.inputSchema } };
}

/**
 * Structured output as Chat Completions carries it. Strict mode (constrained decoding on OpenAI) needs every object
 * closed (`additionalProperties: false`) and every property required; the SDK's own converter (the one its
 * `zodResponseFormat` uses) closes open objects and turns optional-but-nullable fields into required ones, changes
 * that only narrow the schema, so a strict answer still matches the caller's schema. A schema it cannot represent
 * exactly (an optional field that is not nullable, an open record) goes as given with `strict: false`: the model is
 * still guided by it, nothing is silently changed, and the caller validates either way. Compatible servers (vLLM,
 * llama.cpp, Ollama's /v1) turn the schema into a grammar by their own rules, whatever `strict` says.
 */
export function toOpenAiResponseFormat(format: JsonOutputFormat): ResponseFormatJSONSchema {
  const strict = strictSchemaOf(format.schema);
  return {
    type: 'json_schema',
    json_schema: strict ? { name: format.name, schema: strict, strict: true } : { name: format.name, schema: format.schema, strict: false },
  };
}

function strictSchemaOf(schema: Record<string, unknown>): Record<string, unknown> | undefined {
  try {
    // The SDK types JSON Schema narrowly; it copies the input and checks the shape itself, throwing where it cannot comply.
    return { ...toStrictJsonSchema(schema as JSONSchema) };
  } catch {
    return undefined;
  }
}

/**
 * Tool calls arrive as deltas keyed by `index`: id and name first, then the JSON arguments in fragments. They are
 * only usable once the server says the answer is finished, so they are gathered here and handed over whole.
 */
export class ToolCallAccumulator {
  private readonly calls = new Map<number, { name: string; args: string }>();
  private lastIndex = -1;

  add(deltas: readonly ToolCallDelta[]): void {
    for (const delta of deltas) {
      const index = delta.index ?? (delta.id || this.lastIndex < 0 ? this.lastIndex + 1 : this.lastIndex);
      this.lastIndex = Math.max(this.lastIndex, index);
      const call = this.calls.get(index) ?? { name: '', args: '' };
      // Some servers repeat the name in every delta; it is never split, so the first whole one wins.
      if (delta.function?.name && !call.name) call.name = delta.function.name;
      call.args += delta.function?.arguments ?? '';
      this.calls.set(index, call);
    }
  }

  get size(): number {
    return this.calls.size;
  }

  /** The gathered calls in index order, arguments parsed; empties the accumulator. */
  drain(finishReason: string | undefined): RequestedCall[] {
    const ordered = [...this.calls.entries()].sort(([a], [b]) => a - b).map(([, call]) => call);
    this.calls.clear();
    this.lastIndex = -1;
    return ordered.map((call) => ({ name: call.name, arguments: parseArguments(call.name, call.args, finishReason) }));
  }
}

/**
 * The model wrote the arguments, so they may not be JSON. Running a tool on `{}` instead could do something the model
 * never asked for; failing the request says what went wrong and leaves the history unchanged.
 */
function parseArguments(name: string, text: string, finishReason: string | undefined): Record<string, unknown> {
  if (!name) throw new LlmRequestError('The LLM streamed a tool call without a function name', undefined);
  // llama.cpp and some others send nothing at all for a tool without parameters.
  if (text.trim() === '') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    const cut = finishReason === 'length' ? ' (the answer hit [llm] max_tokens before they were complete)' : '';
    throw new LlmRequestError(`The LLM asked for tool "${name}" with arguments that are not valid JSON${cut}`, undefined, { cause: error });
  }
  const record = z.record(z.string(), z.unknown()).safeParse(parsed);
  if (!record.success) throw new LlmRequestError(`The LLM asked for tool "${name}" with arguments that are not a JSON object`, undefined);
  return record.data;
}
