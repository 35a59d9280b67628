/** Every `code` a {@link MailError} can carry, so callers can branch without `instanceof` across module copies. */
export const MailErrorCode = {
  InvalidAddress: 'invalid_address',
  UnknownUser: 'unknown_user',
  InvalidEmailId: 'invalid_email_id',
  NotFound: 'not_found',
  /** An IMAP id from before the mailbox was rebuilt (its UIDVALIDITY changed): the message must be looked up again. */
  StaleEmailId: 'stale_email_id',
  /** The user's own mail server (IMAP/SMTP) cannot be reached or refused us. */
  MailboxUnavailable: 'mailbox_unavailable',
  /** A category or priority filter, on a mail server without the database the triage is stored in. */
  TriageUnavailable: 'triage_unavailable',
} as const;
export type MailErrorCode = (typeof MailErrorCode)[keyof typeof MailErrorCode];

/** Base class: a mail store refusal whose message can be shown to the user as is. */
export class MailError extends Error {
  readonly code: MailErrorCode;
  constructor(code: MailErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

export class InvalidAddressError extends MailError {
  constructor(address: string, options?: ErrorOptions) {
    super(MailErrorCode.InvalidAddress, `"${printable(address)}" is not a valid email address`, options);
  }
}

export class UnknownUserError extends MailError {
  constructor(address: string, options?: ErrorOptions) {
    super(MailErrorCode.UnknownUser, `There is no mailbox for ${address} on this server`, options);
  }
}

export class InvalidEmailIdError extends MailError {
  constructor(id: string, options?: ErrorOptions) {
    super(MailErrorCode.InvalidEmailId, `"${printable(id)}" is not a valid email id (use an id from the email list or search)`, options);
  }
}

export class EmailNotFoundError extends MailError {
  constructor(address: string, id: string, folder: string, options?: ErrorOptions) {
    super(MailErrorCode.NotFound, `No email with id "${id}" in ${address}'s ${folder}`, options);
  }
}

export class StaleEmailIdError extends MailError {
  constructor(id: string, options?: ErrorOptions) {
    super(MailErrorCode.StaleEmailId, `The email id "${printable(id)}" is from an earlier state of the mailbox (the server renumbered it): list or search the emails again for a current id`, options);
  }
}

export class MailboxUnavailableError extends MailError {
  constructor(message: string, options?: ErrorOptions) {
    super(MailErrorCode.MailboxUnavailable, message, options);
  }
}

export class TriageUnavailableError extends MailError {
  constructor(options?: ErrorOptions) {
    super(
      MailErrorCode.TriageUnavailable,
      'Filtering by category or priority needs the triage stored with the email summaries, and this mail server has no database open: list or search without category and priority instead',
      options,
    );
  }
}

/** Rejected input is echoed back to the user, so control characters (NUL, newlines) must not reach logs or terminals raw. */
function printable(value: string): string {
  const shown = value.length > 80 ? `${value.slice(0, 80)}…` : value;
  return shown.replace(/[\u0000-\u001f\u007f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
