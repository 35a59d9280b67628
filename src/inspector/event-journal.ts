import { errorMessage } from '../errors.js';
import type { Logger } from '../logger.js';
import type { JournalWriter } from './inspection-observer.js';
import type { InspectorStore, JournalEntry } from './inspector-store.js';

export interface EventJournalOptions {
  store: InspectorStore;
  logger: Logger;
  /** Pending records that trigger a write at once. */
  batchSize?: number;
  /** Longest a record waits for its batch. */
  flushDelayMs?: number;
}

const DEFAULT_BATCH_SIZE = 64;
const DEFAULT_FLUSH_DELAY_MS = 100;

/**
 * Conversation events on their way to storage. `append` is the per-event path: a push, and a timer armed once per
 * batch. Writes happen in the background, one batch at a time and in order; a batch that fails is logged and dropped
 * (the conversation goes on; only its replay loses those events).
 */
export class EventJournal implements JournalWriter {
  private pending: JournalEntry[] = [];
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> = Promise.resolve();
  private closed = false;
  private readonly batchSize: number;
  private readonly flushDelayMs: number;

  constructor(private readonly options: EventJournalOptions) {
    this.batchSize = options.batchSize ?? DEFAULT_BATCH_SIZE;
    this.flushDelayMs = options.flushDelayMs ?? DEFAULT_FLUSH_DELAY_MS;
  }

  append(conversationId: string, type: string, payload: unknown): void {
    if (this.closed) return;
    this.pending.push({ conversationId, at: Date.now(), type, payload });
    if (this.pending.length >= this.batchSize) {
      void this.flush();
      return;
    }
    if (!this.timer) {
      this.timer = setTimeout(() => void this.flush(), this.flushDelayMs);
      this.timer.unref();
    }
  }

  /** Resolves once everything appended so far is written (or its batch has failed and been logged). */
  flush(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.pending.length > 0) {
      const batch = this.pending;
      this.pending = [];
      this.writing = this.writing.then(() =>
        this.options.store
          .appendEvents(batch)
          .catch((err: unknown) => this.options.logger.warn({ err: errorMessage(err), events: batch.length }, 'could not write inspector journal batch')),
      );
    }
    return this.writing;
  }

  /** Writes what is pending and takes no more. Safe to call twice. */
  async close(): Promise<void> {
    this.closed = true;
    await this.flush();
  }
}
