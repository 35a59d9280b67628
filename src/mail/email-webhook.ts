import { setTimeout as sleep } from 'node:timers/promises';
import { simpleParser, type AddressObject } from 'mailparser';
import type { Logger } from 'pino';
import { Agent, request } from 'undici';
import { z } from 'zod';
import { AddressSchema } from './maildir/mailbox-address.js';
import { signWebhook } from './webhook-signature.js';

export const EmailWebhookPayloadSchema = z.object({
  user_email: AddressSchema,
  email_id: z.string().min(1),
  from: z.string(),
  subject: z.string(),
  body: z.string(),
  date: z.string().optional(),
  to: z.string().optional(),
});
export type EmailWebhookPayload = z.infer<typeof EmailWebhookPayloadSchema>;

/** The receiver only needs enough text to act on; a whole 10 MiB message would make every webhook call heavy. */
export const MAX_BODY_CHARS = 20_000;

export interface WebhookSenderOptions {
  url: string;
  secret: string;
  /** Per attempt; default 5000. */
  timeoutMs?: number;
  /** Total tries, the first included; default 5. */
  attempts?: number;
  /** Before the second try, doubling for each further one; default 500. */
  retryDelayMs?: number;
  logger: Logger;
}

const DEFAULTS = { timeoutMs: 5000, attempts: 5, retryDelayMs: 500 } satisfies Partial<WebhookSenderOptions>;

/** How much of a refusing receiver's answer goes into the log. */
const LOGGED_RESPONSE_CHARS = 300;

type Outcome = { kind: 'delivered' } | { kind: 'retry'; reason: string } | { kind: 'refused'; status: number; response: string } | { kind: 'closed' };

/** An option passed through as `undefined` (config left blank) must leave the default in place, not erase it. */
function withoutUndefined<T extends object>(options: T): T {
  return Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined)) as T;
}

/** Cuts at `max` UTF-16 units without leaving half of a surrogate pair at the end. */
function truncate(text: string, max: number): string {
  if (text.length <= max) return text;
  const cut = text.slice(0, max);
  const last = cut.charCodeAt(cut.length - 1);
  return last >= 0xd800 && last <= 0xdbff ? cut.slice(0, -1) : cut;
}

function addressText(value: AddressObject | AddressObject[] | undefined): string | undefined {
  if (!value) return undefined;
  const text = (Array.isArray(value) ? value : [value]).map((a) => a.text).filter(Boolean).join(', ');
  return text || undefined;
}

/** The webhook fields for one stored copy; never throws, since a message that reached the mailbox must still be announced. */
export async function webhookPayloadFrom(address: string, emailId: string, raw: Buffer): Promise<EmailWebhookPayload> {
  try {
    const mail = await simpleParser(raw, { skipImageLinks: true, skipTextToHtml: true, skipTextLinks: true, keepCidLinks: true });
    const to = addressText(mail.to);
    return {
      user_email: address,
      email_id: emailId,
      from: mail.from?.text || '(unknown sender)',
      subject: mail.subject ?? '',
      body: truncate(mail.text ?? '', MAX_BODY_CHARS),
      ...(mail.date && !Number.isNaN(mail.date.getTime()) ? { date: mail.date.toISOString() } : {}),
      ...(to ? { to } : {}),
    };
  } catch {
    return {
      user_email: address,
      email_id: emailId,
      from: '(unknown sender)',
      subject: '(unparseable message)',
      body: truncate(raw.toString('utf8'), MAX_BODY_CHARS),
    };
  }
}

/**
 * Announces stored mail to the runtime. `send` never rejects: the message is already stored, and a webhook that cannot
 * be delivered is the receiver's problem to notice in the logs, not a reason to fail an SMTP session.
 */
export class WebhookSender {
  private readonly options: Required<WebhookSenderOptions>;
  /** For logs: the query string may carry a token. */
  private readonly target: string;
  private readonly agent: Agent;
  private readonly closing = new AbortController();
  private closed: Promise<void> | undefined;

