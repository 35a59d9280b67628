import type { Compilable } from 'kysely';
import { z } from 'zod';
import { ApprovalGrantsSchema, type ApprovalGrants } from '../conversations/approval-grants.js';
import { ChatMessageSchema, type ChatMessage } from '../conversations/chat-message.js';
import { CallDecision, type DecisionWrite, type StoredToolCall } from '../conversations/tool-batch.js';
import { StorageError } from '../errors.js';
import { commitQueries, sqliteGroupCommit, type Db } from './database.js';
import { storableText } from './dialect.js';
import type { WriteOutcomes } from './storage-health.js';
import { storageWriteError } from './storage-fault.js';

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
  grants: ApprovalGrants;
}


const CallDecisionSchema = z.enum(CallDecision);
const ArgumentsSchema = z.record(z.string(), z.unknown());

/** Rows written by an older version that no longer fit fail loudly instead of reaching the machine half-formed. */
function parseValue<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new StorageError(`${what} is malformed: ${parsed.error.message}`);
  return parsed.data;
}

const parseJson = <T>(schema: z.ZodType<T>, text: string, what: string): T => parseValue(schema, JSON.parse(text), what);

/**
 * Conversations and their messages. Writes happen once per message, never per token. A refused write throws a
 * `StorageWriteError` that names its cause ("disk full: …"), and every write's outcome is told to `outcomes`
 * (`/health`).
 */
export class ConversationStore {
  constructor(
    private readonly db: Db,
    private readonly outcomes?: WriteOutcomes,
  ) {}

  async create(conversation: { id: string; userEmail: string; title: string }): Promise<void> {
    const now = new Date().toISOString();
    await this.write('the new conversation could not be saved, so nothing was started: send the message again later', () =>
      commitQueries(this.db, [
        this.db
          .insertInto('conversations')
          .values({ id: conversation.id, user_email: conversation.userEmail, title: storableText(conversation.title), created_at: now, updated_at: now }),
      ]),
    );
  }

  private async write<T>(what: string, work: () => Promise<T>): Promise<T> {
    let result: T;
    try {
      result = await work();
    } catch (error) {
      const refused = storageWriteError(error, what);
      // A constraint says nothing about whether the database takes writes.
      if (refused.passes) this.outcomes?.refused(refused);
      throw refused;
    }
    this.outcomes?.written();
    return result;
  }

