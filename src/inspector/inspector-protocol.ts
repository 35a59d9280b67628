import { z } from 'zod';
import { parseTypedMessage, type TypedMessageFailure } from '../protocol/typed-message.js';

/**
 * Every message of the inspector socket (`/inspector/ws`), both ways, and the replay answer. The page imports these
 * types too, so this module must stay free of Node and of the machine (whose actors import Node modules).
 */

export const InspectorErrorCode = {
  InvalidJson: 'invalid_json',
  InvalidMessage: 'invalid_message',
  UnknownType: 'unknown_type',
  Unauthenticated: 'unauthenticated',
  AuthFailed: 'auth_failed',
  /** A valid user token without the `admin` role. */
  Forbidden: 'forbidden',
  /** No `[admin] token` is configured and no admin JWT can be verified: the inspector is closed. */
  InspectorDisabled: 'inspector_disabled',
  /** Too many connections or sign-in attempts from this IP; `retry_after_ms` says when to try again. */
  RateLimited: 'rate_limited',
  NotFound: 'not_found',
  Internal: 'internal',
} as const;
export type InspectorErrorCode = (typeof InspectorErrorCode)[keyof typeof InspectorErrorCode];

export const TimelineKind = {
  /** An event delivered to an actor of the conversation's system. */
  Event: 'event',
  /** The conversation's wire state changed (`from` → `to`). */
  Transition: 'transition',
  ActorStart: 'actor-start',
  ActorStop: 'actor-stop',
} as const;
export type TimelineKind = (typeof TimelineKind)[keyof typeof TimelineKind];

const conversationId = z.string().min(1).max(100);

// ── client → server ────────────────────────────────────────────────────────────────────────────────────────────────

export const InspectorClientMessageSchemas = {
  /**
   * Must come first. `token`: the `[admin] token` or a JWT with the `admin` role. `operator` names the person in the
   * reveal log when signing in with the shared admin token (a JWT names its own: its email).
   */
  auth: z.object({ type: z.literal('auth'), token: z.string().max(1000).optional(), operator: z.string().trim().min(1).max(100).optional() }),
  /** Recent timeline of that conversation's actor, then its live entries and context changes. */
  watch: z.object({ type: z.literal('watch'), conversation_id: conversationId }),
  unwatch: z.object({ type: z.literal('unwatch') }),
  /** Message bodies, tool arguments and results of that conversation are sent unredacted to this socket; logged. */
  reveal: z.object({ type: z.literal('reveal'), conversation_id: conversationId }),
  ping: z.object({ type: z.literal('ping') }),
} as const;

export type InspectorClientType = keyof typeof InspectorClientMessageSchemas;
export type InspectorClientMessage = { [K in InspectorClientType]: z.infer<(typeof InspectorClientMessageSchemas)[K]> }[InspectorClientType];

export type ParsedInspectorMessage = { ok: true; message: InspectorClientMessage } | TypedMessageFailure;

/** JSON → typed message, or an error naming the problem (bad JSON, unknown type, which field). */
export function parseInspectorMessage(text: string): ParsedInspectorMessage {
  return parseTypedMessage(InspectorClientMessageSchemas, text);
}

// ── server → client ────────────────────────────────────────────────────────────────────────────────────────────────

export interface StateNodeTree {
  id: string;
  key: string;
  children: StateNodeTree[];
}

export const StateNodeTreeSchema: z.ZodType<StateNodeTree> = z.lazy(() =>
  z.object({ id: z.string(), key: z.string(), children: z.array(StateNodeTreeSchema) }),
);

export const PendingApprovalSchema = z.object({ call_id: z.string(), tool: z.string(), args: z.record(z.string(), z.unknown()) });

/** What the machine's context says, without message bodies. */
export const ContextSummarySchema = z.object({
  history_length: z.int().min(0),
  step: z.int().min(0),
  max_tool_steps: z.int().min(0),
  pending_tool: z.string().nullable(),
  pending_approval: PendingApprovalSchema.nullable(),
  outcome: z.string(),
});
export type ContextSummary = z.infer<typeof ContextSummarySchema>;

export const ActorSummarySchema = z.object({
  id: z.string(),
  user: z.string(),
  /** The wire state (`idle`, `thinking`, `streaming`, `calling_tool`, `awaiting_approval`, `done`). */
  state: z.string(),
  /** When it entered that state, ms since the epoch. */
  since: z.number(),
  pending_tool: z.string().nullable(),
  /** Tokens relayed since the actor started. */
  tokens: z.int().min(0),
  step: z.int().min(0),
  history_length: z.int().min(0),
});
export type ActorSummary = z.infer<typeof ActorSummarySchema>;

