import { z } from 'zod';
import { imapUrl, smtpUrl } from '../config/mail-schema.js';

/**
 * The mail server's `/accounts/<address>` contract (issue 12), as the runtime forwards it: what the runtime sends, and
 * what it accepts back. The URL rules and account sources are the mail server's own; the rest is checked again on
 * every answer, so a drift shows as a 502 naming the mail server, never as a wrong page. Nothing here may import
 * node modules: the web UI type-checks against it.
 */

/** The mail server's own bound (`imapUrl`, `smtpUrl`): a host and a port, never a path. */
export const MAX_ACCOUNT_URL_CHARS = 2048;
/** RFC 5321's longest address is 254; some providers' login names are not addresses: leave room. */
export const MAX_ACCOUNT_USERNAME_CHARS = 320;
export const MAX_ACCOUNT_PASSWORD_CHARS = 1024;
/** A human sentence from the mail server, shown to the user: bounded so a broken server cannot flood the page. */
const MAX_MESSAGE_CHARS = 2000;

/** The mail server's `AccountSource` (not imported: its module reaches `node:net`). */
export const AccountSource = {
  /** `[[mail.accounts]]` in the mail server's config: the user cannot change or remove it. */
  Config: 'config',
  /** Connected by the user through `PUT /accounts/<address>`. */
  User: 'user',
} as const;
export type AccountSource = (typeof AccountSource)[keyof typeof AccountSource];

/** The new-mail watcher's phase (the mail server's `WatchPhase`, not imported: its module loads imapflow). */
export const WatchState = {
  Watching: 'watching',
  Connecting: 'connecting',
  /** The last attempt failed (`last_error` says why); the mail server tries again by itself. */
  Retrying: 'retrying',
} as const;
export type WatchState = (typeof WatchState)[keyof typeof WatchState];

/**
 * Every `error.code` a client can see on the account endpoints: the mail server's (`ConnectFailure`, `AccountRefusal`
 * and `invalid`), then the runtime's own.
 */
export const AccountErrorCode = {
  AuthFailed: 'auth_failed',
  TlsFailed: 'tls_failed',
  Unreachable: 'unreachable',
  NoInbox: 'no_inbox',
  SmtpFailed: 'smtp_failed',
  HostNotAllowed: 'host_not_allowed',
  Invalid: 'invalid',
  ManagedByOperator: 'managed_by_operator',
  NoSecretKey: 'no_secret_key',
  /** The runtime's: the mail server answered something outside this contract (502). */
  MailServer: 'mail_server',
  /** The runtime's: no answer from the mail server (503), or none in time (504). */
  MailServerUnreachable: 'mail_server_unreachable',
  /** The runtime's: no mail server, or one without `/accounts` (501). */
  NotSupported: 'not_supported',
} as const;
export type AccountErrorCode = (typeof AccountErrorCode)[keyof typeof AccountErrorCode];

/** `PUT /accounts/<address>`: strict, so a field the contract does not name (another `user`) is refused, not ignored. */
export const AccountConnectRequestSchema = z.strictObject({
  imap_url: imapUrl,
  smtp_url: smtpUrl,
  username: z.string().min(1).max(MAX_ACCOUNT_USERNAME_CHARS),
  password: z.string().min(1).max(MAX_ACCOUNT_PASSWORD_CHARS),
  save_sent: z.boolean().optional(),
});
export type AccountConnectRequest = z.infer<typeof AccountConnectRequestSchema>;

/**
 * A connected account. Not strict, on purpose: parsing drops every key it does not name, so a field the mail server
 * should never send (a password, by mistake) cannot reach the browser through the runtime.
 */
export const ConnectedAccountSchema = z.object({
  connected: z.literal(true),
  source: z.enum([AccountSource.Config, AccountSource.User]),
  imap_url: z.string().max(MAX_ACCOUNT_URL_CHARS),
  smtp_url: z.string().max(MAX_ACCOUNT_URL_CHARS),
  username: z.string().max(MAX_ACCOUNT_USERNAME_CHARS),
  save_sent: z.boolean(),
  /** Absent when the mail server does not watch for new mail (announcing is off). */
  watch: z
    .object({
      state: z.enum([WatchState.Watching, WatchState.Connecting, WatchState.Retrying]),
      last_error: z.string().max(MAX_MESSAGE_CHARS).optional(),
    })
    .optional(),
});
export type ConnectedAccount = z.infer<typeof ConnectedAccountSchema>;

export const DisconnectedAccountSchema = z.object({ connected: z.literal(false) });
export type DisconnectedAccount = z.infer<typeof DisconnectedAccountSchema>;

export const AccountStatusSchema = z.union([ConnectedAccountSchema, DisconnectedAccountSchema]);
export type AccountStatus = z.infer<typeof AccountStatusSchema>;

/** `code` stays a string: a code added on the mail server later must still reach the user with its message. */
export const AccountErrorBodySchema = z.object({
  error: z.object({ code: z.string().min(1).max(64), message: z.string().max(MAX_MESSAGE_CHARS) }),
});
export type AccountErrorBody = z.infer<typeof AccountErrorBodySchema>;

/**
 * What the runtime's `/api/mail/account` answers with an error: the contract's `error` object, plus the runtime's
 * usual `status` and `message`, so that clients of any runtime endpoint read errors one way.
 */
export type AccountErrorAnswer = AccountErrorBody & { status: 'error'; message: string };
