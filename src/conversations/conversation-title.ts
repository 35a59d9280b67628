import { errorMessage } from '../errors.js';
import type { Logger } from '../logger.js';
import type { ConversationStore } from '../storage/conversation-store.js';
import type { LiveConversation } from './live-conversation.js';

/** Longest title kept from a conversation's first message. */
const TITLE_MAX_CHARS = 80;

/** The title a conversation takes from its first message. */
export function titleFrom(message: string): string {
  return message.slice(0, TITLE_MAX_CHARS);
}

/**
 * A conversation created without a first message is titled by the first one sent to it. The title is saved in the
 * background: a lost title is not worth failing the turn for.
 */
export function titleIfUntitled(conversation: LiveConversation, message: string, deps: { store: Pick<ConversationStore, 'setTitle'>; logger: Logger }): void {
  if (conversation.title !== '') return;
  conversation.title = titleFrom(message);
  deps.store
    .setTitle(conversation.id, conversation.title)
    .catch((err) => deps.logger.warn({ conversationId: conversation.id, err: errorMessage(err) }, 'could not save title'));
}
