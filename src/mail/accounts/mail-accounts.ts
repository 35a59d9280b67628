import { join } from 'node:path';
import { z } from 'zod';
import { imapUrl, smtpUrl, type MailAccountConfig } from '../../config/mail-schema.js';
import { errorMessage } from '../../errors.js';
import type { Logger } from '../../logger.js';
import { parseMailEndpoint } from '../imap/mail-endpoint.js';
import { JsonFileDir } from '../json-file-dir.js';
import { AddressSchema } from '../maildir/mailbox-address.js';
import { AccountSource, type AccountSettings, type MailAccount } from './mail-account.js';
import { CredentialCipher, SealedSchema } from './credential-cipher.js';

/** Beside the Maildirs: a name with a dot is never a mailbox. */
export const ACCOUNTS_DIR = '.accounts';

const StoredAccountSchema = z.strictObject({
  user: AddressSchema,
  imap_url: imapUrl,
  smtp_url: smtpUrl,
  username: z.string().min(1).max(320),
  save_sent: z.boolean(),
  password: SealedSchema,
  connected_at: z.string(),
});
type StoredAccount = z.infer<typeof StoredAccountSchema>;

/** Why a connect or disconnect is refused before any server is tried (the contract of `/accounts/<user>`). */
export const AccountRefusal = { ManagedByOperator: 'managed_by_operator', NoSecretKey: 'no_secret_key' } as const;
export type AccountRefusal = (typeof AccountRefusal)[keyof typeof AccountRefusal];

export class AccountRefusedError extends Error {
  constructor(
    readonly code: AccountRefusal,
    message: string,
  ) {
    super(message);
    this.name = 'AccountRefusedError';
  }
}

export interface MailAccountsOptions {
  /** `[mail] maildir_root`: connected accounts are kept in `<root>/.accounts/`. */
  root: string;
  configAccounts: readonly MailAccountConfig[];
  /** `[mail] secret_key`; `""` when unset. */
  secretKey: string;
  env: NodeJS.ProcessEnv;
  logger: Logger;
}

export type AccountChange = (user: string, account: MailAccount | undefined) => void;

function accountFrom(user: string, settings: AccountSettings, source: AccountSource): MailAccount {
  return { user, ...settings, imap: parseMailEndpoint(settings.imapUrl), smtp: parseMailEndpoint(settings.smtpUrl), source };
}

function fromConfig(entry: MailAccountConfig, env: NodeJS.ProcessEnv): MailAccount {
  const password = entry.password ?? env[entry.password_env ?? ''];
  if (!password) throw new Error(`[[mail.accounts]] for ${entry.user}: password_env names ${entry.password_env ?? '?'}, which is not set (or empty).`);
  return accountFrom(entry.user, { imapUrl: entry.imap_url, smtpUrl: entry.smtp_url, username: entry.username, password, saveSent: entry.save_sent }, AccountSource.Config);
}

/**
 * Who reads mail over IMAP: the operator's `[[mail.accounts]]`, and the accounts users connected themselves (their
 * passwords sealed with `[mail] secret_key`). An address with neither uses the local Maildir.
 */
export class MailAccounts {
  private readonly byUser = new Map<string, MailAccount>();
  private readonly listeners = new Set<AccountChange>();

  private constructor(
    private readonly files: JsonFileDir<StoredAccount>,
    private readonly cipher: CredentialCipher | undefined,
  ) {}

  /** Refuses to start on what would otherwise quietly fall back to the Maildir: a missing key, a record it cannot open. */
  static async load(options: MailAccountsOptions): Promise<MailAccounts> {
    const cipher = options.secretKey ? CredentialCipher.fromKey(options.secretKey) : undefined;
    const files = new JsonFileDir(join(options.root, ACCOUNTS_DIR), StoredAccountSchema);
    const accounts = new MailAccounts(files, cipher);
    const stored = await files.all();
    if (stored.length > 0 && !cipher) {
      throw new Error(`${stored.length} connected mail account(s) are stored in ${files.dir}, but [mail] secret_key (MAIL_SECRET_KEY) is not set: their passwords cannot be read.`);
    }
    for (const record of stored) {
      let password: string;
      try {
        password = (cipher as CredentialCipher).open(record.password, record.user);
      } catch (error) {
        throw new Error(`The stored mail account of ${record.user} cannot be decrypted (${errorMessage(error)}): was [mail] secret_key changed? Restore it, or remove that user's file from ${files.dir}.`);
      }
      accounts.byUser.set(record.user, accountFrom(record.user, { imapUrl: record.imap_url, smtpUrl: record.smtp_url, username: record.username, password, saveSent: record.save_sent }, AccountSource.User));
    }
    for (const entry of options.configAccounts) {
      if (accounts.byUser.has(entry.user)) options.logger.warn({ user: entry.user }, 'a mail account in the config replaces the one this user connected');
      accounts.byUser.set(entry.user, fromConfig(entry, options.env));
    }
    return accounts;
  }

  get(user: string): MailAccount | undefined {
    return this.byUser.get(user.toLowerCase());
  }

  all(): MailAccount[] {
    return [...this.byUser.values()];
  }

  /** Tells of every connect and disconnect (`undefined`: gone); returns the way to stop listening. */
  onChange(listener: AccountChange): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Checks the account with `check` (which throws `AccountCheckError`), then stores it sealed: only an account that
   * works is ever saved.
   */
  async connect(user: string, settings: AccountSettings, check: (account: MailAccount) => Promise<void>): Promise<MailAccount> {
    this.refuseOperatorAccount(user, 'replaced');
    if (!this.cipher) {
      throw new AccountRefusedError(AccountRefusal.NoSecretKey, 'Connecting a mailbox needs [mail] secret_key (MAIL_SECRET_KEY) on the mail server, to encrypt the password: ask the operator to set one.');
    }
    const account = accountFrom(user, settings, AccountSource.User);
    await check(account);
    await this.files.write(user, {
      user,
      imap_url: settings.imapUrl,
      smtp_url: settings.smtpUrl,
      username: settings.username,
      save_sent: settings.saveSent,
      password: this.cipher.seal(settings.password, user),
      connected_at: new Date().toISOString(),
    });
    this.byUser.set(user, account);
    for (const listener of this.listeners) listener(user, account);
    return account;
  }

  /** Deletes the stored credentials; whether there were any. */
  async disconnect(user: string): Promise<boolean> {
    this.refuseOperatorAccount(user, 'removed');
    const removed = await this.files.remove(user);
    const had = this.byUser.delete(user);
    if (had) for (const listener of this.listeners) listener(user, undefined);
    return removed || had;
  }

  private refuseOperatorAccount(user: string, what: string): void {
    if (this.byUser.get(user)?.source === AccountSource.Config) {
      throw new AccountRefusedError(AccountRefusal.ManagedByOperator, `This mailbox is set in the mail server's configuration ([[mail.accounts]]): it can only be ${what} there.`);
    }
  }
}