export const TimelineEntrySchema = z.object({
  /** Grows by one per entry of this actor. */
  seq: z.int().min(1),
  /** ms since the epoch. */
  at: z.number(),
  kind: z.enum([TimelineKind.Event, TimelineKind.Transition, TimelineKind.ActorStart, TimelineKind.ActorStop]),
  type: z.string(),
  /** Transition: the state left. Event: the actor that sent it (absent for events from outside). */
  from: z.string().optional(),
  /** Transition: the state entered. Event: the actor it was delivered to. */
  to: z.string().optional(),
  /** actor-start / actor-stop: the child (`llm`, `tool:<callId>`, `persistence`) or `conversation`. */
  actor: z.string().optional(),
  /** actor-stop: how long the actor lived. */
  durationMs: z.number().optional(),
  /** The event's fields; bodies, arguments' text and results are `[redacted N chars]` unless revealed. */
  detail: z.record(z.string(), z.unknown()).optional(),
});
export type TimelineEntry = z.infer<typeof TimelineEntrySchema>;

const ActorState = { conversation_id: z.string(), state: z.string(), since: z.number(), tokens: z.int().min(0), context: ContextSummarySchema };

export const InspectorServerMessageSchemas = {
  auth_success: z.object({ type: z.literal('auth_success'), operator: z.string() }),
  /** The socket is closed right after. */
  auth_error: z.object({ type: z.literal('auth_error'), code: z.string(), message: z.string(), retry_after_ms: z.int().positive().optional() }),
  error: z.object({ type: z.literal('error'), code: z.string(), message: z.string(), retry_after_ms: z.int().positive().optional() }),
  pong: z.object({ type: z.literal('pong') }),
  /** Every live actor of this node; sent after auth and then at most ~10 times a second while something changes. */
  actors: z.object({ type: z.literal('actors'), actors: z.array(ActorSummarySchema) }),
  /** Answer to `watch`: the machine's state node tree and where the actor is in it. A `timeline` follows. */
  watching: z.object({ type: z.literal('watching'), ...ActorState, statechart: StateNodeTreeSchema, revealed: z.boolean() }),
  /** The recent timeline (oldest first); sent after `watching` and again after `revealed`. */
  timeline: z.object({ type: z.literal('timeline'), conversation_id: z.string(), entries: z.array(TimelineEntrySchema), revealed: z.boolean() }),
  /** One live timeline entry of the watched actor. */
  entry: z.object({ type: z.literal('entry'), conversation_id: z.string(), entry: TimelineEntrySchema }),
  /** The watched actor's state or context changed. */
  context: z.object({ type: z.literal('context'), ...ActorState }),
  revealed: z.object({ type: z.literal('revealed'), conversation_id: z.string() }),
  unwatched: z.object({ type: z.literal('unwatched') }),
} as const;

const S = InspectorServerMessageSchemas;
export const InspectorServerMessageSchema = z.discriminatedUnion('type', [
  S.auth_success,
  S.auth_error,
  S.error,
  S.pong,
  S.actors,
  S.watching,
  S.timeline,
  S.entry,
  S.context,
  S.revealed,
  S.unwatched,
]);
export type InspectorServerMessage = z.infer<typeof InspectorServerMessageSchema>;
export type InspectorServerMessageOf<T extends InspectorServerMessage['type']> = Extract<InspectorServerMessage, { type: T }>;

// ── replay (HTTP) ──────────────────────────────────────────────────────────────────────────────────────────────────

export const ReplayStepSchema = z.object({
  /** 0 is the actor's start; then one step per recorded event, in order. */
  index: z.int().min(0),
  /** The record's journal `seq`. */
  seq: z.int().min(1),
  /** `start` or the event's type. */
  event: z.string(),
  /** The wire state after this event. */
  state: z.string(),
  context: ContextSummarySchema,
  /** What the machine emitted while handling the event (`tool_call`, `approval_required`, `error`, …). */
  emitted: z.array(z.string()),
});
export type ReplayStep = z.infer<typeof ReplayStepSchema>;

export const ReplayResponseSchema = z.object({ steps: z.array(ReplayStepSchema) });
export type ReplayResponse = z.infer<typeof ReplayResponseSchema>;
