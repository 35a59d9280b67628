import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { errorMessage } from '../errors.js';
import type { Logger } from '../logger.js';
import type { EmailTriageStore } from '../storage/email-triage-store.js';
import { CategorySchema, PrioritySchema, UNKNOWN, type Category, type Priority, type WireTriage } from '../triage/triage.js';
import type { Mailbox } from './mailbox.js';
import { TriageUnavailableError, type EmailSummary, type MailFilter } from './maildir/index.js';
import { capSummary } from './result-limits.js';

/** The read side of the triage stored with each summary. It is only ever asked about the mailbox the runtime pinned. */
export type TriageLookup = Pick<EmailTriageStore, 'triageOf' | 'emailIds'>;

/**
 * How many of the user's most recently triaged mails a category or priority filter looks among: one bounded query and
 * one bounded IMAP UID set, however much mail was triaged over the years.
 */
export const MAX_TRIAGE_CANDIDATES = 500;

/** A date-time's longest honest form is 29 characters (`2025-06-03T08:00:00.123+02:00`); the rest is room for more digits. */
const MAX_SINCE_CHARS = 40;

export const SinceSchema = z.union([z.iso.date(), z.iso.datetime({ offset: true }).max(MAX_SINCE_CHARS)], {
  error: 'since: a date YYYY-MM-DD or an ISO date-time with its zone, e.g. 2025-06-03 or 2025-06-03T08:00:00+02:00',
});

/** The filters list_emails and search_emails share. */
export const LISTING_FILTERS = {
  category: CategorySchema.optional().describe('Only mail triaged into this category'),
  priority: PrioritySchema.optional().describe('Only mail triaged with this priority'),
  unread: z.boolean().optional().describe('true: only unread mail; false: only mail already read'),
  since: SinceSchema.optional().describe('Only mail received on or after this: a date YYYY-MM-DD (from 00:00 UTC that day) or an ISO date-time with its zone'),
};

export interface ListingFilterArgs {
  category?: Category | undefined;
  priority?: Priority | undefined;
  unread?: boolean | undefined;
  since?: string | undefined;
}

/** A listed email: the mailbox's summary, with the triage stored for it when there is one. */
export type ListedEmail = EmailSummary & Partial<WireTriage>;

/** A date alone is that day from 00:00 UTC: the day the runtime tells the LLM is "today". */
export function sinceInstant(since: string): Date {
  return new Date(/^\d{4}-\d{2}-\d{2}$/.test(since) ? `${since}T00:00:00.000Z` : since);
}

export interface ListingDeps {
  /** Absent when the mail server has no database: category and priority filters are then refused, items carry no triage. */
  triage?: TriageLookup | undefined;
  logger?: Logger | undefined;
}

/**
 * The mailbox's mail narrowed by `args`, each with its triage. Unread and since are the mailbox's to apply; a category
 * or priority names candidate ids from the triage store, which the mailbox narrows further. Both the store and the
 * mailbox are asked about `mailbox.address` alone, the address the runtime pinned.
 */
export async function listMail(
  mailbox: Mailbox,
  args: ListingFilterArgs,
  find: (filter: MailFilter) => Promise<EmailSummary[]>,
  { triage, logger }: ListingDeps,
): Promise<ListedEmail[]> {
  const filter: MailFilter = {};
  if (args.unread !== undefined) filter.unread = args.unread;
  if (args.since !== undefined) filter.since = sinceInstant(args.since);
  if (args.category !== undefined || args.priority !== undefined) {
    if (!triage) throw new TriageUnavailableError();
    filter.ids = await triage.emailIds(mailbox.address, { category: args.category, priority: args.priority }, MAX_TRIAGE_CANDIDATES);
  }
  const found = await find(filter);
  if (!triage || found.length === 0) return found;
  try {
    const known = await triage.triageOf(mailbox.address, found.map((email) => email.id));
    return found.map((email) => ({ ...email, ...known.get(email.id) }));
  } catch (error) {
    // The mail itself is there: a database that cannot be read right now costs the annotations, not the listing.
    logger?.warn({ err: errorMessage(error) }, 'triage of listed mail could not be read');
    return found;
  }
}

/** `[high · work · needs reply] `: what is known of the triage, for the LLM's text. */
function triageLabel(email: ListedEmail): string {
  const parts: string[] = [];
  for (const known of [email.priority, email.category]) if (known !== undefined && known !== UNKNOWN) parts.push(known);
  if (email.needs_reply === true) parts.push('needs reply');
  return parts.length > 0 ? `[${parts.join(' · ')}] ` : '';
}

function listedLine(email: ListedEmail, index: number): string {
  const date = email.date ?? email.receivedAt;
  return `${index + 1}. ${email.seen ? '' : '[unread] '}${triageLabel(email)}From: ${email.from} | Subject: ${email.subject} | Date: ${date} | id: ${email.id}\n   ${email.snippet}`;
}

/** The filters in words, so that an empty answer says what it was empty of. */
export function filterWords(args: ListingFilterArgs): string {
  const words = [
    ...(args.unread === undefined ? [] : [args.unread ? 'unread' : 'read']),
    ...(args.priority ? [`priority ${args.priority}`] : []),
    ...(args.category ? [`category ${args.category}`] : []),
    ...(args.since ? [`since ${args.since}`] : []),
  ];
  return words.length > 0 ? ` (${words.join(', ')})` : '';
}

export function listResult(address: string, found: ListedEmail[], heading: string): CallToolResult {
  const emails = found.map(capSummary);
  const text = emails.length === 0 ? `${heading}: none.` : `${heading} (${emails.length}):\n${emails.map(listedLine).join('\n')}`;
  return { content: [{ type: 'text', text }], structuredContent: { mailbox: address, emails } };
}
