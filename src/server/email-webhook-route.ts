import type { Context } from '@opentelemetry/api';
import type { EmailWebhookPayload } from '../mail/email-webhook.js';
import { SIGNATURE_HEADER, TIMESTAMP_HEADER, verifyWebhook } from '../mail/webhook-signature.js';
import { parseEmailPayload } from './email-payload.js';
import { TRACING_OFF, type Tracing } from '../tracing/setup-tracing.js';
import { tracedRoute } from '../tracing/traced-route.js';
import { rateLimited, unlessQueueUnavailable } from './http-refusals.js';
import type { HttpRequest, HttpResponse, HttpRoute } from './ws-server.js';

export interface EmailWebhookRouteOptions {
  secret: string;
  toleranceSeconds: number;
  /**
   * What to do with a verified email: queued under `id`, or ignored (summaries off). A `QueueUnavailableError` answers
   * 503. `trace` is the request's span, for the job to join.
   */
  accept: (payload: EmailWebhookPayload, trace: Context | undefined) => Promise<{ status: 'accepted'; id: string } | { status: 'ignored'; reason: string }>;
  /** Per-IP limit; throws `RateLimitedError` when hit. Absent: no limit. */
  limit?: (ip: string) => Promise<void>;
  /** Each request a SERVER span (continuing a `traceparent` the sender gave), the summary's trace from here on. @default tracing off */
  tracing?: Tracing;
}

const ROUTE = '/api/webhooks/email';

const error = (status: number, message: string): HttpResponse => ({ status, body: { status: 'error', message } });

/**
 * `POST /api/webhooks/email`: "mail arrived", from the bundled mail server or any MTA hook. Signed with HMAC-SHA256
 * over `timestamp.body` and refused outside the replay window, so that nobody else can inject mail.
 */
export function emailWebhookRoute(options: EmailWebhookRouteOptions): HttpRoute {
  return tracedRoute(options.tracing ?? TRACING_OFF, 'POST', ROUTE, (request, trace) => handle(options, request, trace));
}

async function handle(options: EmailWebhookRouteOptions, { headers, body, ip }: HttpRequest, trace: Context | undefined): Promise<HttpResponse> {
  // An empty secret would let anyone sign: refuse instead.
  if (!options.secret) return error(503, 'Email webhooks are disabled: set [webhooks] secret (or WEBHOOK_SECRET).');
  const limited = await rateLimited(options.limit, ip);
  if (limited) return limited;
  const text = body.toString('utf8');
  const check = verifyWebhook(options.secret, text, { signature: headers[SIGNATURE_HEADER], timestamp: headers[TIMESTAMP_HEADER] }, { toleranceSeconds: options.toleranceSeconds });
  if (!check.ok) return error(401, check.message);
  const email = parseEmailPayload(text, 'email webhook');
  return unlessQueueUnavailable(async () => ({ status: 202, body: await options.accept(email, trace) }));
}
