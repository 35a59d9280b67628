import type { Kysely, Migration } from 'kysely';

export const summaries: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable('summaries')
      .addColumn('user_email', 'text', (col) => col.notNull())
      .addColumn('email_id', 'text', (col) => col.notNull())
      .addColumn('sender', 'text', (col) => col.notNull())
      .addColumn('subject', 'text', (col) => col.notNull())
      .addColumn('summary', 'text', (col) => col.notNull())
      .addColumn('model', 'text', (col) => col.notNull())
      .addColumn('created_at', 'text', (col) => col.notNull())
      // One summary per email, whatever retries and duplicate webhooks do: the queue is at-least-once.
      .addPrimaryKeyConstraint('summaries_pk', ['user_email', 'email_id'])
      .execute();
    await db.schema.createIndex('summaries_user_created').on('summaries').columns(['user_email', 'created_at']).execute();
    await db.schema
      .createTable('notification_acks')
      .addColumn('user_email', 'text', (col) => col.primaryKey())
      .addColumn('acked_up_to', 'text', (col) => col.notNull())
      .execute();
  },
  async down(db: Kysely<unknown>) {
    await db.schema.dropTable('notification_acks').execute();
    await db.schema.dropTable('summaries').execute();
  },
};
