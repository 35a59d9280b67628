import type { AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import { domainToASCII } from 'node:url';
import type { Logger } from 'pino';
import { SMTPServer, type SMTPServerDataStream, type SMTPServerSession } from 'smtp-server';
import type { StoredCopyRef } from './outbox/announcement-outbox.js';
import { drain, formatProblem, readMessage, stripMboxSeparator } from './smtp-data.js';

export { stripMboxSeparator } from './smtp-data.js';

export interface SmtpIntakeOptions {
  host: string;
  /** 0 picks a free port; read it back from `SmtpIntake.port`. */
  port: number;
  /** Lower-case. Mail for any other domain is refused: this is not a relay. */
  localDomains: string[];
  /** Advertised with SIZE; larger messages are refused with 552. */
  maxMessageBytes: number;
  /** Stores raw bytes for one recipient; returns the stored email id. */
  deliver: (address: string, raw: Buffer) => Promise<string>;
  /**
   * Records the transaction's stored copies for announcement, once all are stored and before the 250: it must be
   * durable when it resolves, and quick (the announcement itself happens later, outside the SMTP session). A rejection
   * answers 451 4.3.0; the copies stay stored and the client sends again.
   */
  onStored?: (copies: readonly StoredCopyRef[]) => Promise<void>;
  logger: Logger;
  /** Banner hostname, also used in the Received header. */
  serverName?: string;
  /** How long `close()` lets connected clients finish before they are told 421 and cut off. */
  closeTimeoutMs?: number;
  /** Messages read and stored at once, over all connections; past it DATA gets 451 4.3.2. @default 8 */
  maxParallelMessages?: number;
  /** Recipients per transaction; more get 452 (RFC 5321 §4.5.3.1.8 asks for at least 100). @default 100 */
  maxRecipients?: number;
  /** Bytes one transaction may store, message size × recipients; past it, 552 5.3.4. @default 52428800 */
  maxTransactionBytes?: number;
}

const DEFAULTS = {
  serverName: hostname(),
  closeTimeoutMs: 10_000,
  maxParallelMessages: 8,
  maxRecipients: 100,
  maxTransactionBytes: 50 * 1024 * 1024,
} satisfies Partial<SmtpIntakeOptions>;

/** A reply text that starts with its own enhanced status code (RFC 3463). */
const ENHANCED_CODE = /^[245]\.\d{1,3}\.\d{1,3} /;

/** An error whose code and text go to the client as the SMTP reply; the text starts with its enhanced status code. */
function smtpReply(responseCode: number, text: string): Error & { responseCode: number } {
  return Object.assign(new Error(text), { responseCode });
}

/** Client-chosen values (the HELO name above all) end up in header lines: nothing may break the line. */
function headerSafe(value: string): string {
  return value.replace(/[^\x20-\x7e]/g, '?');
}

/** An option passed through as `undefined` (config left blank) must leave the default in place, not erase it. */
function withoutUndefined<T extends object>(options: T): T {
  return Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined)) as T;
}

function asciiDomain(domain: string): string {
  return domainToASCII(domain).toLowerCase();
}

/**
 * smtp-server derives the enhanced status code from the reply code alone (550 → 5.1.1 "bad mailbox", 552 → 5.2.2
 * "mailbox full", 250 → 2.6.0) and a handler cannot choose another, yet "relaying denied" is 5.7.1 and "too large" 5.3.4.
 * Our reply texts carry their own code, so they go out as written; the library's replies keep its codes.
 */
class IntakeServer extends SMTPServer {
  private readonly patched = new WeakSet<object>();

  override connect(...args: Parameters<SMTPServer['connect']>): void {
    super.connect(...args);
    for (const connection of this.connections) {
      if (this.patched.has(connection)) continue;
      this.patched.add(connection);
      const send = connection.send.bind(connection);
      connection.send = (code, data, context) => send(code, data, typeof data === 'string' && ENHANCED_CODE.test(data) ? false : context);
    }
  }
}


/** An SMTP listener that stores mail for local domains. No AUTH, no STARTTLS: it sits on a trusted network behind a TLS proxy. */
export class SmtpIntake {
  private readonly options: Required<Omit<SmtpIntakeOptions, 'onStored'>> & Pick<SmtpIntakeOptions, 'onStored'>;
  private readonly server: IntakeServer;
  private readonly localDomains: Set<string>;
  /** Transactions past the DATA terminator; `close()` lets them finish so nothing is stored after the caller moved on. */
  private readonly inFlight = new Set<Promise<unknown>>();
  /** Messages being read or stored now: each may hold up to `maxMessageBytes` in memory. */
  private receiving = 0;
  private closed: Promise<void> | undefined;