  async find(id: string): Promise<StoredConversation | undefined> {
    const row = await this.db.selectFrom('conversations').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row) return undefined;
    const rows = await this.db.selectFrom('messages').select(['position', 'body']).where('conversation_id', '=', id).orderBy('position').execute();
    const messages = rows.map((r) => parseJson(ChatMessageSchema, r.body, `conversation ${id} message ${r.position}`));
    return {
      id: row.id,
      userEmail: row.user_email,
      title: row.title,
      createdAt: row.created_at,
      updatedAt: row.updated_at,
      lastSeq: Number(row.last_seq),
      messages,
      grants: parseJson(ApprovalGrantsSchema, row.approval_grants, `conversation ${id} approval grants`),
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

  /**
   * A write of this conversation is on its way through the writer's queue: on SQLite its commit is booked now, ahead of
   * the frames this loop turn sends (`SqliteGroupCommit.soon`).
   */
  expectWrite(): void {
    sqliteGroupCommit(this.db)?.soon();
  }

  /**
   * Appends messages at `fromPosition` in one transaction, with the decisions of the step they belong to; the primary
   * key refuses a position written twice.
   */
  async append(conversationId: string, fromPosition: number, messages: readonly ChatMessage[], lastSeq: number, decisions?: DecisionWrite): Promise<void> {
    const now = new Date().toISOString();
    const queries: Compilable[] = [];
    if (decisions && decisions.calls.length > 0) {
      queries.push(
        this.db
          .insertInto('tool_calls')
          .values(
            decisions.calls.map((call) => ({
              conversation_id: conversationId,
              call_id: call.id,
              tool: call.name,
              decision: call.decision,
              arguments: JSON.stringify(call.arguments),
              updated_at: now,
            })),
          )
          // `started_at` is left alone: a later decision write must never make a started call look unstarted. Only a
          // pending row takes a decision: a stale actor on another node must not turn a rejection into an approval.
          .onConflict((oc) =>
            oc
              .columns(['conversation_id', 'call_id'])
              .doUpdateSet((eb) => ({
                decision: eb.ref('excluded.decision'),
                arguments: eb.ref('excluded.arguments'),
                updated_at: eb.ref('excluded.updated_at'),
              }))
              .where('tool_calls.decision', '=', CallDecision.Pending),
          ),
      );
    }
    if (decisions) {
      queries.push(this.db.updateTable('conversations').set({ approval_grants: JSON.stringify(decisions.grants) }).where('id', '=', conversationId));
    }
    if (messages.length > 0) {
      queries.push(
        this.db.insertInto('messages').values(
          messages.map((message, i) => ({
            conversation_id: conversationId,
            position: fromPosition + i,
            role: message.role,
            body: JSON.stringify(message),
            created_at: now,
          })),
        ),
      );
    }
    queries.push(this.db.updateTable('conversations').set({ updated_at: now, last_seq: lastSeq }).where('id', '=', conversationId));
    await this.write('the messages could not be saved', () => commitQueries(this.db, queries));
  }

  /**
   * Recorded before the call is sent to its tool, so that a crash in between reads as "may have run". A compare-and-set:
   * true only when this call's row changed now. Zero rows means the call was started already (by another node holding
   * the same conversation, on shared storage) or its approval was never saved (the row is missing or still pending, or
   * it was rejected elsewhere); either way it must not be sent.
   */
  async markStarted(conversationId: string, callId: string): Promise<boolean> {
    const [changed] = await this.write('the start of the tool call could not be recorded', () =>
      commitQueries(this.db, [
        this.db
          .updateTable('tool_calls')
          .set({ started_at: new Date().toISOString() })
          .where('conversation_id', '=', conversationId)
          .where('call_id', '=', callId)
          .where('started_at', 'is', null)
          .where('decision', 'in', [CallDecision.Approved, CallDecision.Auto]),
      ]),
    );
    return changed === 1;
  }

  /** The stored decisions of these calls; a call with no row has none (written before decisions were kept). */
  async toolCalls(conversationId: string, callIds: readonly string[]): Promise<StoredToolCall[]> {
    if (callIds.length === 0) return [];
    const rows = await this.db
      .selectFrom('tool_calls')
      .select(['call_id', 'tool', 'decision', 'arguments', 'started_at'])
      .where('conversation_id', '=', conversationId)
      .where('call_id', 'in', callIds)
      .execute();
    return rows.map((r) => ({
      id: r.call_id,
      name: r.tool,
      decision: parseValue(CallDecisionSchema, r.decision, `conversation ${conversationId} call ${r.call_id} decision`),
      arguments: parseJson(ArgumentsSchema, r.arguments, `conversation ${conversationId} call ${r.call_id} arguments`),
      started: r.started_at !== null,
    }));
  }

  async setTitle(conversationId: string, title: string): Promise<void> {
    await this.write('the title could not be saved', () => commitQueries(this.db, [this.db.updateTable('conversations').set({ title: storableText(title) }).where('id', '=', conversationId)]));
  }

  /** Never lowers it: on a shared database another node may have numbered later events since this one loaded. */
  async saveLastSeq(conversationId: string, lastSeq: number): Promise<void> {
    await this.write('the sequence number could not be saved', () =>
      commitQueries(this.db, [this.db.updateTable('conversations').set({ last_seq: lastSeq }).where('id', '=', conversationId).where('last_seq', '<', lastSeq)]),
    );
  }

  /** How many messages are stored: a live actor holding fewer is behind a write made by another node. */
  async messageCount(conversationId: string): Promise<number> {
    const row = await this.db.selectFrom('messages').select((eb) => eb.fn.countAll<number | string>().as('count')).where('conversation_id', '=', conversationId).executeTakeFirst();
    return Number(row?.count ?? 0);
  }
}
