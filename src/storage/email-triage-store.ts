import type { Db } from './database.js';
import { WireTriageSchema, type Category, type Priority, type WireTriage } from '../triage/triage.js';

export interface TriageFilter {
  category?: Category;
  priority?: Priority;
}

type TriageRow = { email_id: string; category: string; priority: string; needs_reply: number | null };

/** A stored row as wire fields; a value written by a newer version (a category this one does not know) reads as unknown. */
export function triageFromRow(row: Omit<TriageRow, 'email_id'>): WireTriage {
  const parsed = WireTriageSchema.safeParse({ category: row.category, priority: row.priority, needs_reply: row.needs_reply === null ? null : row.needs_reply === 1 });
  return parsed.success ? parsed.data : { category: 'unknown', priority: 'unknown', needs_reply: null };
}

/** Ids per query are bounded: an IN list this long is fine for SQLite (32766 variables) and Postgres alike. */
const MAX_IDS_PER_QUERY = 500;

/**
 * The triage stored with each summary, as the mail server reads it to filter and annotate its tool results. Read-only,
 * and always for one user: the mail server asks only for the pinned mailbox's address.
 */
export class EmailTriageStore {
  constructor(private readonly db: Db) {}

  /** The triage of those of `emailIds` that have one. */
  async triageOf(userEmail: string, emailIds: readonly string[]): Promise<Map<string, WireTriage>> {
    const found = new Map<string, WireTriage>();
    for (let i = 0; i < emailIds.length; i += MAX_IDS_PER_QUERY) {
      const ids = emailIds.slice(i, i + MAX_IDS_PER_QUERY);
      const rows = await this.db
        .selectFrom('summaries')
        .select(['email_id', 'category', 'priority', 'needs_reply'])
        .where('user_email', '=', userEmail)
        .where('email_id', 'in', ids)
        .execute();
      for (const row of rows) found.set(row.email_id, triageFromRow(row));
    }
    return found;
  }

  /** Ids of the user's mail with this triage, most recently summarized first. */
  async emailIds(userEmail: string, filter: TriageFilter, limit: number): Promise<string[]> {
    let query = this.db.selectFrom('summaries').select('email_id').where('user_email', '=', userEmail);
    if (filter.category) query = query.where('category', '=', filter.category);
    if (filter.priority) query = query.where('priority', '=', filter.priority);
    const rows = await query.orderBy('created_at', 'desc').limit(limit).execute();
    return rows.map((r) => r.email_id);
  }
}