  private constructor(options: SmtpIntakeOptions) {
    this.options = { ...DEFAULTS, ...withoutUndefined(options) };
    const { localDomains, maxMessageBytes, logger, serverName, closeTimeoutMs, maxRecipients } = this.options;
    if (localDomains.length === 0) throw new Error('The SMTP intake needs at least one local domain.');
    for (const key of ['maxMessageBytes', 'maxParallelMessages', 'maxRecipients', 'maxTransactionBytes'] as const) {
      const value = this.options[key];
      if (!Number.isSafeInteger(value) || value <= 0) throw new RangeError(`${key} must be a positive integer, got ${value}.`);
    }
    this.localDomains = new Set(localDomains.map(asciiDomain));
    this.server = new IntakeServer({
      name: serverName,
      size: maxMessageBytes,
      disabledCommands: ['AUTH', 'STARTTLS'],
      // Off by default in smtp-server; on, its own refusals carry codes too (bad address syntax → 501 5.1.3).
      hideENHANCEDSTATUSCODES: false,
      maxRecipients,
      // Reverse DNS of peers on our own network tells nothing and can stall the greeting.
      disableReverseLookup: true,
      closeTimeout: closeTimeoutMs,
      logger: logger.child({ component: 'smtp-server' }),
      // Each handler is an edge: whatever goes wrong becomes a reply, never an exception in smtp-server's event loop.
      onRcptTo: (address, session, callback) => {
        try {
          callback(this.checkRecipient(address.address));
        } catch (error) {
          callback(this.replyFor(error, session));
        }
      },
      onData: (stream, session, callback) => {
        const transaction = this.admit(stream, session).then(
          (ids) => callback(null, `2.0.0 Ok: queued as ${ids.join(',')}`),
          (error: unknown) => callback(this.replyFor(error, session)),
        );
        this.inFlight.add(transaction);
        void transaction.finally(() => this.inFlight.delete(transaction));
      },
    });
    // Without a listener a client's reset socket would be thrown as an uncaught error; smtp-server has logged it already.
    this.server.on('error', (error: Error) => logger.debug({ err: error }, 'SMTP connection error'));
  }

  static async start(options: SmtpIntakeOptions): Promise<SmtpIntake> {
    const intake = new SmtpIntake(options);
    await new Promise<void>((resolve, reject) => {
      const net = intake.server.server;
      const onError = (error: Error) => reject(new Error(`The SMTP intake cannot listen on ${options.host}:${options.port}: ${error.message}`, { cause: error }));
      net.once('error', onError);
      intake.server.listen(options.port, options.host, () => {
        net.off('error', onError);
        resolve();
      });
    });
    options.logger.info({ host: options.host, port: intake.port, localDomains: options.localDomains }, 'SMTP intake listening');
    return intake;
  }

  get port(): number {
    return (this.server.server.address() as AddressInfo).port;
  }

  private checkRecipient(address: string): Error | undefined {
    // smtp-server has refused bad syntax already (501 5.1.3); a bare "postmaster" is allowed by RFC 5321 and is local.
    const at = address.lastIndexOf('@');
    if (at < 0) return undefined;
    const domain = address.slice(at + 1);
    if (!this.localDomains.has(asciiDomain(domain))) return smtpReply(550, `5.7.1 relaying denied: ${domain} is not a domain of this server`);
    return undefined;
  }

  /** The mailbox a copy is stored under: lower-cased, and a bare "postmaster" is that of the first local domain. */
  private mailbox(address: string): string {
    const lower = address.toLowerCase();
    return lower.includes('@') ? lower : `${lower}@${this.options.localDomains[0]}`;
  }

  /** At most `maxParallelMessages` messages in memory at once; the rest are told to come back (their data is dropped). */
  private async admit(stream: SMTPServerDataStream, session: SMTPServerSession): Promise<string[]> {
    const { maxParallelMessages, logger } = this.options;
    if (this.receiving >= maxParallelMessages) {
      logger.warn({ session: session.id, receiving: this.receiving }, 'SMTP intake busy; answering 451 4.3.2');
      await drain(stream);
      throw smtpReply(451, `4.3.2 too busy: ${maxParallelMessages} messages are being received, try again later`);
    }
    this.receiving += 1;
    try {
      return await this.receive(stream, session);
    } finally {
      this.receiving -= 1;
    }
  }

