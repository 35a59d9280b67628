import { ChatMessageSchema, type ChatMessage } from '../conversations/chat-message.js';
import type { Db } from '../storage/database.js';
import { START_RECORD } from './journal-format.js';
import { expandStart, storedMessagesNeeded } from './start-record.js';

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

  /** A conversation's records in order, `start` records with the actor's whole input (history read back from `messages`). */
  async readEvents(conversationId: string): Promise<StoredJournalRecord[]> {
    const rows = await this.db
      .selectFrom('conversation_events')
      .select(['seq', 'at', 'type', 'payload'])
      .where('conversation_id', '=', conversationId)
      .orderBy('seq')
      .execute();
    const records = rows.map((row) => ({ seq: Number(row.seq), at: row.at, type: row.type, payload: JSON.parse(row.payload) as unknown }));
    const starts = records.filter((r) => r.type === START_RECORD);
    const needed = Math.max(0, ...starts.map((r) => storedMessagesNeeded(r.payload)));
    const messages = needed > 0 ? await this.storedMessages(conversationId) : [];
    for (const start of starts) start.payload = expandStart(start.payload, messages);
    return records;
  }

  /**
   * The conversation's history as stored, up to the first row that does not parse: a start record that needs more
   * than that is left unexpanded, and the export check says so.
   */
  private async storedMessages(conversationId: string): Promise<ChatMessage[]> {
    const rows = await this.db.selectFrom('messages').select(['position', 'body']).where('conversation_id', '=', conversationId).orderBy('position').execute();
    const messages: ChatMessage[] = [];
    for (const row of rows) {
      const parsed = ChatMessageSchema.safeParse(JSON.parse(row.body));
      if (!parsed.success || Number(row.position) !== messages.length) break;
      messages.push(parsed.data);
    }
    return messages;
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
