import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import { Kysely, Migrator, sql, type Compilable, type CompiledQuery } from 'kysely';
import type { Config } from '../config/schema.js';
import { StorageError } from '../errors.js';
import type { Logger } from '../logger.js';
import { isPostgres } from './dialect.js';
import { migrationProvider } from './migrations/index.js';
import { currentSchema, openPostgres } from './postgres.js';
import type { Database } from './schema.js';
import { SqliteDialectKeepingCause, withStatementCache } from './sqlite-dialect.js';
import { SqliteGroupCommit } from './sqlite-group-commit.js';

export type Db = Kysely<Database>;

/** How long a writer waits for SQLite's lock before failing; several processes may share the file. */
const BUSY_TIMEOUT_MS = 5_000;

/** Postgres when `[storage] database_url` (`DATABASE_URL`) is set, else the SQLite file at `[summarization] db_path`. */
export function openDatabase(config: Pick<Config, 'storage' | 'summarization'>, logger?: Logger): Db {
  return config.storage.database_url ? openPostgres(config.storage.database_url, logger) : openSqlite(config.summarization.db_path);
}

export function openSqlite(path: string): Db {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const connection = new SqliteDatabase(path);
  connection.pragma('journal_mode = WAL');
  connection.pragma('foreign_keys = ON');
  connection.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
  // WAL + NORMAL is durable across process crashes; only an OS crash can lose the last transactions.
  connection.pragma('synchronous = NORMAL');
  const statements = withStatementCache(connection);
  const db = new Kysely<Database>({ dialect: new SqliteDialectKeepingCause(connection, statements) });
  groupCommits.set(db, new SqliteGroupCommit(db as Kysely<unknown>, connection, statements.prepare));
  return db;
}

const groupCommits = new WeakMap<Db, SqliteGroupCommit>();

/** The group commit of a database `openSqlite` opened (the hot writes: see `SqliteGroupCommit`); none for Postgres. */
export function sqliteGroupCommit(db: Db): SqliteGroupCommit | undefined {
  return groupCommits.get(db);
}

/**
 * The queries as one transaction; resolves with the rows each changed. On SQLite they join the writes of the same
 * event-loop turn in one commit (`SqliteGroupCommit`); on Postgres they are a transaction of their own.
 */
export async function commitQueries(db: Db, queries: readonly Compilable[]): Promise<number[]> {
  const compiled = queries.map((query) => query.compile());
  const groupCommit = groupCommits.get(db);
  if (groupCommit) return groupCommit.run(compiled);
  const changed = async (executor: Pick<Db, 'executeQuery'>, query: CompiledQuery) => Number((await executor.executeQuery(query)).numAffectedRows ?? 0);
  if (compiled.length === 1) return [await changed(db, compiled[0]!)];
  return db.transaction().execute(async (trx) => {
    const changes: number[] = [];
    for (const query of compiled) changes.push(await changed(trx, query));
    return changes;
  });
}

/**
 * Idempotent, and safe for several nodes starting at once: on Postgres the Migrator holds an advisory lock and runs
 * the pending migrations in one transaction, so a node that waited finds them applied.
 */
export async function migrateToLatest(db: Db): Promise<void> {
  const migrationTableSchema = isPostgres(db) ? await currentSchema(db) : undefined;
  const migrator = new Migrator({ db, provider: migrationProvider, ...(migrationTableSchema ? { migrationTableSchema } : {}) });
  const { error, results } = await migrator.migrateToLatest();
  const failed = results?.find((r) => r.status === 'Error');
  if (!error && !failed) return;
  throw new StorageError(`database migration ${failed?.migrationName ?? ''} failed: ${String(error)}`, { cause: error });
}

export async function checkDatabase(db: Db): Promise<void> {
  await sql`select 1`.execute(db);
}
