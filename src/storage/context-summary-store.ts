import type { Db } from './database.js';
import { storableText } from './dialect.js';

export interface ContextSummary {
  /** The summary stands for the conversation's first `throughCount` messages. */
  throughCount: number;
  summary: string;
}

/** Running summaries of conversations' older turns, one per conversation, replaced as the conversation grows. */
export class ContextSummaryStore {
  constructor(private readonly db: Db) {}

  async get(conversationId: string): Promise<ContextSummary | undefined> {
    const row = await this.db.selectFrom('context_summaries').select(['through_count', 'summary']).where('conversation_id', '=', conversationId).executeTakeFirst();
    return row ? { throughCount: Number(row.through_count), summary: row.summary } : undefined;
  }

  async put(conversationId: string, summary: ContextSummary): Promise<void> {
    const values = { through_count: summary.throughCount, summary: storableText(summary.summary), updated_at: new Date().toISOString() };
    await this.db
      .insertInto('context_summaries')
      .values({ conversation_id: conversationId, ...values })
      .onConflict((oc) => oc.column('conversation_id').doUpdateSet(values))
      .execute();
  }
}
