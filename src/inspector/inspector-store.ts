import type { Db } from '../storage/database.js';

export interface JournalEntry {
  conversationId: string;
  /** ms since the epoch. */
  at: number;
  type: string;
  payload: unknown;
}

export interface StoredJournalRecord {
  seq: number;
  at: string;
  type: string;
  payload: unknown;
}

export interface RevealRecord {
  conversationId: string;
  operator: string;
  via: string;
  at: string;
}

/** Rows per INSERT: well under SQLite's bound-variable limit (5 columns each). */
const INSERT_CHUNK_ROWS = 200;

/** The inspector's tables: the event journal and the reveal log. */
export class InspectorStore {
  constructor(private readonly db: Db) {}

  /** Appends entries in one transaction, numbering each conversation's records after its last stored one. */
  async appendEvents(entries: readonly JournalEntry[]): Promise<void> {
    if (entries.length === 0) return;
    const ids = [...new Set(entries.map((e) => e.conversationId))];
    await this.db.transaction().execute(async (trx) => {
      const last = await trx
        .selectFrom('conversation_events')
        .select(['conversation_id', (eb) => eb.fn.max('seq').as('seq')])
        .where('conversation_id', 'in', ids)
        .groupBy('conversation_id')
        .execute();
      const next = new Map(last.map((row) => [row.conversation_id, Number(row.seq)]));
      const rows = entries.map((entry) => {
        const seq = (next.get(entry.conversationId) ?? 0) + 1;
        next.set(entry.conversationId, seq);
        return {
          conversation_id: entry.conversationId,
          seq,
          at: new Date(entry.at).toISOString(),
          type: entry.type,
          payload: JSON.stringify(entry.payload ?? null),
        };
      });
      for (let i = 0; i < rows.length; i += INSERT_CHUNK_ROWS) {
        await trx.insertInto('conversation_events').values(rows.slice(i, i + INSERT_CHUNK_ROWS)).execute();
      }
    });
  }

  async readEvents(conversationId: string): Promise<StoredJournalRecord[]> {
    const rows = await this.db
      .selectFrom('conversation_events')
      .select(['seq', 'at', 'type', 'payload'])
      .where('conversation_id', '=', conversationId)
      .orderBy('seq')
      .execute();
    return rows.map((row) => ({ seq: Number(row.seq), at: row.at, type: row.type, payload: JSON.parse(row.payload) as unknown }));
  }

  async conversationExists(conversationId: string): Promise<boolean> {
    const row = await this.db.selectFrom('conversations').select('id').where('id', '=', conversationId).executeTakeFirst();
    return row !== undefined;
  }

  async recordReveal(reveal: RevealRecord): Promise<void> {
    await this.db
      .insertInto('inspector_reveals')
      .values({ conversation_id: reveal.conversationId, operator: reveal.operator, via: reveal.via, at: reveal.at })
      .execute();
  }

  async listReveals(limit: number): Promise<RevealRecord[]> {
    const rows = await this.db.selectFrom('inspector_reveals').select(['conversation_id', 'operator', 'via', 'at']).orderBy('id', 'desc').limit(limit).execute();
    return rows.map((row) => ({ conversationId: row.conversation_id, operator: row.operator, via: row.via, at: row.at }));
  }
}
