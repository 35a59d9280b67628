import type { Generated } from 'kysely';

/** Timestamps are ISO-8601 text and flags are 0/1: the one representation both SQLite and Postgres store unchanged. */
export interface ConversationsTable {
  id: string;
  user_email: string;
  title: string;
  created_at: string;
  updated_at: string;
  /** The highest sequence number sent to clients, so numbering continues after the actor is restored. */
  last_seq: Generated<number>;
}

export interface MessagesTable {
  conversation_id: string;
  position: number;
  role: string;
  /** The ChatMessage as JSON. */
  body: string;
  created_at: string;
}

export interface Database {
  conversations: ConversationsTable;
  messages: MessagesTable;
}
