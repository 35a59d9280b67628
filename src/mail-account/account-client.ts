import { Agent, request } from 'undici';
import type { Config } from '../config/schema.js';
import { errorMessage } from '../errors.js';
import type { Logger } from '../logger.js';
import {
  AccountErrorBodySchema,
  AccountErrorCode,
  AccountStatusSchema,
  DisconnectedAccountSchema,
  type AccountConnectRequest,
  type AccountErrorAnswer,
  type AccountErrorBody,
  type AccountStatus,
} from './account-contract.js';

/** Connecting tries an IMAP login, opens INBOX and tries an SMTP login, each against a server that may be slow. */
export const ACCOUNT_REQUEST_TIMEOUT_MS = 45_000;
/** The contract's answers are a few hundred bytes: anything near this is not the mail server we expect. */
export const MAX_ACCOUNT_ANSWER_BYTES = 64 * 1024;

/** What a runtime route answers: the mail server's status and (re-parsed) body, or the runtime's own error. */
export interface AccountAnswer {
  status: number;
  body: AccountStatus | AccountErrorAnswer;
}

export interface MailAccountClientOptions {
  /** The mail server's `/accounts/` URL (see `mailAccountsUrl`); `undefined` when the runtime has no mail server. */
  accountsUrl: string | undefined;
  /** `[mail] auth_token`, sent as `Authorization: Bearer`; empty sends none. @default "" */
  authToken?: string;
  logger: Logger;
  /** Per request, connection included. @default 45000 */
  timeoutMs?: number;
  /** Longest answer read; a longer one is a 502. @default 65536 */
  maxAnswerBytes?: number;
}

const DEFAULTS = { authToken: '', timeoutMs: ACCOUNT_REQUEST_TIMEOUT_MS, maxAnswerBytes: MAX_ACCOUNT_ANSWER_BYTES };

/**
 * Where the mail server serves `/accounts/`: beside its `/mcp` endpoint, at `[mcp] mail_server_url` or else the bundled
 * server at `[mail] mcp_listen_addr` (as `configuredServers` reaches it). `undefined` when the mail server is off.
 */
export function mailAccountsUrl(config: Pick<Config, 'mcp' | 'mail'>): string | undefined {
  const mailUrl = config.mcp.mail_server_url ?? `http://${config.mail.mcp_listen_addr}`;
  if (!mailUrl) return undefined;
  const url = new URL(mailUrl);
  url.pathname = `${url.pathname.replace(/\/mcp\/?$/, '').replace(/\/$/, '')}/accounts/`;
  url.search = '';
  url.hash = '';
  return url.toString();
}

function refusal(status: number, code: AccountErrorCode, message: string): AccountAnswer {
  return { status, body: { status: 'error', message, error: { code, message } } };
}

/** A contract error from the mail server, with the runtime's usual `status` and `message` beside it. */
function passedOn(status: number, { error }: AccountErrorBody): AccountAnswer {
  return { status, body: { status: 'error', message: error.message, error } };
}

const NOT_SUPPORTED = 'This mail server does not support connecting accounts.';
const SHUTTING_DOWN = 'The runtime is shutting down; try again in a moment.';

/** Statuses whose body the contract defines as `{error: {code, message}}`. */
const ERROR_STATUSES = new Set([409, 422, 503]);

/** Internal to `send`: the answer was cut off at `maxAnswerBytes`. It never leaves this module. */
class AnswerTooLarge extends Error {}

/**
 * The runtime's side of the mail server's `/accounts/<address>` endpoints. Answers inside the contract pass through
 * (re-parsed, so nothing the contract does not name gets through); everything else becomes the runtime's own 5xx with
 * a sentence the user can act on. Never throws for a mail server's failure; never logs a request body.
 */
export class MailAccountClient {
  private readonly options: Required<Omit<MailAccountClientOptions, 'accountsUrl'>> & { accountsUrl: string | undefined };
  private readonly agent = new Agent();
  private readonly closing = new AbortController();
  private closed: Promise<void> | undefined;
  /** For logs: without any user name or password the URL may carry. */
  private readonly target: string | undefined;

  constructor(options: MailAccountClientOptions) {
    this.options = { ...DEFAULTS, ...options };
    const parsed = options.accountsUrl === undefined ? undefined : new URL(options.accountsUrl);
    this.target = parsed && `${parsed.origin}${parsed.pathname}`;
    if (!(this.options.timeoutMs > 0)) throw new RangeError(`timeoutMs must be > 0, got ${this.options.timeoutMs}.`);
    if (!(this.options.maxAnswerBytes > 0)) throw new RangeError(`maxAnswerBytes must be > 0, got ${this.options.maxAnswerBytes}.`);
  }

  get(user: string): Promise<AccountAnswer> {
    return this.send('GET', user);
  }

