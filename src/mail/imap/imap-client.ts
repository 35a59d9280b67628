import { ImapFlow } from 'imapflow';
import type { MailAccount } from '../accounts/mail-account.js';
import { serverAddress } from './server-address.js';

export interface MailClientPolicy {
  /** The largest message read whole; a hostile server's bigger literal ends the connection. */
  maxMessageBytes: number;
  /** `[mail] private_account_hosts`: users' accounts may be on private and loopback addresses. */
  allowPrivateHosts: boolean;
  /** The certificates servers are checked against (`[mail] tls_ca_file`); Node's defaults when absent. */
  ca?: string[];
}

/** Room for FETCH framing and headers around the biggest message we read. */
const RESPONSE_SLACK_BYTES = 1024 * 1024;
/** A SEARCH answer for a mailbox of a million messages is about 8 MB on one line. */
const MAX_LINE_BYTES = 8 * 1024 * 1024;

export interface ImapClientUse {
  /** A watcher's connection: it idles whenever it is quiet. */
  watch: boolean;
  /**
   * A watcher's IDLE is restarted after this, so that a NAT that forgot the connection is noticed. A server without
   * IDLE is polled with NOOP as often, up to imapflow's 2 minutes. @default 240000
   */
  maxIdleMs?: number;
}

const MAX_IDLE_MS = 4 * 60_000;

/**
 * An imapflow client for `account`, not yet connected, aimed at the address {@link serverAddress} allows. It logs nothing (its log carries mailbox content), its reads are
 * bounded, and its `error` events are taken: an unhandled one would end the process. The caller learns of a dead
 * connection from `close` and from the next command.
 */
export async function openImapClient(account: MailAccount, policy: MailClientPolicy, options: ImapClientUse): Promise<ImapFlow> {
  const address = await serverAddress(account, account.imap, policy.allowPrivateHosts);
  const client = new ImapFlow({
    host: address.host,
    ...(address.servername ? { servername: address.servername } : {}),
    port: account.imap.port,
    secure: account.imap.secure,
    ...(account.imap.requireStartTls ? { doSTARTTLS: true } : {}),
    ...(policy.ca ? { tls: { ca: policy.ca } } : {}),
    auth: { user: account.username, pass: account.password },
    logger: false,
    connectionTimeout: 15_000,
    greetingTimeout: 15_000,
    socketTimeout: 5 * 60_000,
    maxLiteralSize: policy.maxMessageBytes + RESPONSE_SLACK_BYTES,
    maxResponseSize: policy.maxMessageBytes + 2 * RESPONSE_SLACK_BYTES,
    maxLineLength: MAX_LINE_BYTES,
    // A watcher idles as soon as it is quiet, so new mail is pushed at once; the NOOP of a server without IDLE is
    // answered with the EXISTS of new mail as IDLE's push would be.
    ...(options.watch ? { autoIdleDelay: 200, maxIdleTime: options.maxIdleMs ?? MAX_IDLE_MS, missingIdleCommand: 'NOOP' as const } : { disableAutoIdle: true }),
  });
  client.on('error', () => undefined);
  return client;
}
