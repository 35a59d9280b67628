import type { FetchMessageObject, MessageStructureObject } from 'imapflow';
import type { EmailMessage, EmailSummary } from '../maildir/index.js';
import { MailFolder } from '../maildir/index.js';
import { parseMessage, type ParsedContent } from '../maildir/message-parser.js';
import { formatImapEmailId } from './imap-email-id.js';

/**
 * How much of each message a listing downloads: headers (a Gmail message carries several KB of them) and the start of
 * the body, for the snippet. A listing never downloads whole messages.
 */
export const LISTING_SOURCE_BYTES = 24 * 1024;

export const LISTING_QUERY = { uid: true, flags: true, internalDate: true, bodyStructure: true, source: { maxLength: LISTING_SOURCE_BYTES } } as const;

function hasAttachment(node: MessageStructureObject | undefined): boolean {
  if (!node) return false;
  if (node.disposition === 'attachment') return true;
  return (node.childNodes ?? []).some(hasAttachment);
}

function receivedAt(message: FetchMessageObject): string {
  const date = message.internalDate === undefined ? new Date(0) : new Date(message.internalDate);
  return Number.isNaN(date.getTime()) ? new Date(0).toISOString() : date.toISOString();
}

function summaryOf(message: FetchMessageObject, uidValidity: string, parsed: ParsedContent, attachments: boolean): EmailSummary {
  return {
    id: formatImapEmailId({ folder: 'INBOX', uidValidity, uid: message.uid }),
    folder: MailFolder.Inbox,
    from: parsed.from,
    to: parsed.to,
    subject: parsed.subject,
    date: parsed.date,
    receivedAt: receivedAt(message),
    snippet: parsed.snippet,
    seen: message.flags?.has('\\Seen') ?? false,
    hasAttachments: attachments,
  };
}

/** A listed message, from the start of its source: the same fields a Maildir listing gives. */
export async function toSummary(message: FetchMessageObject, uidValidity: string): Promise<EmailSummary> {
  const parsed = await parseMessage(message.source ?? Buffer.alloc(0));
  return summaryOf(message, uidValidity, parsed, hasAttachment(message.bodyStructure));
}

/** A message read whole. */
export async function toMessage(message: FetchMessageObject, uidValidity: string): Promise<EmailMessage> {
  const parsed = await parseMessage(message.source ?? Buffer.alloc(0));
  return {
    ...summaryOf(message, uidValidity, parsed, parsed.attachments.length > 0),
    cc: parsed.cc,
    text: parsed.text,
    attachments: parsed.attachments,
    ...(parsed.parseError !== undefined ? { parseError: parsed.parseError } : {}),
  };
}