  private async receive(stream: SMTPServerDataStream, session: SMTPServerSession): Promise<string[]> {
    const { maxMessageBytes, maxTransactionBytes, deliver, logger } = this.options;
    const recipients = Math.max(1, session.envelope.rcptTo.length);
    // One copy is stored per recipient: the transaction's budget shrinks the message limit.
    const limit = Math.min(maxMessageBytes, Math.floor(maxTransactionBytes / recipients));
    const received = await readMessage(stream, limit);
    if (received === 'too-large') {
      throw smtpReply(552, limit < maxMessageBytes
        ? `5.3.4 message too large for ${recipients} recipients (limit ${maxTransactionBytes} bytes per transaction): send it to fewer at a time`
        : `5.3.4 message too large (limit ${maxMessageBytes} bytes)`);
    }
    const raw = stripMboxSeparator(received);
    const problem = formatProblem(raw);
    if (problem) throw smtpReply(554, problem);

    const sender = session.envelope.mailFrom ? session.envelope.mailFrom.address : '';
    const copies: StoredCopyRef[] = [];
    for (const recipient of session.envelope.rcptTo) {
      const address = this.mailbox(recipient.address);
      const trace = this.traceHeaders(session, sender, address, raw);
      try {
        copies.push({ address, emailId: await deliver(address, Buffer.concat([trace, raw])) });
      } catch (error) {
        logger.error({ err: error, address, session: session.id, stored: copies.map((c) => c.address) }, 'Storing an incoming message failed; answering 451');
        // Copies stored so far stay (the store has no rollback) but are not announced: the client sends again.
        throw smtpReply(451, '4.3.0 temporary failure: the message could not be stored, try again later');
      }
    }
    logger.info({ session: session.id, from: sender, to: copies.map((c) => c.address), ids: copies.map((c) => c.emailId), bytes: raw.length }, 'Incoming message stored');
    await this.record(copies, session);
    return copies.map((c) => c.emailId);
  }

  /** The 250 promises an announcement too: without a durable record of it, the client must send again. */
  private async record(copies: StoredCopyRef[], session: SMTPServerSession): Promise<void> {
    const { onStored, logger } = this.options;
    if (!onStored) return;
    try {
      await onStored(copies);
    } catch (error) {
      logger.error({ err: error, session: session.id, ids: copies.map((c) => c.emailId) }, 'Recording stored mail for announcement failed; answering 451');
      throw smtpReply(451, '4.3.0 temporary failure: the message could not be stored, try again later');
    }
  }

  private traceHeaders(session: SMTPServerSession, sender: string, address: string, raw: Buffer): Buffer {
    // Match the message's own line ends, so the added lines do not make a CRLF message mixed.
    const eol = /^[^\n]*\r\n/.test(raw.subarray(0, 1000).toString('latin1')) ? '\r\n' : '\n';
    const helo = headerSafe(session.hostNameAppearsAs || 'unknown');
    const date = new Date().toUTCString().replace(/GMT$/, '+0000');
    return Buffer.from(
      [
        `Return-Path: <${headerSafe(sender)}>`,
        `Delivered-To: ${headerSafe(address)}`,
        `Received: from ${helo} ([${session.remoteAddress}])`,
        `\tby ${headerSafe(this.options.serverName)} with ${session.transmissionType} id ${session.id}`,
        `\tfor <${headerSafe(address)}>; ${date}`,
        '',
      ].join(eol),
      'utf8',
    );
  }

  private replyFor(error: unknown, session: SMTPServerSession): Error {
    if (error instanceof Error && 'responseCode' in error) return error;
    // Anything else is our fault, not the message's: a temporary failure lets the client try again.
    this.options.logger.error({ err: error, session: session.id }, 'Handling an incoming message failed; answering 451');
    return smtpReply(451, '4.3.0 temporary failure: local error in processing, try again later');
  }

  /** Stops listening, gives connected clients `closeTimeoutMs` to finish, and waits for transactions in progress. */
  close(): Promise<void> {
    this.closed ??= (async () => {
      await new Promise<void>((resolve) => this.server.close(resolve));
      await Promise.allSettled([...this.inFlight]);
    })();
    return this.closed;
  }
}
