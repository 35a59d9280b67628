import { InvalidEmailIdError } from '../maildir/index.js';

/**
 * An IMAP message's id for the tools: folder, UIDVALIDITY and UID, e.g. `INBOX.1764337000.42`. Stable across sessions
 * and connections as long as the server keeps the mailbox's UIDVALIDITY; it also fits the Maildir id alphabet, so the
 * outbox, the webhook and the summaries take it unchanged.
 */
export interface ImapEmailId {
  folder: string;
  uidValidity: string;
  uid: number;
}

const ID_PATTERN = /^(INBOX|Sent)\.(\d{1,20})\.(\d{1,10})$/;

export function formatImapEmailId(id: ImapEmailId): string {
  return `${id.folder}.${id.uidValidity}.${id.uid}`;
}

export function isImapEmailId(id: string): boolean {
  return ID_PATTERN.test(id);
}

/** The inbox message an id names; anything else (another folder, a Maildir id, garbage) is a clear tool error. */
export function parseInboxEmailId(id: string): ImapEmailId {
  const match = ID_PATTERN.exec(id);
  const uid = Number(match?.[3]);
  if (!match || match[1] !== 'INBOX' || !(uid >= 1 && uid <= 0xffffffff)) throw new InvalidEmailIdError(id);
  return { folder: 'INBOX', uidValidity: match[2] ?? '', uid };
}

/** The UID an id names in this inbox; `undefined` for anything else (a Maildir id, another folder, another UIDVALIDITY). */
export function inboxUidOf(id: string, uidValidity: string): number | undefined {
  const match = ID_PATTERN.exec(id);
  const uid = Number(match?.[3]);
  return match && match[1] === 'INBOX' && match[2] === uidValidity && uid >= 1 && uid <= 0xffffffff ? uid : undefined;
}
