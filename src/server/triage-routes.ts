import { z } from 'zod';
import { HttpError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { EmailSummaryRecord, SummaryStore } from '../storage/summary-store.js';
import { TooManyRulesError, type TriageRuleStore } from '../storage/triage-rule-store.js';
import { senderAddress } from '../mail/sender-address.js';
import { UNKNOWN } from '../triage/triage.js';
import { TriageRuleInputSchema } from '../triage/user-rules.js';
import { requireUser, type Authenticate } from './auth.js';
import { refuseForeignOrigin, requireJson } from './http-refusals.js';
import { parseJsonBody } from './json-body.js';
import { summaryItem } from './summary-item.js';
import type { HttpRequest, HttpResponse, HttpRoute } from './ws-server.js';

export const TRIAGE_RULES_PATH = '/api/triage/rules';

export interface TriageRoutesDeps {
  rules: TriageRuleStore;
  summaries: SummaryStore;
  authenticate: Authenticate;
  logger: Logger;
}

const RuleIdSchema = z.uuid();
/** Rules change behind the browser's back (another tab): never a cached answer. */
function fresh(status: number, body: unknown): HttpResponse {
  return { status, body, headers: { 'Cache-Control': 'no-store' } };
}

/** After "not spam": the spam verdict is withdrawn; what the mail is instead is not known (never guessed). */
function withdrawSpam(record: EmailSummaryRecord, sender: string): EmailSummaryRecord['triage'] {
  if (record.triage.category !== 'spam') return record.triage;
  return { category: UNKNOWN, priority: UNKNOWN, needsReply: record.triage.needsReply, reason: `you marked mail from ${sender} not spam` };
}

/**
 * The signed-in user's triage rules, and "not spam" on one of their summaries. The user is always the authenticated
 * one: a rule or summary id of another user is simply not found.
 */
export function triageRoutes(deps: TriageRoutesDeps): Record<string, HttpRoute> {
  const { rules, summaries, authenticate, logger } = deps;
  const signedIn = async (request: HttpRequest): Promise<string> => (await requireUser(authenticate, request)).email;
  return {
    [`GET ${TRIAGE_RULES_PATH}`]: async (request) => fresh(200, { rules: await rules.list(await signedIn(request)) }),

    [`POST ${TRIAGE_RULES_PATH}`]: async (request) => {
      refuseForeignOrigin(request, 'change triage rules');
      const user = await signedIn(request);
      requireJson(request, `POST ${TRIAGE_RULES_PATH}`);
      const input = parseJsonBody(request.body, TriageRuleInputSchema, `POST ${TRIAGE_RULES_PATH}`, '{from?, subject?, words?, category?, priority?, needs_reply?}');
      try {
        const rule = await rules.add(user, input);
        logger.info({ user, rule: rule.id }, 'triage rule added');
        return fresh(201, { rule });
      } catch (error) {
        if (error instanceof TooManyRulesError) throw new HttpError(409, error.message);
        throw error;
      }
    },

    [`DELETE ${TRIAGE_RULES_PATH}/:id`]: async (request) => {
      refuseForeignOrigin(request, 'change triage rules');
      const user = await signedIn(request);
      const id = RuleIdSchema.safeParse(request.params[0]);
      if (!id.success || !(await rules.remove(user, id.data))) throw new HttpError(404, `No triage rule "${request.params[0] ?? ''}".`);
      logger.info({ user, rule: id.data }, 'triage rule deleted');
      return fresh(200, { deleted: true });
    },

    'POST /api/summaries/:email_id/not-spam': async (request) => {
      refuseForeignOrigin(request, 'change triage rules');
      const user = await signedIn(request);
      const emailId = request.params[0] ?? '';
      const record = await summaries.find(user, emailId);
      if (!record) throw new HttpError(404, `No summary of an email "${emailId}".`);
      const sender = senderAddress(record.from).toLowerCase();
      const rule = await rules.notSpam(user, sender);
      const updated = (await summaries.setTriage(user, emailId, withdrawSpam(record, sender))) ?? record;
      logger.info({ user, emailId, rule: rule.id }, 'marked not spam');
      return fresh(200, { rule, summary: summaryItem(updated) });
    },
  };
}
