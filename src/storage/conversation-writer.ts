import type { ConversationWrite } from '../actors/persistence.js';
import { StorageWriteError, errorMessage } from '../errors.js';
import type { Logger } from '../logger.js';
import { settleWithin } from '../settle-within.js';
import type { ConversationStore } from './conversation-store.js';
import { faultWords } from './storage-fault.js';
import type { UnsavedCount } from './storage-health.js';
import { KeptAs, UnsavedWrites } from './unsaved-writes.js';

export interface ConversationWriterOptions {
  /** First wait before refused writes are tried again; doubled after each refused retry. @default 1000 */
  retryInitialMs?: number;
  /** @default 30000 */
  retryMaxMs?: number;
  /** Refused writes kept per conversation, in bytes of JSON; past it a write is kept only as markers. @default 1048576 */
  maxUnsavedBytesPerConversation?: number;
  /** The same across conversations. @default 33554432 */
  maxUnsavedBytes?: number;
  logger?: Logger;
}

const DEFAULTS = {
  retryInitialMs: 1_000,
  retryMaxMs: 30_000,
  maxUnsavedBytesPerConversation: 1_048_576,
  maxUnsavedBytes: 33_554_432,
} as const;

/** At shutdown, the last try at writing what was refused may take this long: a hung database must not hold the exit. */
const CLOSE_WRITE_TIMEOUT_MS = 5_000;

/** A write refused for a passing reason (disk full, read-only, I/O, unreachable), as opposed to for good. */
const passing = (error: unknown): error is StorageWriteError => error instanceof StorageWriteError && error.passes;

/**
 * The writes of each conversation, in the order they are asked for. The conversation's writer actor and its tool
 * calls' start markers both go through here, so a start marker never lands before the step's messages and the
 * decision that allowed the call, and a crash can never leave "started" without "approved".
 *
 * A write the database refuses for a reason that passes (disk full, …) is kept in memory (`UnsavedWrites`, bounded)
 * and retried with backoff; the conversation's later writes queue behind it, so they land in order once the database
 * takes writes again. The caller hears of the refusal at once, so a turn still ends.
 */
export class ConversationWriter {
  /** Per conversation, the last write asked for (settled, never rejected); dropped once it is done. */
  private readonly tails = new Map<string, Promise<void>>();
  private readonly unsaved: UnsavedWrites;
  private readonly options: Required<Omit<ConversationWriterOptions, 'logger'>> & Pick<ConversationWriterOptions, 'logger'>;
  private retryDelayMs: number;
  private retryTimer: NodeJS.Timeout | undefined;
  private readonly retries = new Set<Promise<void>>();
  private closed = false;

  constructor(
    private readonly store: ConversationStore,
    /** The conversation's sequence number at the time of the write, saved with it. */
    private readonly lastSeq: (conversationId: string) => number,
    options: ConversationWriterOptions = {},
  ) {
    this.options = { ...DEFAULTS, ...options };
    if (this.options.retryInitialMs > this.options.retryMaxMs) throw new RangeError('retryInitialMs must not exceed retryMaxMs');
    this.retryDelayMs = this.options.retryInitialMs;
    this.unsaved = new UnsavedWrites({ perConversationBytes: this.options.maxUnsavedBytesPerConversation, totalBytes: this.options.maxUnsavedBytes });
  }

  /**
   * Resolves once written. Rejects with a `StorageWriteError` when refused: for good (a constraint), or for a reason
   * that passes, and then the write is kept and retried, and the message says whether it was kept whole or lost.
   */
  append(conversationId: string, write: ConversationWrite): Promise<void> {
    this.store.expectWrite();
    return this.enqueue(conversationId, async () => {
      const lastSeq = this.lastSeq(conversationId);
      // Refused writes of this conversation go first; while they are refused, this one waits behind them.
      const refusal = (await this.writeUnsaved(conversationId)) ?? (await this.tryAppend(conversationId, write, lastSeq));
      if (!refusal) return;
      const keptAs = this.unsaved.keep(conversationId, write, lastSeq, refusal.fault);
      this.scheduleRetry();
      throw this.unsavedError(refusal, keptAs);
    });
  }

