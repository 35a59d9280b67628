import pg from 'pg';
import { Kysely, sql } from 'kysely';
import { StorageError } from '../errors.js';
import type { Logger } from '../logger.js';
import { CurrentSchemaPostgresDialect } from './postgres-introspector.js';
import type { Database } from './schema.js';

/**
 * A Kysely database on a `pg.Pool`. The URL is libpq-style (`postgres://user:pass@host:5432/db`); query parameters
 * such as `sslmode` or `options=-c search_path=…` are passed through to `pg`.
 */
export function openPostgres(url: string, logger?: Logger): Kysely<Database> {
  const pool = new pg.Pool({ connectionString: url, application_name: 'ai-runtime' });
  // An idle connection that breaks (server restart, network) is reported here; without a listener Node would treat it
  // as an unhandled error and exit. pg drops the connection itself, so the next query simply gets a fresh one.
  pool.on('error', (err) => logger?.warn({ err: err.message }, 'idle Postgres connection failed'));
  return new Kysely<Database>({ dialect: new CurrentSchemaPostgresDialect({ pool }) });
}

/**
 * The schema new tables go to (the first existing one in `search_path`). Kysely's Migrator is told it explicitly, so
 * that it creates and finds its own tables there and nowhere else.
 */
export async function currentSchema(db: Kysely<Database>): Promise<string> {
  const { rows } = await sql<{ schema: string | null }>`select current_schema() as schema`.execute(db);
  const schema = rows[0]?.schema;
  if (!schema) throw new StorageError('no schema of the Postgres search_path exists: create it or fix search_path in DATABASE_URL');
  return schema;
}
