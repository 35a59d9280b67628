import { HttpError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { AccountAnswer, MailAccountClient } from '../mail-account/account-client.js';
import { AccountConnectRequestSchema, type AccountConnectRequest } from '../mail-account/account-contract.js';
import { requireUser, type Authenticate } from './auth.js';
import { rateLimited, refuseForeignOrigin, requireJson } from './http-refusals.js';
import type { HttpRequest, HttpResponse, HttpRoute } from './ws-server.js';

export const MAIL_ACCOUNT_PATH = '/api/mail/account';

export interface MailAccountRoutesDeps {
  accounts: Pick<MailAccountClient, 'get' | 'connect' | 'disconnect'>;
  authenticate: Authenticate;
  logger: Logger;
  /** Per-user limit of `PUT` (connection attempts); throws `RateLimitedError` when hit. Absent: no limit. */
  limit?: (user: string) => Promise<void>;
}

/** Issues named in a 400, at most: a body wrong everywhere needs no more to be fixed. */
const MAX_ISSUES_NAMED = 5;

/**
 * The body of `PUT`. Messages name fields and rules, never values: the value that failed may be the password. The
 * parser's own message is not used either, since it quotes the text around the error.
 */
function parseConnectRequest(body: Buffer): AccountConnectRequest {
  let json: unknown;
  try {
    json = JSON.parse(body.toString('utf8'));
  } catch {
    throw new HttpError(400, `The body of PUT ${MAIL_ACCOUNT_PATH} is not valid JSON.`);
  }
  const parsed = AccountConnectRequestSchema.safeParse(json);
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues.slice(0, MAX_ISSUES_NAMED).map((issue) => (issue.path.length > 0 ? `${issue.path.join('.')}: ${issue.message}` : issue.message));
  throw new HttpError(400, `Invalid body for PUT ${MAIL_ACCOUNT_PATH}: ${issues.join('; ')}. Expected {imap_url, smtp_url, username, password, save_sent?}.`);
}

function answer({ status, body }: AccountAnswer): HttpResponse {
  // The account (or its absence) changes behind the browser's back: a cached answer would show a stale state.
  return { status, body, headers: { 'Cache-Control': 'no-store' } };
}

/**
 * `GET`, `PUT` and `DELETE /api/mail/account`: the signed-in user's own mailbox on the mail server. The address is
 * always the authenticated one, never taken from the body or the query, so nobody reaches another user's account.
 */
export function mailAccountRoutes(deps: MailAccountRoutesDeps): Record<string, HttpRoute> {
  const { accounts, authenticate, logger } = deps;
  const signedIn = async (request: HttpRequest): Promise<string> => (await requireUser(authenticate, request)).email;
  return {
    [`GET ${MAIL_ACCOUNT_PATH}`]: async (request) => answer(await accounts.get(await signedIn(request))),

    [`PUT ${MAIL_ACCOUNT_PATH}`]: async (request) => {
      refuseForeignOrigin(request, 'connect a mailbox');
      const user = await signedIn(request);
      requireJson(request, `PUT ${MAIL_ACCOUNT_PATH}`);
      const account = parseConnectRequest(request.body);
      // Counted only once the body is sound: only attempts that would reach a mail server spend the budget.
      const limited = await rateLimited(deps.limit, user);
      if (limited) return limited;
      const result = await accounts.connect(user, account);
      logger.info({ user, status: result.status, code: 'error' in result.body ? result.body.error.code : undefined }, 'mailbox connection attempt');
      return answer(result);
    },

    [`DELETE ${MAIL_ACCOUNT_PATH}`]: async (request) => {
      refuseForeignOrigin(request, 'disconnect a mailbox');
      const user = await signedIn(request);
      const result = await accounts.disconnect(user);
      logger.info({ user, status: result.status, code: 'error' in result.body ? result.body.error.code : undefined }, 'mailbox disconnection request');
      return answer(result);
    },
  };
}
