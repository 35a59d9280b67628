import SqliteDatabase from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { withStatementCache } from '../src/storage/sqlite-dialect.js';

describe('prepared statements kept by their SQL text (SQLite)', () => {
  it('prepares a query once and reuses it, keeps the most recently used under the cap, and still answers right', () => {
    const db = new SqliteDatabase(':memory:');
    const prepared: string[] = [];
    const prepare = db.prepare.bind(db);
    db.prepare = ((sql: string) => {
      prepared.push(sql);
      return prepare(sql);
    }) as typeof db.prepare;
    const cached = withStatementCache(db, 2);
    cached.prepare('create table t (n integer)').run([]);
    const insert = 'insert into t (n) values (?)';
    for (let n = 1; n <= 3; n++) cached.prepare(insert).run([n]);
    expect(cached.prepare('select sum(n) as s from t').all([])).toEqual([{ s: 6 }]);
    expect(prepared.filter((sql) => sql === insert)).toHaveLength(1);
    // Cap 2: `insert` was the least recently used when `count` came in, so it is prepared again; `sum` stayed.
    cached.prepare('select count(*) as c from t').all([]);
    cached.prepare(insert).run([4]);
    expect(prepared.filter((sql) => sql === insert)).toHaveLength(2);
    expect(cached.prepare('select count(*) as c from t').all([])).toEqual([{ c: 4 }]);
    cached.close();
    expect(db.open).toBe(false);
  });
});
