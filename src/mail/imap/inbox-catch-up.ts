import type { ImapFlow } from 'imapflow';
import type { Logger } from '../../logger.js';
import type { StoredCopyRef } from '../outbox/announcement-outbox.js';
import type { JsonFileDir } from '../json-file-dir.js';
import type { MailAccount } from '../accounts/mail-account.js';
import { formatImapEmailId } from './imap-email-id.js';
import type { WatchState } from './watch-state.js';

/** Announced and recorded in steps, so that a huge backlog is never held in memory whole. */
const BATCH = 500;

export interface CatchUpDeps {
  account: MailAccount;
  states: JsonFileDir<WatchState>;
  /** Durable once it resolves (the announcer's outbox). */
  announce: (copies: StoredCopyRef[]) => Promise<void>;
  logger: Logger;
}

/**
 * Announces every unseen INBOX message past the high-water mark, then moves the mark. The outbox entry is written
 * before the mark: a crash between the two announces a message twice (the runtime's job id dedupes it), never zero
 * times. Run with INBOX selected.
 */
export async function catchUpInbox(client: ImapFlow, deps: CatchUpDeps): Promise<number> {
  const { account, states } = deps;
  const mailbox = client.mailbox;
  if (!mailbox) throw new Error('INBOX is not selected');
  const uidValidity = String(mailbox.uidValidity);
  const now = new Date().toISOString();
  const saved = await states.read(account.user);
  const base = { user: account.user, imap_url: account.imapUrl, uid_validity: uidValidity };
  if (!saved || saved.imap_url !== account.imapUrl) {
    // A mailbox seen for the first time: what is already there is not news.
    await states.write(account.user, { ...base, last_uid: Math.max(0, mailbox.uidNext - 1), checked_at: now });
    return 0;
  }
  if (saved.uid_validity !== uidValidity) {
    // The server renumbered the mailbox (restored, rebuilt): UIDs say nothing now. Mail is new if it arrived after
    // the last time the inbox was known caught up; SEARCH SINCE counts whole days, INTERNALDATE narrows it.
    deps.logger.warn({ user: account.user, was: saved.uid_validity, now: uidValidity }, 'The IMAP server renumbered the inbox (UIDVALIDITY changed); announcing only mail that arrived since the last check');
    const since = new Date(saved.checked_at);
    const sameDay = (await client.search({ since, seen: false }, { uid: true })) || [];
    const arrived = sameDay.length ? await client.fetchAll(sameDay.join(','), { uid: true, internalDate: true }, { uid: true }) : [];
    const candidates = arrived.filter((m) => m.internalDate !== undefined && new Date(m.internalDate) > since).map((m) => m.uid);
    await announceInBatches(candidates.sort((a, b) => a - b), base, deps);
    await states.write(account.user, { ...base, last_uid: highest(candidates, Math.max(0, mailbox.uidNext - 1)), checked_at: now });
    return candidates.length;
  }
  // `n:*` always matches the newest message, even below n: filter. Mail that is already read was not news to anyone.
  const range = `${saved.last_uid + 1}:*`;
  const fresh = ((await client.search({ uid: range }, { uid: true })) || []).filter((uid) => uid > saved.last_uid).sort((a, b) => a - b);
  const unseen = new Set(fresh.length ? (await client.search({ uid: range, seen: false }, { uid: true })) || [] : []);
  await announceInBatches(fresh.filter((uid) => unseen.has(uid)), base, deps);
  await states.write(account.user, { ...base, last_uid: highest(fresh, saved.last_uid), checked_at: now });
  return unseen.size;
}

/** In batches, so that a backlog of thousands is never one huge outbox write. A crash midway announces the batches done again (deduped), not fewer. */
async function announceInBatches(uids: number[], base: Pick<WatchState, 'user' | 'uid_validity'>, deps: CatchUpDeps): Promise<void> {
  for (let start = 0; start < uids.length; start += BATCH) {
    const batch = uids.slice(start, start + BATCH);
    await deps.announce(batch.map((uid) => ({ address: base.user, emailId: formatImapEmailId({ folder: 'INBOX', uidValidity: base.uid_validity, uid }) })));
  }
}

/** Spread arguments overflow the stack past ~100,000 values; a mailbox can hold more. */
function highest(values: readonly number[], floor: number): number {
  return values.reduce((max, value) => (value > max ? value : max), floor);
}
