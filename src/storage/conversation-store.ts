import { ChatMessageSchema, type ChatMessage } from '../conversations/chat-message.js';
import { StorageError } from '../errors.js';
import type { Db } from './database.js';
import { storableText } from './dialect.js';

export interface ConversationListing {
  id: string;
  title: string;
  createdAt: string;
  updatedAt: string;
}

export interface StoredConversation extends ConversationListing {
  userEmail: string;
  lastSeq: number;
  messages: ChatMessage[];
}

/** Conversations and their messages. Writes happen once per message, never per token. */
export class ConversationStore {
  constructor(private readonly db: Db) {}

  async create(conversation: { id: string; userEmail: string; title: string }): Promise<void> {
    const now = new Date().toISOString();
    await this.db
      .insertInto('conversations')
      .values({ id: conversation.id, user_email: conversation.userEmail, title: storableText(conversation.title), created_at: now, updated_at: now })
      .execute();
  }

  async find(id: string): Promise<StoredConversation | undefined> {
    const row = await this.db.selectFrom('conversations').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row) return undefined;
    const rows = await this.db.selectFrom('messages').select(['position', 'body']).where('conversation_id', '=', id).orderBy('position').execute();
    const messages = rows.map((r) => {
      const parsed = ChatMessageSchema.safeParse(JSON.parse(r.body));
      if (!parsed.success) throw new StorageError(`conversation ${id} message ${r.position} is malformed: ${parsed.error.message}`);
      return parsed.data;
    });
    return {
      id: row.id,
      userEmail: row.user_email,
      title: row.title,
      createdAt: row.created_at,
      updatedAt: row.updated_at,
      lastSeq: Number(row.last_seq),
      messages,
    };
  }

  async listForUser(userEmail: string, limit = 50): Promise<ConversationListing[]> {
    const rows = await this.db
      .selectFrom('conversations')
      .select(['id', 'title', 'created_at', 'updated_at'])
      .where('user_email', '=', userEmail)
      .orderBy('updated_at', 'desc')
      .limit(limit)
      .execute();
    return rows.map((r) => ({ id: r.id, title: r.title, createdAt: r.created_at, updatedAt: r.updated_at }));
  }

  /** Appends messages at `fromPosition` in one transaction; the primary key refuses a position written twice. */
  async append(conversationId: string, fromPosition: number, messages: readonly ChatMessage[], lastSeq: number): Promise<void> {
    const now = new Date().toISOString();
    await this.db.transaction().execute(async (trx) => {
      if (messages.length > 0) {
        await trx
          .insertInto('messages')
          .values(
            messages.map((message, i) => ({
              conversation_id: conversationId,
              position: fromPosition + i,
              role: message.role,
              body: JSON.stringify(message),
              created_at: now,
            })),
          )
          .execute();
      }
      await trx.updateTable('conversations').set({ updated_at: now, last_seq: lastSeq }).where('id', '=', conversationId).execute();
    });
  }

  async setTitle(conversationId: string, title: string): Promise<void> {
    await this.db.updateTable('conversations').set({ title: storableText(title) }).where('id', '=', conversationId).execute();
  }

  /** Never lowers it: on a shared database another node may have numbered later events since this one loaded. */
  async saveLastSeq(conversationId: string, lastSeq: number): Promise<void> {
    await this.db.updateTable('conversations').set({ last_seq: lastSeq }).where('id', '=', conversationId).where('last_seq', '<', lastSeq).execute();
  }

  /** How many messages are stored: a live actor holding fewer is behind a write made by another node. */
  async messageCount(conversationId: string): Promise<number> {
    const row = await this.db.selectFrom('messages').select((eb) => eb.fn.countAll<number | string>().as('count')).where('conversation_id', '=', conversationId).executeTakeFirst();
    return Number(row?.count ?? 0);
  }
}
