import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { mkdir, open, opendir, readdir, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { errnoCode, syncDir } from '../maildir/maildir-files.js';
import { EMAIL_ID_PATTERN } from '../maildir/maildir-filename.js';
import { AddressSchema } from '../maildir/mailbox-address.js';

/** Beside the Maildirs, under the same root; a name with a dot can never be a mailbox (those need an `@`). */
export const OUTBOX_DIR = '.outbox';
const TMP_DIR = 'tmp';
const ENTRY_SUFFIX = '.json';
/** An entry that cannot be read is renamed with this suffix: kept for a human, never tried again. */
const UNREADABLE_SUFFIX = '.unreadable';

// Private like the mail it points at.
const DIR_MODE = 0o700;
const FILE_MODE = 0o600;
const CREATE_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | (constants.O_NOFOLLOW ?? 0);
const READ_FLAGS = constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0);
/** An entry is a few hundred bytes; anything much bigger was not written by us. */
const MAX_ENTRY_BYTES = 4096;

/** One announcement still owed to the runtime: which stored copy. The bytes are read back from the Maildir. */
export const OutboxEntrySchema = z.strictObject({
  user_email: AddressSchema,
  email_id: z.string().regex(EMAIL_ID_PATTERN),
  stored_at: z.string(),
});
export type OutboxEntry = z.infer<typeof OutboxEntrySchema>;

/** One stored copy of an incoming message. */
export interface StoredCopyRef {
  /** The mailbox it was stored in, lower-case. */
  address: string;
  emailId: string;
}

export const EntryRead = { Gone: 'gone', Unreadable: 'unreadable' } as const;
export type EntryRead = (typeof EntryRead)[keyof typeof EntryRead];

/** Same copy, same name: recording it twice leaves one entry. Hashed, since an id may be up to 255 characters. */
function entryName({ address, emailId }: StoredCopyRef): string {
  return `${createHash('sha256').update(`${address}\n${emailId}`).digest('hex').slice(0, 40)}${ENTRY_SUFFIX}`;
}

let tmpCounter = 0;

/**
 * The announcements the mail server still owes the runtime, one small file each in `<maildir_root>/.outbox/`, written
 * the way a Maildir delivery is (tmp file, fsync, rename, fsync of the folder) so that a crash leaves a whole entry or
 * none. An entry goes only once the runtime has accepted the announcement.
 */
export class AnnouncementOutbox {
  readonly dir: string;
  private readonly tmpDir: string;

  constructor(maildirRoot: string) {
    this.dir = join(maildirRoot, OUTBOX_DIR);
    this.tmpDir = join(this.dir, TMP_DIR);
  }

  /** Creates the folders and clears what a crash left half-written (the mail it was for was never acknowledged). */
  async open(): Promise<void> {
    await mkdir(this.tmpDir, { recursive: true, mode: DIR_MODE });
    for (const name of await readdir(this.tmpDir)) await unlink(join(this.tmpDir, name)).catch(() => undefined);
  }

  /** Durable once it resolves: every copy has its entry on disk. */
  async add(copies: readonly StoredCopyRef[]): Promise<void> {
    if (copies.length === 0) return;
    const storedAt = new Date().toISOString();
    await Promise.all(
      copies.map(async (copy) => {
        const entry: OutboxEntry = { user_email: copy.address, email_id: copy.emailId, stored_at: storedAt };
        tmpCounter += 1;
        const tmp = join(this.tmpDir, `${process.pid}.${tmpCounter}`);
        const handle = await open(tmp, CREATE_FLAGS, FILE_MODE);
        try {
          await handle.writeFile(JSON.stringify(entry));
          await handle.sync();
        } finally {
          await handle.close();
        }
        await rename(tmp, join(this.dir, entryName(copy)));
      }),
    );
    await syncDir(this.dir);
  }

  /** The entry under `name`; `gone` when it was removed meanwhile, `unreadable` when it is not one of ours. */
  async read(name: string): Promise<OutboxEntry | EntryRead> {
    let text: string;
    try {
      const handle = await open(join(this.dir, name), READ_FLAGS);
      try {
        const stats = await handle.stat();
        if (!stats.isFile() || stats.size > MAX_ENTRY_BYTES) return EntryRead.Unreadable;
        text = await handle.readFile('utf8');
      } finally {
        await handle.close();
      }
    } catch (error) {
      if (errnoCode(error) === 'ENOENT') return EntryRead.Gone;
      if (errnoCode(error) === 'ELOOP') return EntryRead.Unreadable;
      throw error;
    }
    try {
      const parsed = OutboxEntrySchema.safeParse(JSON.parse(text));
      return parsed.success ? parsed.data : EntryRead.Unreadable;
    } catch {
      return EntryRead.Unreadable;
    }
  }

  /** Whether it was still there. */
  async remove(name: string): Promise<boolean> {
    try {
      await unlink(join(this.dir, name));
      return true;
    } catch (error) {
      if (errnoCode(error) === 'ENOENT') return false;
      throw error;
    }
  }

  /** Out of the way for good, but kept to be looked at. */
  async setAside(name: string): Promise<void> {
    await rename(join(this.dir, name), join(this.dir, `${name}${UNREADABLE_SUFFIX}`)).catch((error: unknown) => {
      if (errnoCode(error) !== 'ENOENT') throw error;
    });
  }

  /** Entry names, streamed from the directory: a huge outbox is never listed into memory at once. */
  async *names(): AsyncGenerator<string> {
    const dir = await opendir(this.dir, { bufferSize: 64 });
    for await (const dirent of dir) {
      if (dirent.name.endsWith(ENTRY_SUFFIX) && !dirent.name.startsWith('.')) yield dirent.name;
    }
  }

  async count(): Promise<number> {
    let count = 0;
    for await (const _name of this.names()) count += 1;
    return count;
  }
}
