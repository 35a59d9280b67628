import { z } from 'zod';
import { ConversationState, TurnOutcome } from '../machines/conversation-machine.js';
import { ErrorCode } from '../errors.js';
import { WireTriageSchema } from '../triage/triage.js';
import { parseTypedMessage, type TypedMessageFailure } from './typed-message.js';

/**
 * Every WebSocket message, both ways. The seed's messages (`auth`, `chat`, `auth_success`, `auth_error`, `chunk`,
 * `tool_call`, `done`, `error`) keep their names and fields; everything else is additive. Field names are snake_case
 * on the wire, as in the seed.
 */

const conversationId = z.string().min(1).max(100);
const args = z.record(z.string(), z.unknown());
/** A few recipients; a legitimate list is far shorter. */
const MAX_RECIPIENTS_CHARS = 1000;
/** RFC 5322's line limit: no real subject is longer. */
const MAX_SUBJECT_CHARS = 998;

// ── client → server ────────────────────────────────────────────────────────────────────────────────────────────────

export const ClientMessageSchemas = {
  /** Dev mode: `email`. With real auth (later): `token`. */
  auth: z.object({ type: z.literal('auth'), email: z.string().optional(), token: z.string().optional() }),
  /** Starts a turn in `conversation_id`, or in the socket's current conversation, or in a new one. */
  chat: z.object({ type: z.literal('chat'), message: z.string().min(1, 'message must not be empty'), conversation_id: conversationId.optional() }),
  /**
   * Sends a reply the user picked (from `POST /api/replies/suggest`, or their own): in `conversation_id`, the socket's
   * current conversation or a new one, a `send_email` call with these arguments (from = the signed-in user) waits for
   * the user's approval, always, even after an "always allow". `body` is bounded like a chat message.
   */
  propose_reply: z.object({
    type: z.literal('propose_reply'),
    to: z.string().trim().min(1, 'to must name a recipient').max(MAX_RECIPIENTS_CHARS),
    subject: z.string().max(MAX_SUBJECT_CHARS),
    body: z.string().min(1, 'body must not be empty'),
    conversation_id: conversationId.optional(),
  }),
  cancel: z.object({ type: z.literal('cancel'), conversation_id: conversationId.optional() }),
  /** `arguments` replaces the call's arguments (the user edited them); `always` allows the tool for the rest of the conversation. */
  approve: z.object({
    type: z.literal('approve'),
    call_id: z.string().min(1),
    arguments: args.optional(),
    always: z.boolean().optional(),
    conversation_id: conversationId.optional(),
  }),
  reject: z.object({ type: z.literal('reject'), call_id: z.string().min(1), reason: z.string().max(1000).optional(), conversation_id: conversationId.optional() }),
  /** Reattach to a conversation: the events after `last_seq` when they are still buffered, else a `history` and the live rest. */
  resume: z.object({ type: z.literal('resume'), conversation_id: conversationId, last_seq: z.int().min(0).optional() }),
  new_conversation: z.object({ type: z.literal('new_conversation') }),
  list_conversations: z.object({ type: z.literal('list_conversations') }),
  ping: z.object({ type: z.literal('ping') }),
  /** Notifications up to this `created_at` were seen: they are not replayed at the next sign-in. */
  ack_notifications: z.object({ type: z.literal('ack_notifications'), up_to: z.iso.datetime({ offset: true }) }),
} as const;

export type ClientMessageType = keyof typeof ClientMessageSchemas;
export type ClientMessage = { [K in ClientMessageType]: z.infer<(typeof ClientMessageSchemas)[K]> }[ClientMessageType];

export type ParsedClientMessage = { ok: true; message: ClientMessage } | TypedMessageFailure;

/** JSON → typed message, with an error that names the problem (bad JSON, unknown type, which field). */
export function parseClientMessage(text: string): ParsedClientMessage {
  return parseTypedMessage(ClientMessageSchemas, text);
}

// ── server → client ────────────────────────────────────────────────────────────────────────────────────────────────

const errorCode = z.enum(Object.values(ErrorCode) as [ErrorCode, ...ErrorCode[]]);
const state = z.enum(Object.values(ConversationState) as [ConversationState, ...ConversationState[]]);
const outcome = z.enum(Object.values(TurnOutcome) as [TurnOutcome, ...TurnOutcome[]]);

/** Fields every conversation event carries; `seq` grows by one per event of that conversation. */
const event = { conversation_id: conversationId, seq: z.int().min(1) };

