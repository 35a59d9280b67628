import { constants } from 'node:fs';
import { link, lstat, mkdir, open, readdir, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { parseMaildirName, uniqueMaildirName, withFlags } from './maildir-filename.js';

export const MaildirSubdir = { New: 'new', Cur: 'cur', Tmp: 'tmp' } as const;
export type MaildirSubdir = (typeof MaildirSubdir)[keyof typeof MaildirSubdir];

/** One message file as found on disk. */
export interface MaildirEntry {
  subdir: typeof MaildirSubdir.New | typeof MaildirSubdir.Cur;
  fileName: string;
  id: string;
  flags: string;
  path: string;
  mtimeMs: number;
  size: number;
}

// Mail is private: other local users must not read it.
const DIR_MODE = 0o700;
const FILE_MODE = 0o600;
// O_NOFOLLOW: a symlink planted in a Maildir must not make us read or write whatever it points at.
const READ_FLAGS = constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0);
const CREATE_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | (constants.O_NOFOLLOW ?? 0);

export function errnoCode(error: unknown): string | undefined {
  return error instanceof Error && 'code' in error && typeof error.code === 'string' ? error.code : undefined;
}

/** Creates `tmp/ new/ cur/` (idempotent). A Maildir++ subfolder also gets the `maildirfolder` marker Dovecot and Courier expect. */
export async function ensureMaildir(dir: string, isSubfolder: boolean): Promise<void> {
  await Promise.all(Object.values(MaildirSubdir).map((sub) => mkdir(join(dir, sub), { recursive: true, mode: DIR_MODE })));
  if (!isSubfolder) return;
  try {
    // O_EXCL: an existing marker (or a symlink in its place) is left alone, never opened.
    await (await open(join(dir, 'maildirfolder'), CREATE_FLAGS, FILE_MODE)).close();
  } catch (error) {
    if (errnoCode(error) !== 'EEXIST') throw error;
  }
}

/**
 * Every message in `new/` and `cur/`, whoever wrote it. Dotfiles and anything that is not a regular file (a
 * directory, a symlink, a socket) are skipped; a file that vanishes while we look (another client moved it) is too.
 */
export async function scanFolder(folderDir: string): Promise<MaildirEntry[]> {
  const perSubdir = await Promise.all(
    [MaildirSubdir.New, MaildirSubdir.Cur].map(async (subdir) => {
      const dir = join(folderDir, subdir);
      let names: string[];
      try {
        names = await readdir(dir);
      } catch (error) {
        if (errnoCode(error) === 'ENOENT' || errnoCode(error) === 'ENOTDIR') return [];
        throw error;
      }
      const entries = await Promise.all(names.filter((name) => !name.startsWith('.')).map((name) => statEntry(dir, subdir, name)));
      return entries.filter((entry): entry is MaildirEntry => entry !== undefined);
    }),
  );
  return perSubdir.flat();
}

async function statEntry(dir: string, subdir: MaildirEntry['subdir'], fileName: string): Promise<MaildirEntry | undefined> {
  const path = join(dir, fileName);
  try {
    const stats = await lstat(path);
    if (!stats.isFile()) return undefined;
    return { subdir, fileName, ...parseMaildirName(fileName), path, mtimeMs: stats.mtimeMs, size: stats.size };
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return undefined;
    throw error;
  }
}

/** Reads a message without following symlinks. `undefined` when it is gone (another client moved it) or is not a regular file. */
export async function readMessageFile(path: string): Promise<Buffer | undefined> {
  let handle;
  try {
    handle = await open(path, READ_FLAGS);
  } catch (error) {
    if (errnoCode(error) === 'ENOENT' || errnoCode(error) === 'ELOOP') return undefined;
    throw error;
  }
  try {
    if (!(await handle.stat()).isFile()) return undefined;
    return await handle.readFile();
  } finally {
    await handle.close();
  }
}

/** The file holding message `id` in a folder, flags and all; `undefined` when there is none. */
export async function findById(folderDir: string, id: string): Promise<MaildirEntry | undefined> {
  for (const subdir of [MaildirSubdir.Cur, MaildirSubdir.New] as const) {
    const dir = join(folderDir, subdir);
    let names: string[];
    try {
      names = await readdir(dir);
    } catch (error) {
      if (errnoCode(error) === 'ENOENT' || errnoCode(error) === 'ENOTDIR') continue;
      throw error;
    }
    for (const name of names) {
      if (name.startsWith('.') || parseMaildirName(name).id !== id) continue;
      const entry = await statEntry(dir, subdir, name);
      if (entry) return entry;
    }
  }
  return undefined;
}

/**
 * The Maildir delivery protocol: write the whole message to `tmp/`, fsync, then link it into `new/` (or `cur/` with
 * flags) so readers only ever see complete messages. Linking, unlike rename, refuses to replace an existing file.
 * Returns the id.
 */
export async function deliverFile(folderDir: string, raw: Buffer, target: { subdir: MaildirEntry['subdir']; flags: string }): Promise<string> {
  let id = uniqueMaildirName();
  const tmpPath = join(folderDir, MaildirSubdir.Tmp, id);
  const handle = await open(tmpPath, CREATE_FLAGS, FILE_MODE);
  try {
    await handle.writeFile(raw);
    await handle.sync();
  } catch (error) {
    await handle.close();
    await unlink(tmpPath).catch(() => undefined);
    throw error;
  }
  await handle.close();
  try {
    for (;;) {
      const fileName = target.subdir === MaildirSubdir.Cur ? withFlags(id, target.flags) : id;
      if ((await moveFile(tmpPath, join(folderDir, target.subdir, fileName))) === 'moved') break;
      id = uniqueMaildirName();
    }
  } catch (error) {
    await unlink(tmpPath).catch(() => undefined);
    throw error;
  }
  await syncDir(join(folderDir, target.subdir));
  return id;
}

/**
 * Moves without ever replacing a file: link then unlink. `'exists'` when the target name is taken by another file.
 * A target that is the same file (a move interrupted between link and unlink) just completes the move.
 */
export async function moveFile(from: string, to: string): Promise<'moved' | 'exists'> {
  try {
    await link(from, to);
  } catch (error) {
    const code = errnoCode(error);
    if (code === 'EEXIST') {
      const [a, b] = await Promise.all([lstat(from), lstat(to)]);
      if (a.ino !== b.ino || a.dev !== b.dev) return 'exists';
    } else if (code === 'EPERM' || code === 'ENOTSUP' || code === 'ENOSYS' || code === 'EXDEV') {
      // Some filesystems (FAT, some network mounts) have no hard links; fall back to rename, as Python's mailbox does.
      await rename(from, to);
      return 'moved';
    } else {
      throw error;
    }
  }
  await unlink(from);
  return 'moved';
}

/** Makes new directory entries (a link, a rename) durable; not every platform can fsync a directory, and that is not fatal. */
export async function syncDir(dir: string): Promise<void> {
  try {
    const handle = await open(dir, constants.O_RDONLY);
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // Best effort: the file itself is already synced.
  }
}
