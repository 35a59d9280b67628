import { fromCallback, type CallbackActorLogic } from 'xstate';
import type { ChatMessage } from '../conversations/chat-message.js';
import { errorMessage } from '../errors.js';
import type { DecisionWrite } from '../conversations/tool-batch.js';

export interface PersistenceInput {
  conversationId: string;
}

export type PersistenceCommand =
  /** `decisions` comes with the messages of a tool step: its calls' decisions and the "always allow" grants. */
  | { type: 'PERSIST'; fromPosition: number; messages: ChatMessage[]; decisions?: DecisionWrite }
  /** Answered with `PERSIST.FLUSHED` once every earlier write has finished. */
  | { type: 'FLUSH' };

export type PersistenceOutput = { type: 'PERSIST.FLUSHED' } | { type: 'PERSIST.ERROR'; message: string };

export interface ConversationWrite {
  fromPosition: number;
  messages: ChatMessage[];
  decisions?: DecisionWrite;
}

export interface PersistenceDeps {
  /**
   * Must order the write synchronously, before returning: a tool call's start marker, asked for right after, has to
   * land after the decisions that allowed it (see ConversationWriter).
   */
  append: (conversationId: string, write: ConversationWrite) => Promise<void>;
}

export type PersistenceLogic = CallbackActorLogic<PersistenceCommand, PersistenceInput>;

/**
 * The conversation's writer: messages are written in order, one write per message batch (never per token). It lives
 * as long as the conversation actor, so a turn whose socket is gone is still saved.
 */
export function createPersistenceLogic(deps: PersistenceDeps): PersistenceLogic {
  return fromCallback<PersistenceCommand, PersistenceInput>(({ input, sendBack, receive }) => {
    let written: Promise<void> = Promise.resolve();
    receive((command) => {
      if (command.type === 'FLUSH') {
        written = written.then(() => sendBack({ type: 'PERSIST.FLUSHED' } satisfies PersistenceOutput));
        return;
      }
      const { fromPosition, messages, decisions } = command;
      // Handed over now, not after the previous write finished: the order of calls is the order of writes.
      const write = deps.append(input.conversationId, { fromPosition, messages, ...(decisions ? { decisions } : {}) }).catch((error: unknown) => {
        sendBack({ type: 'PERSIST.ERROR', message: `could not save the conversation: ${errorMessage(error)}` } satisfies PersistenceOutput);
      });
      written = written.then(() => write);
    });
  });
}
