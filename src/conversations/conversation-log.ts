import type { InspectionEvent, Snapshot } from 'xstate';
import { ErrorCode } from '../errors.js';
import type { Logger } from '../logger.js';
import {
  ConversationState,
  wireState,
  type ConversationEmitted,
  type ConversationEvent,
  type ConversationSnapshot,
} from '../machines/conversation-machine.js';
import type { InspectionObserver } from './live-conversation.js';
import { CallDecision, nextPendingApproval, type BatchCall } from './tool-batch.js';

/**
 * A conversation's log lines, read off XState's inspection events: turns, LLM steps, tool calls, approvals and
 * errors, each with `conversationId` and `user`. Mail must not land in logs, so a line carries sizes, names, ids,
 * codes and durations, never a message's text, a tool's arguments or its result.
 */
export type ConversationLog = (conversation: { id: string; userEmail: string }) => InspectionObserver;

type Inspection<T extends InspectionEvent['type']> = Extract<InspectionEvent, { type: T }>;
type EmittedError = Extract<ConversationEmitted, { type: 'error' }>;

const LLM_ACTOR_ID = 'llm';
const TOOL_ACTOR_PREFIX = 'tool:';
const INIT_EVENT = 'xstate.init';
const EMIT_ACTION = 'xstate.emit';

/** Codes whose message the runtime writes itself. Others may quote a tool's result (mail), so only their code is logged. */
const MESSAGE_IS_OURS: ReadonlySet<ErrorCode> = new Set([ErrorCode.LlmUnavailable, ErrorCode.ModelNotFound, ErrorCode.LlmError, ErrorCode.StorageError, ErrorCode.MaxToolSteps]);
/** Codes that mean the runtime itself is in trouble (logged as errors); the rest are the model's, a tool's or the client's. */
const RUNTIME_FAULTS: ReadonlySet<ErrorCode> = new Set([ErrorCode.StorageError, ErrorCode.Internal]);

interface Turn {
  startedAt: number;
  llmSteps: number;
  toolCalls: number;
  /** The step in flight: when it was requested and when its first token came. */
  llmStartedAt: number;
  firstTokenMs: number | undefined;
  /** Tool calls started and not yet answered, by call id. */
  running: Map<string, { tool: string; startedAt: number }>;
  /** The last call an approval was asked for, so that re-entering `awaiting_approval` for it logs nothing new. */
  approvalAsked: string | undefined;
}

const msSince = (start: number) => Math.round(performance.now() - start);

/** `ActorRefLike` does not declare `id`, though every actor has one (`llm`, `tool:<callId>`, `persistence`). */
function actorId(ref: InspectionEvent['actorRef']): string {
  return 'id' in ref && typeof ref.id === 'string' ? ref.id : ref.sessionId;
}

/** A tool actor's input, as its init event carries it: only the two fields that may be logged are read. */
function toolCallOf(input: unknown): { callId: string; tool: string } | undefined {
  if (typeof input !== 'object' || input === null) return undefined;
  const { callId, tool } = input as Record<string, unknown>;
  return typeof callId === 'string' && typeof tool === 'string' ? { callId, tool } : undefined;
}

function emittedError(params: unknown): EmittedError | undefined {
  if (typeof params !== 'object' || params === null) return undefined;
  const event = (params as { event?: unknown }).event;
  if (typeof event !== 'object' || event === null || (event as { type?: unknown }).type !== 'error') return undefined;
  return event as EmittedError;
}

/** Calls that were waiting for the user before `next` and are decided in it. */
function decidedNow(before: readonly BatchCall[], next: readonly BatchCall[]): BatchCall[] {
  const waiting = new Set(before.filter((c) => c.decision === CallDecision.Pending).map((c) => c.id));
  return next.filter((c) => waiting.has(c.id) && c.decision !== CallDecision.Pending);
}

/**
 * The hub's `observe` for logging: per inspection event, a type switch and at most one log line. Tokens never reach
 * the machine, so nothing here runs per token.
 */
