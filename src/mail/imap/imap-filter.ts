import type { SearchObject } from 'imapflow';
import type { MailFilter } from '../maildir/index.js';
import { inboxUidOf } from './imap-email-id.js';

/**
 * IMAP's SINCE compares the internal date's day only, as the server's time zone sees it (RFC 3501 6.4.4): a day earlier
 * than asked finds everything the exact check afterwards keeps, whatever the zones (no zone is a day off UTC).
 */
const SINCE_SLACK_MS = 24 * 60 * 60 * 1000;

/**
 * The SEARCH keys that narrow to `filter` on the server; `undefined` when nothing here can match (none of the ids is
 * of this inbox as it is now numbered). The server's answer is a superset: the caller checks each message exactly.
 */
export function searchKeys(filter: MailFilter, uidValidity: string): SearchObject | undefined {
  const keys: SearchObject = {};
  if (filter.ids !== undefined) {
    const uids = filter.ids.map((id) => inboxUidOf(id, uidValidity)).filter((uid): uid is number => uid !== undefined);
    if (uids.length === 0) return undefined;
    keys.uid = sequenceSet(uids);
  }
  if (filter.unread !== undefined) keys.seen = !filter.unread;
  if (filter.since !== undefined) keys.since = new Date(filter.since.getTime() - SINCE_SLACK_MS);
  return keys;
}

/** `3,5:9,12`: runs of UIDs as ranges, so that a few hundred candidates stay a short command. */
export function sequenceSet(uids: readonly number[]): string {
  const sorted = [...new Set(uids)].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++;
    parts.push(i === j ? String(sorted[i]) : `${sorted[i]}:${sorted[j]}`);
    i = j + 1;
  }
  return parts.join(',');
}
