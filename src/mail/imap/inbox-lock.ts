import type { ImapFlow } from 'imapflow';

/**
 * Runs `work` with INBOX selected and current. A pooled connection may have had INBOX selected since its last call:
 * the server tells a session of new and expunged messages only on its next command, and a UID it has not announced
 * yet is invisible to FETCH. So a NOOP first, for a connection that did not just select it.
 */
export async function withInbox<T>(client: ImapFlow, work: (uidValidity: string) => Promise<T>): Promise<T> {
  const alreadySelected = client.mailbox !== false && client.mailbox?.path === 'INBOX';
  const lock = await client.getMailboxLock('INBOX');
  try {
    if (alreadySelected) await client.noop();
    const mailbox = client.mailbox;
    if (!mailbox) throw new Error('INBOX could not be selected');
    return await work(String(mailbox.uidValidity));
  } finally {
    lock.release();
  }
}
