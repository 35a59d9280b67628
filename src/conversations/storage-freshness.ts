import type { ConversationStore } from '../storage/conversation-store.js';
import type { ChatMessage } from './chat-message.js';
import { CallDecision, type BatchCall } from './tool-batch.js';

/**
 * Whether storage holds progress that a quiet live actor has not seen: another node (on shared storage) went on with
 * the conversation since the actor was loaded. Messages are not enough: an approval given on another node adds no
 * message until its call finishes, yet an actor still waiting on that call must not approve and send it again. So
 * the calls it waits on are compared too. Only progress counts, never lag: this node's own writes may still be in
 * flight (storage behind the actor), but can never put storage ahead of it.
 */
export async function isBehindStorage(
  store: Pick<ConversationStore, 'messageCount' | 'toolCalls'>,
  conversationId: string,
  held: { messages: readonly ChatMessage[]; batch: readonly BatchCall[] },
): Promise<boolean> {
  if ((await store.messageCount(conversationId)) > held.messages.length) return true;
  const open = held.batch.filter((call) => !call.result);
  if (open.length === 0) return false;
  const stored = await store.toolCalls(conversationId, open.map((call) => call.id));
  const heldById = new Map(open.map((call) => [call.id, call]));
  return stored.some((call) => call.started || (call.decision !== CallDecision.Pending && heldById.get(call.id)?.decision === CallDecision.Pending));
}
