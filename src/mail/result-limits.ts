import type { EmailMessage, EmailSummary } from './maildir/index.js';

/**
 * What a tool result may carry. A 10 MiB message (or one whose raw source stands in for an unparseable body) would
 * otherwise travel whole to the runtime, its log and the browser on every read.
 */
export const MAX_STRUCTURED_BODY_BYTES = 64 * 1024;
/** Address lists and subjects: a legitimate one is far shorter; a hostile one may be megabytes of header. */
export const MAX_HEADER_FIELD_BYTES = 4 * 1024;
export const MAX_LISTED_ATTACHMENTS = 100;
const TRUNCATION_MARKER = '\n[… truncated]';

/** The first `maxBytes` of `value` in UTF-8, never splitting a character. */
export function cutUtf8(value: string, maxBytes: number): string {
  const bytes = Buffer.from(value, 'utf8');
  if (bytes.length <= maxBytes) return value;
  return bytes.subarray(0, maxBytes).toString('utf8').replace(/\uFFFD+$/, '');
}

function cutField(value: string): string {
  const cut = cutUtf8(value, MAX_HEADER_FIELD_BYTES);
  return cut === value ? value : `${cut}…`;
}

export function capSummary<T extends EmailSummary>(summary: T): T {
  return { ...summary, from: cutField(summary.from), to: cutField(summary.to), subject: cutField(summary.subject) };
}

export type CappedEmailMessage = EmailMessage & { body_truncated: boolean; body_bytes: number; attachments_total: number };

/** The message as a tool result carries it: body cut (with a marker and its full size), header fields and attachment list bounded. */
export function capMessage(message: EmailMessage): CappedEmailMessage {
  const bodyBytes = Buffer.byteLength(message.text, 'utf8');
  const truncated = bodyBytes > MAX_STRUCTURED_BODY_BYTES;
  return {
    ...capSummary(message),
    cc: cutField(message.cc),
    text: truncated ? `${cutUtf8(message.text, MAX_STRUCTURED_BODY_BYTES)}${TRUNCATION_MARKER}` : message.text,
    attachments: message.attachments.slice(0, MAX_LISTED_ATTACHMENTS).map((a) => ({ ...a, filename: cutField(a.filename), contentType: cutField(a.contentType) })),
    ...(message.parseError ? { parseError: cutField(message.parseError) } : {}),
    body_truncated: truncated,
    body_bytes: bodyBytes,
    attachments_total: message.attachments.length,
  };
}