export function conversationLog(logger: Logger): ConversationLog {
  return ({ id, userEmail }) => {
    const log = logger.child({ conversationId: id, user: userEmail });
    let state: ConversationState = ConversationState.Idle;
    let batch: readonly BatchCall[] = [];
    let turn: Turn | undefined;

    const onRootSnapshot = (inspection: Inspection<'@xstate.snapshot'>) => {
      if (inspection.snapshot.status !== 'active') {
        if (turn) log.warn({ durationMs: msSince(turn.startedAt), state }, 'turn cut: the conversation actor stopped');
        turn = undefined;
        return;
      }
      // The root of this system is always the conversation machine.
      const { value, context } = inspection.snapshot as ConversationSnapshot;
      const next = wireState(value);
      const event = inspection.event as ConversationEvent;
      if (event.type === 'APPROVE' || event.type === 'REJECT') {
        for (const call of decidedNow(batch, context.batch)) {
          const edited = event.type === 'APPROVE' && event.callId === call.id && event.arguments !== undefined;
          log.info({ callId: call.id, tool: call.name, decision: call.decision, ...(event.type === 'APPROVE' && event.always ? { always: true } : {}), ...(edited ? { edited } : {}) }, 'approval answered');
        }
      }
      if (next === ConversationState.AwaitingApproval && turn) {
        const asked = nextPendingApproval(context.batch);
        if (asked && asked.id !== turn.approvalAsked) {
          turn.approvalAsked = asked.id;
          log.info({ callId: asked.id, tool: asked.name }, 'approval requested');
        }
      }
      if (state === ConversationState.Done && next === ConversationState.Idle && turn) {
        log.info({ outcome: context.outcome, durationMs: msSince(turn.startedAt), llmSteps: turn.llmSteps, toolCalls: turn.toolCalls }, 'turn ended');
        turn = undefined;
      }
      state = next;
      batch = context.batch;
    };

    /** Events the conversation gets: the user's message, and what its children report (LLM step ends, tool results). */
    const onRootEvent = (event: ConversationEvent) => {
      // Here and not on the snapshot: the LLM actor of the turn starts (and reports) before its snapshot is seen.
      if (event.type === 'CHAT' && state === ConversationState.Idle) {
        turn = { startedAt: performance.now(), llmSteps: 0, toolCalls: 0, llmStartedAt: 0, firstTokenMs: undefined, running: new Map(), approvalAsked: undefined };
        log.info({ messageChars: event.text.length }, 'turn started');
        return;
      }
      if (!turn) return;
      switch (event.type) {
        case 'LLM.FIRST_TOKEN':
          turn.firstTokenMs = msSince(turn.llmStartedAt);
          return;
        case 'LLM.DONE':
          log.info(
            {
              step: turn.llmSteps,
              outcome: 'done',
              // Which of the configured providers answered: with fallbacks, not always the first.
              provider: event.provider,
              durationMs: msSince(turn.llmStartedAt),
              firstTokenMs: turn.firstTokenMs,
              answerChars: event.content.length,
              toolCalls: event.toolCalls.length,
              completionTokens: event.completionTokens,
            },
            'llm step ended',
          );
          return;
        case 'LLM.CANCELLED':
        case 'LLM.ERROR':
          log.info({ step: turn.llmSteps, outcome: event.type === 'LLM.ERROR' ? 'error' : 'cancelled', durationMs: msSince(turn.llmStartedAt), firstTokenMs: turn.firstTokenMs, answerChars: event.partial.length }, 'llm step ended');
          return;
        case 'TOOL.RESULT': {
          const call = turn.running.get(event.callId);
          turn.running.delete(event.callId);
          log.info({ tool: call?.tool, callId: event.callId, durationMs: Math.round(event.durationMs), isError: event.result.isError }, 'tool call finished');
          return;
        }
      }
    };

    const onChildStart = (child: string, input: unknown) => {
      if (!turn) return;
      if (child === LLM_ACTOR_ID) {
        turn.llmSteps += 1;
        turn.llmStartedAt = performance.now();
        turn.firstTokenMs = undefined;
        log.debug({ step: turn.llmSteps }, 'llm step started');
        return;
      }
      const call = child.startsWith(TOOL_ACTOR_PREFIX) ? toolCallOf(input) : undefined;
      if (!call) return;
      turn.toolCalls += 1;
      turn.running.set(call.callId, { tool: call.tool, startedAt: performance.now() });
      log.debug({ tool: call.tool, callId: call.callId }, 'tool call started');
    };

    /** A tool actor stopped before it answered: its call was cut (cancel, shutdown). */
    const onChildStop = (child: string) => {
      if (!turn || !child.startsWith(TOOL_ACTOR_PREFIX)) return;
      const callId = child.slice(TOOL_ACTOR_PREFIX.length);
      const call = turn.running.get(callId);
      if (!call) return;
      turn.running.delete(callId);
      log.info({ tool: call.tool, callId, durationMs: msSince(call.startedAt) }, 'tool call cancelled');
    };

    const onError = ({ code, message }: EmittedError) => {
      const fields = MESSAGE_IS_OURS.has(code) ? { code, err: message } : { code };
      if (RUNTIME_FAULTS.has(code)) log.error(fields, 'conversation error');
      else log.warn(fields, 'conversation error');
    };

    return (inspection) => {
      const isRoot = inspection.actorRef.sessionId === inspection.rootId;
      switch (inspection.type) {
        case '@xstate.snapshot':
          if (isRoot) onRootSnapshot(inspection);
          else if ((inspection.snapshot as Snapshot<unknown>).status !== 'active') onChildStop(actorId(inspection.actorRef));
          return;
        case '@xstate.event':
          if (isRoot) onRootEvent(inspection.event as ConversationEvent);
          // A child's init event carries its input: the only place a tool actor's name and call id can be read.
          else if (inspection.event.type === INIT_EVENT) onChildStart(actorId(inspection.actorRef), inspection.event['input']);
          return;
        case '@xstate.action': {
          if (!isRoot || inspection.action.type !== EMIT_ACTION) return;
          const error = emittedError(inspection.action.params);
          if (error) onError(error);
          return;
        }
        default:
          return;
      }
    };
  };
}

/** One observer that hands each event to every given one, in order; undefined when none is given. */
export function composeObservers(...observers: ReadonlyArray<InspectionObserver | undefined>): InspectionObserver | undefined {
  const present = observers.filter((o): o is InspectionObserver => o !== undefined);
  if (present.length <= 1) return present[0];
  return (event) => {
    for (const observe of present) observe(event);
  };
}
