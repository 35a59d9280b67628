import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import type { MailConfig } from '../config/schema.js';
import { domainOf } from './maildir/mailbox-address.js';
import { SendRefusedError } from './outgoing-mail.js';

export interface SendPolicyOptions {
  /** Messages per sender per window. */
  rate: { points: number; duration_s: number };
  maxRecipients: number;
  /** Lower-case; empty allows any domain. */
  allowedRecipientDomains: readonly string[];
}

const MS_PER_S = 1000;

/**
 * What the mail server lets a sender do, whoever asks (the runtime's LLM included): a prompt-injected model can call
 * send_email in a loop, so the bound lives here, next to the SMTP relay, not in the caller. Per process, in memory: a
 * restart forgives, which is acceptable for a bound meant to stop floods, not to bill.
 */
export class SendPolicy {
  private readonly limiter: RateLimiterMemory;
  private readonly allowedDomains: ReadonlySet<string>;

  constructor(private readonly options: SendPolicyOptions) {
    this.limiter = new RateLimiterMemory({ points: options.rate.points, duration: options.rate.duration_s, keyPrefix: 'send_email' });
    this.allowedDomains = new Set(options.allowedRecipientDomains.map((d) => d.toLowerCase()));
  }

  static fromConfig(mail: Pick<MailConfig, 'send_rate' | 'max_recipients' | 'allowed_recipient_domains'>): SendPolicy {
    return new SendPolicy({ rate: mail.send_rate, maxRecipients: mail.max_recipients, allowedRecipientDomains: mail.allowed_recipient_domains });
  }

  /** Refuses (SendRefusedError, which the tool turns into an `isError` result) or counts one message against `from`. */
  async admit(from: string, to: readonly string[]): Promise<void> {
    const { maxRecipients, rate } = this.options;
    if (to.length > maxRecipients) {
      throw new SendRefusedError(`Too many recipients: ${to.length}, at most ${maxRecipients} per email ([mail] max_recipients). Send it in smaller batches.`);
    }
    if (this.allowedDomains.size > 0) {
      const outside = to.filter((address) => !this.allowedDomains.has(domainOf(address)));
      if (outside.length) {
        throw new SendRefusedError(`Sending to ${outside.join(', ')} is not allowed: this server only sends to ${[...this.allowedDomains].join(', ')} ([mail] allowed_recipient_domains).`);
      }
    }
    try {
      await this.limiter.consume(from);
    } catch (rejection) {
      // The library rejects with its result when the budget is spent; anything else is a real failure.
      if (!(rejection instanceof RateLimiterRes)) throw rejection;
      const retryInS = Math.ceil(rejection.msBeforeNext / MS_PER_S);
      throw new SendRefusedError(`Sending limit reached for ${from}: at most ${rate.points} emails per ${rate.duration_s} s ([mail] send_rate). Try again in ${retryInS} s.`);
    }
  }
}
