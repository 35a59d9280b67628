import { join } from 'node:path';
import { z } from 'zod';
import { JsonFileDir } from '../json-file-dir.js';
import { AddressSchema } from '../maildir/mailbox-address.js';

/** Beside the Maildirs, like the outbox. */
export const WATCH_STATE_DIR = '.imap-watch';

/**
 * How far new mail of an account has been announced: everything in INBOX up to `last_uid` under `uid_validity` is
 * in the outbox already. Kept on disk so that a restart neither misses mail that arrived meanwhile nor announces old
 * mail again.
 */
export const WatchStateSchema = z.strictObject({
  user: AddressSchema,
  /** The account it was kept for: a user who connects another server starts afresh. */
  imap_url: z.string(),
  uid_validity: z.string().regex(/^\d{1,20}$/),
  last_uid: z.int().min(0).max(0xffffffff),
  /** The last time the inbox was known to be caught up to `last_uid`. */
  checked_at: z.iso.datetime(),
});
export type WatchState = z.infer<typeof WatchStateSchema>;

export function watchStates(maildirRoot: string): JsonFileDir<WatchState> {
  return new JsonFileDir(join(maildirRoot, WATCH_STATE_DIR), WatchStateSchema);
}
