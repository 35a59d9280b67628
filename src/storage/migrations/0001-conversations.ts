import { sql, type Kysely, type Migration } from 'kysely';

export const conversations: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable('conversations')
      .addColumn('id', 'text', (col) => col.primaryKey())
      .addColumn('user_email', 'text', (col) => col.notNull())
      .addColumn('title', 'text', (col) => col.notNull().defaultTo(''))
      .addColumn('created_at', 'text', (col) => col.notNull())
      .addColumn('updated_at', 'text', (col) => col.notNull())
      .addColumn('last_seq', 'integer', (col) => col.notNull().defaultTo(0))
      .execute();
    await db.schema.createIndex('conversations_user_updated').on('conversations').columns(['user_email', 'updated_at']).execute();
    await db.schema
      .createTable('messages')
      .addColumn('conversation_id', 'text', (col) => col.notNull().references('conversations.id').onDelete('cascade'))
      .addColumn('position', 'integer', (col) => col.notNull())
      .addColumn('role', 'text', (col) => col.notNull())
      .addColumn('body', 'text', (col) => col.notNull())
      .addColumn('created_at', 'text', (col) => col.notNull())
      .addPrimaryKeyConstraint('messages_pk', ['conversation_id', 'position'])
      .execute();
  },
  async down(db: Kysely<unknown>) {
    await db.schema.dropTable('messages').execute();
    await db.schema.dropTable('conversations').execute();
    await sql`select 1`.execute(db);
  },
};
