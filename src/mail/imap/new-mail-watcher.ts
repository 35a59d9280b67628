import type { ImapFlow } from 'imapflow';
import { errorMessage } from '../../errors.js';
import { retryDelayMs } from '../../retry-delay.js';
import { imapFailure, inboxFailure } from './connect-failure.js';
import type { ConnectionSlots } from './connection-slots.js';
import { catchUpInbox, type CatchUpDeps } from './inbox-catch-up.js';
import { openImapClient, type MailClientPolicy } from './imap-client.js';

export const WatchPhase = { Connecting: 'connecting', Watching: 'watching', Retrying: 'retrying' } as const;
export type WatchPhase = (typeof WatchPhase)[keyof typeof WatchPhase];

export interface WatchStatus {
  state: WatchPhase;
  last_error?: string;
}

export interface NewMailWatcherOptions extends CatchUpDeps {
  slots: ConnectionSlots;
  client: MailClientPolicy;
  /** Reconnect backoff. @default 1000 to 60000 */
  minRetryDelayMs?: number;
  maxRetryDelayMs?: number;
  /** A check even without news from the server: an EXISTS can be missed (count unchanged by an expunge plus an arrival). @default 300000 */
  pollMs?: number;
  /** IDLE restarted, or a server without IDLE polled with NOOP, this often (NOOP at most every 2 minutes). @default 240000 */
  maxIdleMs?: number;
}

/**
 * Watches one account's INBOX over its own connection: IMAP IDLE (imapflow polls with NOOP where the server lacks
 * it), and on every new message a catch-up past the high-water mark. A dropped connection is made again with an
 * exponential, jittered backoff, and the catch-up on reconnect finds whatever arrived meanwhile.
 */
export class NewMailWatcher {
  private readonly stopping = new AbortController();
  private phase: WatchPhase = WatchPhase.Connecting;
  private lastError: string | undefined;
  private failures = 0;
  private readonly loop: Promise<void>;

  constructor(private readonly options: NewMailWatcherOptions) {
    this.loop = this.run().catch((error: unknown) => options.logger.error({ user: options.account.user, err: errorMessage(error) }, 'The new-mail watcher stopped unexpectedly'));
  }

  status(): WatchStatus {
    return { state: this.phase, ...(this.lastError !== undefined ? { last_error: this.lastError } : {}) };
  }

  /** Safe to call twice. */
  async stop(): Promise<void> {
    this.stopping.abort();
    await this.loop;
  }

  private async run(): Promise<void> {
    const { logger, account } = this.options;
    const signal = this.stopping.signal;
    while (!signal.aborted) {
      try {
        await this.watchOnce(signal);
      } catch (error) {
        if (signal.aborted) break;
        this.failures += 1;
        this.phase = WatchPhase.Retrying;
        this.lastError = imapFailure(error, account.imap).message;
        logger.warn({ user: account.user, failures: this.failures, err: this.lastError }, 'Watching the inbox for new mail failed; connecting again after a pause');
      }
      const { minRetryDelayMs = 1_000, maxRetryDelayMs = 60_000 } = this.options;
      await pause(retryDelayMs(Math.max(1, this.failures), minRetryDelayMs, maxRetryDelayMs), signal);
    }
  }

  /** One connection's life: resolves when stopped, throws when the connection fails or ends. */
  private async watchOnce(signal: AbortSignal): Promise<void> {
    const release = await this.options.slots.takeForWatch(signal);
    let client: ImapFlow;
    try {
      client = await openImapClient(this.options.account, this.options.client, { watch: true, ...(this.options.maxIdleMs !== undefined ? { maxIdleMs: this.options.maxIdleMs } : {}) });
    } catch (error) {
      release();
      throw error;
    }
    const ended = new Promise<void>((resolve) => client.once('close', () => resolve()));
    // A stop while connecting (or while the server is slow to answer) closes the connection, which ends every wait.
    const stop = (): void => client.close();
    signal.addEventListener('abort', stop, { once: true });
    if (signal.aborted) stop();
    let poll: NodeJS.Timeout | undefined;
    try {
      await client.connect();
      await client.mailboxOpen('INBOX', { readOnly: true }).catch((error: unknown) => {
        throw inboxFailure(error, this.options.account.imap);
      });
      const first = this.check(client);
      let checking = first;
      // One check at a time, each after the one before: a burst of EXISTS costs one catch-up per change, in order.
      const again = (): void => {
        checking = checking.then(() => this.check(client)).catch((error: unknown) => {
          this.options.logger.warn({ user: this.options.account.user, err: errorMessage(error) }, 'Checking for new mail failed; reconnecting');
          client.close();
        });
      };
      // Listened to from before the first check's SEARCH, not after it: a mail that arrives between the SELECT and
      // that SEARCH is not in the SEARCH's answer (a server answers from the messages the session knew) but is told
      // of by an EXISTS with it, or in the IDLE after it. imapflow reports each count once, so an EXISTS nobody heard
      // would leave that mail to the next safety check, minutes later, or lose it to a crash before then.
      client.on('exists', (event: { path: string }) => {
        if (event.path === 'INBOX') again();
      });
      await first;
      this.failures = 0;
      this.phase = WatchPhase.Watching;
      this.lastError = undefined;
      poll = setInterval(again, this.options.pollMs ?? 300_000);
      await ended;
      if (!signal.aborted) throw Object.assign(new Error('the server closed the connection'), { code: 'EConnectionClosed' });
    } finally {
      signal.removeEventListener('abort', stop);
      clearInterval(poll);
      if (client.usable) await client.logout().catch(() => undefined);
      client.close();
      release();
    }
  }

  private async check(client: ImapFlow): Promise<void> {
    const announced = await catchUpInbox(client, this.options);
    if (announced > 0) this.options.logger.info({ user: this.options.account.user, announced }, 'New mail in an IMAP inbox recorded for announcing');
  }
}

function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