  connect(user: string, account: AccountConnectRequest): Promise<AccountAnswer> {
    return this.send('PUT', user, account);
  }

  disconnect(user: string): Promise<AccountAnswer> {
    return this.send('DELETE', user);
  }

  /** Aborts requests in flight (they answer 503) and refuses new ones. Safe to call twice. */
  close(): Promise<void> {
    this.closed ??= (async () => {
      this.closing.abort();
      await this.agent.destroy().catch(() => undefined);
    })();
    return this.closed;
  }

  private async send(method: 'GET' | 'PUT' | 'DELETE', user: string, account?: AccountConnectRequest): Promise<AccountAnswer> {
    const { accountsUrl, authToken, timeoutMs, logger } = this.options;
    if (accountsUrl === undefined) return refusal(501, AccountErrorCode.NotSupported, 'This runtime has no mail server ([mcp] mail_server_url is empty).');
    if (this.closing.signal.aborted) return refusal(503, AccountErrorCode.MailServerUnreachable, SHUTTING_DOWN);
    const url = `${accountsUrl}${encodeURIComponent(user)}`;
    const timeout = AbortSignal.timeout(timeoutMs);
    const context = { user, method };
    let status: number;
    let text: string;
    try {
      const response = await request(url, {
        method,
        headers: { accept: 'application/json', ...(account ? { 'content-type': 'application/json' } : {}), ...(authToken ? { authorization: `Bearer ${authToken}` } : {}) },
        ...(account ? { body: JSON.stringify(account) } : {}),
        dispatcher: this.agent,
        signal: AbortSignal.any([this.closing.signal, timeout]),
      });
      status = response.statusCode;
      text = await this.readBounded(response.body);
    } catch (error) {
      if (error instanceof AnswerTooLarge) {
        logger.warn(context, `the mail server's answer to an account request is over ${this.options.maxAnswerBytes} bytes`);
        return refusal(502, AccountErrorCode.MailServer, 'The mail server answered with something unexpected.');
      }
      if (this.closing.signal.aborted) return refusal(503, AccountErrorCode.MailServerUnreachable, SHUTTING_DOWN);
      if (timeout.aborted) {
        logger.warn(context, `the mail server did not answer an account request within ${timeoutMs} ms`);
        return refusal(504, AccountErrorCode.MailServerUnreachable, `The mail server did not answer within ${Math.ceil(timeoutMs / 1000)} s; try again later.`);
      }
      // The URL is the operator's business, and so is the cause: the log gets both, the user a sentence.
      logger.warn({ ...context, url: this.target, err: errorMessage(error), cause: error instanceof Error && error.cause ? errorMessage(error.cause) : undefined }, 'the mail server cannot be reached for an account request');
      return refusal(503, AccountErrorCode.MailServerUnreachable, 'The mail server cannot be reached right now; try again later.');
    }
    return this.interpret(status, text, context);
  }

  /** The answer's text, up to `maxAnswerBytes`; past it the rest is not read. */
  private async readBounded(body: AsyncIterable<Buffer> & { destroy(): unknown }): Promise<string> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of body) {
      size += chunk.byteLength;
      if (size > this.options.maxAnswerBytes) {
        body.destroy();
        throw new AnswerTooLarge();
      }
      chunks.push(chunk);
    }
    return Buffer.concat(chunks).toString('utf8');
  }

  private interpret(status: number, text: string, context: { user: string; method: string }): AccountAnswer {
    const json = parseJson(text);
    if (status === 200) {
      const parsed = AccountStatusSchema.safeParse(json);
      if (parsed.success) return { status, body: parsed.data };
    } else if (status === 404) {
      const parsed = DisconnectedAccountSchema.safeParse(json);
      if (parsed.success) return { status, body: parsed.data };
      const failed = AccountErrorBodySchema.safeParse(json);
      if (failed.success) return passedOn(status, failed.data);
      // An older or foreign mail server: no `/accounts` route at all, rather than no account.
      return refusal(501, AccountErrorCode.NotSupported, NOT_SUPPORTED);
    } else if (ERROR_STATUSES.has(status)) {
      const parsed = AccountErrorBodySchema.safeParse(json);
      if (parsed.success) return passedOn(status, parsed.data);
    } else if (status === 401 || status === 403) {
      // The runtime's credentials or Host, not the user's: passing 401 on would read as "you are signed out".
      this.options.logger.error({ ...context, status }, 'the mail server refused the runtime (check [mail] auth_token on both sides, and [mail] allowed_hosts)');
      return refusal(502, AccountErrorCode.MailServer, 'The mail server refused the runtime; the operator must check its configuration.');
    }
    this.options.logger.warn({ ...context, status, bytes: Buffer.byteLength(text) }, 'the mail server answered an account request outside the contract');
    return refusal(502, AccountErrorCode.MailServer, `The mail server answered with something unexpected (HTTP ${status}).`);
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
