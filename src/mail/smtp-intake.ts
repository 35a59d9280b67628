import type { AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import { domainToASCII } from 'node:url';
import type { Logger } from 'pino';
import { SMTPServer, type SMTPServerDataStream, type SMTPServerSession } from 'smtp-server';

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
  /** Called once per stored recipient copy, after the store succeeded; failures are logged, never fail the SMTP transaction. */
  onDelivered?: (event: { address: string; emailId: string; raw: Buffer }) => Promise<void>;
  logger: Logger;
  /** Banner hostname, also used in the Received header. */
  serverName?: string;
  /** How long `close()` lets connected clients finish before they are told 421 and cut off. */
  closeTimeoutMs?: number;
}

const DEFAULTS = { serverName: hostname(), closeTimeoutMs: 10_000 } satisfies Partial<SmtpIntakeOptions>;

/** RFC 5321 §4.5.3.1.8 asks servers to take at least 100; more per transaction is more likely a mistake than a mailing. */
const MAX_RECIPIENTS = 100;

/** An RFC 5322 field name (printable ASCII but ":") followed by the colon; obsolete syntax allows blanks before it. */
const HEADER_FIELD = /^[\x21-\x39\x3b-\x7e]+[ \t]*:/;
/** An mbox separator ("From sender date") that exports and some MTAs leave on the first line; not part of the message. */
const MBOX_SEPARATOR = /^From [^\r\n]*\r?\n/;

/** Drops a leading mbox separator, as delivery agents do, so that the stored message starts with its headers. */
export function stripMboxSeparator(raw: Buffer): Buffer {
  const head = raw.subarray(0, Math.min(raw.length, 1000)).toString('latin1');
  const match = MBOX_SEPARATOR.exec(head);
  return match && !HEADER_FIELD.test(match[0]) ? raw.subarray(match[0].length) : raw;
}
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

/** Reads the whole DATA stream; past the limit it keeps reading (the client is still sending) but stops keeping. */
function readMessage(stream: SMTPServerDataStream, limit: number): Promise<Buffer | 'too-large'> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let kept = 0;
    let tooLarge = false;
    stream.on('data', (chunk: Buffer) => {
      if (tooLarge) return;
      if (stream.sizeExceeded || kept + chunk.length > limit) {
        tooLarge = true;
        chunks.length = 0;
        return;
      }
      chunks.push(chunk);
      kept += chunk.length;
    });
    stream.once('end', () => resolve(tooLarge || stream.sizeExceeded ? 'too-large' : Buffer.concat(chunks, kept)));
    stream.once('error', reject);
    stream.once('close', () => reject(new Error('The client went away during DATA.')));
  });
}

/** Why a message cannot be accepted as Internet mail, or undefined when its first line is a header field. */
function formatProblem(raw: Buffer): string | undefined {
  if (raw.toString('latin1').trim() === '') return '5.6.0 message is empty';
  const firstLine = raw.subarray(0, Math.min(raw.length, 1000)).toString('latin1').split(/\r?\n/, 1)[0] ?? '';
  if (!HEADER_FIELD.test(firstLine)) {
    return '5.6.0 message has no header section: the first line must be a header field such as "From: a@example.com"';
  }
  return undefined;
}

/** An SMTP listener that stores mail for local domains. No AUTH, no STARTTLS: it sits on a trusted network behind a TLS proxy. */
export class SmtpIntake {
  private readonly options: Required<Omit<SmtpIntakeOptions, 'onDelivered'>> & Pick<SmtpIntakeOptions, 'onDelivered'>;
  private readonly server: IntakeServer;
  private readonly localDomains: Set<string>;
  /** Transactions past the DATA terminator; `close()` lets them finish so nothing is stored after the caller moved on. */
  private readonly inFlight = new Set<Promise<unknown>>();
  private closed: Promise<void> | undefined;

  private constructor(options: SmtpIntakeOptions) {
    this.options = { ...DEFAULTS, ...withoutUndefined(options) };
    const { localDomains, maxMessageBytes, logger, serverName, closeTimeoutMs } = this.options;
    if (localDomains.length === 0) throw new Error('The SMTP intake needs at least one local domain.');
    if (!Number.isSafeInteger(maxMessageBytes) || maxMessageBytes <= 0) throw new RangeError(`maxMessageBytes must be a positive integer, got ${maxMessageBytes}.`);
    this.localDomains = new Set(localDomains.map(asciiDomain));
    this.server = new IntakeServer({
      name: serverName,
      size: maxMessageBytes,
      disabledCommands: ['AUTH', 'STARTTLS'],
      // Off by default in smtp-server; on, its own refusals carry codes too (bad address syntax → 501 5.1.3).
      hideENHANCEDSTATUSCODES: false,
      maxRecipients: MAX_RECIPIENTS,
      // Reverse DNS of peers on our own network tells nothing and can stall the greeting.
      disableReverseLookup: true,
      closeTimeout: closeTimeoutMs,
      logger: logger.child({ component: 'smtp-server' }),
      onRcptTo: (address, _session, callback) => callback(this.checkRecipient(address.address)),
      onData: (stream, session, callback) => {
        const transaction = this.receive(stream, session).then(
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

  private async receive(stream: SMTPServerDataStream, session: SMTPServerSession): Promise<string[]> {
    const { maxMessageBytes, deliver, logger } = this.options;
    const received = await readMessage(stream, maxMessageBytes);
    if (received === 'too-large') throw smtpReply(552, `5.3.4 message too large (limit ${maxMessageBytes} bytes)`);
    const raw = stripMboxSeparator(received);
    const problem = formatProblem(raw);
    if (problem) throw smtpReply(554, problem);

    const sender = session.envelope.mailFrom ? session.envelope.mailFrom.address : '';
    const copies: { address: string; emailId: string; raw: Buffer }[] = [];
    for (const recipient of session.envelope.rcptTo) {
      const address = this.mailbox(recipient.address);
      const copy = Buffer.concat([this.traceHeaders(session, sender, address, raw), raw]);
      try {
        copies.push({ address, emailId: await deliver(address, copy), raw: copy });
      } catch (error) {
        logger.error({ err: error, address, session: session.id, stored: copies.map((c) => c.address) }, 'Storing an incoming message failed; answering 451');
        // Copies stored so far stay (the store has no rollback) but are not announced: the client sends again.
        throw smtpReply(451, '4.3.0 temporary failure: the message could not be stored, try again later');
      }
    }
    logger.info({ session: session.id, from: sender, to: copies.map((c) => c.address), ids: copies.map((c) => c.emailId), bytes: raw.length }, 'Incoming message stored');
    await this.announce(copies);
    return copies.map((c) => c.emailId);
  }

  /** Runs onDelivered for every copy before the 250 so a slow receiver slows intake instead of piling up work. */
  private async announce(copies: { address: string; emailId: string; raw: Buffer }[]): Promise<void> {
    const { onDelivered, logger } = this.options;
    if (!onDelivered) return;
    const results = await Promise.allSettled(copies.map(async (copy) => onDelivered(copy)));
    results.forEach((result, i) => {
      if (result.status === 'rejected') logger.error({ err: result.reason, address: copies[i]?.address, emailId: copies[i]?.emailId }, 'onDelivered failed; the message stays stored');
    });
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