const toolResult = { result: z.string(), structured: z.record(z.string(), z.unknown()).optional(), is_error: z.boolean() };

export const WireChatMessageSchema = z.discriminatedUnion('role', [
  z.object({ role: z.literal('user'), content: z.string() }),
  z.object({
    role: z.literal('assistant'),
    content: z.string(),
    tool_calls: z.array(z.object({ call_id: z.string(), tool: z.string(), args })).optional(),
    interrupted: z.boolean().optional(),
  }),
  z.object({ role: z.literal('tool'), call_id: z.string(), tool: z.string(), args, ...toolResult }),
]);
export type WireChatMessage = z.infer<typeof WireChatMessageSchema>;

export const ConversationEventSchemas = {
  state: z.object({ type: z.literal('state'), ...event, state }),
  chunk: z.object({ type: z.literal('chunk'), ...event, text: z.string() }),
  tool_call: z.object({ type: z.literal('tool_call'), ...event, call_id: z.string(), tool: z.string(), args }),
  tool_result: z.object({ type: z.literal('tool_result'), ...event, call_id: z.string(), tool: z.string(), args, ...toolResult }),
  approval_required: z.object({ type: z.literal('approval_required'), ...event, call_id: z.string(), tool: z.string(), args }),
  /** Ends every turn. `cancelled` mirrors `reason === "cancelled"` for clients that only check a flag. */
  done: z.object({ type: z.literal('done'), ...event, reason: outcome, cancelled: z.boolean() }),
  error: z.object({ type: z.literal('error'), ...event, code: errorCode, message: z.string() }),
} as const;
type ConversationEventMap = { [K in keyof typeof ConversationEventSchemas]: z.infer<(typeof ConversationEventSchemas)[K]> };
export type ConversationEventMessage = ConversationEventMap[keyof ConversationEventMap];
/** A conversation event before the channel numbers it. */
export type UnnumberedEvent = ConversationEventMessage extends infer M ? (M extends unknown ? Omit<M, 'seq' | 'conversation_id'> : never) : never;

export const ServerMessageSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('auth_success'), email: z.string() }),
  z.object({ type: z.literal('auth_error'), code: errorCode, message: z.string(), retry_after_ms: z.int().min(0).optional() }),
  /**
   * Errors that belong to no conversation (bad JSON, unknown type, …); conversation errors are events. `retry_after_ms`
   * comes with `rate_limited`.
   */
  z.object({
    type: z.literal('error'),
    code: errorCode,
    message: z.string(),
    conversation_id: conversationId.optional(),
    seq: z.int().optional(),
    retry_after_ms: z.int().min(0).optional(),
  }),
  /**
   * A conversation's full picture: stored messages, current state, the pending approval and the text streamed so far in
   * the current step (`draft`). Live events that follow have `seq` greater than this message's `seq`.
   */
  z.object({
    type: z.literal('history'),
    conversation_id: conversationId,
    title: z.string(),
    messages: z.array(WireChatMessageSchema),
    state,
    seq: z.int().min(0),
    draft: z.string(),
    pending_approval: z.object({ call_id: z.string(), tool: z.string(), args }).optional(),
  }),
  /** Ends the replay of a `resume` that named a still-buffered `last_seq`: the events before it were the missed ones. */
  z.object({ type: z.literal('resumed'), conversation_id: conversationId, seq: z.int().min(0), replayed: z.int().min(0) }),
  z.object({
    type: z.literal('conversations'),
    conversations: z.array(z.object({ id: z.string(), title: z.string(), created_at: z.string(), updated_at: z.string() })),
  }),
  z.object({ type: z.literal('pong') }),
  /**
   * A new email's summary (the seed's fields plus `email_id` and `created_at`) and its triage (`category`, `priority`,
   * `needs_reply`: see src/triage/triage.ts), live or replayed after sign-in.
   */
  z.object({
    type: z.literal('email_notification'),
    email_id: z.string(),
    from: z.string(),
    subject: z.string(),
    summary: z.string(),
    created_at: z.string(),
    ...WireTriageSchema.shape,
  }),
  ConversationEventSchemas.state,
  ConversationEventSchemas.chunk,
  ConversationEventSchemas.tool_call,
  ConversationEventSchemas.tool_result,
  ConversationEventSchemas.approval_required,
  ConversationEventSchemas.done,
]);
export type ServerMessage = z.infer<typeof ServerMessageSchema>;
