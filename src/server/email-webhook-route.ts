import { EmailWebhookPayloadSchema, type EmailWebhookPayload } from '../mail/email-webhook.js';
import { SIGNATURE_HEADER, TIMESTAMP_HEADER, verifyWebhook } from '../mail/webhook-signature.js';
import { RateLimitedError } from '../errors.js';
import type { HttpResponse, HttpRoute } from './ws-server.js';

export interface EmailWebhookRouteOptions {
  secret: string;
  toleranceSeconds: number;
  /** What to do with a verified email: queued under `id`, or ignored (summaries off). */
  accept: (payload: EmailWebhookPayload) => Promise<{ status: 'accepted'; id: string } | { status: 'ignored'; reason: string }>;
  /** Per-IP limit; throws `RateLimitedError` when hit. Absent: no limit. */
  limit?: (ip: string) => Promise<void>;
}

const error = (status: number, message: string): HttpResponse => ({ status, body: { status: 'error', message } });

/**
 * `POST /api/webhooks/email`: "mail arrived", from the bundled mail server or any MTA hook. Signed with HMAC-SHA256
 * over `timestamp.body` and refused outside the replay window, so that nobody else can inject mail.
 */
export function emailWebhookRoute(options: EmailWebhookRouteOptions): HttpRoute {
  return async ({ headers, body, ip }) => {
    // An empty secret would let anyone sign: refuse instead.
    if (!options.secret) return error(503, 'Email webhooks are disabled: set [webhooks] secret (or WEBHOOK_SECRET).');
    // Before the HMAC: a flood of forged requests costs a counter, not a hash each.
    try {
      await options.limit?.(ip);
    } catch (limited) {
      if (!(limited instanceof RateLimitedError)) throw limited;
      return { ...error(429, limited.message), headers: { 'Retry-After': String(Math.ceil(limited.retryAfterMs / 1000)) } };
    }
    const text = body.toString('utf8');
    const check = verifyWebhook(options.secret, text, { signature: headers[SIGNATURE_HEADER], timestamp: headers[TIMESTAMP_HEADER] }, { toleranceSeconds: options.toleranceSeconds });
    if (!check.ok) return error(401, check.message);
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch {
      return error(400, 'The body is not JSON.');
    }
    const parsed = EmailWebhookPayloadSchema.safeParse(raw);
    if (!parsed.success) return error(400, `Invalid email webhook: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`).join('; ')}`);
    return { status: 202, body: await options.accept(parsed.data) };
  };
}
