import { transformJSONSchema } from '@anthropic-ai/sdk/lib/transform-json-schema';
import type { ContentBlockParam, MessageParam, OutputConfig, TextBlockParam, Tool } from '@anthropic-ai/sdk/resources/messages';
import type { ChatMessage } from '../conversations/chat-message.js';
import type { ToolDescriptor } from '../mcp/tool-descriptor.js';
import type { JsonOutputFormat } from './llm-client.js';
import { untrustedData } from './untrusted-data.js';

/**
 * A cache breakpoint: everything up to and including the marked block is cached by Anthropic for ~5 minutes, so the
 * next request with the same prefix skips its prefill (cheaper, and the first token comes sooner).
 */
const CACHE_BREAKPOINT = { type: 'ephemeral' } as const;

/**
 * The system prompt as one cached block. The prefix order is tools → system → messages, so this breakpoint covers the
 * tool definitions as well: the part that is the same on every turn of a conversation.
 */
export function toAnthropicSystem(system: string): TextBlockParam[] {
  return [{ type: 'text', text: system, cache_control: CACHE_BREAKPOINT }];
}

/**
 * Tool definitions; the last one carries a breakpoint of its own, so the tools stay cached when the system prompt
 * changes (it names the date) and another breakpoint is free for the history later.
 */
export function toAnthropicTools(tools: readonly ToolDescriptor[]): Tool[] {
  return tools.map((tool, i) => ({
    name: tool.name,
    description: tool.description,
    // MCP gives a JSON Schema object; the SDK's type only insists on `type: "object"`, which MCP guarantees.
    input_schema: { ...tool.inputSchema, type: 'object' },
    ...(i === tools.length - 1 ? { cache_control: CACHE_BREAKPOINT } : {}),
  }));
}

/** One history entry as content blocks, with the role it must be sent under; empty text blocks are refused by the API. */
function toBlocks(message: ChatMessage): { role: 'user' | 'assistant'; blocks: ContentBlockParam[] } {
  switch (message.role) {
    case 'user':
      return { role: 'user', blocks: message.content ? [{ type: 'text', text: message.content }] : [] };
    case 'assistant':
      return {
        role: 'assistant',
        blocks: [
          ...(message.content ? [{ type: 'text' as const, text: message.content }] : []),
          // Our ids, not Anthropic's: the history is provider-neutral, and each result names the call by this id.
          ...(message.toolCalls ?? []).map((call) => ({ type: 'tool_use' as const, id: call.id, name: call.name, input: call.arguments })),
        ],
      };
    case 'tool':
      // What a tool returns (an email's text, a web page) may hold instructions from anyone: it goes in as data.
      return {
        role: 'user',
        blocks: [{ type: 'tool_result', tool_use_id: message.callId, content: untrustedData(`tool:${message.toolName}`, message.result.text), is_error: message.result.isError }],
      };
  }
}

/**
 * The history as Messages API turns. The API wants user and assistant to alternate, and all results of one step in
 * the user message right after the calls: consecutive entries of the same role are merged into one message, tool
 * results first (the API refuses text before a `tool_result`). An entry with nothing to say (an answer cancelled
 * before its first token) is left out rather than sent empty, which the API also refuses.
 */
export function toAnthropicMessages(messages: readonly ChatMessage[]): MessageParam[] {
  const out: Array<{ role: 'user' | 'assistant'; content: ContentBlockParam[] }> = [];
  for (const message of messages) {
    const { role, blocks } = toBlocks(message);
    if (blocks.length === 0) continue;
    const last = out.at(-1);
    if (last?.role === role) last.content.push(...blocks);
    else out.push({ role, content: [...blocks] });
  }
  for (const message of out) {
    if (message.role !== 'user') continue;
    const results = message.content.filter((b) => b.type === 'tool_result');
    if (results.length > 0) message.content = [...results, ...message.content.filter((b) => b.type !== 'tool_result')];
  }
  return out;
}

/**
 * Structured output, generally available in the Messages API the SDK speaks (`output_config.format`, no beta header):
 * the answer is one text block of JSON decoded under the schema, rather than a forced tool call whose input we would
 * have to re-serialize. The API takes a subset of JSON Schema (objects closed, no length or range constraints); the
 * SDK's own transform (the one its `jsonSchemaOutputFormat` helper applies) closes objects and moves the constraints it
 * cannot enforce into descriptions, so the model still sees them and the caller's validation still checks them. It
 * throws on a schema with no type at some level, a caller's bug that is better seen before any request.
 */
export function toAnthropicOutputConfig(format: JsonOutputFormat): OutputConfig {
  return { format: { type: 'json_schema', schema: transformJSONSchema(format.schema) } };
}
