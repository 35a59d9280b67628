import type { Config } from '../config/schema.js';
import type { Logger } from '../logger.js';
import { AccountMailboxes } from './accounts/account-mailboxes.js';
import { MailAccounts } from './accounts/mail-accounts.js';
import { ConnectionSlots } from './imap/connection-slots.js';
import type { MailClientPolicy } from './imap/imap-client.js';
import { isImapEmailId } from './imap/imap-email-id.js';
import { maildirMailboxes } from './maildir-mailbox.js';
import { MaildirStore } from './maildir/index.js';
import { readInboxMessage } from './maildir/stored-message.js';
import { OutgoingMail } from './outgoing-mail.js';
import { SendPolicy } from './send-policy.js';

export interface OpenedMailboxes {
  store: MaildirStore;
  accounts: MailAccounts;
  mailboxes: AccountMailboxes;
  slots: ConnectionSlots;
  client: MailClientPolicy;
  /** An announced inbox message's bytes, from whichever backend holds it. */
  readAnnounced(address: string, emailId: string): Promise<Buffer | undefined>;
  close(): Promise<void>;
}

/**
 * Every user's mailbox as the tools see it: the IMAP accounts (from the config and those users connected) and the
 * local Maildir for everyone else. Throws when stored accounts cannot be opened (no or a wrong `secret_key`).
 */
export async function openMailboxes(config: Config, logger: Logger, env: NodeJS.ProcessEnv = process.env): Promise<OpenedMailboxes> {
  const mail = config.mail;
  const store = new MaildirStore({ root: mail.maildir_root, localDomains: mail.local_domains });
  const policy = SendPolicy.fromConfig(mail);
  const outgoing = new OutgoingMail(store, mail.relay, policy);
  const accounts = await MailAccounts.load({ root: mail.maildir_root, configAccounts: mail.accounts, secretKey: mail.secret_key, env, logger });
  const slots = new ConnectionSlots(mail.imap_max_connections);
  const client = { maxMessageBytes: mail.max_message_bytes, allowPrivateHosts: mail.private_account_hosts };
  const mailboxes = new AccountMailboxes({ accounts, local: maildirMailboxes(store, outgoing), slots, client, connectionsPerAccount: mail.imap_connections_per_account, policy });
  if (accounts.all().length > 0) logger.info({ accounts: accounts.all().length }, 'IMAP accounts in use');
  return {
    store,
    accounts,
    mailboxes,
    slots,
    client,
    readAnnounced: (address, emailId) =>
      mailboxes.hasAccount(address) && isImapEmailId(emailId) ? mailboxes.readForAnnouncement(address, emailId) : readInboxMessage(mail.maildir_root, address, emailId),
    async close() {
      try {
        await mailboxes.close();
      } finally {
        outgoing.close();
      }
    },
  };
}
