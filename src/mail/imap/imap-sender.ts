import { createTransport, type Transporter } from 'nodemailer';
import { errorMessage } from '../../errors.js';
import type { MailAccount } from '../accounts/mail-account.js';
import type { MessageToSend, SentMessage } from '../mailbox.js';
import { MailboxUnavailableError } from '../maildir/index.js';
import { composeMessage } from '../outgoing-mail.js';
import type { SendPolicy } from '../send-policy.js';
import { smtpFailure } from './connect-failure.js';
import type { MailClientPolicy } from './imap-client.js';
import { serverAddress } from './server-address.js';
import { formatImapEmailId } from './imap-email-id.js';
import type { ImapPool } from './imap-pool.js';
import { SpecialUse, specialFolder } from './special-folder.js';

/** The nodemailer transport options of an account's outgoing server; STARTTLS required off loopback. */
export async function smtpTransportOptions(account: MailAccount, policy: MailClientPolicy): Promise<Parameters<typeof createTransport>[0]> {
  const address = await serverAddress(account, account.smtp, policy.allowPrivateHosts);
  return {
    host: address.host,
    port: account.smtp.port,
    secure: account.smtp.secure,
    requireTLS: account.smtp.requireStartTls,
    tls: { ...(address.servername ? { servername: address.servername } : {}), ...(policy.ca ? { ca: policy.ca } : {}) },
    auth: { user: account.username, pass: account.password },
    connectionTimeout: 15_000,
    greetingTimeout: 15_000,
    socketTimeout: 60_000,
    logger: false,
  };
}

/** `send_email` for an IMAP account: submitted through the account's SMTP server, a copy appended to its Sent folder. */
export class ImapSender {
  constructor(
    private readonly account: MailAccount,
    private readonly pool: ImapPool,
    private readonly policy: SendPolicy | undefined,
    private readonly client: MailClientPolicy,
  ) {}

  async send(message: MessageToSend): Promise<SentMessage> {
    const from = this.account.user;
    await this.policy?.admit(from, message.to);
    const raw = await composeMessage({ from, ...message });
    let transport: Transporter | undefined;
    try {
      transport = createTransport(await smtpTransportOptions(this.account, this.client));
      await transport.sendMail({ envelope: { from, to: message.to }, raw });
    } catch (error) {
      throw new MailboxUnavailableError(`Not sent: ${smtpFailure(error, this.account.smtp).message}`, { cause: error });
    } finally {
      transport?.close();
    }
    const filed = this.account.saveSent ? await this.fileInSent(raw) : { sentNote: 'Your mail provider files the copy in Sent.' };
    return { ...filed, local: [], relayed: message.to };
  }

  /** After the send: a copy that cannot be filed is reported, but the mail went and must not be sent again. */
  private async fileInSent(raw: Buffer): Promise<Pick<SentMessage, 'sentId' | 'sentNote'>> {
    try {
      return await this.pool.use(async (client) => {
        const sent = await specialFolder(client, SpecialUse.Sent);
        const appended = await client.append(sent, raw, ['\\Seen']);
        // Without UIDPLUS the server does not say where the copy went.
        if (!appended || appended.uid === undefined || appended.uidValidity === undefined) return { sentNote: `A copy is in ${sent}.` };
        return { sentId: formatImapEmailId({ folder: 'Sent', uidValidity: String(appended.uidValidity), uid: appended.uid }) };
      });
    } catch (error) {
      return { sentNote: `The mail went, but no copy could be put in Sent: ${errorMessage(error)}` };
    }
  }
}
