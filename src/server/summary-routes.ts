import type { Config } from '../config/schema.js';
import { HttpError, RuntimeError } from '../errors.js';
import { EmailWebhookPayloadSchema, type EmailWebhookPayload } from '../mail/email-webhook.js';
import { QueueUnavailableError, SummaryTimeoutError, type SummaryQueue } from '../queue/summary-queue.js';
import type { SummaryStore } from '../storage/summary-store.js';
import { authenticateHttp, authorizeAdmin, createAdminAccess, type Authenticate } from './auth.js';
import type { HttpRequest, HttpRoute } from './ws-server.js';

export interface SummaryRoutesDeps {
  queue: SummaryQueue;
  store: SummaryStore;
  authenticate: Authenticate;
  config: Pick<Config, 'admin' | 'summarization'>;
}

function parseEmail(body: Buffer): EmailWebhookPayload {
  let raw: unknown;
  try {
    raw = JSON.parse(body.toString('utf8'));
  } catch {
    throw new HttpError(400, 'The body is not JSON.');
  }
  const parsed = EmailWebhookPayloadSchema.safeParse(raw);
  if (!parsed.success) throw new HttpError(400, `Invalid email: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`).join('; ')}`);
  return parsed.data;
}

/** Adds the job, turning "Redis is down" into a 503 that tells the sender to try again (the mail is not lost). */
export async function enqueueSummary(queue: SummaryQueue, email: EmailWebhookPayload): Promise<string> {
  try {
    return await queue.add(email);
  } catch (error) {
    if (error instanceof QueueUnavailableError) throw new HttpError(503, error.message, { cause: error });
    throw error;
  }
}

async function user(deps: SummaryRoutesDeps, request: HttpRequest): Promise<string> {
  try {
    return (await authenticateHttp(deps.authenticate, request)).email;
  } catch (error) {
    throw new HttpError(401, error instanceof RuntimeError ? error.message : 'Not authenticated.', { cause: error });
  }
}

export function summaryRoutes(deps: SummaryRoutesDeps): Record<string, HttpRoute> {
  const admin = createAdminAccess(deps.config.admin, deps.authenticate);
  return {
    /** The seed's contract: `{summary}`, through the same queue as incoming mail. */
    'POST /api/generate-summary': async ({ body }) => {
      const email = parseEmail(body);
      const jobId = await enqueueSummary(deps.queue, email);
      try {
        const result = await deps.queue.waitForResult(jobId, deps.config.summarization.timeout_ms);
        return { status: 200, body: { summary: result.summary } };
      } catch (error) {
        if (error instanceof SummaryTimeoutError) throw new HttpError(504, error.message);
        throw error;
      }
    },
    'GET /api/summaries': async (request) => {
      const email = await user(deps, request);
      const limit = Math.min(Math.max(Number(request.query.get('limit') ?? 50) || 50, 1), 500);
      const summaries = await deps.store.listForUser(email, limit);
      return {
        status: 200,
        body: { summaries: summaries.map((s) => ({ email_id: s.emailId, from: s.from, subject: s.subject, summary: s.summary, model: s.model, created_at: s.createdAt })) },
      };
    },
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

/** Summary endpoints on a runtime without a queue: each says why, instead of a 404. */
export function unavailableSummaryRoutes(reason: string): Record<string, HttpRoute> {
  const off: HttpRoute = async () => {
    throw new HttpError(503, `Email summaries are unavailable: ${reason}.`);
  };
  return { 'POST /api/generate-summary': off, 'GET /api/summaries': off, 'GET /api/summaries/failed': off, 'POST /api/summaries/failed/:id/retry': off };
}
