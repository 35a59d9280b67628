import { errorMessage, type StorageFault, type StorageWriteError } from '../errors.js';
import { faultWords } from './storage-fault.js';

/** Told the outcome of every conversation write and write probe. */
export interface WriteOutcomes {
  written(): void;
  /** Only refusals that say something about the database (disk full, read-only, …), not a constraint. */
  refused(error: StorageWriteError): void;
}

/** Writes refused by the database and kept in memory until it takes them (see `UnsavedWrites`). */
export interface UnsavedCount {
  conversations: number;
  messages: number;
}

export const DatabaseStatus = {
  Ok: 'ok',
  /** Reads work, writes do not (or some still wait): answers go on, saving them does not. */
  Degraded: 'degraded',
  /** Not even a read works. */
  Error: 'error',
} as const;
export type DatabaseStatus = (typeof DatabaseStatus)[keyof typeof DatabaseStatus];

export type DatabaseHealth = { status: typeof DatabaseStatus.Ok } | { status: typeof DatabaseStatus.Degraded | typeof DatabaseStatus.Error; message: string };

interface Refusal {
  fault: StorageFault;
  /** The driver's words ("database or disk is full"), for the operator. */
  detail: string;
  since: string;
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/**
 * Whether the database takes writes, as the last write told: a conversation write or the probe. A refusal makes
 * `/health` say `degraded` with its cause until a write lands again; listeners hear of that moment (refused writes
 * are then retried at once, not at the end of their backoff).
 */
export class StorageHealth implements WriteOutcomes {
  private refusal: Refusal | undefined;
  private readonly writableListeners = new Set<() => void>();

  written(): void {
    if (!this.refusal) return;
    this.refusal = undefined;
    for (const listener of this.writableListeners) listener();
  }

  refused(error: StorageWriteError): void {
    const cause = error.cause === undefined ? '' : errorMessage(error.cause);
    this.refusal = { fault: error.fault, detail: cause, since: this.refusal?.since ?? new Date().toISOString() };
  }

  /** Called each time a write lands after refusals. Returns the unsubscribe. */
  onWritable(listener: () => void): () => void {
    this.writableListeners.add(listener);
    return () => this.writableListeners.delete(listener);
  }

  get lastRefusal(): Readonly<Refusal> | undefined {
    return this.refusal;
  }

  /** `/health`'s database entry, given that reads work. Starts with the cause: "disk full since …". */
  status(unsaved: UnsavedCount): DatabaseHealth {
    const waiting = unsaved.messages > 0 || unsaved.conversations > 0 ? `${plural(unsaved.messages, 'message')} of ${plural(unsaved.conversations, 'conversation')} wait to be saved` : '';
    if (this.refusal) {
      const cause = faultWords(this.refusal.fault);
      const detail = this.refusal.detail ? ` (${this.refusal.detail})` : '';
      return { status: DatabaseStatus.Degraded, message: `${cause} since ${this.refusal.since}: writes are refused${detail}${waiting ? `; ${waiting}` : ''}` };
    }
    return waiting ? { status: DatabaseStatus.Degraded, message: waiting } : { status: DatabaseStatus.Ok };
  }
}
