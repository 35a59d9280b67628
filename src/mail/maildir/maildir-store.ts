import { lstatSync } from 'node:fs';
import { lstat, rename } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { cacheKey, isSeen, toCached, toSummary, type CachedContent } from './cached-content.js';
import { EmailNotFoundError, InvalidAddressError, UnknownUserError } from './mail-errors.js';
import { ALL_FOLDERS, MailFolder, folderDirName } from './mail-folder.js';
import { mailFilterTest, type MailFilter } from './mail-filter.js';
import type { EmailMessage, EmailSummary, MaildirStoreOptions } from './mail-types.js';
import { domainOf, normalizeAddress } from './mailbox-address.js';
import { MaildirSubdir, deliverFile, ensureMaildir, errnoCode, findById, moveFile, readMessageFile, scanFolder, type MaildirEntry } from './maildir-files.js';
import { MaildirFlag, addFlag, assertEmailId, uniqueMaildirName, withFlags } from './maildir-filename.js';
import { mapConcurrent } from './map-concurrent.js';
import { parseMessage, type ParsedContent } from './message-parser.js';
import { assertRealPathInside, resolveInside } from './safe-path.js';
import { LruCache } from './summary-cache.js';

const DEFAULT_LIMIT = 20;
const MAX_LIMIT = 200;
const PARSE_CONCURRENCY = 8;
const CACHE_MAX_ENTRIES = 5_000;
/** Total characters of cached body text; roughly 2 bytes each, so about 64 MB at most. */
const CACHE_MAX_TEXT_CHARS = 32_000_000;

export interface ListOptions {
  /** @default 20 (at most 200) */
  limit?: number;
  /** @default MailFolder.Inbox */
  folder?: MailFolder;
  filter?: MailFilter;
}

interface Mailbox {
  address: string;
  dir: string;
  exists: boolean;
}

/**
 * Mail in the Maildir format other mail software reads and writes: one Maildir per user at `<root>/<address>/`,
 * Sent and Trash as Maildir++ subfolders. The file system is the only state; the parse cache is keyed by file
 * identity, so changes made by other clients are seen on the next call.
 */
export class MaildirStore {
  private readonly root: string;
  private readonly localDomains: ReadonlySet<string>;
  private readonly cache = new LruCache<CachedContent>(CACHE_MAX_ENTRIES, CACHE_MAX_TEXT_CHARS);

  constructor(options: MaildirStoreOptions) {
    this.root = resolveRoot(options.root);
    this.localDomains = new Set(options.localDomains.map((domain) => domain.trim().toLowerCase()));
  }

  /** Whether mail for this address is kept here: its domain is local, or it already has a Maildir. False for an invalid address. */
  isLocal(address: string): boolean {
    let normalized: string;
    try {
      normalized = normalizeAddress(address);
    } catch (error) {
      if (error instanceof InvalidAddressError) return false;
      throw error;
    }
    return this.localDomains.has(domainOf(normalized)) || isRealDirectorySync(resolveInside(this.root, normalized));
  }

  /** Stores raw RFC 5322 bytes; creates the mailbox (and folders) on first use. Returns the id. */
  async deliver(address: string, raw: Buffer, folder: MailFolder = MailFolder.Inbox): Promise<string> {
    const mailbox = await this.mailbox(address);
    const dir = await this.prepareFolders(mailbox, folder);
    // Our own sent mail is read already; anything else arrives unseen in new/.
    const target = folder === MailFolder.Sent ? { subdir: MaildirSubdir.Cur, flags: MaildirFlag.Seen } : { subdir: MaildirSubdir.New, flags: '' };
    return deliverFile(dir, raw, target);
  }

  /** Newest delivery first; default limit 20, max 200. The filter is applied to file names and times, before parsing. */
  async list(address: string, options: ListOptions = {}): Promise<EmailSummary[]> {
    const folder = options.folder ?? MailFolder.Inbox;
    const mailbox = await this.mailbox(address);
    const entries = newestFirst(await this.scan(mailbox, folder, options.filter)).slice(0, clampLimit(options.limit));
    const summaries = await mapConcurrent(entries, PARSE_CONCURRENCY, async (entry) => {
      const content = await this.content(entry);
      return content && toSummary(entry, folder, content);
    });
    return summaries.filter((summary): summary is EmailSummary => summary !== undefined);
  }

