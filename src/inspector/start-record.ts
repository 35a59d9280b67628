import { z } from 'zod';
import { ApprovalGrantsSchema } from '../conversations/approval-grants.js';
import type { ChatMessage } from '../conversations/chat-message.js';
import { BatchCallSchema } from '../conversations/tool-batch.js';

/**
 * A `start` record as stored. The actor's input holds the conversation's whole history; copied into every start
 * record, a conversation evicted and restored K times would write its history K times over. Messages are append-only
 * in the `messages` table and an actor starts from exactly the first `messageCount` of them, so the record keeps the
 * count and the history is read back from there when the journal is exported: each start costs a few bytes.
 */
export const StoredStartSchema = z.object({
  conversationId: z.string().min(1),
  userEmail: z.string(),
  maxToolSteps: z.int().positive(),
  /** The actor started from messages 0 … messageCount-1 of the conversation's `messages` rows. */
  messageCount: z.int().min(0),
  // A restored actor's decisions, kept as they are: without them its replay would start in idle, with nothing granted.
  grants: ApprovalGrantsSchema.optional(),
  pendingBatch: z.array(BatchCallSchema).optional(),
});
export type StoredStart = z.infer<typeof StoredStartSchema>;

/** What the journal stores for an actor's input: the input with its `messages` replaced by their count. */
export function toStoredStart(input: unknown): unknown {
  if (typeof input !== 'object' || input === null || !('messages' in input) || !Array.isArray(input.messages)) return input;
  const { messages, ...rest } = input;
  return { ...rest, messageCount: messages.length };
}

/**
 * The actor's input again, from a stored start record and the conversation's stored messages. Records written before
 * this format (with `messages` inline) and records that do not parse are returned as they are: the export's own check
 * names what is wrong with them. A history shorter than the count is left out, for the same reason.
 */
export function expandStart(payload: unknown, stored: readonly ChatMessage[]): unknown {
  const start = StoredStartSchema.safeParse(payload);
  if (!start.success || stored.length < start.data.messageCount) return payload;
  const { messageCount, ...input } = start.data;
  return { ...input, messages: stored.slice(0, messageCount) };
}

/** How many stored messages a start record's payload refers to (0 for one in the older, inline form). */
export function storedMessagesNeeded(payload: unknown): number {
  const start = StoredStartSchema.safeParse(payload);
  return start.success ? start.data.messageCount : 0;
}
