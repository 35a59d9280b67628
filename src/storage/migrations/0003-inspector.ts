import type { Kysely, Migration } from 'kysely';
import { isPostgres } from '../dialect.js';

export const inspector: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable('conversation_events')
      // No foreign key: the journal is written after the fact and in batches, and one missing conversation row must
      // not make a whole batch (other conversations' events) fail.
      .addColumn('conversation_id', 'text', (col) => col.notNull())
      // Numbered by the writer (InspectorStore), not by the database: the same on both dialects.
      .addColumn('seq', 'integer', (col) => col.notNull())
      .addColumn('at', 'text', (col) => col.notNull())
      .addColumn('type', 'text', (col) => col.notNull())
      .addColumn('payload', 'text', (col) => col.notNull())
      .addPrimaryKeyConstraint('conversation_events_pk', ['conversation_id', 'seq'])
      .execute();
    const postgres = isPostgres(db);
    await db.schema
      .createTable('inspector_reveals')
      // SQLite's `autoincrement` is a syntax error on Postgres, whose counterpart is an identity column. The SQLite
      // form is unchanged, so databases that already ran this migration match new ones.
      .addColumn('id', 'integer', (col) => (postgres ? col.primaryKey().generatedByDefaultAsIdentity() : col.primaryKey().autoIncrement()))
      .addColumn('conversation_id', 'text', (col) => col.notNull())
      .addColumn('operator', 'text', (col) => col.notNull())
      .addColumn('via', 'text', (col) => col.notNull())
      .addColumn('at', 'text', (col) => col.notNull())
      .execute();
    await db.schema.createIndex('inspector_reveals_conversation').on('inspector_reveals').columns(['conversation_id', 'at']).execute();
  },
  async down(db: Kysely<unknown>) {
    await db.schema.dropTable('inspector_reveals').execute();
    await db.schema.dropTable('conversation_events').execute();
  },
};
