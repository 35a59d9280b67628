import type { ImapFlow } from 'imapflow';
import { errorMessage } from '../../errors.js';
import type { MailAccount } from '../accounts/mail-account.js';
import { MailboxUnavailableError } from '../maildir/index.js';
import { retryDelayMs } from '../../retry-delay.js';
import { imapFailure } from './connect-failure.js';
import type { ConnectionSlots } from './connection-slots.js';
import { openImapClient, type MailClientPolicy } from './imap-client.js';

export interface ImapPoolOptions {
  account: MailAccount;
  client: MailClientPolicy;
  slots: ConnectionSlots;
  /** Connections this account's tools hold at once. */
  max: number;
  /** An unused connection is logged out after this. @default 60000 */
  idleCloseMs?: number;
  /** How long a call waits for a global connection slot. @default 10000 */
  slotWaitMs?: number;
}

const MIN_BACKOFF_MS = 1_000;
const MAX_BACKOFF_MS = 60_000;

interface Pooled {
  client: ImapFlow;
  release: () => void;
  idleTimer?: NodeJS.Timeout;
}

/**
 * An account's IMAP connections for tool calls: reused while they live, at most `max` at once, logged out when
 * unused. A server that keeps failing is not hammered: after a failed connect, calls fail fast until a backoff passes.
 */
export class ImapPool {
  private readonly idle: Pooled[] = [];
  private readonly queue: Array<() => void> = [];
  private open = 0;
  private failures = 0;
  private retryAt = 0;
  private lastFailure: MailboxUnavailableError | undefined;
  private closed = false;
  private readonly stopReclaiming: () => void;

  constructor(private readonly options: ImapPoolOptions) {
    this.stopReclaiming = options.slots.addReclaimer(() => this.dropOldestIdle());
  }

  /**
   * Runs `work` on a connection. A connection that dies under it is replaced and `work` tried once more: IMAP commands
   * here are reads, or idempotent (flag, move by UID), so a second try cannot do a thing twice.
   */
  async use<T>(work: (client: ImapFlow) => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      const pooled = await this.acquire();
      try {
        const result = await work(pooled.client);
        this.giveBack(pooled);
        return result;
      } catch (error) {
        const dropped = !pooled.client.usable;
        this.giveBack(pooled);
        if (dropped && attempt === 0 && !this.closed) continue;
        if (dropped) throw new MailboxUnavailableError(`The connection to ${this.options.account.imap.host} was lost: ${errorMessage(error)}`, { cause: error });
        throw error;
      }
    }
  }

  /** Logs every connection out. Safe to call twice. */
  async close(): Promise<void> {
    this.closed = true;
    this.stopReclaiming();
    const idle = this.idle.splice(0);
    await Promise.allSettled(idle.map((pooled) => this.discard(pooled)));
    for (const waiter of this.queue.splice(0)) waiter();
  }

  /** For the global cap: the connection idle longest is logged out, its slot freed at once. */
  private dropOldestIdle(): boolean {
    const oldest = this.idle.shift();
    if (!oldest) return false;
    void this.discard(oldest);
    return true;
  }

  private async acquire(): Promise<Pooled> {
    for (;;) {
      if (this.closed) throw new MailboxUnavailableError('The mail server is shutting down.');
      const reused = this.idle.pop();
      if (reused) {
        clearTimeout(reused.idleTimer);
        if (reused.client.usable) return reused;
        void this.discard(reused);
        continue;
      }
      if (this.open < this.options.max) return this.connect();
      await new Promise<void>((resolve) => this.queue.push(resolve));
    }
  }

  private async connect(): Promise<Pooled> {
    const { account } = this.options;
    if (Date.now() < this.retryAt && this.lastFailure) throw this.lastFailure;
    this.open += 1;
    let release: (() => void) | undefined;
    try {
      release = await this.options.slots.takeForCall(this.options.slotWaitMs ?? 10_000);
      const client = await openImapClient(account, this.options.client, { watch: false });
      await client.connect();
      this.failures = 0;
      return { client, release };
    } catch (error) {
      release?.();
      this.open -= 1;
      this.queue.shift()?.();
      if (error instanceof MailboxUnavailableError) throw error;
      this.failures += 1;
      this.retryAt = Date.now() + retryDelayMs(this.failures, MIN_BACKOFF_MS, MAX_BACKOFF_MS);
      this.lastFailure = new MailboxUnavailableError(imapFailure(error, account.imap).message, { cause: error });
      throw this.lastFailure;
    }
  }

  private giveBack(pooled: Pooled): void {
    if (this.closed || !pooled.client.usable) {
      void this.discard(pooled);
      return;
    }
    pooled.idleTimer = setTimeout(() => {
      const at = this.idle.indexOf(pooled);
      if (at >= 0) this.idle.splice(at, 1);
      void this.discard(pooled);
    }, this.options.idleCloseMs ?? 60_000);
    pooled.idleTimer.unref();
    this.idle.push(pooled);
    this.queue.shift()?.();
  }

  private async discard(pooled: Pooled): Promise<void> {
    clearTimeout(pooled.idleTimer);
    this.open -= 1;
    pooled.release();
    this.queue.shift()?.();
    try {
      if (pooled.client.usable) await pooled.client.logout();
    } catch {
      // Already gone: nothing to log out of.
    } finally {
      pooled.client.close();
    }
  }
}
