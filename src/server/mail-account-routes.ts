import { HttpError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { AccountAnswer, MailAccountClient } from '../mail-account/account-client.js';
import { AccountConnectRequestSchema } from '../mail-account/account-contract.js';
import { requireUser, type Authenticate } from './auth.js';
import { rateLimited, refuseForeignOrigin, requireJson } from './http-refusals.js';
import { parseJsonBody } from './json-body.js';
import type { HttpRequest, HttpResponse, HttpRoute } from './ws-server.js';

export const MAIL_ACCOUNT_PATH = '/api/mail/account';

export interface MailAccountRoutesDeps {
  accounts: Pick<MailAccountClient, 'get' | 'connect' | 'disconnect'>;
  authenticate: Authenticate;
  logger: Logger;
  /** Per-user limit of `PUT` (connection attempts); throws `RateLimitedError` when hit. Absent: no limit. */
  limit?: (user: string) => Promise<void>;
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
      const account = parseJsonBody(request.body, AccountConnectRequestSchema, `PUT ${MAIL_ACCOUNT_PATH}`, '{imap_url, smtp_url, username, password, save_sent?}');
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
