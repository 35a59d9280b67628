import { z } from 'zod';
import type { Config } from '../config/schema.js';
import { WireTriageSchema } from '../triage/triage.js';
import { summaryItem } from './summary-item.js';
import { HttpError } from '../errors.js';
import { SIGNATURE_HEADER, TIMESTAMP_HEADER, verifyWebhook } from '../mail/webhook-signature.js';
import { isLoopbackListenAddr } from '../net/loopback.js';
import { SummaryTimeoutError, type SummaryQueue } from '../queue/summary-queue.js';
import type { SummaryStore } from '../storage/summary-store.js';
import { authorizeAdmin, bearerToken, createAdminAccess, requireUser, type AdminAccess, type Authenticate } from './auth.js';
import { parseEmailPayload } from './email-payload.js';
import { rateLimited, refuseForeignOrigin, requireJson, unlessQueueUnavailable } from './http-refusals.js';
import type { HttpRequest, HttpRoute } from './ws-server.js';

export interface SummaryRoutesDeps {
  queue: SummaryQueue;
  store: SummaryStore;
  authenticate: Authenticate;
  config: Pick<Config, 'admin' | 'summarization' | 'webhooks' | 'auth' | 'server'>;
  /** Per-IP limit of `POST /api/generate-summary`; throws `RateLimitedError` when hit. Absent: no limit. */
  limit?: (ip: string) => Promise<void>;
}

const CREDENTIALS_HINT =
  `Send Authorization: Bearer <the [admin] token or a JWT with the admin role>, or sign the body like /api/webhooks/email (${SIGNATURE_HEADER}, ${TIMESTAMP_HEADER}).`;

/**
 * The seed's contract (anyone may ask) only holds where nobody else can connect: dev mode, on loopback, without JWT
 * sign-in. Anywhere else an open endpoint lets anyone push a fake notification to any user and spend LLM time.
 */
function openToAnyone({ config, authenticate }: SummaryRoutesDeps): boolean {
  return config.auth.dev_mode === true && !authenticate.verifiesTokens && isLoopbackListenAddr(config.server.listen_addr);
}

/**
 * Open to anyone still means anyone on this machine, not any website the developer visits: a page elsewhere can make
 * the browser POST here (a form, or `fetch` with `Content-Type: text/plain`, neither preflighted) and push a phishing
 * notification (CSRF). A foreign `Origin` is refused, and only JSON accepted.
 */
function refuseCrossSite(request: HttpRequest): void {
  refuseForeignOrigin(request, 'request summaries');
  requireJson(request, 'POST /api/generate-summary');
}

/** An operator (admin token or admin JWT) or a mail system holding the webhook secret; 401/403 otherwise. */
async function authorizeSummaryRequest(deps: SummaryRoutesDeps, admin: AdminAccess, request: HttpRequest, text: string): Promise<void> {
  const signature = request.headers[SIGNATURE_HEADER];
  const timestamp = request.headers[TIMESTAMP_HEADER];
  if (signature !== undefined || timestamp !== undefined) {
    if (!deps.config.webhooks.secret) throw new HttpError(401, 'Signed requests are not accepted: no [webhooks] secret is set.');
    const check = verifyWebhook(deps.config.webhooks.secret, text, { signature, timestamp }, { toleranceSeconds: deps.config.webhooks.tolerance_s });
    if (!check.ok) throw new HttpError(401, check.message);
    return;
  }
  if (bearerToken(request.headers) === undefined) throw new HttpError(401, `POST /api/generate-summary needs credentials. ${CREDENTIALS_HINT}`);
  await authorizeAdmin(admin, request.headers);
}

export function summaryRoutes(deps: SummaryRoutesDeps): Record<string, HttpRoute> {
  const admin = createAdminAccess(deps.config.admin, deps.authenticate);
  return {
    /** The seed's contract: `{summary}`, through the same queue as incoming mail. */
    'POST /api/generate-summary': async (request) => {
      const limited = await rateLimited(deps.limit, request.ip);
      if (limited) return limited;
      const text = request.body.toString('utf8');
      if (openToAnyone(deps)) refuseCrossSite(request);
      else await authorizeSummaryRequest(deps, admin, request, text);
      const email = parseEmailPayload(text, 'email');
      return unlessQueueUnavailable(async () => {
        const jobId = await deps.queue.add(email);
        try {
          const result = await deps.queue.waitForResult(jobId, deps.config.summarization.timeout_ms);
          return { status: 200, body: { summary: result.summary } };
        } catch (error) {
          if (error instanceof SummaryTimeoutError) throw new HttpError(504, error.message);
          throw error;
        }
      });
    },
    'GET /api/summaries': summaryListRoute(deps),
    'GET /api/summaries/failed': async (request) => {
      await authorizeAdmin(admin, request.headers);
      return { status: 200, body: { jobs: await deps.queue.failed() } };
    },
    'POST /api/summaries/failed/:id/retry': async (request) => {
      await authorizeAdmin(admin, request.headers);
      const id = request.params[0] ?? '';
      if (!(await deps.queue.retry(id))) throw new HttpError(404, `No failed summary job "${id}".`);
      return { status: 202, body: { status: 'retrying', id } };
    },
  };
}

/** `GET /api/summaries`'s filters, each optional; a value it does not know is a 400 rather than ignored (other keys, like dev mode's `email`, are not its business). */
const SummaryQuerySchema = z.object({
  limit: z.coerce.number().int().min(1).max(500).default(50),
  category: WireTriageSchema.shape.category.optional(),
  priority: WireTriageSchema.shape.priority.optional(),
  needs_reply: z.enum(['true', 'false']).transform((v) => v === 'true').optional(),
});

function parseSummaryQuery(query: URLSearchParams): z.infer<typeof SummaryQuerySchema> {
  const parsed = SummaryQuerySchema.safeParse(Object.fromEntries(query));
  if (!parsed.success) throw new HttpError(400, `Invalid query for GET /api/summaries: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(query)'}: ${i.message}`).join('; ')}`);
  return parsed.data;
}

/** A user's summaries with their triage, read from storage: it needs neither Redis nor the queue. */
export function summaryListRoute(deps: Pick<SummaryRoutesDeps, 'store' | 'authenticate'>): HttpRoute {
  return async (request) => {
    const { email } = await requireUser(deps.authenticate, request);
    const { limit, category, priority, needs_reply } = parseSummaryQuery(request.query);
    const summaries = await deps.store.listForUser(email, limit, { ...(category ? { category } : {}), ...(priority ? { priority } : {}), ...(needs_reply !== undefined ? { needsReply: needs_reply } : {}) });
    return { status: 200, body: { summaries: summaries.map(summaryItem) } };
  };
}

/**
 * Summary endpoints on a runtime without a queue: those that need it say why, instead of a 404; the summaries already
 * stored are still listed.
 */
export function unavailableSummaryRoutes(reason: string, deps: Pick<SummaryRoutesDeps, 'store' | 'authenticate'>): Record<string, HttpRoute> {
  const off: HttpRoute = async () => {
    throw new HttpError(503, `Email summaries are unavailable: ${reason}.`);
  };
  return { 'POST /api/generate-summary': off, 'GET /api/summaries': summaryListRoute(deps), 'GET /api/summaries/failed': off, 'POST /api/summaries/failed/:id/retry': off };
}
