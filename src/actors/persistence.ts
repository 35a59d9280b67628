import { fromCallback, type CallbackActorLogic } from 'xstate';
import type { ChatMessage } from '../conversations/chat-message.js';
import { errorMessage } from '../errors.js';

export interface PersistenceInput {
  conversationId: string;
}

export type PersistenceCommand =
  | { type: 'PERSIST'; fromPosition: number; messages: ChatMessage[] }
  /** Answered with `PERSIST.FLUSHED` once every earlier write has finished. */
  | { type: 'FLUSH' };

export type PersistenceOutput = { type: 'PERSIST.FLUSHED' } | { type: 'PERSIST.ERROR'; message: string };

export interface PersistenceDeps {
  append: (conversationId: string, fromPosition: number, messages: ChatMessage[]) => Promise<void>;
}

export type PersistenceLogic = CallbackActorLogic<PersistenceCommand, PersistenceInput>;

/**
 * The conversation's writer: messages are written in order, one write per message batch (never per token). It lives
 * as long as the conversation actor, so a turn whose socket is gone is still saved.
 */
export function createPersistenceLogic(deps: PersistenceDeps): PersistenceLogic {
  return fromCallback<PersistenceCommand, PersistenceInput>(({ input, sendBack, receive }) => {
    let queue: Promise<void> = Promise.resolve();
    receive((command) => {
      queue = queue.then(async () => {
        if (command.type === 'FLUSH') {
          sendBack({ type: 'PERSIST.FLUSHED' } satisfies PersistenceOutput);
          return;
        }
        try {
          await deps.append(input.conversationId, command.fromPosition, command.messages);
        } catch (error) {
          sendBack({ type: 'PERSIST.ERROR', message: `could not save the conversation: ${errorMessage(error)}` } satisfies PersistenceOutput);
        }
      });
    });
  });
}