  constructor(options: WebhookSenderOptions) {
    this.options = { ...DEFAULTS, ...withoutUndefined(options) };
    const { url, secret, timeoutMs, attempts, retryDelayMs } = this.options;
    const parsed = new URL(url);
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new Error(`The webhook URL must be http(s), got ${url}.`);
    if (!secret) throw new Error('The webhook secret is empty; set a shared secret for the webhook.');
    if (!Number.isInteger(attempts) || attempts < 1) throw new RangeError(`Webhook attempts must be a whole number ≥ 1, got ${attempts}.`);
    if (!(timeoutMs > 0) || !(retryDelayMs >= 0)) throw new RangeError('Webhook timeoutMs must be > 0 and retryDelayMs ≥ 0.');
    this.target = `${parsed.origin}${parsed.pathname}`;
    this.agent = new Agent();
  }

  async send(payload: EmailWebhookPayload): Promise<void> {
    const { logger, attempts, retryDelayMs } = this.options;
    const checked = EmailWebhookPayloadSchema.safeParse(payload);
    const context = { emailId: payload.email_id, userEmail: payload.user_email, target: this.target };
    if (!checked.success) {
      logger.error({ ...context, issues: checked.error.issues }, 'Email webhook not sent: the payload does not fit the schema');
      return;
    }
    const body = JSON.stringify(checked.data);
    let lastReason = '';
    for (let attempt = 1; attempt <= attempts; attempt++) {
      const outcome = await this.attempt(body);
      switch (outcome.kind) {
        case 'delivered':
          logger.debug({ ...context, attempt }, 'Email webhook delivered');
          return;
        case 'closed':
          logger.warn({ ...context, attempt }, 'Email webhook dropped: the sender was closed before it was delivered');
          return;
        case 'refused':
          // A 4xx says the request itself is wrong (bad signature, unknown user), and a webhook has no business being
          // redirected: sending it again cannot help.
          logger.error({ ...context, attempt, status: outcome.status, response: outcome.response }, 'Email webhook refused by the receiver; not retried');
          return;
        case 'retry':
          lastReason = outcome.reason;
          if (attempt < attempts) {
            const delayMs = retryDelayMs * 2 ** (attempt - 1);
            logger.warn({ ...context, attempt, reason: outcome.reason, delayMs }, 'Email webhook failed; retrying');
            const slept = await sleep(delayMs, true, { signal: this.closing.signal }).catch(() => false);
            if (!slept) {
              logger.warn({ ...context, attempt }, 'Email webhook dropped: the sender was closed before it was delivered');
              return;
            }
          }
      }
    }
    logger.error({ ...context, attempts, reason: lastReason }, `Email webhook given up after ${attempts} attempts`);
  }

  private async attempt(body: string): Promise<Outcome> {
    if (this.closing.signal.aborted) return { kind: 'closed' };
    const { url, secret, timeoutMs } = this.options;
    const timeout = AbortSignal.timeout(timeoutMs);
    try {
      // Signed per attempt: a retry chain can outlast the receiver's freshness window.
      const response = await request(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...signWebhook(secret, body) },
        body,
        dispatcher: this.agent,
        signal: AbortSignal.any([this.closing.signal, timeout]),
      });
      const status = response.statusCode;
      if (status >= 200 && status < 300) {
        await response.body.dump();
        return { kind: 'delivered' };
      }
      const text = await response.body.text();
      if (status === 429 || status >= 500) return { kind: 'retry', reason: `HTTP ${status}` };
      return { kind: 'refused', status, response: text.slice(0, LOGGED_RESPONSE_CHARS) };
    } catch (error) {
      if (this.closing.signal.aborted) return { kind: 'closed' };
      if (timeout.aborted) return { kind: 'retry', reason: `no answer within ${timeoutMs} ms` };
      const cause = error instanceof Error && error.cause instanceof Error ? ` (${error.cause.message})` : '';
      return { kind: 'retry', reason: `${error instanceof Error ? error.message : String(error)}${cause}` };
    }
  }

  /** Aborts requests in flight and pending retries; their `send` calls resolve. */
  close(): Promise<void> {
    this.closed ??= (async () => {
      this.closing.abort();
      await this.agent.destroy().catch(() => undefined);
    })();
    return this.closed;
  }
}