  /** Whether this call may be sent now (see `ConversationStore.markStarted`). Refused while the step's own write is. */
  markStarted(conversationId: string, callId: string): Promise<boolean> {
    return this.enqueue(conversationId, async () => {
      const refusal = await this.writeUnsaved(conversationId);
      if (refusal) throw refusal;
      return this.store.markStarted(conversationId, callId);
    });
  }

  /** Whether writes of this conversation wait in memory: its actor then holds the only copy of its latest messages. */
  holdsUnsaved(conversationId: string): boolean {
    return this.unsaved.has(conversationId);
  }

  unsavedCount(): UnsavedCount {
    return this.unsaved.count();
  }

  /** The database took a write again: retry the refused ones now rather than at the end of their backoff. */
  retryNow(): void {
    if (this.closed || this.unsaved.isEmpty) return;
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.retryDelayMs = this.options.retryInitialMs;
    this.scheduleRetry(0);
  }

  /**
   * Stops retrying, after a last try (bounded in time) at writing what was refused; what is still refused then is
   * lost with the process, and logged as such. Call it after the conversations are stopped. Safe to call twice.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.retryTimer);
    await Promise.allSettled([...this.retries]);
    if (this.unsaved.isEmpty) return;
    await settleWithin(this.retryAll(), CLOSE_WRITE_TIMEOUT_MS);
    const lost = this.unsaved.count();
    if (lost.messages > 0 || lost.conversations > 0) {
      this.options.logger?.error(lost, 'shutdown: messages the database refused are lost (they were kept in memory only)');
    }
  }

  private async tryAppend(conversationId: string, write: ConversationWrite, lastSeq: number): Promise<StorageWriteError | undefined> {
    try {
      await this.store.append(conversationId, write.fromPosition, write.messages, lastSeq, write.decisions);
      return undefined;
    } catch (error) {
      if (passing(error)) return error;
      throw error;
    }
  }

  /** Writes the conversation's kept writes, oldest first; returns the refusal that stopped it, if one did. */
  private async writeUnsaved(conversationId: string): Promise<StorageWriteError | undefined> {
    let written = 0;
    for (let next = this.unsaved.first(conversationId); next; next = this.unsaved.first(conversationId)) {
      const { write, lastSeq } = next;
      try {
        await this.store.append(conversationId, write.fromPosition, write.messages, Math.max(lastSeq, this.lastSeq(conversationId)), write.decisions);
        written += write.messages.length;
      } catch (error) {
        if (passing(error)) return error;
        // Refused for good (another node wrote these positions meanwhile): retrying cannot help, and must not block the rest.
        this.options.logger?.error({ conversationId, fromPosition: write.fromPosition, err: errorMessage(error) }, 'a kept write was refused for good; dropped');
      }
      this.unsaved.shift(conversationId);
    }
    if (written > 0) this.options.logger?.info({ conversationId, messages: written }, 'messages the database had refused are saved');
    return undefined;
  }

  private unsavedError(refusal: StorageWriteError, keptAs: KeptAs): StorageWriteError {
    const cause = faultWords(refusal.fault);
    const message =
      keptAs === KeptAs.Whole
        ? `${cause}: this turn is not saved yet. It is kept in memory and saved as soon as the database takes writes again (a restart before then loses it).`
        : `${cause}: this turn could not be saved and is lost: too much was already waiting to be saved. The history keeps a "not saved" marker in its place.`;
    return new StorageWriteError(refusal.fault, message, { cause: refusal });
  }

  private scheduleRetry(delayMs = this.retryDelayMs): void {
    if (this.closed || this.retryTimer || this.unsaved.isEmpty) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      const retry = this.retryAll()
        .then(() => {
          if (this.unsaved.isEmpty) {
            this.retryDelayMs = this.options.retryInitialMs;
            return;
          }
          this.retryDelayMs = Math.min(this.retryDelayMs * 2, this.options.retryMaxMs);
          this.scheduleRetry();
        })
        .catch((err: unknown) => this.options.logger?.error({ err: errorMessage(err) }, 'retrying refused conversation writes failed'))
        .finally(() => this.retries.delete(retry));
      this.retries.add(retry);
    }, delayMs);
    // Nothing to keep the process alive for: `close()` makes the last try.
    this.retryTimer.unref();
  }

  /** One pass over every conversation with kept writes, each in its own write order. */
  private async retryAll(): Promise<void> {
    await Promise.all(this.unsaved.conversationIds().map((id) => this.enqueue(id, () => this.writeUnsaved(id))));
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
