import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { SMTPServer, type SMTPServerDataStream, type SMTPServerSession } from 'smtp-server';

export interface SunkMessage {
  from: string;
  to: string[];
  raw: Buffer;
}

/**
 * An SMTP server on a free loopback port that accepts every message and keeps it: where a mail provider under test
 * relays to, so a test can see what left it. No AUTH, no STARTTLS: it plays a relay on the same machine.
 */
export class SmtpSink {
  private readonly messages: SunkMessage[] = [];
  private closing: Promise<void> | undefined;

  private readonly server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    disableReverseLookup: true,
    logger: false,
    // A relay still connected when the test ends is not waited for (smtp-server would wait 30 s).
    closeTimeout: 1_000,
    onData: (stream, session, callback) => {
      this.keep(stream, session).then(() => callback(), (error: Error) => callback(error));
    },
  });

  private constructor() {
    // A client resetting its socket is no failure of the sink; without a listener it would be thrown.
    this.server.on('error', () => undefined);
  }

  static async start(): Promise<SmtpSink> {
    const sink = new SmtpSink();
    await new Promise<void>((resolve, reject) => {
      sink.server.server.once('error', reject);
      sink.server.listen(0, '127.0.0.1', () => resolve());
    });
    return sink;
  }

  get port(): number {
    return (this.server.server.address() as AddressInfo).port;
  }

  received(): SunkMessage[] {
    return [...this.messages];
  }

  /** Resolves with the messages once there are at least `count` (a relay delivers after its own reply to the client). */
  async waitFor(count: number, timeoutMs: number): Promise<SunkMessage[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.messages.length < count) {
      if (Date.now() >= deadline) throw new Error(`the SMTP sink got ${this.messages.length} of ${count} messages in ${timeoutMs} ms`);
      await sleep(20);
    }
    return this.received();
  }

  /** Safe to call twice. */
  close(): Promise<void> {
    this.closing ??= new Promise((resolve) => this.server.close(() => resolve()));
    return this.closing;
  }

  private async keep(stream: SMTPServerDataStream, session: SMTPServerSession): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(chunk as Buffer);
    const { mailFrom, rcptTo } = session.envelope;
    this.messages.push({ from: mailFrom ? mailFrom.address : '', to: rcptTo.map((rcpt) => rcpt.address), raw: Buffer.concat(chunks) });
  }
}
