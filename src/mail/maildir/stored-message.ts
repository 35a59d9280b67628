import { join, resolve } from 'node:path';
import { MaildirSubdir, findById, readMessageFile } from './maildir-files.js';
import { assertEmailId } from './maildir-filename.js';
import { normalizeAddress } from './mailbox-address.js';
import { assertRealPathInside, resolveInside } from './safe-path.js';

/**
 * The bytes of inbox message `id` of `address`, as stored; `undefined` once it is no longer in the inbox (deleted,
 * moved to Trash). For the announcer, which keeps only the address and id of each message it still has to announce.
 */
export async function readInboxMessage(root: string, address: string, id: string): Promise<Buffer | undefined> {
  assertEmailId(id);
  const base = resolve(root);
  const inbox = resolveInside(base, normalizeAddress(address));
  await Promise.all([MaildirSubdir.New, MaildirSubdir.Cur].map((sub) => assertRealPathInside(base, join(inbox, sub))));
  // Most announcements find their message where it was delivered: no directory listing for those.
  const fresh = await readMessageFile(join(inbox, MaildirSubdir.New, id));
  if (fresh) return fresh;
  // Read meanwhile (moved to cur/ with flags): one retry, another client may be renaming it as we look.
  for (let attempt = 0; attempt < 2; attempt++) {
    const entry = await findById(inbox, id);
    if (!entry) return undefined;
    const raw = await readMessageFile(entry.path);
    if (raw) return raw;
  }
  return undefined;
}
