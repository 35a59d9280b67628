import type { Kysely, Migration } from 'kysely';

/**
 * The user's decisions outlive the actor: "always allow" answers per conversation, and per tool call what was decided
 * and whether it was handed to its tool, so a restart can tell a call that never ran from one that may have.
 */
export const toolDecisions: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .alterTable('conversations')
      // ApprovalGrants as JSON; the default is "nothing granted" for conversations older than this migration.
      .addColumn('approval_grants', 'text', (col) => col.notNull().defaultTo('{"tools":[],"recipients":{}}'))
      .execute();
    await db.schema
      .createTable('tool_calls')
      .addColumn('conversation_id', 'text', (col) => col.notNull().references('conversations.id').onDelete('cascade'))
      .addColumn('call_id', 'text', (col) => col.notNull())
      .addColumn('tool', 'text', (col) => col.notNull())
      // A CallDecision: pending, approved, rejected or auto.
      .addColumn('decision', 'text', (col) => col.notNull())
      // The arguments the call runs with (the user's edit, if any), as JSON.
      .addColumn('arguments', 'text', (col) => col.notNull())
      // Set before the call is sent to its tool; never cleared. ISO-8601 text, like every timestamp here.
      .addColumn('started_at', 'text')
      .addColumn('updated_at', 'text', (col) => col.notNull())
      .addPrimaryKeyConstraint('tool_calls_pk', ['conversation_id', 'call_id'])
      .execute();
  },
  async down(db: Kysely<unknown>) {
    await db.schema.dropTable('tool_calls').execute();
    await db.schema.alterTable('conversations').dropColumn('approval_grants').execute();
  },
};
