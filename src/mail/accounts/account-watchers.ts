import { errorMessage } from '../../errors.js';
import type { Logger } from '../../logger.js';
import type { ConnectionSlots } from '../imap/connection-slots.js';
import type { MailClientPolicy } from '../imap/imap-client.js';
import { NewMailWatcher, type NewMailWatcherOptions, type WatchStatus } from '../imap/new-mail-watcher.js';
import type { WatchState } from '../imap/watch-state.js';
import type { JsonFileDir } from '../json-file-dir.js';
import type { StoredCopyRef } from '../outbox/announcement-outbox.js';
import type { MailAccount } from './mail-account.js';
import type { MailAccounts } from './mail-accounts.js';

export interface AccountWatchersOptions {
  accounts: MailAccounts;
  slots: ConnectionSlots;
  client: MailClientPolicy;
  states: JsonFileDir<WatchState>;
  announce: (copies: StoredCopyRef[]) => Promise<void>;
  logger: Logger;
  /** Reconnect backoff, safety poll and IDLE restart (the NOOP poll without IDLE); tests shorten them. */
  timing?: Pick<NewMailWatcherOptions, 'minRetryDelayMs' | 'maxRetryDelayMs' | 'pollMs' | 'maxIdleMs'>;
}

/** One watcher per connected account, started and stopped as accounts are connected and disconnected. */
export class AccountWatchers {
  private readonly watchers = new Map<string, NewMailWatcher>();
  private readonly unsubscribe: () => void;
  private warnedOfShare = false;

  constructor(private readonly options: AccountWatchersOptions) {
    for (const account of options.accounts.all()) this.watch(account);
    this.unsubscribe = options.accounts.onChange((user, account) => void this.replace(user, account));
  }

  status(user: string): WatchStatus | undefined {
    return this.watchers.get(user)?.status();
  }

  get size(): number {
    return this.watchers.size;
  }

  async close(): Promise<void> {
    this.unsubscribe();
    const all = [...this.watchers.values()];
    this.watchers.clear();
    await Promise.allSettled(all.map((watcher) => watcher.stop()));
  }

  private watch(account: MailAccount): void {
    const { slots, client, states, announce, logger, timing } = this.options;
    this.watchers.set(account.user, new NewMailWatcher({ account, slots, client, states, announce, logger, ...timing }));
    if (this.watchers.size > slots.watchMax && !this.warnedOfShare) {
      this.warnedOfShare = true;
      logger.warn(
        { accounts: this.watchers.size, watchers: slots.watchMax },
        'More accounts than watcher connections: the rest wait for a slot before their new mail is noticed (raise [mail] imap_max_connections)',
      );
    }
  }

  private async replace(user: string, account: MailAccount | undefined): Promise<void> {
    const old = this.watchers.get(user);
    this.watchers.delete(user);
    if (account) this.watch(account);
    try {
      await old?.stop();
      // Disconnected: a later connect starts from what is in the inbox then, not from mail of the months between.
      if (!account) await this.options.states.remove(user);
    } catch (error) {
      this.options.logger.warn({ user, err: errorMessage(error) }, 'Stopping a new-mail watcher failed');
    }
  }
}
