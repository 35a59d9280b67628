import type { ConversationStore } from '../storage/conversation-store.js';
import type { GrantTarget } from './approval-grants.js';
import type { CrossNode } from './cross-node.js';
import { restoreToolStep, unansweredCallIds } from './history-repair.js';
import type { StoredConversation } from './live-conversation.js';

export interface RestoreDeps {
  store: ConversationStore;
  crossNode?: CrossNode;
  /** Where an approved call of a restored step goes now (decisions are stored by exposed name). */
  grantTarget?: (tool: string) => GrantTarget | undefined;
}

/** A stored conversation as an actor would start from it, and whether its turn runs on another node right now. */
export interface FoundConversation {
  asStored: StoredConversation;
  runningElsewhere: boolean;
}

/**
 * A conversation read back from storage, with what other nodes published after its stored `lastSeq`. One whose turn
 * runs on another node is shown as storage has it (`provisional`): repairing a call that is running there would be a
 * lie.
 */
export async function findStored({ store, crossNode }: RestoreDeps, id: string): Promise<FoundConversation | undefined> {
  const stored = await store.find(id);
  if (!stored) return undefined;
  const [elsewhere, mirrored] = crossNode ? await Promise.all([crossNode.runningElsewhere(id), crossNode.newestAfter(id, stored.lastSeq)]) : [false, []];
  return { asStored: { ...stored, mirrored, ...(elsewhere ? { provisional: true } : {}) }, runningElsewhere: elsewhere === true };
}

/**
 * A conversation this node will run: calls that were cut (never answered) get their result written now, and a tool
 * step that was waiting for the user comes back waiting, each call aimed where it would go once approved.
 */
export async function readyToRun({ store, grantTarget }: RestoreDeps, stored: StoredConversation): Promise<StoredConversation> {
  const decisions = await store.toolCalls(stored.id, unansweredCallIds(stored.messages));
  const { repairs, pendingBatch } = restoreToolStep(stored.messages, decisions);
  if (repairs.length > 0) await store.append(stored.id, stored.messages.length, repairs, stored.lastSeq);
  const targeted = pendingBatch?.map((call) => {
    const target = grantTarget?.(call.name);
    return target ? { ...call, target } : call;
  });
  return { ...stored, messages: [...stored.messages, ...repairs], ...(targeted ? { pendingBatch: targeted } : {}) };
}
