import { z } from 'zod';

/** A tool call the LLM asked for. `id` is ours: Ollama does not number its calls. */
export const ToolCallRequestSchema = z.object({
  id: z.string(),
  name: z.string(),
  arguments: z.record(z.string(), z.unknown()),
});
export type ToolCallRequest = z.infer<typeof ToolCallRequestSchema>;

/** What a tool call produced, as the LLM and the client see it. */
export const ToolResultSchema = z.object({
  /** Text for the LLM (MCP text content joined). */
  text: z.string(),
  /** MCP `structuredContent`, for clients that render results (email cards). */
  structured: z.record(z.string(), z.unknown()).optional(),
  isError: z.boolean(),
});
export type ToolResult = z.infer<typeof ToolResultSchema>;

/**
 * One entry of a conversation's history. Stored as JSON per row and parsed back with this schema, so a row written by
 * an older version that no longer fits fails loudly instead of reaching the LLM half-formed.
 */
export const ChatMessageSchema = z.discriminatedUnion('role', [
  z.object({ role: z.literal('user'), content: z.string() }),
  z.object({
    role: z.literal('assistant'),
    content: z.string(),
    toolCalls: z.array(ToolCallRequestSchema).optional(),
    /** Set when the answer was cut short (cancel, error); the text is what the user saw. */
    interrupted: z.boolean().optional(),
    /** Who answered, `provider:model` (with fallbacks configured, not always the first). */
    provider: z.string().optional(),
  }),
  z.object({
    role: z.literal('tool'),
    callId: z.string(),
    toolName: z.string(),
    /** The arguments the call was made with (after approval edits and mailbox pinning), as shown to the user. */
    arguments: z.record(z.string(), z.unknown()),
    result: ToolResultSchema,
  }),
]);
export type ChatMessage = z.infer<typeof ChatMessageSchema>;
export type AssistantMessage = Extract<ChatMessage, { role: 'assistant' }>;
export type ToolMessage = Extract<ChatMessage, { role: 'tool' }>;

/** The `provider` field of an assistant message, from an LLM answer that says who gave it. */
export function answeredBy(answer: { provider?: string }): { provider?: string } {
  return answer.provider ? { provider: answer.provider } : {};
}
