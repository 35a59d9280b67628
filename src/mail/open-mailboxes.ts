import type { Config } from '../config/schema.js';
import type { Logger } from '../logger.js';
import { shutdownStep } from '../shutdown-step.js';
import { EmailTriageStore } from '../storage/email-triage-store.js';
import { openMigratedDatabase } from '../storage/open-storage.js';
import { AccountMailboxes } from './accounts/account-mailboxes.js';
import { MailAccounts } from './accounts/mail-accounts.js';
import { ConnectionSlots } from './imap/connection-slots.js';
import type { MailClientPolicy } from './imap/imap-client.js';
import { isImapEmailId } from './imap/imap-email-id.js';
import { trustedCertificates } from './imap/trusted-certificates.js';
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
  /** The triage the runtime stored with each summary, read from its database for the tools' filters and annotations. */
  triage: EmailTriageStore;
  /** An announced inbox message's bytes, from whichever backend holds it. */
  readAnnounced(address: string, emailId: string): Promise<Buffer | undefined>;
  /** Every part is closed even when one fails; safe to call twice. */
  close(): Promise<void>;
}

/**
 * Every user's mailbox as the tools see it: the IMAP accounts (from the config and those users connected) and the
 * local Maildir for everyone else, with the triage of their mail from the runtime's database. Throws when stored
 * accounts cannot be opened (no or a wrong `secret_key`), or the database cannot be opened or migrated.
 */
export async function openMailboxes(config: Config, logger: Logger, env: NodeJS.ProcessEnv = process.env): Promise<OpenedMailboxes> {
  const mail = config.mail;
  const ca = trustedCertificates(mail.tls_ca_file);
  const client: MailClientPolicy = { maxMessageBytes: mail.max_message_bytes, allowPrivateHosts: mail.private_account_hosts, ...(ca ? { ca } : {}) };
  // The runtime's own database (the same config keys), for the triage stored with each summary.
  const db = await openMigratedDatabase(config, logger);
  let accounts: MailAccounts;
  try {
    accounts = await MailAccounts.load({ root: mail.maildir_root, configAccounts: mail.accounts, secretKey: mail.secret_key, env, logger });
  } catch (error) {
    await db.destroy().catch(() => undefined);
    throw error;
  }
  const store = new MaildirStore({ root: mail.maildir_root, localDomains: mail.local_domains });
  const policy = SendPolicy.fromConfig(mail);
  const outgoing = new OutgoingMail(store, mail.relay, policy);
  const slots = new ConnectionSlots(mail.imap_max_connections);
  const mailboxes = new AccountMailboxes({ accounts, local: maildirMailboxes(store, outgoing), slots, client, connectionsPerAccount: mail.imap_connections_per_account, policy });
  if (accounts.all().length > 0) logger.info({ accounts: accounts.all().length }, 'IMAP accounts in use');
  let closing: Promise<void> | undefined;
  return {
    store,
    accounts,
    mailboxes,
    slots,
    client,
    triage: new EmailTriageStore(db),
    readAnnounced: (address, emailId) =>
      mailboxes.hasAccount(address) && isImapEmailId(emailId) ? mailboxes.readForAnnouncement(address, emailId) : readInboxMessage(mail.maildir_root, address, emailId),
    close() {
      closing ??= (async () => {
        const step = shutdownStep(logger);
        await step('closing the IMAP connections', () => mailboxes.close());
        await step('closing the SMTP relay', () => outgoing.close());
        await step('closing the database', () => db.destroy());
      })();
      return closing;
    },
  };
}
