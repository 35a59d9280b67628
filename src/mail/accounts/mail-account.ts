import type { MailEndpoint } from '../imap/mail-endpoint.js';

export const AccountSource = {
  /** `[[mail.accounts]]` in the config file: only the operator changes it. */
  Config: 'config',
  /** Connected by the user (web UI or `PUT /accounts/<user>`), stored encrypted. */
  User: 'user',
} as const;
export type AccountSource = (typeof AccountSource)[keyof typeof AccountSource];

/** What a user connecting a mailbox gives, as checked at the edge. */
export interface AccountSettings {
  imapUrl: string;
  smtpUrl: string;
  username: string;
  password: string;
  saveSent: boolean;
}

/** An IMAP/SMTP mailbox in use: the password in clear, in memory only. */
export interface MailAccount extends AccountSettings {
  /** The signed-in address it belongs to, lower-case. */
  user: string;
  imap: MailEndpoint;
  smtp: MailEndpoint;
  source: AccountSource;
}

/** An account as it may be shown: to its user, in logs, in the inspector. Never the password. */
export interface AccountView {
  source: AccountSource;
  imap_url: string;
  smtp_url: string;
  username: string;
  save_sent: boolean;
}

export function viewOf(account: MailAccount): AccountView {
  return { source: account.source, imap_url: account.imapUrl, smtp_url: account.smtpUrl, username: account.username, save_sent: account.saveSent };
}
