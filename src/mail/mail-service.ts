import type { Config } from '../config/schema.js';
import { errorMessage } from '../errors.js';
import type { Logger } from '../logger.js';
import { WebhookSender } from './email-webhook.js';
import { MailHttpServer } from './mail-http-server.js';
import { createMailMcpServer } from './mail-tools.js';
import { checkAccount } from './accounts/account-check.js';
import { accountRoutes } from './accounts/account-routes.js';
import { AccountWatchers, type AccountWatchersOptions } from './accounts/account-watchers.js';
import { watchStates } from './imap/watch-state.js';
import type { MaildirStore } from './maildir/index.js';
import { openMailboxes, type OpenedMailboxes } from './open-mailboxes.js';
import { AnnouncementOutbox } from './outbox/announcement-outbox.js';
import { Announcer, type AnnouncerOptions, type AnnouncerStatus } from './outbox/announcer.js';
import { SmtpIntake } from './smtp-intake.js';

export interface MailService {
  readonly store: MaildirStore;
  readonly mcpPort: number;
  readonly smtpPort: number;
  /** Announcements still owed to the runtime; `undefined` when announcing is off. */
  announcements(): AnnouncerStatus | undefined;
  /** Safe to call twice; every part is closed even when one fails. */
  close(): Promise<void>;
}

function hostPort(addr: string): { host: string; port: number } {
  const at = addr.lastIndexOf(':');
  return { host: addr.slice(0, at).replace(/^\[|\]$/g, ''), port: Number(addr.slice(at + 1)) };
}

/** The runtime reaches the mail server at `[mcp] mail_server_url` (same config file): that name is ours too. */
function runtimeFacingHost(config: Config): string[] {
  return config.mcp.mail_server_url ? [new URL(config.mcp.mail_server_url).host] : [];
}

/** Retry pacing of the announcer; tests shorten it. */
export type AnnounceTiming = Pick<AnnouncerOptions, 'minRetryDelayMs' | 'maxRetryDelayMs' | 'concurrency'>;

export interface StartMailServiceOptions {
  config: Config;
  logger: Logger;
  /** @default the announcer's (1 s doubling to 60 s, 4 at once) */
  announce?: AnnounceTiming;
  /** Reconnect backoff, safety poll and IDLE restart of the IMAP watchers. @default 1 s to 60 s, poll every 5 min, IDLE 4 min (NOOP 2 min) */
  watch?: AccountWatchersOptions['timing'];
  /** Where `password_env` names are looked up. @default process.env */
  env?: NodeJS.ProcessEnv;
}

/**
 * The runtime is told of new mail through an outbox beside the Maildirs, drained in the background: announcing
 * starts with whatever an earlier run left there.
 */
async function startAnnouncer({ config, logger, announce }: StartMailServiceOptions, opened: OpenedMailboxes): Promise<{ webhook: WebhookSender; announcer: Announcer } | undefined> {
  const mail = config.mail;
  if (!mail.runtime_webhook_url) return undefined;
  if (!config.webhooks.secret) {
    logger.warn('[webhooks] secret is empty: new mail is stored but the runtime is not told (set WEBHOOK_SECRET).');
    return undefined;
  }
  const webhook = new WebhookSender({ url: mail.runtime_webhook_url, secret: config.webhooks.secret });
  try {
    const announcer = await Announcer.start({
      ...announce,
      outbox: new AnnouncementOutbox(mail.maildir_root),
      poster: webhook,
      readMessage: (address, id) => opened.readAnnounced(address, id),
      logger,
    });
    return { webhook, announcer };
  } catch (error) {
    await webhook.close();
    throw error;
  }
}

/** The bundled mail server: Maildir store, MCP tools over HTTP, SMTP intake announcing new mail to the runtime. */
export async function startMailService(options: StartMailServiceOptions): Promise<MailService> {
  const { config, logger } = options;
  const mail = config.mail;
  const opened = await openMailboxes(config, logger, options.env);
  const { store, mailboxes, accounts } = opened;
  let announcing: Awaited<ReturnType<typeof startAnnouncer>>;
  try {
    announcing = await startAnnouncer(options, opened);
  } catch (error) {
    await opened.close();
    throw error;
  }
  // New IMAP mail goes the way SMTP intake's does: through the outbox. Nobody to tell, nothing to watch for.
  const watchers = announcing
    ? new AccountWatchers({ accounts, slots: opened.slots, client: opened.client, states: watchStates(mail.maildir_root), announce: (copies) => announcing.announcer.record(copies), logger, timing: options.watch })
    : undefined;
  const stopAnnouncing = async (): Promise<void> => {
    // Watchers first (they record into the outbox), then the announcer: it abandons its requests itself, then nothing
    // uses the webhook's connections.
    try {
      await watchers?.close();
      await announcing?.announcer.close();
    } finally {
      await announcing?.webhook.close();
      await opened.close();
    }
  };

  let http: MailHttpServer;
  try {
    http = await MailHttpServer.start({
      ...hostPort(mail.mcp_listen_addr),
      authToken: mail.auth_token,
      allowedHosts: [...mail.allowed_hosts, ...runtimeFacingHost(config)],
      createMcpServer: () => createMailMcpServer({ mailboxes, triage: opened.triage, logger }),
      accounts: accountRoutes({ accounts, check: (account) => checkAccount(account, opened.client), watchStatus: (user) => watchers?.status(user) }),
      health: () => (announcing ? { announcements: announcing.announcer.status() } : {}),
      logger,
    });
  } catch (error) {
    await stopAnnouncing();
    throw error;
  }
  let smtp: SmtpIntake;
  try {
    smtp = await SmtpIntake.start({
      ...hostPort(mail.smtp_listen_addr),
      localDomains: mail.local_domains,
      maxMessageBytes: mail.max_message_bytes,
      maxParallelMessages: mail.smtp_max_parallel_messages,
      maxRecipients: mail.smtp_max_recipients,
      maxTransactionBytes: mail.smtp_max_transaction_bytes,
      deliver: (address, raw) => store.deliver(address, raw),
      logger,
      ...(announcing ? { onStored: (copies) => announcing.announcer.record(copies) } : {}),
    });
  } catch (error) {
    await Promise.allSettled([http.close(), stopAnnouncing()]);
    throw error;
  }
  logger.info(`Mail MCP server listening on ${hostPort(mail.mcp_listen_addr).host}:${http.port}/mcp (Maildir root ${mail.maildir_root})`);
  logger.info(`SMTP intake listening on ${hostPort(mail.smtp_listen_addr).host}:${smtp.port} for ${mail.local_domains.join(', ')}`);

  let closing: Promise<void> | undefined;
  return {
    store,
    mcpPort: http.port,
    smtpPort: smtp.port,
    announcements: () => announcing?.announcer.status(),
    close() {
      // SMTP transactions finishing meanwhile still record their copies: the outbox does not need the announcer running.
      closing ??= Promise.allSettled([smtp.close(), http.close(), stopAnnouncing()]).then((results) => {
        for (const r of results) if (r.status === 'rejected') logger.warn({ err: errorMessage(r.reason) }, 'mail service close step failed');
      });
      return closing;
    },
  };
}
