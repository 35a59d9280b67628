import type SqliteDatabase from 'better-sqlite3';
import { SqliteDialect, SqliteDriver, type DatabaseConnection } from 'kysely';

/**
 * SQLite rolls a transaction back by itself on some errors (SQLITE_FULL, SQLITE_IOERR, SQLITE_BUSY, SQLITE_NOMEM).
 * Kysely then sends its own ROLLBACK, which fails with "cannot rollback - no transaction is active", and that error
 * replaces the one that said what happened. This driver skips the ROLLBACK when SQLite has already done it, so the
 * original error ("database or disk is full") is the one thrown.
 */
class SqliteDriverKeepingCause extends SqliteDriver {
  constructor(
    config: ConstructorParameters<typeof SqliteDriver>[0],
    private readonly database: SqliteDatabase.Database,
  ) {
    super(config);
  }

  override async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    if (!this.database.inTransaction) return;
    await super.rollbackTransaction(connection);
  }
}

/** Distinct SQL texts kept prepared; the queries are a few dozen shapes, and an `IN` list of a new length is one more. */
const MAX_CACHED_STATEMENTS = 256;

/** What Kysely's SQLite driver needs of a database, and the group commit's statements (`SqliteGroupCommit`). */
export interface CachedStatements {
  prepare(sql: string): SqliteDatabase.Statement;
  close(): void;
}

/**
 * Kysely prepares every query it runs anew, and preparing costs about as much as running a short statement: measured
 * as a quarter of the storage time of a chat turn. Prepared statements are kept by their SQL text and reused (least
 * recently used dropped past the cap). Safe because nothing here streams a query: a statement is never reentered while
 * one of its iterators is open.
 */
export function withStatementCache(database: SqliteDatabase.Database, max = MAX_CACHED_STATEMENTS): CachedStatements {
  const statements = new Map<string, SqliteDatabase.Statement>();
  return {
    close: () => {
      statements.clear();
      database.close();
    },
    prepare(sql: string): SqliteDatabase.Statement {
      const cached = statements.get(sql);
      if (cached) {
        // Refreshed: a Map keeps insertion order, so the first key is the least recently used.
        statements.delete(sql);
        statements.set(sql, cached);
        return cached;
      }
      const statement = database.prepare(sql);
      statements.set(sql, statement);
      if (statements.size > max) statements.delete(statements.keys().next().value!);
      return statement;
    },
  };
}

export class SqliteDialectKeepingCause extends SqliteDialect {
  constructor(
    private readonly database: SqliteDatabase.Database,
    private readonly statements: CachedStatements,
  ) {
    super({ database });
  }

  override createDriver(): SqliteDriver {
    return new SqliteDriverKeepingCause({ database: this.statements }, this.database);
  }
}
