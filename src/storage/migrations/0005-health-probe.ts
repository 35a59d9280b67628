import type { Kysely, Migration } from 'kysely';

/** Where `/health`'s write probe writes a row and deletes it again: a write that needs disk, on every dialect. */
export const healthProbe: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable('health_probe')
      .addColumn('id', 'text', (col) => col.primaryKey())
      .addColumn('at', 'text', (col) => col.notNull())
      .addColumn('padding', 'text', (col) => col.notNull())
      .execute();
  },
  async down(db: Kysely<unknown>) {
    await db.schema.dropTable('health_probe').execute();
  },
};
