import { simpleParser, type AddressObject, type HeaderLines } from 'mailparser';
import { Agent, request } from 'undici';
import { z } from 'zod';
import { AddressSchema } from './maildir/mailbox-address.js';
import { signWebhook } from './webhook-signature.js';

/**
 * The headers triage reads without the LLM (bulk mail, auto-replies, a spam filter's verdict), lower-case. Only these
 * travel with an announcement: the rest of the header block is the sender's to write and the triage has no use for it.
 */
export const TRIAGE_HEADERS = [
  'list-unsubscribe',
  'list-id',
  'precedence',
  'auto-submitted',
  'x-auto-response-suppress',
  'x-spam-flag',
  'x-spam-status',
  'x-spam-score',
  'x-spam-level',
  'x-rspamd-score',
] as const;
export type TriageHeader = (typeof TRIAGE_HEADERS)[number];
/** Each value is cut here by the sender of the announcement (a longer one is refused, and refused is never resent). */
export const MAX_TRIAGE_HEADER_CHARS = 1_000;

export const EmailWebhookPayloadSchema = z.object({
  user_email: AddressSchema,
  email_id: z.string().min(1),
  from: z.string(),
  subject: z.string(),
  body: z.string(),
  date: z.string().optional(),
  to: z.string().optional(),
  /** Absent from announcements of a mail server older than triage: the rules then go by `from` alone. */
  headers: z.partialRecord(z.enum(TRIAGE_HEADERS), z.string().max(MAX_TRIAGE_HEADER_CHARS)).optional(),
});
export type EmailWebhookPayload = z.infer<typeof EmailWebhookPayloadSchema>;

/** The receiver only needs enough text to act on; a whole 10 MiB message would make every webhook call heavy. */
export const MAX_BODY_CHARS = 20_000;
/**
 * The runtime refuses (413) a `from` or `subject` over 2000 characters and a `to` over 20000 (`EMAIL_FIELD_CAPS`), and
 * a refused payload is never sent again: cut them here so that a mail with absurd headers is still announced.
 */
const MAX_HEADER_CHARS = 2_000;
const MAX_TO_CHARS = 20_000;

export interface WebhookSenderOptions {
  url: string;
  secret: string;
  /** Per attempt. @default 5000 */
  timeoutMs?: number;
}

const DEFAULTS = { timeoutMs: 5000 } satisfies Partial<WebhookSenderOptions>;

/** How much of a refusing receiver's answer goes into the log. */
const LOGGED_RESPONSE_CHARS = 300;

/**
 * Answers that say the payload itself is wrong (malformed, a field over its cap): sending it again cannot help, so the
 * announcement is dropped. Every other refusal (401/403 after a secret change, 404 from a wrong URL, 429, 5xx) is the
 * receiver's state, which changes: the announcement waits and is tried again.
 */
const PAYLOAD_REJECTED = new Set([400, 413, 422]);

/** What one webhook attempt came to. */
export const WebhookResult = { Delivered: 'delivered', Retry: 'retry', Rejected: 'rejected', Closed: 'closed' } as const;
export type WebhookResult = (typeof WebhookResult)[keyof typeof WebhookResult];

export type WebhookOutcome =
  | { kind: typeof WebhookResult.Delivered; status: number }
  /** `status` is absent when no HTTP answer came; `retryAfterMs` when the receiver said when to come back. */
  | { kind: typeof WebhookResult.Retry; reason: string; status?: number; retryAfterMs?: number }
  | { kind: typeof WebhookResult.Rejected; reason: string; status?: number; response?: string }
  | { kind: typeof WebhookResult.Closed };

/** An option passed through as `undefined` (config left blank) must leave the default in place, not erase it. */
function withoutUndefined<T extends object>(options: T): T {
  return Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined)) as T;
}

/** `Retry-After` in seconds (the runtime sends seconds); an HTTP date or garbage is ignored. */
function retryAfterMs(header: string | string[] | undefined): number | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  if (value === undefined || !/^\d+$/.test(value.trim())) return undefined;
  return Number(value.trim()) * 1000;
}

function retryReason(status: number): string {
  if (status === 401 || status === 403) return `HTTP ${status}: the receiver refused the signature (is the webhook secret the same on both sides?)`;
  return `HTTP ${status}`;
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

type TriageHeaders = NonNullable<EmailWebhookPayload['headers']>;

const isTriageHeader = (name: string): name is TriageHeader => (TRIAGE_HEADERS as readonly string[]).includes(name);

/**
 * mailparser keeps header lines as read, one byte per character: a UTF-8 value (RFC 6532) is decoded here, anything
 * else stays as it came, since a mis-decoded character is still better than a dropped header.
 */
function headerText(bytes: string): string {
  if (/[^\u0000-\u00ff]/.test(bytes)) return bytes;
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(Buffer.from(bytes, 'latin1'));
  } catch {
    return bytes;
  }
}

/**
 * Those of {@link TRIAGE_HEADERS} the top-level header block has, as their literal text: unfolded, control characters
 * as spaces, trimmed, cut to {@link MAX_TRIAGE_HEADER_CHARS}; the first of a repeated one (the one added last, by the
 * server nearest to us). The raw lines, not mailparser's parsed `headers`: those turn `List-Unsubscribe` and `List-Id`
 * into objects, merge repeats into arrays and drop an empty `X-Spam-Level` (which says "score 0").
 */
