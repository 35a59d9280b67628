import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import type { Db } from '../../src/storage/database.js';

const FILLER_TABLE = 'test_full_disk_filler';
const FILLER_USER = 'filler@full-disk.invalid';
/** SQLite's own default cap: "no cap" for a database of this size. */
const NO_CAP_PAGES = 1_073_741_823;
/** Filler sizes, largest first: what is left over at the end is smaller than the smallest. */
const BLOB_SIZES = [65_536, 4_096, 512, 64, 8, 1];
const TITLE_SIZES = [2_000, 200, 20, 0];
/** Per size: far more inserts than a freshly migrated test database can take. */
const MAX_INSERTS_PER_SIZE = 10_000;

const isFull = (error: unknown) => (error as { code?: unknown }).code === 'SQLITE_FULL';

/** Runs `insert` until the database refuses it as full; false if it never did. */
async function insertUntilFull(insert: () => Promise<unknown>): Promise<boolean> {
  for (let i = 0; i < MAX_INSERTS_PER_SIZE; i++) {
    try {
      await insert();
    } catch (error) {
      if (isFull(error)) return true;
      throw error;
    }
  }
  return false;
}

/**
 * A full disk for a test runtime's SQLite database, without root. `PRAGMA max_page_count` on the runtime's own
 * connection (`runtime.db`; the cap is per connection) caps the file at its size, then filler rows take every free
 * page, so a write that needs a new page fails with SQLite's real SQLITE_FULL ("database or disk is full"), rolled
 * back by SQLite itself, exactly as on a full disk.
 *
 * Unlike a full disk, a write that fits in the free bytes of a page it already has still succeeds. So the tests make
 * theirs need a page: a chat message longer than a page (its row needs an overflow page), and a new conversation row,
 * after `fill` has also packed the last page of `conversations`.
 */
export class FullDisk {
  private constructor(private readonly db: Db) {}

  static async fill(db: Db): Promise<FullDisk> {
    await sql.raw(`create table if not exists ${FILLER_TABLE} (id integer primary key, b blob not null)`).execute(db);
    // Cannot go below the file's size: this caps it where it is.
    await sql.raw('pragma max_page_count = 1').execute(db);
    for (const size of BLOB_SIZES) {
      if (!(await insertUntilFull(() => sql.raw(`insert into ${FILLER_TABLE} (b) values (randomblob(${size}))`).execute(db)))) {
        throw new Error(`the database took ${MAX_INSERTS_PER_SIZE} rows of ${size} bytes under its cap`);
      }
    }
    const now = new Date().toISOString();
    let n = 0;
    for (const size of TITLE_SIZES) {
      await insertUntilFull(() =>
        db.insertInto('conversations').values({ id: `f${n++}`, user_email: FILLER_USER, title: 'x'.repeat(size), created_at: now, updated_at: now }).execute(),
      );
    }
    const disk = new FullDisk(db);
    if (!(await disk.refusesNewConversation())) throw new Error('the full disk still takes a new conversation row');
    return disk;
  }

  /** Whether a row like the runtime's `create` (a uuid, an email, an 80-character title) is refused as full. */
  async refusesNewConversation(): Promise<boolean> {
    const now = new Date().toISOString();
    const id = randomUUID();
    try {
      await this.db.insertInto('conversations').values({ id, user_email: 'probe@example.com', title: 't'.repeat(80), created_at: now, updated_at: now }).execute();
    } catch (error) {
      if (isFull(error)) return true;
      throw error;
    }
    await this.db.deleteFrom('conversations').where('id', '=', id).execute();
    return false;
  }

  /** Space comes back: the filler is deleted and the cap lifted. */
  async free(): Promise<void> {
    await sql.raw(`pragma max_page_count = ${NO_CAP_PAGES}`).execute(this.db);
    await sql.raw(`delete from ${FILLER_TABLE}`).execute(this.db);
    await this.db.deleteFrom('conversations').where('user_email', '=', FILLER_USER).execute();
  }
}
