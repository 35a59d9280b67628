/** The DATA part of an SMTP transaction: reading the message within a limit, and checking that it is a message. */
import type { SMTPServerDataStream } from 'smtp-server';

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

/** Reads and drops a DATA stream that will be refused: the client is sending it anyway, and the reply comes after. */
export function drain(stream: SMTPServerDataStream): Promise<void> {
  return new Promise((resolve) => {
    stream.on('data', () => undefined);
    stream.once('end', resolve);
    stream.once('error', () => resolve());
    stream.once('close', () => resolve());
  });
}

/** Reads the whole DATA stream; past the limit it keeps reading (the client is still sending) but stops keeping. */
export function readMessage(stream: SMTPServerDataStream, limit: number): Promise<Buffer | 'too-large'> {
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
export function formatProblem(raw: Buffer): string | undefined {
  if (raw.toString('latin1').trim() === '') return '5.6.0 message is empty';
  const firstLine = raw.subarray(0, Math.min(raw.length, 1000)).toString('latin1').split(/\r?\n/, 1)[0] ?? '';
  if (!HEADER_FIELD.test(firstLine)) {
    return '5.6.0 message has no header section: the first line must be a header field such as "From: a@example.com"';
  }
  return undefined;
}
