import type { Config } from '../config/schema.js';
import type { Logger } from '../logger.js';
import { ContextSummaryStore } from './context-summary-store.js';
import { ConversationStore } from './conversation-store.js';
import { migrateToLatest, openDatabase, type Db } from './database.js';
import { StorageHealth } from './storage-health.js';
import { SummaryStore } from './summary-store.js';
import { TriageRuleStore } from './triage-rule-store.js';

/** The database, migrated, and the stores the runtime reads and writes through. */
export interface RuntimeStorage {
  db: Db;
  /** Every conversation write and the write probe tell it whether the database takes writes. */
  storageHealth: StorageHealth;
  store: ConversationStore;
  summaries: SummaryStore;
  triageRules: TriageRuleStore;
  contextSummaries: ContextSummaryStore;
}

/**
 * The configured database (`[storage] database_url`, else `[summarization] db_path`), migrated as every process that
 * opens it does (idempotent); a failed migration closes it again, so nothing is left open.
 */
export async function openMigratedDatabase(config: Pick<Config, 'storage' | 'summarization'>, logger: Logger): Promise<Db> {
  const db = openDatabase(config, logger);
  try {
    await migrateToLatest(db);
  } catch (error) {
    await db.destroy().catch(() => undefined);
    throw error;
  }
  return db;
}

/** The runtime's storage: the database, migrated, and its stores. */
export async function openStorage(config: Pick<Config, 'storage' | 'summarization'>, logger: Logger): Promise<RuntimeStorage> {
  const db = await openMigratedDatabase(config, logger);
  const storageHealth = new StorageHealth();
  return {
    db,
    storageHealth,
    store: new ConversationStore(db, storageHealth),
    summaries: new SummaryStore(db),
    triageRules: new TriageRuleStore(db),
    contextSummaries: new ContextSummaryStore(db),
  };
}
