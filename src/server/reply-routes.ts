import { ErrorCode, HttpError, RuntimeError } from '../errors.js';
import { SUGGEST_TIMEOUT_MS, suggestReplies, type ReplySuggestionsDeps } from '../replies/reply-drafts.js';
import { SuggestRepliesRequestSchema, type ReplySuggestions } from '../replies/reply-wire.js';
import { requireUser, type Authenticate } from './auth.js';
import { rateLimited, refuseForeignOrigin, requireJson } from './http-refusals.js';
import { parseJsonBody } from './json-body.js';
import type { HttpRoute } from './http-types.js';

export const SUGGEST_REPLIES_PATH = '/api/replies/suggest';

export interface ReplyRoutesDeps extends ReplySuggestionsDeps {
  authenticate: Authenticate;
  /** Spends one point of the user's LLM budget (as a chat message does); throws `RateLimitedError` when spent. */
  limit?: (user: string) => Promise<void>;
}

/** The LLM's own failures: nothing the client can fix by changing the request. */
const LLM_DOWN: ReadonlySet<string> = new Set([ErrorCode.LlmUnavailable, ErrorCode.ModelNotFound, ErrorCode.LlmError]);

/**
 * `POST /api/replies/suggest {email_id}` → `{to, subject, drafts}`: reply drafts for one of the signed-in user's emails.
 * Sending one is a separate, approved step (`propose_reply` on the socket).
 */
export function replyRoutes(deps: ReplyRoutesDeps): Record<string, HttpRoute> {
  return {
    [`POST ${SUGGEST_REPLIES_PATH}`]: async (request) => {
      refuseForeignOrigin(request, 'ask for reply drafts');
      const { email: user } = await requireUser(deps.authenticate, request);
      requireJson(request, `POST ${SUGGEST_REPLIES_PATH}`);
      const { email_id: emailId } = parseJsonBody(request.body, SuggestRepliesRequestSchema, `POST ${SUGGEST_REPLIES_PATH}`, '{email_id}');
      // Counted once the request is sound: only requests that reach the LLM spend the budget.
      const limited = await rateLimited(deps.limit, user);
      if (limited) return limited;
      const signal = AbortSignal.timeout(SUGGEST_TIMEOUT_MS);
      try {
        const outcome = await suggestReplies(deps, user, emailId, signal);
        switch (outcome.status) {
          case 'ok':
            return { status: 200, body: outcome.suggestions satisfies ReplySuggestions, headers: { 'Cache-Control': 'no-store' } };
          case 'not_found':
            throw new HttpError(404, `No email "${emailId}" in your mailbox.`);
          case 'invalid_answer':
            throw new HttpError(502, `The language model did not write usable drafts (${outcome.problem}); try again.`);
        }
      } catch (error) {
        if (error instanceof RuntimeError && LLM_DOWN.has(error.code)) throw new HttpError(503, `Reply drafts are unavailable: the language model cannot answer right now (${error.message}).`, { cause: error });
        if (signal.aborted) throw new HttpError(503, `Reply drafts are unavailable: the language model did not answer within ${SUGGEST_TIMEOUT_MS / 1000} s.`, { cause: error });
        throw error;
      }
    },
  };
}