  async read(address: string, id: string, folder: MailFolder = MailFolder.Inbox): Promise<EmailMessage> {
    assertEmailId(id);
    const mailbox = await this.mailbox(address);
    // One retry: another client may move the file (new/ to cur/) between finding and opening it.
    for (let attempt = 0; attempt < 2; attempt++) {
      const entry = await this.find(mailbox, folder, id);
      const raw = await readMessageFile(entry.path);
      if (!raw) continue;
      const parsed = await parseMessage(raw);
      this.remember(entry, parsed);
      return {
        ...toSummary(entry, folder, toCached(parsed)),
        cc: parsed.cc,
        text: parsed.text,
        attachments: parsed.attachments,
        ...(parsed.parseError !== undefined ? { parseError: parsed.parseError } : {}),
      };
    }
    throw new EmailNotFoundError(mailbox.address, id, folder);
  }

  /** Case-insensitive substring over from, to, subject and body text; newest first. */
  async search(address: string, query: string, options: ListOptions = {}): Promise<EmailSummary[]> {
    const folder = options.folder ?? MailFolder.Inbox;
    const limit = clampLimit(options.limit);
    const needle = String(query).trim().toLowerCase();
    const mailbox = await this.mailbox(address);
    const entries = newestFirst(await this.scan(mailbox, folder, options.filter));
    const found: EmailSummary[] = [];
    // In newest-first batches, so a search that fills its limit early does not parse the whole mailbox.
    for (let start = 0; start < entries.length && found.length < limit; start += PARSE_CONCURRENCY * 4) {
      const batch = entries.slice(start, start + PARSE_CONCURRENCY * 4);
      const matches = await mapConcurrent(batch, PARSE_CONCURRENCY, async (entry) => {
        const content = await this.content(entry);
        if (!content || !(await this.matches(entry, content, needle))) return undefined;
        return toSummary(entry, folder, content);
      });
      for (const match of matches) if (match && found.length < limit) found.push(match);
    }
    return found;
  }

  /** Moves new/ to cur/ if needed and adds S, keeping other flags. Idempotent. */
  async markSeen(address: string, id: string): Promise<EmailSummary> {
    assertEmailId(id);
    const folder = MailFolder.Inbox;
    const mailbox = await this.mailbox(address);
    for (let attempt = 0; attempt < 2; attempt++) {
      const entry = await this.find(mailbox, folder, id);
      let seenEntry = entry;
      if (!isSeen(entry)) {
        const fileName = withFlags(entry.id, addFlag(entry.flags, MaildirFlag.Seen));
        const path = join(this.folderDir(mailbox, folder), MaildirSubdir.Cur, fileName);
        try {
          // A flag change is a rename within the folder, as every Maildir client does it; the target name carries the
          // same unique id, so it cannot replace another message.
          await rename(entry.path, path);
        } catch (error) {
          if (errnoCode(error) === 'ENOENT') continue;
          throw error;
        }
        seenEntry = { ...entry, subdir: MaildirSubdir.Cur, fileName, flags: addFlag(entry.flags, MaildirFlag.Seen), path };
      }
      const content = await this.content(seenEntry);
      if (content) return toSummary(seenEntry, folder, content);
    }
    throw new EmailNotFoundError(mailbox.address, id, folder);
  }

  /** Moves the message into Trash (cur/, flag T added). Never unlinks mail. */
  async delete(address: string, id: string): Promise<void> {
    assertEmailId(id);
    const folder = MailFolder.Inbox;
    const mailbox = await this.mailbox(address);
    for (let attempt = 0; attempt < 2; attempt++) {
      const entry = await this.find(mailbox, folder, id);
      // Only now: a failed delete must not create a mailbox as a side effect.
      const trash = await this.prepareFolders(mailbox, MailFolder.Trash);
      const flags = addFlag(entry.flags, MaildirFlag.Trashed);
      try {
        let trashId = entry.id;
        // Taken only if the same id was trashed before (a copy made by another client): keep both.
        while ((await moveFile(entry.path, join(trash, MaildirSubdir.Cur, withFlags(trashId, flags)))) === 'exists') trashId = uniqueMaildirName();
        return;
      } catch (error) {
        if (errnoCode(error) !== 'ENOENT') throw error;
      }
    }
    throw new EmailNotFoundError(mailbox.address, id, folder);
  }

  /** INBOX messages without the S flag. */
  async unreadCount(address: string): Promise<number> {
    const mailbox = await this.mailbox(address);
    const entries = await this.scan(mailbox, MailFolder.Inbox);
    return entries.filter((entry) => !isSeen(entry)).length;
  }

  /**
   * The user's Maildir, or UnknownUserError for an address that is neither in a local domain nor already has a
   * Maildir here. The address is validated before it becomes part of a path.
   */
  private async mailbox(address: string): Promise<Mailbox> {
    const normalized = normalizeAddress(address);
    const dir = resolveInside(this.root, normalized);
    const exists = await isRealDirectory(dir);
    if (!exists && !this.localDomains.has(domainOf(normalized))) throw new UnknownUserError(normalized);
    return { address: normalized, dir, exists };
  }

