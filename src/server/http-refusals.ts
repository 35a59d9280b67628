import { HttpError, RateLimitedError } from '../errors.js';
import { QueueUnavailableError } from '../queue/summary-queue.js';
import type { HttpRequest, HttpResponse } from './ws-server.js';

/** A browser sends this cross-origin only after a CORS preflight, which foreign origins fail. */
export const JSON_CONTENT_TYPE = 'application/json';

/**
 * A page elsewhere can make a signed-in browser send a request here (CSRF): a form, or `fetch` without a preflight.
 * Routes with side effects refuse a foreign `Origin` (403) with this; `action` completes "may not …".
 */
export function refuseForeignOrigin(request: HttpRequest, action: string): void {
  if (request.foreignOrigin) throw new HttpError(403, `Origin ${request.headers.origin ?? ''} may not ${action} ([server] allowed_origins).`);
}

/** Only JSON (`415` otherwise): the media types a form can send need no preflight, so they would skip the Origin check. */
export function requireJson(request: HttpRequest, route: string): void {
  const mediaType = (request.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
  if (mediaType !== JSON_CONTENT_TYPE) throw new HttpError(415, `${route} takes Content-Type: ${JSON_CONTENT_TYPE}.`);
}

/** A restarted or reconnecting Redis is usually back within seconds. */
const REDIS_DOWN_RETRY_AFTER_S = 5;
/** A full Redis frees memory only as the worker finishes jobs (and old ones expire): ask senders to back off longer. */
const REDIS_FULL_RETRY_AFTER_S = 30;

/**
 * Runs `work` (which adds a summary job) and turns "the queue cannot take it" into `503` with `Retry-After`: the
 * sender keeps the email and tries again, so nothing is lost; what Redis already holds stays (it never evicts).
 */
export async function unlessQueueUnavailable(work: () => Promise<HttpResponse>): Promise<HttpResponse> {
  try {
    return await work();
  } catch (error) {
    if (!(error instanceof QueueUnavailableError)) throw error;
    const retryAfterS = error.redisFull ? REDIS_FULL_RETRY_AFTER_S : REDIS_DOWN_RETRY_AFTER_S;
    return { status: 503, body: { status: 'error', message: error.message }, headers: { 'Retry-After': String(retryAfterS) } };
  }
}

/**
 * Spends one point of the caller's budget; `429` with `Retry-After` when it is spent, `undefined` to go on. Called
 * before any signature or token check: a flood of forged requests costs a counter, not a hash each.
 */
export async function rateLimited(limit: ((ip: string) => Promise<void>) | undefined, ip: string): Promise<HttpResponse | undefined> {
  try {
    await limit?.(ip);
    return undefined;
  } catch (error) {
    if (!(error instanceof RateLimitedError)) throw error;
    return { status: 429, body: { status: 'error', message: error.message }, headers: { 'Retry-After': String(Math.ceil(error.retryAfterMs / 1000)) } };
  }
}
