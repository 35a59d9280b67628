import type { Mailbox, Mailboxes, MessageToSend, SentMessage } from './mailbox.js';
import type { EmailMessage, EmailSummary, MailFilter, MaildirStore } from './maildir/index.js';
import { normalizeAddress } from './maildir/mailbox-address.js';
import type { OutgoingMail } from './outgoing-mail.js';

/** The local Maildir (filled by SMTP intake) as a {@link Mailbox}. */
export class MaildirMailbox implements Mailbox {
  constructor(
    readonly address: string,
    private readonly store: MaildirStore,
    private readonly outgoing: OutgoingMail,
  ) {}

  list(limit: number, filter?: MailFilter): Promise<EmailSummary[]> {
    return this.store.list(this.address, { limit, filter });
  }

  read(id: string): Promise<EmailMessage> {
    return this.store.read(this.address, id);
  }

  search(query: string, filter?: MailFilter): Promise<EmailSummary[]> {
    return this.store.search(this.address, query, { filter });
  }

  markSeen(id: string): Promise<EmailSummary> {
    return this.store.markSeen(this.address, id);
  }

  delete(id: string): Promise<void> {
    return this.store.delete(this.address, id);
  }

  unreadCount(): Promise<number> {
    return this.store.unreadCount(this.address);
  }

  async send(message: MessageToSend): Promise<SentMessage> {
    const sent = await this.outgoing.send({ from: this.address, ...message });
    return { sentId: sent.sentId, local: sent.local, relayed: sent.relayed };
  }
}

/** Every address on the local Maildir: the mail server without IMAP accounts (and its `--stdio` mode). */
export function maildirMailboxes(store: MaildirStore, outgoing: OutgoingMail): Mailboxes {
  return { open: (address) => new MaildirMailbox(normalizeAddressOrRaw(address), store, outgoing) };
}

/** An invalid address is left as given: the store refuses it with the error the LLM should read. */
function normalizeAddressOrRaw(address: string): string {
  try {
    return normalizeAddress(address);
  } catch {
    return address;
  }
}
