import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { mkdir, open, readdir, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { z } from 'zod';
import { errnoCode, syncDir } from './maildir/maildir-files.js';

const DIR_MODE = 0o700;
const FILE_MODE = 0o600;
const CREATE_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | (constants.O_NOFOLLOW ?? 0);
const READ_FLAGS = constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0);
const SUFFIX = '.json';

let tmpCounter = 0;

/** A file name for a key (an address): hashed, so that no key can name a path, and the same key always the same file. */
export function keyFileName(key: string): string {
  return `${createHash('sha256').update(key).digest('hex').slice(0, 40)}${SUFFIX}`;
}

/**
 * Small JSON records beside the Maildirs, one file per key, private (0700/0600), each replaced whole (tmp file, fsync,
 * rename, fsync of the folder): a crash leaves the old record or the new one, never half of one. Reads are bounded and
 * checked with a schema: a file that is not ours is reported, not trusted.
 */
export class JsonFileDir<T> {
  constructor(
    readonly dir: string,
    private readonly schema: z.ZodType<T>,
    private readonly maxBytes = 16 * 1024,
  ) {}

  async write(key: string, value: T): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: DIR_MODE });
    tmpCounter += 1;
    const tmp = join(this.dir, `.tmp.${process.pid}.${tmpCounter}`);
    const handle = await open(tmp, CREATE_FLAGS, FILE_MODE);
    try {
      await handle.writeFile(JSON.stringify(value));
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, join(this.dir, keyFileName(key)));
    await syncDir(this.dir);
  }

  /** `undefined` when there is none; throws, naming the file, when it cannot be read as a record. */
  async read(key: string): Promise<T | undefined> {
    return this.readFile(keyFileName(key));
  }

  async remove(key: string): Promise<boolean> {
    try {
      await unlink(join(this.dir, keyFileName(key)));
      await syncDir(this.dir);
      return true;
    } catch (error) {
      if (errnoCode(error) === 'ENOENT') return false;
      throw error;
    }
  }

  /** Every record, and what a crash left half-written removed. */
  async all(): Promise<T[]> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (error) {
      if (errnoCode(error) === 'ENOENT') return [];
      throw error;
    }
    const records: T[] = [];
    for (const name of names) {
      if (name.startsWith('.tmp.')) await unlink(join(this.dir, name)).catch(() => undefined);
      else if (name.endsWith(SUFFIX)) {
        const record = await this.readFile(name);
        if (record !== undefined) records.push(record);
      }
    }
    return records;
  }

  private async readFile(name: string): Promise<T | undefined> {
    const path = join(this.dir, name);
    let text: string;
    try {
      const handle = await open(path, READ_FLAGS);
      try {
        const stats = await handle.stat();
        if (!stats.isFile() || stats.size > this.maxBytes) throw new Error(`${path} is not a record of ours (not a file, or over ${this.maxBytes} bytes)`);
        text = await handle.readFile('utf8');
      } finally {
        await handle.close();
      }
    } catch (error) {
      if (errnoCode(error) === 'ENOENT') return undefined;
      throw error;
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new Error(`${path} is not JSON`);
    }
    const parsed = this.schema.safeParse(json);
    if (!parsed.success) throw new Error(`${path} is not a valid record: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
    return parsed.data;
  }
}
