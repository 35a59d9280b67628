import { errorMessage } from '../../errors.js';
import { describeEndpoint, type MailEndpoint } from './mail-endpoint.js';

/** Why trying an account failed, as the user is told (the contract of `PUT /accounts/<user>`). */
export const ConnectFailure = {
  AuthFailed: 'auth_failed',
  TlsFailed: 'tls_failed',
  Unreachable: 'unreachable',
  NoInbox: 'no_inbox',
  SmtpFailed: 'smtp_failed',
  /** A user's account on a private or loopback address, which the operator did not allow. */
  HostNotAllowed: 'host_not_allowed',
} as const;
export type ConnectFailure = (typeof ConnectFailure)[keyof typeof ConnectFailure];

export class AccountCheckError extends Error {
  constructor(
    readonly code: ConnectFailure,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'AccountCheckError';
  }
}

interface ErrorFacts {
  code?: unknown;
  responseStatus?: unknown;
  responseText?: unknown;
  authenticationFailed?: unknown;
  tlsFailed?: unknown;
  serverResponseCode?: unknown;
  responseCode?: unknown;
}

const UNREACHABLE = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', 'ECONNRESET', 'EPIPE', 'CONNECT_TIMEOUT', 'GREETING_TIMEOUT', 'ETIMEOUT', 'NoConnection', 'EConnectionClosed', 'ECONNECTION', 'ESOCKET']);

function facts(error: unknown): ErrorFacts {
  return typeof error === 'object' && error !== null ? (error as ErrorFacts) : {};
}

function isTlsError(error: unknown): boolean {
  const { code, tlsFailed } = facts(error);
  if (tlsFailed === true) return true;
  if (typeof code === 'string' && (/^ERR_(TLS|SSL)/.test(code) || /CERT|SELF_SIGNED|UNABLE_TO_VERIFY/.test(code))) return true;
  return /certificate|wrong version number|STARTTLS|ssl3?_|tls/i.test(errorMessage(error));
}

/** An IMAP login or INBOX failure, named for a person (never echoing the password; imapflow's errors do not carry it). */
export function imapFailure(error: unknown, endpoint: MailEndpoint): AccountCheckError {
  if (error instanceof AccountCheckError) return error;
  const where = describeEndpoint(endpoint);
  const { code, authenticationFailed, serverResponseCode } = facts(error);
  if (authenticationFailed === true || serverResponseCode === 'AUTHENTICATIONFAILED') {
    return new AccountCheckError(ConnectFailure.AuthFailed, `${where} refused the username or password (Gmail, iCloud and Fastmail need an app password).`, { cause: error });
  }
  if (serverResponseCode === 'NONEXISTENT') return new AccountCheckError(ConnectFailure.NoInbox, `${where} has no INBOX folder for this user.`, { cause: error });
  if (isTlsError(error)) return new AccountCheckError(ConnectFailure.TlsFailed, `TLS with ${where} failed: ${errorMessage(error)}.`, { cause: error });
  if (typeof code === 'string' && UNREACHABLE.has(code)) return new AccountCheckError(ConnectFailure.Unreachable, `Cannot reach the IMAP server ${where}: ${errorMessage(error)}.`, { cause: error });
  return new AccountCheckError(ConnectFailure.Unreachable, `The IMAP server ${where} failed: ${errorMessage(error)}.`, { cause: error });
}

/**
 * A failure to open INBOX once logged in. Any `NO` to its SELECT means the user has no INBOX to use, whatever the
 * server's words: Dovecot says "Mailbox doesn't exist" without a `[NONEXISTENT]` code, and an INBOX hidden by an ACL
 * (no lookup right) is refused the same way.
 */
export function inboxFailure(error: unknown, endpoint: MailEndpoint): AccountCheckError {
  const { responseStatus, responseText } = facts(error);
  if (responseStatus !== 'NO') return imapFailure(error, endpoint);
  const said = typeof responseText === 'string' && responseText !== '' ? ` (it says: ${responseText.replace(/\.$/, '')})` : '';
  return new AccountCheckError(ConnectFailure.NoInbox, `${describeEndpoint(endpoint)} has no INBOX folder for this user${said}.`, { cause: error });
}

/** An SMTP (nodemailer) failure while checking or sending. */
export function smtpFailure(error: unknown, endpoint: MailEndpoint): AccountCheckError {
  if (error instanceof AccountCheckError) return error;
  const where = describeEndpoint(endpoint);
  const { code } = facts(error);
  if (code === 'EAUTH') return new AccountCheckError(ConnectFailure.SmtpFailed, `The outgoing server ${where} refused the username or password.`, { cause: error });
  if (isTlsError(error)) return new AccountCheckError(ConnectFailure.TlsFailed, `TLS with the outgoing server ${where} failed: ${errorMessage(error)}.`, { cause: error });
  return new AccountCheckError(ConnectFailure.SmtpFailed, `The outgoing server ${where} failed: ${errorMessage(error)}.`, { cause: error });
}
