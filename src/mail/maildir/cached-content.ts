import { join } from 'node:path';
import type { MailFolder } from './mail-folder.js';
import type { EmailSummary } from './mail-types.js';
import { MaildirSubdir, type MaildirEntry } from './maildir-files.js';
import { MaildirFlag } from './maildir-filename.js';
import type { ParsedContent } from './message-parser.js';

/** Per message, only this much body text is cached for search; a search that needs more re-reads the file. */
const SEARCH_TEXT_CAP = 64_000;

/** What is kept per message file so that listing and searching an unchanged mailbox parses nothing. */
export interface CachedContent {
  from: string;
  to: string;
  subject: string;
  date: string | null;
  snippet: string;
  hasAttachments: boolean;
  /** Lower-cased body text, cut at SEARCH_TEXT_CAP characters. */
  searchText: string;
  searchTextComplete: boolean;
}

/**
 * Keyed by where the message is and what its file looks like, not by its flags: marking a message seen renames it,
 * and that must not cost a re-parse. A message rewritten in place changes mtime or size and is parsed again.
 */
export function cacheKey(entry: MaildirEntry): string {
  return `${join(entry.path, '..', '..')}\u0000${entry.id}\u0000${entry.mtimeMs}\u0000${entry.size}`;
}

export function toCached(parsed: ParsedContent): CachedContent {
  const searchText = parsed.text.slice(0, SEARCH_TEXT_CAP).toLowerCase();
  return {
    from: parsed.from,
    to: parsed.to,
    subject: parsed.subject,
    date: parsed.date,
    snippet: parsed.snippet,
    hasAttachments: parsed.attachments.length > 0,
    searchText,
    searchTextComplete: parsed.text.length <= SEARCH_TEXT_CAP,
  };
}

export function toSummary(entry: MaildirEntry, folder: MailFolder, content: CachedContent): EmailSummary {
  return {
    id: entry.id,
    folder,
    from: content.from,
    to: content.to,
    subject: content.subject,
    date: content.date,
    receivedAt: new Date(entry.mtimeMs).toISOString(),
    snippet: content.snippet,
    seen: isSeen(entry),
    hasAttachments: content.hasAttachments,
  };
}

/** The Maildir spec: a message still in new/ has not been seen by any client, whatever its name says. */
export function isSeen(entry: MaildirEntry): boolean {
  return entry.subdir === MaildirSubdir.Cur && entry.flags.includes(MaildirFlag.Seen);
}
