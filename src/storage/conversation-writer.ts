import type { ConversationWrite } from '../actors/persistence.js';
import type { ConversationStore } from './conversation-store.js';

/**
 * The writes of each conversation, in the order they are asked for. The conversation's writer actor and its tool
 * calls' start markers both go through here, so a start marker never lands before the step's messages and the
 * decision that allowed the call, and a crash can never leave "started" without "approved".
 */
export class ConversationWriter {
  /** Per conversation, the last write asked for (settled, never rejected); dropped once it is done. */
  private readonly tails = new Map<string, Promise<void>>();

  constructor(
    private readonly store: ConversationStore,
    /** The conversation's sequence number at the time of the write, saved with it. */
    private readonly lastSeq: (conversationId: string) => number,
  ) {}

  append(conversationId: string, write: ConversationWrite): Promise<void> {
    return this.enqueue(conversationId, () =>
      this.store.append(conversationId, write.fromPosition, write.messages, this.lastSeq(conversationId), write.decisions),
    );
  }

  /** Whether this call may be sent now (see `ConversationStore.markStarted`). */
  markStarted(conversationId: string, callId: string): Promise<boolean> {
    return this.enqueue(conversationId, () => this.store.markStarted(conversationId, callId));
  }

  private enqueue<T>(conversationId: string, work: () => Promise<T>): Promise<T> {
    const result = (this.tails.get(conversationId) ?? Promise.resolve()).then(work);
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    this.tails.set(conversationId, tail);
    void tail.then(() => {
      if (this.tails.get(conversationId) === tail) this.tails.delete(conversationId);
    });
    return result;
  }
}
