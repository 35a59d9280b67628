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

export interface SummariesTable {
  user_email: string;
  email_id: string;
  sender: string;
  subject: string;
  summary: string;
  model: string;
  created_at: string;
}

/** Per user, the `created_at` of the newest notification they acknowledged; replay starts after it. */
export interface NotificationAcksTable {
  user_email: string;
  acked_up_to: string;
}

export interface Database {
  conversations: ConversationsTable;
  messages: MessagesTable;
  summaries: SummariesTable;
  notification_acks: NotificationAcksTable;
}
