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
  /** ApprovalGrants as JSON: what the user's "always allow" answers cover in this conversation. */
  approval_grants: Generated<string>;
}

export interface MessagesTable {
  conversation_id: string;
  position: number;
  role: string;
  /** The ChatMessage as JSON. */
  body: string;
  created_at: string;
}

/** Per tool call: the user's decision and whether it was handed to its tool (the restart needs to tell). */
export interface ToolCallsTable {
  conversation_id: string;
  call_id: string;
  tool: string;
  /** A CallDecision. */
  decision: string;
  /** The arguments the call runs with, as JSON. */
  arguments: string;
  /** Written before the call is sent to its tool; null while it has not been. */
  started_at: string | null;
  updated_at: string;
}

export interface SummariesTable {
  user_email: string;
  email_id: string;
  sender: string;
  subject: string;
  summary: string;
  model: string;
  created_at: string;
  /** A Category or `unknown`. */
  category: Generated<string>;
  /** A Priority or `unknown`. */
  priority: Generated<string>;
  /** 1, 0, or null when not known. */
  needs_reply: number | null;
  triage_reason: Generated<string>;
}

/** A user's own triage rules: patterns applied before the LLM, or plain words the LLM is given. */
export interface TriageRulesTable {
  id: string;
  user_email: string;
  from_pattern: string | null;
  subject_pattern: string | null;
  words: string | null;
  category: string | null;
  priority: string | null;
  needs_reply: number | null;
  /** 1: mail from this sender is never spam (the user said so). */
  not_spam: Generated<number>;
  created_at: string;
}

/** Per user, the `created_at` of the newest notification they acknowledged; replay starts after it. */
export interface NotificationAcksTable {
  user_email: string;
  acked_up_to: string;
}

/** The inspector's journal: every event delivered to a conversation actor, plus a `start` record per actor start. */
export interface ConversationEventsTable {
  conversation_id: string;
  /** 1, 2, 3… per conversation, across actor restarts. */
  seq: number;
  at: string;
  /** `start` or the machine event's type (`CHAT`, `LLM.DONE`, …). */
  type: string;
  /** The actor's input with its history as a count (`start`, see inspector/start-record.ts) or the event, as JSON. */
  payload: string;
}

/** Who saw a conversation's content through the inspector, and how (`socket` or `export`). */
export interface InspectorRevealsTable {
  id: Generated<number>;
  conversation_id: string;
  operator: string;
  via: string;
  at: string;
}

/** Rows of `/health`'s write probe: each is deleted in the transaction that wrote it. */
export interface HealthProbeTable {
  id: string;
  at: string;
  /** Longer than a page, so that the probe needs room for new pages. */
  padding: string;
}

export interface ContextSummariesTable {
  conversation_id: string;
  /** How many of the conversation's first messages the summary stands for. */
  through_count: number;
  summary: string;
  updated_at: string;
}

export interface Database {
  conversations: ConversationsTable;
  messages: MessagesTable;
  tool_calls: ToolCallsTable;
  summaries: SummariesTable;
  notification_acks: NotificationAcksTable;
  conversation_events: ConversationEventsTable;
  inspector_reveals: InspectorRevealsTable;
  health_probe: HealthProbeTable;
  context_summaries: ContextSummariesTable;
  triage_rules: TriageRulesTable;
}
