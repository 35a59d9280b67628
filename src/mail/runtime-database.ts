import type { Config } from '../config/schema.js';
import type { Logger } from '../logger.js';
import { migrateToLatest, openDatabase, type Db } from '../storage/database.js';

/**
 * The runtime's database as the mail server opens it, for the triage stored with each summary: from the same config
 * keys (`[storage] database_url`, else `[summarization] db_path`), so the same Postgres or SQLite file. Migrated as every
 * process that opens it does (idempotent: after `npm start`'s runtime there is nothing left to do).
 */
export async function openRuntimeDatabase(config: Pick<Config, 'storage' | 'summarization'>, logger: Logger): Promise<Db> {
  const db = openDatabase(config, logger);
  try {
    await migrateToLatest(db);
  } catch (error) {
    await db.destroy().catch(() => undefined);
    throw error;
  }
  return db;
}
