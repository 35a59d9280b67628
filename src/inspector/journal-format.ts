import { z } from 'zod';
import { ApprovalGrantsSchema, GrantTargetSchema } from '../conversations/approval-grants.js';
import { ChatMessageSchema, ToolCallRequestSchema, ToolResultSchema } from '../conversations/chat-message.js';
import { BatchCallSchema } from '../conversations/tool-batch.js';
import { ErrorCode } from '../errors.js';
import type { ConversationEvent, ConversationInput } from '../machines/conversation-machine.js';

/**
 * What a journal record is: a `start` record holding the actor's input, or one event the conversation actor received.
 * The schemas mirror the machine's event types, so an export can be checked before anything is replayed.
 */

export const START_RECORD = 'start';

const args = z.record(z.string(), z.unknown());

export const ConversationInputSchema = z.object({
  conversationId: z.string().min(1),
  userEmail: z.string(),
  messages: z.array(ChatMessageSchema),
  maxToolSteps: z.int().positive(),
  // A restored actor's decisions: without them a replay of a restored approval would not start where the actor did.
  grants: ApprovalGrantsSchema.optional(),
  pendingBatch: z.array(BatchCallSchema).optional(),
}) satisfies z.ZodType<ConversationInput>;

type EventSchemas = { [K in ConversationEvent['type']]: z.ZodType<Extract<ConversationEvent, { type: K }>> };

export const EVENT_SCHEMAS: EventSchemas = {
  CHAT: z.object({ type: z.literal('CHAT'), text: z.string() }),
  PROPOSE: z.object({ type: z.literal('PROPOSE'), text: z.string(), call: BatchCallSchema.pick({ id: true, name: true, arguments: true, target: true }) }),
  CANCEL: z.object({ type: z.literal('CANCEL') }),
  APPROVE: z.object({ type: z.literal('APPROVE'), callId: z.string(), arguments: args.optional(), always: z.boolean().optional() }),
  REJECT: z.object({ type: z.literal('REJECT'), callId: z.string(), reason: z.string().optional() }),
  'LLM.FIRST_TOKEN': z.object({ type: z.literal('LLM.FIRST_TOKEN') }),
  'LLM.DONE': z.object({
    type: z.literal('LLM.DONE'),
    content: z.string(),
    toolCalls: z.array(ToolCallRequestSchema.extend({ requiresApproval: z.boolean(), target: GrantTargetSchema.optional() })),
    completionTokens: z.number(),
  }),
  'LLM.ERROR': z.object({ type: z.literal('LLM.ERROR'), code: z.enum(ErrorCode), message: z.string(), partial: z.string() }),
  'LLM.CANCELLED': z.object({ type: z.literal('LLM.CANCELLED'), partial: z.string() }),
  'TOOL.RESULT': z.object({ type: z.literal('TOOL.RESULT'), callId: z.string(), result: ToolResultSchema, durationMs: z.number() }),
  'PERSIST.FLUSHED': z.object({ type: z.literal('PERSIST.FLUSHED') }),
  'PERSIST.ERROR': z.object({ type: z.literal('PERSIST.ERROR'), message: z.string() }),
};

export type JournaledEventType = keyof EventSchemas;

/** The events the journal keeps (and replay sends again): exactly those the machine understands. */
export const JOURNALED_EVENT_TYPES: ReadonlySet<string> = new Set(Object.keys(EVENT_SCHEMAS));

export function isJournaledEventType(type: string): type is JournaledEventType {
  return JOURNALED_EVENT_TYPES.has(type);
}
