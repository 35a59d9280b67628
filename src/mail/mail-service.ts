import type { Config } from '../config/schema.js';
import { errorMessage } from '../errors.js';
import type { Logger } from '../logger.js';
import { WebhookSender, webhookPayloadFrom } from './email-webhook.js';
import { MailHttpServer } from './mail-http-server.js';
import { createMailMcpServer } from './mail-tools.js';
import { MaildirStore } from './maildir/index.js';
import { OutgoingMail } from './outgoing-mail.js';
import { SendPolicy } from './send-policy.js';
import { SmtpIntake } from './smtp-intake.js';

export interface MailService {
  readonly store: MaildirStore;
  readonly mcpPort: number;
  readonly smtpPort: number;
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

/** The bundled mail server: Maildir store, MCP tools over HTTP, SMTP intake announcing new mail to the runtime. */
export async function startMailService({ config, logger }: { config: Config; logger: Logger }): Promise<MailService> {
  const mail = config.mail;
  const store = new MaildirStore({ root: mail.maildir_root, localDomains: mail.local_domains });
  const outgoing = new OutgoingMail(store, mail.relay, SendPolicy.fromConfig(mail));

  let webhook: WebhookSender | undefined;
  if (mail.runtime_webhook_url && config.webhooks.secret) {
    webhook = new WebhookSender({ url: mail.runtime_webhook_url, secret: config.webhooks.secret, logger });
  } else if (mail.runtime_webhook_url) {
    logger.warn('[webhooks] secret is empty: new mail is stored but the runtime is not told (set WEBHOOK_SECRET).');
  }

  const http = await MailHttpServer.start({
    ...hostPort(mail.mcp_listen_addr),
    authToken: mail.auth_token,
    allowedHosts: [...mail.allowed_hosts, ...runtimeFacingHost(config)],
    createMcpServer: () => createMailMcpServer({ store, outgoing, logger }),
    logger,
  });
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
      ...(webhook
        ? { onDelivered: async ({ address, emailId, raw }) => webhook.send(await webhookPayloadFrom(address, emailId, raw)) }
        : {}),
    });
  } catch (error) {
    await http.close();
    throw error;
  }
  logger.info(`Mail MCP server listening on ${hostPort(mail.mcp_listen_addr).host}:${http.port}/mcp (Maildir root ${mail.maildir_root})`);
  logger.info(`SMTP intake listening on ${hostPort(mail.smtp_listen_addr).host}:${smtp.port} for ${mail.local_domains.join(', ')}`);

  let closing: Promise<void> | undefined;
  return {
    store,
    mcpPort: http.port,
    smtpPort: smtp.port,
    close() {
      closing ??= Promise.allSettled([smtp.close(), http.close(), webhook?.close(), Promise.resolve(outgoing.close())]).then((results) => {
        for (const r of results) if (r.status === 'rejected') logger.warn({ err: errorMessage(r.reason) }, 'mail service close step failed');
      });
      return closing;
    },
  };
}
