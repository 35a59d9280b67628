/**
 * What a listing or a search is narrowed to, applied by the mailbox that holds the mail (the IMAP server's `SEARCH`, or
 * the Maildir's file names and times, before anything is parsed). Every field is optional; all given must hold.
 */
export interface MailFilter {
  /** `true`: only unread mail; `false`: only mail already read. */
  unread?: boolean;
  /** Only mail received (delivered to the inbox) at or after this instant. */
  since?: Date;
  /** Only these ids (the triage store's candidates); those no longer in the inbox are simply not found. */
  ids?: readonly string[];
}

/** The facts about one message a filter looks at. */
export interface FilteredFacts {
  id: string;
  seen: boolean;
  receivedAtMs: number;
}

/** A test for each message; the id list becomes a set once, not a scan per message. */
export function mailFilterTest(filter: MailFilter = {}): (facts: FilteredFacts) => boolean {
  const ids = filter.ids ? new Set(filter.ids) : undefined;
  const sinceMs = filter.since?.getTime();
  return (facts) =>
    (ids === undefined || ids.has(facts.id)) &&
    (filter.unread === undefined || facts.seen !== filter.unread) &&
    (sinceMs === undefined || facts.receivedAtMs >= sinceMs);
}

/** Whether the filter narrows anything at all (an unfiltered listing has a faster path). */
export function narrows(filter: MailFilter = {}): boolean {
  return filter.unread !== undefined || filter.since !== undefined || filter.ids !== undefined;
}
