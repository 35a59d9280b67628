import type { ConnectionSlots } from '../imap/connection-slots.js';
import type { MailClientPolicy } from '../imap/imap-client.js';
import { isImapEmailId, parseInboxEmailId } from '../imap/imap-email-id.js';
import { ImapMailbox } from '../imap/imap-mailbox.js';
import { withInbox } from '../imap/inbox-lock.js';
import { ImapPool } from '../imap/imap-pool.js';
import { ImapSender } from '../imap/imap-sender.js';
import type { Mailbox, Mailboxes } from '../mailbox.js';
import type { SendPolicy } from '../send-policy.js';
import type { MailAccount } from './mail-account.js';
import type { MailAccounts } from './mail-accounts.js';

export interface AccountMailboxesOptions {
  accounts: MailAccounts;
  /** Addresses without an account. */
  local: Mailboxes;
  slots: ConnectionSlots;
  client: MailClientPolicy;
  /** `[mail] imap_connections_per_account`. */
  connectionsPerAccount: number;
  policy?: SendPolicy;
}

/** Enough of a message to summarize it (the webhook carries 20,000 characters of body at most). */
const ANNOUNCED_SOURCE_BYTES = 256 * 1024;

interface Open {
  account: MailAccount;
  pool: ImapPool;
  mailbox: ImapMailbox;
}

/**
 * Each address's mailbox: its IMAP account (with a connection pool of its own, made on first use and closed when the
 * account is disconnected or replaced), or the local Maildir. The address is the one the runtime pinned to the
 * signed-in user, so one user's tools only ever reach that user's account.
 */
export class AccountMailboxes implements Mailboxes {
  private readonly open_ = new Map<string, Open>();
  private readonly unsubscribe: () => void;

  constructor(private readonly options: AccountMailboxesOptions) {
    this.unsubscribe = options.accounts.onChange((user) => void this.forget(user));
  }

  open(address: string): Mailbox {
    const account = this.options.accounts.get(address.trim());
    return account ? this.opened(account).mailbox : this.options.local.open(address);
  }

  /**
   * The bytes of an announced inbox message; `undefined` once it is gone or renumbered. Throws when the server cannot
   * be reached: the announcement then waits and is tried again.
   */
  async readForAnnouncement(address: string, emailId: string): Promise<Buffer | undefined> {
    const account = this.options.accounts.get(address);
    if (!account || !isImapEmailId(emailId)) return undefined;
    const wanted = parseInboxEmailId(emailId);
    return this.opened(account).pool.use((client) =>
      withInbox(client, async (uidValidity) => {
        if (uidValidity !== wanted.uidValidity) return undefined;
        const message = await client.fetchOne(String(wanted.uid), { uid: true, source: { maxLength: ANNOUNCED_SOURCE_BYTES } }, { uid: true });
        return message ? message.source : undefined;
      }),
    );
  }

  hasAccount(address: string): boolean {
    return this.options.accounts.get(address) !== undefined;
  }

  async close(): Promise<void> {
    this.unsubscribe();
    const all = [...this.open_.values()];
    this.open_.clear();
    await Promise.allSettled(all.map((entry) => entry.pool.close()));
  }

  private opened(account: MailAccount): Open {
    const existing = this.open_.get(account.user);
    if (existing && existing.account === account) return existing;
    if (existing) void existing.pool.close();
    const { slots, client, connectionsPerAccount, policy } = this.options;
    const pool = new ImapPool({ account, client, slots, max: connectionsPerAccount });
    const entry = { account, pool, mailbox: new ImapMailbox(account, pool, new ImapSender(account, pool, policy, client), client.maxMessageBytes) };
    this.open_.set(account.user, entry);
    return entry;
  }

  private async forget(user: string): Promise<void> {
    const entry = this.open_.get(user);
    this.open_.delete(user);
    await entry?.pool.close();
  }
}
