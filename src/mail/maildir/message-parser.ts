import { simpleParser, type HeaderLines, type ParsedMail } from 'mailparser';
import { formatAddresses } from './format-address.js';

export const NO_SUBJECT = '(no subject)';
export const UNKNOWN_SENDER = '(unknown sender)';
export const UNPARSEABLE_SUBJECT = '(unparseable message)';

const SNIPPET_LENGTH = 160;
/** mailparser has no cancel; a message that takes longer than this is shown raw rather than holding up a listing. */
const DEFAULT_PARSE_TIMEOUT_MS = 5_000;

export interface AttachmentInfo {
  filename: string;
  contentType: string;
  size: number;
}

/** Everything the store shows about a message's content; where and whether it was seen come from the file name. */
export interface ParsedContent {
  from: string;
  to: string;
  cc: string;
  subject: string;
  date: string | null;
  snippet: string;
  text: string;
  attachments: AttachmentInfo[];
  parseError?: string;
}

export class MessageParseTimeoutError extends Error {
  constructor(timeoutMs: number) {
    super(`parsing took longer than ${timeoutMs} ms`);
    this.name = 'MessageParseTimeoutError';
  }
}

/**
 * Parses raw RFC 5322 bytes for display. Never throws: a message mailparser rejects (or that takes too long) comes
 * back as its raw text with `parseError` set, because a mail store must not lose or hide mail it cannot read.
 */
export async function parseMessage(raw: Buffer, options: { timeoutMs?: number } = {}): Promise<ParsedContent> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_PARSE_TIMEOUT_MS;
  let parsed: ParsedMail;
  try {
    parsed = await withTimeout(
      // No HTML rendering of text, no links, no data: URLs for inline images: we only want text and metadata.
      simpleParser(raw, { skipTextToHtml: true, skipTextLinks: true, keepCidLinks: true }),
      timeoutMs,
    );
  } catch (error) {
    return rawFallback(raw, error instanceof Error ? error.message : String(error));
  }
  const text = parsed.text ?? '';
  return {
    from: formatAddresses(parsed.from) || UNKNOWN_SENDER,
    to: formatAddresses(parsed.to),
    cc: formatAddresses(parsed.cc),
    subject: oneLine(parsed.subject ?? '') || NO_SUBJECT,
    date: dateFromHeaderLines(parsed.headerLines),
    snippet: snippetOf(text),
    text,
    attachments: parsed.attachments.map((attachment, index) => ({
      filename: oneLine(attachment.filename ?? '') || `attachment-${index + 1}`,
      contentType: attachment.contentType,
      size: attachment.size,
    })),
  };
}

function rawFallback(raw: Buffer, reason: string): ParsedContent {
  const text = decodeRaw(raw);
  const bodyStart = text.search(/\r?\n\r?\n/);
  return {
    from: UNKNOWN_SENDER,
    to: '',
    cc: '',
    subject: UNPARSEABLE_SUBJECT,
    date: null,
    snippet: snippetOf(bodyStart === -1 ? text : text.slice(bodyStart)) || snippetOf(text),
    text,
    attachments: [],
    parseError: reason,
  };
}

/**
 * mailparser replaces a `Date` header it cannot parse with the current time, which would date junk as "just now";
 * so the date is read from the raw header line instead, and an unreadable one is `null`.
 */
export function dateFromHeaderLines(headerLines: HeaderLines): string | null {
  const line = headerLines.find((header) => header.key === 'date')?.line;
  if (line === undefined) return null;
  const value = line
    .slice(line.indexOf(':') + 1)
    // RFC 5322's obsolete syntax allows comments and spaces around the colons ("09(comment):   55  :  06").
    .replace(/\([^()]*\)/g, ' ')
    .replace(/\s+/g, ' ')
    .replace(/ ?: ?/g, ':')
    .trim();
  if (value === '') return null;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? null : date.toISOString();
}

function decodeRaw(raw: Buffer): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(raw);
  } catch {
    // Not UTF-8: latin1 maps every byte to a character, so nothing is dropped.
    return raw.toString('latin1');
  }
}

export function snippetOf(text: string): string {
  const chars = Array.from(oneLine(text));
  return chars.length <= SNIPPET_LENGTH ? chars.join('') : `${chars.slice(0, SNIPPET_LENGTH - 1).join('')}…`;
}

function oneLine(value: string): string {
  return value
    .replace(/[\u0000-\u001f\u007f]/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
}

function withTimeout<T>(work: Promise<T>, timeoutMs: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new MessageParseTimeoutError(timeoutMs)), timeoutMs);
    timer.unref();
    work.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}
