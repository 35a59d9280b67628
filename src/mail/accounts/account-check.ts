import { createTransport } from 'nodemailer';
import { imapFailure, smtpFailure } from '../imap/connect-failure.js';
import { createImapClient, type ImapClientLimits } from '../imap/imap-client.js';
import { smtpTransportOptions } from '../imap/imap-sender.js';
import type { MailAccount } from './mail-account.js';

/**
 * Tries an account as it will be used, before it is saved: IMAP login and INBOX, then SMTP login. Throws an
 * `AccountCheckError` that says which part failed.
 */
export async function checkAccount(account: MailAccount, limits: ImapClientLimits): Promise<void> {
  const client = createImapClient(account, limits, { watch: false });
  try {
    await client.connect();
    await client.mailboxOpen('INBOX', { readOnly: true });
    await client.logout();
  } catch (error) {
    throw imapFailure(error, account.imap);
  } finally {
    client.close();
  }
  const transport = createTransport(smtpTransportOptions(account));
  try {
    await transport.verify();
  } catch (error) {
    throw smtpFailure(error, account.smtp);
  } finally {
    transport.close();
  }
}
