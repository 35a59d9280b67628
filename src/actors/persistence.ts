import { fromCallback, type CallbackActorLogic } from 'xstate';
import type { ChatMessage } from '../conversations/chat-message.js';
import { StorageError, errorMessage } from '../errors.js';
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
   * land after the decisions that allowed it (see ConversationWriter). Must settle promptly even when the database
   * refuses the write (ConversationWriter keeps it for later and rejects at once): the turn's `done` waits for it.
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
    // A turn has several writes; while the database refuses them, the user hears it once per turn, not per write.
    const reported = new Set<string>();
    receive((command) => {
      if (command.type === 'FLUSH') {
        written = written.then(() => {
          reported.clear();
          sendBack({ type: 'PERSIST.FLUSHED' } satisfies PersistenceOutput);
        });
        return;
      }
      const { fromPosition, messages, decisions } = command;
      // Handed over now, not after the previous write finished: the order of calls is the order of writes.
      const write = deps.append(input.conversationId, { fromPosition, messages, ...(decisions ? { decisions } : {}) }).catch((error: unknown) => {
        // A storage error's message names its cause already ("disk full: …").
        const message = error instanceof StorageError ? error.message : `could not save the conversation: ${errorMessage(error)}`;
        if (reported.has(message)) return;
        reported.add(message);
        sendBack({ type: 'PERSIST.ERROR', message } satisfies PersistenceOutput);
      });
      written = written.then(() => write);
    });
  });
}
