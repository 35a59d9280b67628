import { z } from 'zod';
import { AddressSchema } from '../mail/maildir/mailbox-address.js';
import { httpUrl, listenAddr, RateSchema } from './field-schemas.js';

/** `[mail]`: the bundled mail server (MCP tools, SMTP intake) and its outbound policy. */

export const MailRelaySchema = z.strictObject({
  host: z.string().min(1),
  /** @default 587 */
  port: z.int().min(1).max(65535).default(587),
  /** TLS from the first byte (port 465); otherwise STARTTLS when offered. @default false */
  secure: z.boolean().default(false),
  user: z.string().optional(),
  password: z.string().optional(),
});

const mailServerUrl = (schemes: readonly string[], example: string) =>
  z
    .string()
    .max(2048)
    .refine((value) => {
      try {
        const url = new URL(value);
        return schemes.includes(url.protocol.slice(0, -1)) && url.hostname !== '' && url.username === '' && url.password === '' && (url.pathname === '' || url.pathname === '/');
      } catch {
        return false;
      }
    }, `expected ${schemes.join(':// or ')}:// with a host and an optional port, e.g. "${example}" (credentials go in username/password)`);

/** `imap://` uses STARTTLS when the server offers it, `imaps://` TLS from the first byte. */
export const imapUrl = mailServerUrl(['imap', 'imaps'], 'imaps://imap.example.org');
/** `smtp://` (submission, STARTTLS when offered, port 587 by default) or `smtps://` (implicit TLS, port 465). */
export const smtpUrl = mailServerUrl(['smtp', 'smtps'], 'smtp://smtp.example.org:587');

/** One `[[mail.accounts]]`: the IMAP/SMTP mailbox a signed-in address uses instead of its local Maildir. */
export const MailAccountConfigSchema = z
  .strictObject({
    /** The signed-in address this mailbox belongs to. */
    user: AddressSchema.transform((a) => a.toLowerCase()),
    imap_url: imapUrl,
    smtp_url: smtpUrl,
    username: z.string().min(1).max(320),
    password: z.string().min(1).max(1024).optional(),
    /** The name of an environment variable holding the password, so that it stays out of the file. */
    password_env: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected an environment variable name').optional(),
    /** Append a copy of sent mail to the \Sent folder; off for providers that file it themselves (Gmail). @default true */
    save_sent: z.boolean().default(true),
  })
  .refine((a) => (a.password === undefined) !== (a.password_env === undefined), 'give exactly one of password and password_env');
export type MailAccountConfig = z.infer<typeof MailAccountConfigSchema>;

export const MailConfigSchema = z.strictObject({
  /** `npm start` starts the bundled mail server (MCP + SMTP intake) as a child process. @default true */
  embedded: z.boolean().default(true),
  /** One Maildir per address below this folder. @default "data/maildir" */
  maildir_root: z.string().min(1).default('data/maildir'),
  /** Domains whose mail is stored here; SMTP intake refuses the rest. @default ["localhost","example.com"] */
  local_domains: z.array(z.string().min(1).transform((d) => d.toLowerCase())).min(1).default(['localhost', 'example.com']),
  /** The mail MCP server (Streamable HTTP at /mcp). @default "127.0.0.1:8090" */
  mcp_listen_addr: listenAddr.default('127.0.0.1:8090'),
  /** SMTP intake. @default "127.0.0.1:2525" */
  smtp_listen_addr: listenAddr.default('127.0.0.1:2525'),
  /** Largest message SMTP intake accepts, in bytes. @default 10485760 */
  max_message_bytes: z.int().min(1024).default(10 * 1024 * 1024),
  /** Bearer token the mail MCP server requires (and the runtime sends). Required when the MCP server is not bound to loopback. @default "" */
  auth_token: z.string().default(''),
  /** Where SMTP intake announces new mail; "" disables the announcement. @default "http://127.0.0.1:8888/api/webhooks/email" */
  runtime_webhook_url: z.union([httpUrl, z.literal('')]).default('http://127.0.0.1:8888/api/webhooks/email'),
  /** SMTP relay for mail to non-local addresses; without it such mail is refused with a clear error. */
  relay: MailRelaySchema.optional(),
  /**
   * Exact `Host` values the mail HTTP server answers besides its listen address and localhost/127.0.0.1/[::1] on its
   * port (and the host of `[mcp] mail_server_url`), e.g. `["mail.internal:8090"]`. Anything else gets 403: DNS
   * rebinding. @default []
   */
  allowed_hosts: z.array(z.string().min(1)).default([]),
  /** Messages SMTP intake reads and stores at once; past it, DATA is answered 451 4.3.2 (try again). @default 8 */
  smtp_max_parallel_messages: z.int().positive().default(8),
  /** Recipients per SMTP transaction; more get 452 4.5.3 (the client sends the rest in another). @default 100 */
  smtp_max_recipients: z.int().positive().max(1000).default(100),
  /** Bytes one SMTP transaction may store: message size × recipients; past it, 552 5.3.4. @default 52428800 */
  smtp_max_transaction_bytes: z.int().positive().default(50 * 1024 * 1024),
  /** send_email per sender: at most `points` messages per `duration_s` seconds. @default { points = 20, duration_s = 3600 } */
  send_rate: RateSchema.default({ points: 20, duration_s: 3600 }),
  /** Recipients one send_email may have. @default 20 */
  max_recipients: z.int().positive().max(1000).default(20),
  /** Domains send_email may write to (local ones included); `[]` allows any. @default [] */
  allowed_recipient_domains: z.array(z.string().min(1).transform((d) => d.toLowerCase())).default([]),
  /**
   * IMAP/SMTP mailboxes declared by the operator (`[[mail.accounts]]`); a user with one uses it instead of the local
   * Maildir. @default []
   */
  accounts: z
    .array(MailAccountConfigSchema)
    .default([])
    .refine((accounts) => new Set(accounts.map((a) => a.user)).size === accounts.length, 'one account per user'),
  /**
   * Encrypts the passwords users store when they connect a mailbox (AES-256-GCM): 32 bytes, base64 or hex
   * (`openssl rand -base64 32`). Without it, connecting is refused; with stored accounts, the mail server does not start.
   * @default ""
   */
  secret_key: z.string().default(''),
  /**
   * IMAP connections the mail server holds at once, all accounts together (tools and watchers). New-mail watchers hold
   * at most nine tenths (a tenth, rounded up, is kept for tool calls), so at least 2 for both to have one. @default 500
   */
  imap_max_connections: z.int().min(2).max(100_000).default(500),
  /**
   * Users may connect accounts on private, loopback and link-local addresses (a company server on the LAN). Off, any
   * signed-in user could make the mail server probe the internal network. The operator's accounts are not limited.
   * @default false
   */
  private_account_hosts: z.boolean().default(false),
  /**
   * A PEM file of CA certificates trusted for accounts' IMAP and SMTP servers besides Node's bundled roots (a company
   * CA, a self-signed server). @default ""
   */
  tls_ca_file: z.string().default(''),
  /** IMAP connections one account's tools may use at once (its watcher has one more). @default 2 */
  imap_connections_per_account: z.int().positive().max(20).default(2),
});

