import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import { CompiledQuery, Kysely, sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { SqliteDialectKeepingCause, withStatementCache } from '../src/storage/sqlite-dialect.js';
import { SqliteGroupCommit } from '../src/storage/sqlite-group-commit.js';

const insert = (id: number, note = 'x') => CompiledQuery.raw('insert into t (id, note) values (?, ?)', [id, note]);

interface Opened {
  raw: SqliteDatabase.Database;
  kysely: Kysely<unknown>;
  group: SqliteGroupCommit;
  /** Every statement SQLite ran, in order (better-sqlite3's `verbose`). */
  ran: string[];
}

describe('the SQLite group commit', () => {
  const dirs: string[] = [];
  const opened: Opened[] = [];
  afterEach(async () => {
    for (const o of opened.splice(0)) await o.kysely.destroy();
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  function open(): Opened {
    const dir = mkdtempSync(join(tmpdir(), 'group-commit-'));
    dirs.push(dir);
    const ran: string[] = [];
    const raw = new SqliteDatabase(join(dir, 'db.sqlite'), { verbose: (statement) => ran.push(String(statement)) });
    raw.pragma('journal_mode = WAL');
    raw.exec('create table t (id integer primary key, note text not null)');
    const statements = withStatementCache(raw);
    const kysely = new Kysely<unknown>({ dialect: new SqliteDialectKeepingCause(raw, statements) });
    const o = { raw, kysely, group: new SqliteGroupCommit(kysely, raw, statements.prepare), ran };
    opened.push(o);
    ran.length = 0;
    return o;
  }

  const ids = (o: Opened) => (o.raw.prepare('select id from t order by id').all() as Array<{ id: number }>).map((r) => r.id);

  it('commits the writes of one event-loop turn in one transaction, each resolving with the rows it changed', async () => {
    const o = open();
    const changes = await Promise.all(Array.from({ length: 50 }, (_, i) => o.group.run([insert(i), CompiledQuery.raw('update t set note = ? where id = ?', ['y', i])])));
    expect(changes).toEqual(Array.from({ length: 50 }, () => [1, 1]));
    expect(ids(o)).toHaveLength(50);
    expect(o.ran.filter((s) => s === 'BEGIN')).toHaveLength(1);
    expect(o.ran.filter((s) => s === 'COMMIT')).toHaveLength(1);
    // Writes asked for after that turn go in a transaction of their own.
    await o.group.run([insert(100)]);
    expect(o.ran.filter((s) => s === 'COMMIT')).toHaveLength(2);
  });

  it('refuses a write SQLite refuses (a constraint) alone, with none of its statements kept; the rest of its batch is', async () => {
    const o = open();
    await o.group.run([insert(1)]);
    const outcomes = await Promise.allSettled([o.group.run([insert(2)]), o.group.run([insert(3), insert(1)]), o.group.run([insert(4)])]);
    expect(outcomes.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(String((outcomes[1] as PromiseRejectedResult).reason)).toMatch(/UNIQUE constraint failed/);
    // The refused write's first statement went with its savepoint.
    expect(ids(o)).toEqual([1, 2, 4]);
  });

  it('never writes inside a transaction Kysely has open: a rolled-back Kysely transaction takes none of its writes with it', async () => {
    const o = open();
    let queued: Promise<number[]> | undefined;
    const kyselyTransaction = o.kysely
      .transaction()
      .execute(async (trx) => {
        await sql`insert into t (id, note) values (10, 'kysely')`.execute(trx);
        queued = o.group.run([insert(11)]);
        // Long enough for the group commit's turn to come while this transaction is open.
        await new Promise((resolve) => setTimeout(resolve, 50));
        throw new Error('rolled back on purpose');
      })
      .catch((error: unknown) => error);
    expect(String(await kyselyTransaction)).toMatch(/on purpose/);
    await queued;
    expect(ids(o)).toEqual([11]);
  });

  it('on a full database, every write that resolved is stored and every one refused is not (disk-full faults roll back whole)', async () => {
    const o = open();
    o.raw.exec('create table filler (b blob not null)');
    o.raw.pragma('max_page_count = 1');
    // Fills every free page: what needs a new page is then refused with SQLITE_FULL.
    for (const size of [65_536, 4_096, 512, 64, 8, 1]) {
      for (;;) {
        try {
          o.raw.prepare('insert into filler (b) values (randomblob(?))').run(size);
        } catch {
          break;
        }
      }
    }
    const long = 'z'.repeat(20_000);
    const writes = Array.from({ length: 20 }, (_, i) => o.group.run([insert(i, i % 5 === 4 ? long : 'small')]));
    const outcomes = await Promise.allSettled(writes);
    const refused = outcomes.flatMap((r, i) => (r.status === 'rejected' ? [i] : []));
    for (const i of refused) expect(String((outcomes[i] as PromiseRejectedResult).reason)).toMatch(/full/);
    // The long ones need pages the database cannot have.
    expect(refused).toEqual(expect.arrayContaining([4, 9, 14, 19]));
    const resolved = outcomes.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
    expect(ids(o)).toEqual(resolved);
    expect(o.raw.inTransaction).toBe(false);
  });

  it('a commit booked with soon() runs before an immediate booked after it, with a write that came meanwhile', async () => {
    const o = open();
    const order: string[] = [];
    o.group.soon();
    setImmediate(() => order.push(`frame sent, ${ids(o).length} row(s) stored`));
    // The write reaches the group commit through a promise chain, as a conversation's writer hands it on.
    const write = Promise.resolve()
      .then(() => undefined)
      .then(() => o.group.run([insert(1)]));
    await write;
    await new Promise((resolve) => setImmediate(resolve));
    expect(order).toEqual(['frame sent, 1 row(s) stored']);
  });

  it('a booked commit with no write does nothing', async () => {
    const o = open();
    o.group.soon();
    await new Promise((resolve) => setImmediate(resolve));
    expect(o.ran).toEqual([]);
  });

  it('refuses a write asked for once the database is closed, instead of leaving it waiting', async () => {
    const o = open();
    o.raw.close();
    await expect(o.group.run([insert(1)])).rejects.toThrow(/not open/);
  });
});
