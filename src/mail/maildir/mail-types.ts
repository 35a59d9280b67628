import type { MailFolder } from './mail-folder.js';
import type { AttachmentInfo } from './message-parser.js';

export interface EmailSummary {
  id: string;
  folder: MailFolder;
  /** Display form "Name <addr>" or addr; "(unknown sender)" when missing or unparseable. */
  from: string;
  /** Comma-joined; "" when missing. */
  to: string;
  /** "(no subject)" when missing or empty. */
  subject: string;
  /** ISO 8601 from the Date header; null when missing or unparseable. */
  date: string | null;
  /** ISO 8601 of delivery (the file's mtime). */
  receivedAt: string;
  /** The first ~160 characters of the text body, whitespace collapsed. */
  snippet: string;
  seen: boolean;
  hasAttachments: boolean;
}

export interface EmailMessage extends EmailSummary {
  cc: string;
  /** Plain text body (from text/plain, else converted from HTML); for an unparseable message, the raw source. */
  text: string;
  attachments: AttachmentInfo[];
  /** Set when the message could not be parsed; it is still listed and readable as raw text. */
  parseError?: string;
}

export interface MaildirStoreOptions {
  root: string;
  /** Lower-case domains whose mailboxes exist implicitly. */
  localDomains: string[];
}
