import { z } from 'zod';
import { imapUrl, smtpUrl } from '../../config/mail-schema.js';
import type { WatchStatus } from '../imap/new-mail-watcher.js';
import { AccountCheckError } from '../imap/connect-failure.js';
import { AddressSchema } from '../maildir/mailbox-address.js';
import { viewOf, type MailAccount } from './mail-account.js';
import { AccountRefusal, AccountRefusedError, type MailAccounts } from './mail-accounts.js';

/** What `PUT /accounts/<user>` takes: bounded, nothing else accepted. */
const ConnectBodySchema = z.strictObject({
  imap_url: imapUrl,
  smtp_url: smtpUrl,
  username: z.string().min(1).max(320),
  password: z.string().min(1).max(1024),
  save_sent: z.boolean().default(true),
});

export interface AccountReply {
  status: number;
  body: unknown;
}

export interface AccountRoutesDeps {
  accounts: MailAccounts;
  /** Tries an account before it is saved (throws `AccountCheckError`). */
  check: (account: MailAccount) => Promise<void>;
  /** The new-mail watcher's state; `undefined` when new mail is not watched (announcing off). */
  watchStatus: (user: string) => WatchStatus | undefined;
}

const PATH = /^\/accounts\/([^/]{1,800})$/;

function invalid(message: string): AccountReply {
  return { status: 422, body: { error: { code: 'invalid', message } } };
}

function userOf(path: string): string | undefined {
  const encoded = PATH.exec(path)?.[1];
  if (encoded === undefined) return undefined;
  try {
    const parsed = AddressSchema.safeParse(decodeURIComponent(encoded).trim().toLowerCase());
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/**
 * `GET`, `PUT` and `DELETE /accounts/<user>` on the mail server, for the runtime (behind the mail server's bearer
 * token): the runtime puts the signed-in user in the path. Answers never carry a password.
 */
export function accountRoutes(deps: AccountRoutesDeps): (method: string, path: string, body: unknown) => Promise<AccountReply | undefined> {
  const shown = (account: MailAccount): AccountReply => {
    const watch = deps.watchStatus(account.user);
    return { status: 200, body: { connected: true, ...viewOf(account), ...(watch ? { watch } : {}) } };
  };
  return async (method, path, body) => {
    if (!path.startsWith('/accounts/')) return undefined;
    const user = userOf(path);
    if (user === undefined) return { status: 400, body: { error: { code: 'invalid', message: 'The path must be /accounts/<a mailbox address>.' } } };
    try {
      switch (method) {
        case 'GET': {
          const account = deps.accounts.get(user);
          return account ? shown(account) : { status: 404, body: { connected: false } };
        }
        case 'PUT': {
          const parsed = ConnectBodySchema.safeParse(body);
          if (!parsed.success) return invalid(`Not a mailbox to connect: ${parsed.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; ')}`);
          const { imap_url, smtp_url, username, password, save_sent } = parsed.data;
          const account = await deps.accounts.connect(user, { imapUrl: imap_url, smtpUrl: smtp_url, username, password, saveSent: save_sent }, deps.check);
          return shown(account);
        }
        case 'DELETE':
          return (await deps.accounts.disconnect(user)) ? { status: 200, body: { connected: false } } : { status: 404, body: { connected: false } };
        default:
          return { status: 405, body: { error: { code: 'invalid', message: 'Use GET, PUT or DELETE.' } } };
      }
    } catch (error) {
      if (error instanceof AccountCheckError) return { status: 422, body: { error: { code: error.code, message: error.message } } };
      if (error instanceof AccountRefusedError) return { status: error.code === AccountRefusal.NoSecretKey ? 503 : 409, body: { error: { code: error.code, message: error.message } } };
      throw error;
    }
  };
}
