import type { Selectable } from 'kysely';
import type { Db } from './database.js';
import type { SummariesTable } from './schema.js';
import { storableText } from './dialect.js';
import { triageFromRow } from './email-triage-store.js';
import { UNKNOWN, type EmailTriage } from '../triage/triage.js';

export interface EmailSummaryRecord {
  userEmail: string;
  emailId: string;
  from: string;
  subject: string;
  summary: string;
  model: string;
  createdAt: string;
  triage: EmailTriage;
}

/** A summary stored before triage existed, or made without it. */
export const UNTRIAGED: EmailTriage = { category: UNKNOWN, priority: UNKNOWN, needsReply: null, reason: '' };

type Row = Selectable<SummariesTable>;

function toRecord(r: Row): EmailSummaryRecord {
  const triage = triageFromRow(r);
  return {
    userEmail: r.user_email,
    emailId: r.email_id,
    from: r.sender,
    subject: r.subject,
    summary: r.summary,
    model: r.model,
    createdAt: r.created_at,
    triage: { category: triage.category, priority: triage.priority, needsReply: triage.needs_reply, reason: r.triage_reason },
  };
}

function triageColumns(triage: EmailTriage) {
  return { category: triage.category, priority: triage.priority, needs_reply: triage.needsReply === null ? null : triage.needsReply ? 1 : 0, triage_reason: storableText(triage.reason) };
}

export interface SummaryListFilter {
  category?: EmailTriage['category'];
  priority?: EmailTriage['priority'];
  needsReply?: boolean;
}

/** Summaries of incoming mail, one per (user, email), and how far each user has acknowledged their notifications. */
export class SummaryStore {
  constructor(private readonly db: Db) {}

  /**
   * Inserts unless this email already has a summary. `inserted` tells the caller whether this call wrote it, which
   * is what makes the notification happen once however often the job runs.
   */
  async insert(record: EmailSummaryRecord): Promise<{ inserted: boolean; record: EmailSummaryRecord }> {
    const stored = { ...record, from: storableText(record.from), subject: storableText(record.subject), summary: storableText(record.summary) };
    const result = await this.db
      .insertInto('summaries')
      .values({
        user_email: stored.userEmail,
        email_id: stored.emailId,
        sender: stored.from,
        subject: stored.subject,
        summary: stored.summary,
        model: stored.model,
        created_at: stored.createdAt,
        ...triageColumns(stored.triage),
      })
      .onConflict((oc) => oc.columns(['user_email', 'email_id']).doNothing())
      .executeTakeFirst();
    // The affected-row count: SQLite's `changes`, Postgres's `rowCount`; both 0 when the conflict skipped the row.
    const inserted = Number(result.numInsertedOrUpdatedRows ?? 0) > 0;
    return { inserted, record: inserted ? stored : ((await this.find(stored.userEmail, stored.emailId)) ?? stored) };
  }

  async find(userEmail: string, emailId: string): Promise<EmailSummaryRecord | undefined> {
    const row = await this.db.selectFrom('summaries').selectAll().where('user_email', '=', userEmail).where('email_id', '=', emailId).executeTakeFirst();
    return row ? toRecord(row) : undefined;
  }

  /** Newest first. */
  async listForUser(userEmail: string, limit = 50, filter: SummaryListFilter = {}): Promise<EmailSummaryRecord[]> {
    let query = this.db.selectFrom('summaries').selectAll().where('user_email', '=', userEmail);
    if (filter.category) query = query.where('category', '=', filter.category);
    if (filter.priority) query = query.where('priority', '=', filter.priority);
    if (filter.needsReply !== undefined) query = query.where('needs_reply', '=', filter.needsReply ? 1 : 0);
    const rows = await query.orderBy('created_at', 'desc').limit(limit).execute();
    return rows.map(toRecord);
  }

  /** Replaces one summary's triage (the user said "not spam"); the updated record, or undefined when there is none. */
  async setTriage(userEmail: string, emailId: string, triage: EmailTriage): Promise<EmailSummaryRecord | undefined> {
    await this.db.updateTable('summaries').set(triageColumns(triage)).where('user_email', '=', userEmail).where('email_id', '=', emailId).execute();
    return this.find(userEmail, emailId);
  }

  /** The user's summaries after their last acknowledged one, oldest first (the order they happened in). */
  async unacknowledged(userEmail: string, limit: number): Promise<EmailSummaryRecord[]> {
    const ack = await this.db.selectFrom('notification_acks').select('acked_up_to').where('user_email', '=', userEmail).executeTakeFirst();
    let query = this.db.selectFrom('summaries').selectAll().where('user_email', '=', userEmail);
    if (ack) query = query.where('created_at', '>', ack.acked_up_to);
    const rows = await query.orderBy('created_at', 'desc').limit(limit).execute();
    return rows.map(toRecord).reverse();
  }

  /** Moves the user's cursor forward (never back: acks may arrive out of order from several tabs). */
  async acknowledge(userEmail: string, upTo: string): Promise<void> {
    await this.db
      .insertInto('notification_acks')
      .values({ user_email: userEmail, acked_up_to: upTo })
      .onConflict((oc) =>
        oc.column('user_email').doUpdateSet({ acked_up_to: upTo }).where('notification_acks.acked_up_to', '<', upTo),
      )
      .execute();
  }
}