export function triageHeadersOf(headerLines: HeaderLines): TriageHeaders | undefined {
  const found: TriageHeaders = {};
  for (const { key, line } of headerLines) {
    if (!isTriageHeader(key) || found[key] !== undefined) continue;
    const value = headerText(line.slice(line.indexOf(':') + 1))
      .replace(/\r?\n(?=[ \t])/g, '')
      .replace(/[\u0000-\u001f\u007f]/g, ' ')
      .trim();
    found[key] = truncate(value, MAX_TRIAGE_HEADER_CHARS);
  }
  return Object.keys(found).length > 0 ? found : undefined;
}

/** The webhook fields for one stored copy; never throws, since a message that reached the mailbox must still be announced. */
export async function webhookPayloadFrom(address: string, emailId: string, raw: Buffer): Promise<EmailWebhookPayload> {
  try {
    const mail = await simpleParser(raw, { skipImageLinks: true, skipTextToHtml: true, skipTextLinks: true, keepCidLinks: true });
    const to = addressText(mail.to);
    const headers = triageHeadersOf(mail.headerLines);
    return {
      user_email: address,
      email_id: emailId,
      from: truncate(mail.from?.text || '(unknown sender)', MAX_HEADER_CHARS),
      subject: truncate(mail.subject ?? '', MAX_HEADER_CHARS),
      body: truncate(mail.text ?? '', MAX_BODY_CHARS),
      ...(mail.date && !Number.isNaN(mail.date.getTime()) ? { date: mail.date.toISOString() } : {}),
      ...(to ? { to: truncate(to, MAX_TO_CHARS) } : {}),
      ...(headers ? { headers } : {}),
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
 * Posts one signed announcement to the runtime, once. It never throws and never retries: the caller (the announcer)
 * owns the retries, because only it knows that the announcement is safe on disk meanwhile.
 */
export class WebhookSender {
  private readonly options: Required<WebhookSenderOptions>;
  /** For logs: the query string may carry a token. */
  readonly target: string;
  private readonly agent: Agent;
  private readonly closing = new AbortController();
  private closed: Promise<void> | undefined;

  constructor(options: WebhookSenderOptions) {
    this.options = { ...DEFAULTS, ...withoutUndefined(options) };
    const { url, secret, timeoutMs } = this.options;
    const parsed = new URL(url);
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new Error(`The webhook URL must be http(s), got ${url}.`);
    if (!secret) throw new Error('The webhook secret is empty; set a shared secret for the webhook.');
    if (!(timeoutMs > 0)) throw new RangeError(`Webhook timeoutMs must be > 0, got ${timeoutMs}.`);
    this.target = `${parsed.origin}${parsed.pathname}`;
    this.agent = new Agent();
  }

  /** `signal` abandons this attempt (it resolves `closed`), as `close()` abandons all of them. */
  async post(payload: EmailWebhookPayload, signal?: AbortSignal): Promise<WebhookOutcome> {
    const checked = EmailWebhookPayloadSchema.safeParse(payload);
    if (!checked.success) {
      return { kind: WebhookResult.Rejected, reason: `the payload does not fit the schema: ${checked.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}` };
    }
    const cancelled = signal ? AbortSignal.any([this.closing.signal, signal]) : this.closing.signal;
    if (cancelled.aborted) return { kind: WebhookResult.Closed };
    const body = JSON.stringify(checked.data);
    const { url, secret, timeoutMs } = this.options;
    const timeout = AbortSignal.timeout(timeoutMs);
    try {
      // Signed per attempt: retries can outlast the receiver's freshness window.
      const response = await request(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...signWebhook(secret, body) },
        body,
        dispatcher: this.agent,
        signal: AbortSignal.any([cancelled, timeout]),
      });
      const status = response.statusCode;
      if (status >= 200 && status < 300) {
        await response.body.dump();
        return { kind: WebhookResult.Delivered, status };
      }
      const text = (await response.body.text()).slice(0, LOGGED_RESPONSE_CHARS);
      if (PAYLOAD_REJECTED.has(status)) return { kind: WebhookResult.Rejected, reason: `HTTP ${status}`, status, response: text };
      const after = retryAfterMs(response.headers['retry-after']);
      return { kind: WebhookResult.Retry, reason: retryReason(status), status, ...(after !== undefined ? { retryAfterMs: after } : {}) };
    } catch (error) {
      if (cancelled.aborted) return { kind: WebhookResult.Closed };
      if (timeout.aborted) return { kind: WebhookResult.Retry, reason: `no answer within ${timeoutMs} ms` };
      const cause = error instanceof Error && error.cause instanceof Error ? ` (${error.cause.message})` : '';
      return { kind: WebhookResult.Retry, reason: `${error instanceof Error ? error.message : String(error)}${cause}` };
    }
  }

  /** Aborts requests in flight (they resolve as `closed`); later posts resolve `closed` at once. Safe to call twice. */
  close(): Promise<void> {
    this.closed ??= (async () => {
      this.closing.abort();
      await this.agent.destroy().catch(() => undefined);
    })();
    return this.closed;
  }
}
