import { HttpError } from '../errors.js';
import { EmailWebhookPayloadSchema, MAX_BODY_CHARS, type EmailWebhookPayload } from '../mail/email-webhook.js';

/**
 * The most each field of an announced email may hold, in characters. An email is stored in Redis until summarized
 * and its text goes to the LLM, so a caller must not make one arbitrarily large. `body` matches what the bundled mail
 * server sends (it cuts the text at `MAX_BODY_CHARS`); the rest leave room for any real header.
 */
export const EMAIL_FIELD_CAPS = {
  /** RFC 5321's longest path. */
  user_email: 254,
  email_id: 512,
  from: 2_000,
  subject: 2_000,
  body: MAX_BODY_CHARS,
  date: 100,
  /** Every recipient of the To header. */
  to: 20_000,
} as const satisfies Record<Exclude<keyof EmailWebhookPayload, 'headers'>, number>;
// `headers` is bounded by the schema itself: a fixed set of names, MAX_TRIAGE_HEADER_CHARS each.

/** 413 naming the first field over its cap; checked before the schema, so the answer says "too large", not "invalid". */
function checkCaps(raw: unknown): void {
  if (raw === null || typeof raw !== 'object') return;
  for (const [field, cap] of Object.entries(EMAIL_FIELD_CAPS)) {
    const value: unknown = (raw as Record<string, unknown>)[field];
    if (typeof value === 'string' && value.length > cap) {
      throw new HttpError(413, `${field} is ${value.length} characters long; at most ${cap} are accepted.`);
    }
  }
}

/** One email as `POST /api/webhooks/email` and `POST /api/generate-summary` take it: 400 when malformed, 413 when too large. */
export function parseEmailPayload(text: string, what: string): EmailWebhookPayload {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new HttpError(400, 'The body is not JSON.');
  }
  checkCaps(raw);
  const parsed = EmailWebhookPayloadSchema.safeParse(raw);
  if (!parsed.success) throw new HttpError(400, `Invalid ${what}: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`).join('; ')}`);
  return parsed.data;
}
