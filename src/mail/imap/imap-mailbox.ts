import type { FetchMessageObject, ImapFlow, SearchObject } from 'imapflow';
import type { MailAccount } from '../accounts/mail-account.js';
import type { Mailbox, MessageToSend, SentMessage } from '../mailbox.js';
import { EmailNotFoundError, MailFolder, StaleEmailIdError, mailFilterTest, narrows, type EmailMessage, type EmailSummary, type MailFilter } from '../maildir/index.js';
import { parseInboxEmailId, type ImapEmailId } from './imap-email-id.js';
import { searchKeys } from './imap-filter.js';
import { withInbox } from './inbox-lock.js';
import { LISTING_QUERY, toMessage, toSummary } from './imap-message.js';
import type { ImapPool } from './imap-pool.js';
import type { ImapSender } from './imap-sender.js';
import { SpecialUse, specialFolder } from './special-folder.js';

/** As in the Maildir backend: what a search returns at most. */
const SEARCH_LIMIT = 20;
const MAX_LIST_LIMIT = 200;

/**
 * An IMAP account as a {@link Mailbox}. Listing and searching run on the server (`SEARCH`, `FETCH` of envelopes and
 * the first KB of each message); a message is downloaded whole only when it is read.
 */
export class ImapMailbox implements Mailbox {
  readonly address: string;

  constructor(
    private readonly account: MailAccount,
    private readonly pool: ImapPool,
    private readonly sender: ImapSender,
    /** The largest message read whole; past it, the rest is cut (the tools cap the body far below anyway). */
    private readonly maxMessageBytes: number,
  ) {
    this.address = account.user;
  }

  list(limit: number, filter: MailFilter = {}): Promise<EmailSummary[]> {
    const count = Math.min(MAX_LIST_LIMIT, Math.max(1, Math.floor(limit)));
    return this.inInbox(async (client, uidValidity, exists) => {
      if (exists === 0) return [];
      if (narrows(filter)) return this.newestMatching(client, uidValidity, { all: true }, filter, count);
      const first = Math.max(1, exists - count + 1);
      const messages = await client.fetchAll(`${first}:*`, LISTING_QUERY);
      return this.summaries(messages, uidValidity, count);
    });
  }

  read(id: string): Promise<EmailMessage> {
    const wanted = parseInboxEmailId(id);
    return this.inInbox(async (client, uidValidity) => {
      this.assertCurrent(wanted, uidValidity, id);
      const message = await client.fetchOne(String(wanted.uid), { uid: true, flags: true, internalDate: true, source: { maxLength: this.maxMessageBytes } }, { uid: true });
      if (!message) throw this.notFound(id);
      return toMessage(message, uidValidity);
    });
  }

  search(query: string, filter: MailFilter = {}): Promise<EmailSummary[]> {
    const needle = query.trim();
    return this.inInbox(async (client, uidValidity) => {
      const criteria = needle === '' ? { all: true } : { or: [{ from: needle }, { to: needle }, { subject: needle }, { body: needle }] };
      return this.newestMatching(client, uidValidity, criteria, filter, SEARCH_LIMIT);
    });
  }

  markSeen(id: string): Promise<EmailSummary> {
    const wanted = parseInboxEmailId(id);
    return this.inInbox(async (client, uidValidity) => {
      this.assertCurrent(wanted, uidValidity, id);
      // A STORE on a UID that is gone succeeds silently: look first, so that the LLM hears "not found".
      if (!(await client.fetchOne(String(wanted.uid), { uid: true }, { uid: true }))) throw this.notFound(id);
      await client.messageFlagsAdd(String(wanted.uid), ['\\Seen'], { uid: true });
      const message = await client.fetchOne(String(wanted.uid), LISTING_QUERY, { uid: true });
      if (!message) throw this.notFound(id);
      return toSummary(message, uidValidity);
    });
  }

  delete(id: string): Promise<void> {
    const wanted = parseInboxEmailId(id);
    return this.pool.use(async (client) => {
      const trash = await specialFolder(client, SpecialUse.Trash);
      await withInbox(client, async (uidValidity) => {
        this.assertCurrent(wanted, uidValidity, id);
        if (!(await client.fetchOne(String(wanted.uid), { uid: true }, { uid: true }))) throw this.notFound(id);
        // MOVE where the server has it (Dovecot, Gmail, Fastmail, iCloud); imapflow falls back to COPY + \Deleted + EXPUNGE.
        await client.messageMove(String(wanted.uid), trash, { uid: true });
      });
    });
  }

  unreadCount(): Promise<number> {
    return this.pool.use(async (client) => (await client.status('INBOX', { unseen: true })).unseen ?? 0);
  }

  send(message: MessageToSend): Promise<SentMessage> {
    return this.sender.send(message);
  }

  private inInbox<T>(work: (client: ImapFlow, uidValidity: string, exists: number) => Promise<T>): Promise<T> {
    return this.pool.use((client) => withInbox(client, (uidValidity) => work(client, uidValidity, client.mailbox ? client.mailbox.exists : 0)));
  }

  /**
   * The newest `limit` messages matching `criteria` and `filter`: the server narrows (one UID SEARCH), then the newest
   * UIDs are fetched a batch at a time and each is checked exactly (SINCE is only day-precise) until `limit` pass.
   */
  private async newestMatching(client: ImapFlow, uidValidity: string, criteria: SearchObject, filter: MailFilter, limit: number): Promise<EmailSummary[]> {
    const keys = searchKeys(filter, uidValidity);
    if (!keys) return [];
    const newest = [...((await client.search({ ...criteria, ...keys }, { uid: true })) || [])].sort((a, b) => b - a);
    const passes = mailFilterTest(filter);
    const found: EmailSummary[] = [];
    for (let start = 0; start < newest.length && found.length < limit; start += limit) {
      const messages = await client.fetchAll(newest.slice(start, start + limit).join(','), LISTING_QUERY, { uid: true });
      for (const summary of await this.summaries(messages, uidValidity, limit)) {
        if (found.length < limit && passes({ id: summary.id, seen: summary.seen, receivedAtMs: Date.parse(summary.receivedAt) })) found.push(summary);
      }
    }
    return found;
  }

  private async summaries(messages: FetchMessageObject[], uidValidity: string, limit: number): Promise<EmailSummary[]> {
    const newest = [...messages].sort((a, b) => b.uid - a.uid).slice(0, limit);
    return Promise.all(newest.map((message) => toSummary(message, uidValidity)));
  }

  private assertCurrent(wanted: ImapEmailId, uidValidity: string, id: string): void {
    if (wanted.uidValidity !== uidValidity) throw new StaleEmailIdError(id);
  }

  private notFound(id: string): EmailNotFoundError {
    return new EmailNotFoundError(this.account.user, id, MailFolder.Inbox);
  }
}
