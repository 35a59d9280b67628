import type { Kysely, Migration } from 'kysely';

/** A conversation's older turns folded into a running summary by the LLM, so that a long conversation keeps its gist. */
export const contextSummaries: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable('context_summaries')
      .addColumn('conversation_id', 'text', (col) => col.primaryKey())
      .addColumn('through_count', 'integer', (col) => col.notNull())
      .addColumn('summary', 'text', (col) => col.notNull())
      .addColumn('updated_at', 'text', (col) => col.notNull())
      .execute();
  },
  async down(db: Kysely<unknown>) {
    await db.schema.dropTable('context_summaries').execute();
  },
};
