import type { Kysely, Migration } from 'kysely';

/**
 * Each summary gets its mail's triage (category, priority, needs a reply), and each user their own triage rules.
 * Summaries stored before this have `unknown` and no reason: they were never triaged.
 */
export const triage: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema.alterTable('summaries').addColumn('category', 'text', (col) => col.notNull().defaultTo('unknown')).execute();
    await db.schema.alterTable('summaries').addColumn('priority', 'text', (col) => col.notNull().defaultTo('unknown')).execute();
    // 1, 0, or null when not known.
    await db.schema.alterTable('summaries').addColumn('needs_reply', 'integer').execute();
    await db.schema.alterTable('summaries').addColumn('triage_reason', 'text', (col) => col.notNull().defaultTo('')).execute();
    await db.schema.createIndex('summaries_user_category').on('summaries').columns(['user_email', 'category', 'created_at']).execute();
    await db.schema.createIndex('summaries_user_priority').on('summaries').columns(['user_email', 'priority', 'created_at']).execute();
    await db.schema
      .createTable('triage_rules')
      .addColumn('id', 'text', (col) => col.primaryKey())
      .addColumn('user_email', 'text', (col) => col.notNull())
      // A rule matches on patterns (sender, subject) or is plain words handed to the LLM; see src/triage/user-rules.ts.
      .addColumn('from_pattern', 'text')
      .addColumn('subject_pattern', 'text')
      .addColumn('words', 'text')
      .addColumn('category', 'text')
      .addColumn('priority', 'text')
      .addColumn('needs_reply', 'integer')
      .addColumn('not_spam', 'integer', (col) => col.notNull().defaultTo(0))
      .addColumn('created_at', 'text', (col) => col.notNull())
      .execute();
    await db.schema.createIndex('triage_rules_user').on('triage_rules').columns(['user_email', 'created_at']).execute();
  },
  async down(db: Kysely<unknown>) {
    await db.schema.dropTable('triage_rules').execute();
    await db.schema.dropIndex('summaries_user_priority').execute();
    await db.schema.dropIndex('summaries_user_category').execute();
    for (const column of ['triage_reason', 'needs_reply', 'priority', 'category']) await db.schema.alterTable('summaries').dropColumn(column).execute();
  },
};
