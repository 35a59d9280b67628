import type { ImapFlow } from 'imapflow';
import { createTransport, type Transporter } from 'nodemailer';
import { imapFailure, inboxFailure, smtpFailure } from '../imap/connect-failure.js';
import { openImapClient, type MailClientPolicy } from '../imap/imap-client.js';
import { smtpTransportOptions } from '../imap/imap-sender.js';
import type { MailAccount } from './mail-account.js';

/**
 * Tries an account as it will be used, before it is saved: IMAP login and INBOX, then SMTP login. Throws an
 * `AccountCheckError` that says which part failed.
 */
export async function checkAccount(account: MailAccount, policy: MailClientPolicy): Promise<void> {
  let client: ImapFlow | undefined;
  try {
    client = await openImapClient(account, policy, { watch: false });
    await client.connect();
    try {
      await client.mailboxOpen('INBOX', { readOnly: true });
    } catch (error) {
      throw inboxFailure(error, account.imap);
    }
    await client.logout();
  } catch (error) {
    throw imapFailure(error, account.imap);
  } finally {
    client?.close();
  }
  let transport: Transporter | undefined;
  try {
    transport = createTransport(await smtpTransportOptions(account, policy));
    await transport.verify();
  } catch (error) {
    throw smtpFailure(error, account.smtp);
  } finally {
    transport?.close();
  }
}
