import { createTransport, type Transporter } from 'nodemailer';
import MailComposer from 'nodemailer/lib/mail-composer';
import type { MailConfig } from '../config/schema.js';
import { MailFolder, type MaildirStore } from './maildir/index.js';
import { AddressSchema } from './maildir/mailbox-address.js';
import type { SendPolicy } from './send-policy.js';

export interface OutgoingEmail {
  from: string;
  to: string[];
  subject: string;
  body: string;
}

export interface SendResult {
  /** The id of the copy in the sender's Sent folder. */
  sentId: string;
  local: string[];
  relayed: string[];
}

/** A send that cannot happen as asked (bad recipient, no relay for an outside address, a sender that is not local). */
export class SendRefusedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SendRefusedError';
  }
}

/** Splits "a@x.com, b@y.org" into checked, lower-cased addresses. */
export function parseRecipients(to: string): string[] {
  const addresses = to
    .split(/[,;]/)
    .map((a) => a.trim().toLowerCase())
    .filter(Boolean);
  if (addresses.length === 0) throw new SendRefusedError('No recipient: "to" must hold at least one address.');
  const invalid = addresses.filter((a) => !AddressSchema.safeParse(a).success);
  if (invalid.length) throw new SendRefusedError(`Invalid recipient address: ${invalid.join(', ')}.`);
  return addresses;
}

/** The RFC 5322 bytes of a plain-text message. */
export function composeMessage(email: OutgoingEmail): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    new MailComposer({ from: email.from, to: email.to, subject: email.subject, text: email.body }).compile().build((error, message) => {
      if (error) reject(error);
      else resolve(message);
    });
  });
}

/**
 * Sending: local recipients get the message straight into their Maildir; others go through the configured SMTP relay
 * (refused with a clear error when there is none). The sender keeps a copy in Sent.
 */
export class OutgoingMail {
  private readonly relay: Transporter | undefined;

  constructor(
    private readonly store: MaildirStore,
    relay: MailConfig['relay'],
    /** Rate, recipient count and recipient domains; none: no limits (tests of delivery alone). */
    private readonly policy?: SendPolicy,
  ) {
    this.relay = relay
      ? createTransport({
          host: relay.host,
          port: relay.port,
          secure: relay.secure,
          ...(relay.user ? { auth: { user: relay.user, pass: relay.password ?? '' } } : {}),
        })
      : undefined;
  }

  async send(email: OutgoingEmail): Promise<SendResult> {
    if (!this.store.isLocal(email.from)) throw new SendRefusedError(`The sender ${email.from} is not a mailbox on this server.`);
    await this.policy?.admit(email.from, email.to);
    const local = email.to.filter((a) => this.store.isLocal(a));
    const remote = email.to.filter((a) => !this.store.isLocal(a));
    if (remote.length && !this.relay) {
      throw new SendRefusedError(`Cannot send to ${remote.join(', ')}: no SMTP relay is configured for addresses outside this server ([mail.relay]).`);
    }
    const raw = await composeMessage(email);
    // Outside delivery first: if the relay refuses, nothing has been delivered locally or filed as sent.
    if (remote.length && this.relay) await this.relay.sendMail({ envelope: { from: email.from, to: remote }, raw });
    for (const address of local) await this.store.deliver(address, raw);
    const sentId = await this.store.deliver(email.from, raw, MailFolder.Sent);
    return { sentId, local, relayed: remote };
  }

  close(): void {
    this.relay?.close();
  }
}