  private folderDir(mailbox: Mailbox, folder: MailFolder): string {
    return resolveInside(this.root, mailbox.address, folderDirName(folder));
  }

  /** Creates the Maildir and all its folders (idempotent) and returns the directory of `folder`. */
  private async prepareFolders(mailbox: Mailbox, folder: MailFolder): Promise<string> {
    for (const each of ALL_FOLDERS) {
      const dir = this.folderDir(mailbox, each);
      // Before creating anything (mkdir follows symlinks), and after (in case one appeared meanwhile).
      await this.assertFolderInsideRoot(dir);
      await ensureMaildir(dir, each !== MailFolder.Inbox);
      await this.assertFolderInsideRoot(dir);
    }
    return this.folderDir(mailbox, folder);
  }

  private async assertFolderInsideRoot(folderDir: string): Promise<void> {
    await Promise.all(Object.values(MaildirSubdir).map((sub) => assertRealPathInside(this.root, join(folderDir, sub))));
  }

  /** The folder's messages that pass `filter`, decided on what the directory listing says (nothing is read). */
  private async scan(mailbox: Mailbox, folder: MailFolder, filter?: MailFilter): Promise<MaildirEntry[]> {
    if (!mailbox.exists) return [];
    const dir = this.folderDir(mailbox, folder);
    await this.assertFolderInsideRoot(dir);
    const entries = await scanFolder(dir);
    if (!filter) return entries;
    const passes = mailFilterTest(filter);
    return entries.filter((entry) => passes({ id: entry.id, seen: isSeen(entry), receivedAtMs: entry.mtimeMs }));
  }

  private async find(mailbox: Mailbox, folder: MailFolder, id: string): Promise<MaildirEntry> {
    const notFound = new EmailNotFoundError(mailbox.address, id, folder);
    if (!mailbox.exists) throw notFound;
    const dir = this.folderDir(mailbox, folder);
    await this.assertFolderInsideRoot(dir);
    const entry = await findById(dir, id);
    if (!entry) throw notFound;
    return entry;
  }

  /** Parsed content of a message file, from the cache when the file is unchanged; undefined if it vanished. */
  private async content(entry: MaildirEntry): Promise<CachedContent | undefined> {
    const cached = this.cache.get(cacheKey(entry));
    if (cached) return cached;
    const raw = await readMessageFile(entry.path);
    if (!raw) return undefined;
    return this.remember(entry, await parseMessage(raw));
  }

  private remember(entry: MaildirEntry, parsed: ParsedContent): CachedContent {
    const cached = toCached(parsed);
    this.cache.set(cacheKey(entry), cached, cached.searchText.length + 1);
    return cached;
  }

  private async matches(entry: MaildirEntry, content: CachedContent, needle: string): Promise<boolean> {
    if (needle === '') return true;
    for (const field of [content.from, content.to, content.subject]) if (field.toLowerCase().includes(needle)) return true;
    if (content.searchText.includes(needle)) return true;
    if (content.searchTextComplete) return false;
    const raw = await readMessageFile(entry.path);
    return raw !== undefined && (await parseMessage(raw)).text.toLowerCase().includes(needle);
  }
}

function resolveRoot(root: string): string {
  if (typeof root !== 'string' || root.trim() === '') throw new TypeError('MaildirStore needs a root directory');
  return resolve(root);
}





const byName = new Intl.Collator('en', { numeric: true });

/** By delivery time; names break ties, and compare numerically so `M9` sorts before `M10` in the same second. */
function newestFirst(entries: MaildirEntry[]): MaildirEntry[] {
  return [...entries].sort((a, b) => b.mtimeMs - a.mtimeMs || byName.compare(b.id, a.id));
}

function clampLimit(limit: number | undefined): number {
  if (limit === undefined || !Number.isFinite(limit)) return DEFAULT_LIMIT;
  return Math.min(MAX_LIMIT, Math.max(1, Math.floor(limit)));
}

async function isRealDirectory(path: string): Promise<boolean> {
  try {
    return (await lstat(path)).isDirectory();
  } catch (error) {
    if (errnoCode(error) === 'ENOENT' || errnoCode(error) === 'ENOTDIR') return false;
    throw error;
  }
}

function isRealDirectorySync(path: string): boolean {
  return lstatSync(path, { throwIfNoEntry: false })?.isDirectory() ?? false;
}
