import { z } from 'zod';
import { LlmRequestError } from '../errors.js';
import type { LlmStreamEvent } from './llm-client.js';

/** Anthropic sends `null` for the cache counts when caching did not apply; both mean zero here. */
const count = z.number().nullish().transform((n) => n ?? 0);

const UsageSchema = z.object({
  input_tokens: count,
  output_tokens: count,
  cache_read_input_tokens: count,
  cache_creation_input_tokens: count,
});

/**
 * The stream events we act on, parsed at the edge: a provider that changes its stream shape fails here, not deep in the
 * machine. Loose objects, because Anthropic adds fields (and block types) without a new API version.
 */
export const StreamEventSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('message_start'), message: z.object({ model: z.string().optional(), usage: UsageSchema }) }),
  z.object({
    type: z.literal('content_block_start'),
    index: z.number(),
    content_block: z.looseObject({ type: z.string(), id: z.string().optional(), name: z.string().optional(), text: z.string().optional() }),
  }),
  z.object({
    type: z.literal('content_block_delta'),
    index: z.number(),
    delta: z.looseObject({ type: z.string(), text: z.string().optional(), partial_json: z.string().optional() }),
  }),
  z.object({ type: z.literal('content_block_stop'), index: z.number() }),
  z.object({ type: z.literal('message_delta'), delta: z.object({ stop_reason: z.string().nullish() }), usage: UsageSchema.partial() }),
  z.object({ type: z.literal('message_stop') }),
]);
export type StreamEvent = z.infer<typeof StreamEventSchema>;

/** The event types above; anything else (a `ping` the SDK let through, a type added later) is skipped, as the docs ask. */
const KNOWN_TYPES: ReadonlySet<string> = new Set(StreamEventSchema.options.map((o) => o.shape.type.value));

/** A known event is parsed strictly; an unknown type is `undefined`, to be skipped. */
export function parseStreamEvent(raw: unknown): StreamEvent | undefined {
  const type = z.object({ type: z.string() }).safeParse(raw);
  if (type.success && !KNOWN_TYPES.has(type.data.type)) return undefined;
  return StreamEventSchema.parse(raw);
}

interface PendingToolUse {
  name: string;
  json: string[];
}

/** Turns one message's stream events into ours: text as tokens, each `tool_use` block gathered whole. */
export class StreamAccumulator {
  private readonly toolUses = new Map<number, PendingToolUse>();
  private readonly calls: Array<{ name: string; arguments: Record<string, unknown> }> = [];
  private promptTokens = 0;
  private cacheReadTokens = 0;
  private cacheCreationTokens = 0;
  private completionTokens = 0;
  private stopReason = 'end_turn';
  private model: string | undefined;

  /** What to emit for one event; `message_stop` yields the calls (once, together) and `done`. */
  *accept(event: StreamEvent): Generator<LlmStreamEvent> {
    switch (event.type) {
      case 'message_start': {
        const usage = event.message.usage;
        this.model = event.message.model;
        this.cacheReadTokens = usage.cache_read_input_tokens;
        this.cacheCreationTokens = usage.cache_creation_input_tokens;
        // `input_tokens` counts only what came after the last breakpoint; the prompt is all three together.
        this.promptTokens = usage.input_tokens + usage.cache_read_input_tokens + usage.cache_creation_input_tokens;
        this.completionTokens = usage.output_tokens;
        break;
      }
      case 'content_block_start':
        if (event.content_block.type === 'tool_use') {
          if (!event.content_block.name) throw new LlmRequestError('Anthropic sent a tool_use block without a name', undefined);
          this.toolUses.set(event.index, { name: event.content_block.name, json: [] });
        } else if (event.content_block.type === 'text' && event.content_block.text) {
          yield { type: 'token', text: event.content_block.text };
        }
        break;
      case 'content_block_delta':
        if (event.delta.type === 'text_delta' && event.delta.text) yield { type: 'token', text: event.delta.text };
        else if (event.delta.type === 'input_json_delta') this.toolUses.get(event.index)?.json.push(event.delta.partial_json ?? '');
        break;
      case 'content_block_stop': {
        const pending = this.toolUses.get(event.index);
        if (pending === undefined) break;
        this.toolUses.delete(event.index);
        this.calls.push({ name: pending.name, arguments: parseToolInput(pending.name, pending.json.join('')) });
        break;
      }
      case 'message_delta':
        if (event.delta.stop_reason) this.stopReason = event.delta.stop_reason;
        // Cumulative, not a delta: the last one is the total.
        if (event.usage.output_tokens !== undefined) this.completionTokens = event.usage.output_tokens;
        break;
      case 'message_stop':
        if (this.calls.length > 0) yield { type: 'tool_calls', calls: this.calls.splice(0) };
        yield {
          type: 'done',
          reason: this.stopReason,
          promptTokens: this.promptTokens,
          completionTokens: this.completionTokens,
          cacheReadTokens: this.cacheReadTokens,
          cacheCreationTokens: this.cacheCreationTokens,
          ...(this.model ? { model: this.model } : {}),
        };
        break;
    }
  }
}

/** A tool's input arrives as JSON text in pieces; a call with no arguments sends none at all. */
function parseToolInput(tool: string, json: string): Record<string, unknown> {
  if (json.trim() === '') return {};
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch (error) {
    throw new LlmRequestError(`Anthropic sent invalid JSON arguments for tool "${tool}"`, undefined, { cause: error });
  }
  const parsed = z.record(z.string(), z.unknown()).safeParse(value);
  if (!parsed.success) throw new LlmRequestError(`Anthropic sent arguments for tool "${tool}" that are not an object`, undefined);
  return parsed.data;
}
