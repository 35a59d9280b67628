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

export class SqliteDialectKeepingCause extends SqliteDialect {
  constructor(private readonly database: SqliteDatabase.Database) {
    super({ database });
  }

  override createDriver(): SqliteDriver {
    return new SqliteDriverKeepingCause({ database: this.database }, this.database);
  }
}
