import { assign, enqueueActions, sendTo, setup, type SnapshotFrom, type StateValue } from 'xstate';
import type { LlmStreamLogic, LlmStreamOutput } from '../actors/llm-stream.js';
import type { PersistenceLogic, PersistenceOutput } from '../actors/persistence.js';
import type { ToolCallLogic, ToolCallOutput } from '../actors/tool-call.js';
import { NO_GRANTS, type ApprovalGrants } from '../conversations/approval-grants.js';
import { answeredBy, type ChatMessage, type ToolResult } from '../conversations/chat-message.js';
import {
  CANCELLED_RESULT,
  CallDecision,
  STEP_LIMIT_RESULT,
  decide,
  isRunnable,
  nextPendingApproval,
  planBatch,
  proposedBatch,
  toolMessage,
  type BatchCall,
  type ProposedCall,
} from '../conversations/tool-batch.js';
import { toolStepsInLastTurn } from '../conversations/history-repair.js';
import { ErrorCode } from '../errors.js';

/**
 * The life of one conversation:
 *
 *   idle ─CHAT→ responding(thinking → streaming) ─LLM.DONE─┬─ no tool calls ───────────────→ done ─FLUSHED→ idle
 *                    ▲                                     ├─ destructive call → awaiting_approval ─┐
 *                    └──────────── all results in ─────────┴─ calling_tool ◀──── approve/reject ────┘
 *   idle ─PROPOSE (a call the user put forward: a reply they picked)──→ awaiting_approval
 *
 * CANCEL from any busy state ends the turn in `done` (cancelled). The machine does no I/O: the LLM stream, each tool
 * call and the writer are actors given to `setup`, and what the outside needs to hear is `emit`ted.
 *
 * Human decisions are durable: each tool step's decisions and the "always allow" grants are handed to the writer with
 * the step's messages, and an actor restored with a step still waiting for the user (`pendingBatch`) goes straight
 * from idle back to awaiting_approval.
 */

/** The states a client sees in `state` messages. */
export const ConversationState = {
  Idle: 'idle',
  Thinking: 'thinking',
  Streaming: 'streaming',
  CallingTool: 'calling_tool',
  AwaitingApproval: 'awaiting_approval',
  Done: 'done',
} as const;
export type ConversationState = (typeof ConversationState)[keyof typeof ConversationState];

/** Why a turn ended; sent as `reason` in `done`. */
export const TurnOutcome = {
  Complete: 'complete',
  Cancelled: 'cancelled',
  Error: 'error',
  MaxToolSteps: 'max_tool_steps',
} as const;
export type TurnOutcome = (typeof TurnOutcome)[keyof typeof TurnOutcome];

export interface ConversationInput {
  conversationId: string;
  userEmail: string;
  messages: ChatMessage[];
  /** Tool-call rounds per user message; a loop guard, not a quota. */
  maxToolSteps: number;
  /** Restored from storage: what earlier "always allow" answers cover. */
  grants?: ApprovalGrants;
  /** Restored from storage: a tool step that was waiting for the user; none of its calls has started. */
  pendingBatch?: BatchCall[];
}

export interface ConversationContext extends Omit<ConversationInput, 'grants' | 'pendingBatch'> {
  /** How many of `messages` have been handed to the writer. */
  persistedCount: number;
  /** Tool rounds in the current turn. */
  step: number;
  batch: BatchCall[];
  /** What the user's "always allow" answers cover, in this conversation. */
  grants: ApprovalGrants;
  outcome: TurnOutcome;
}

export type ConversationEvent =
  | { type: 'CHAT'; text: string }
  /** The user's own call (a reply to send), with `text` saying in words what they asked for; always asks first. */
  | { type: 'PROPOSE'; text: string; call: ProposedCall }
  | { type: 'CANCEL' }
  | { type: 'APPROVE'; callId: string; arguments?: Record<string, unknown>; always?: boolean }
  | { type: 'REJECT'; callId: string; reason?: string }
  | LlmStreamOutput
  | ToolCallOutput
  | PersistenceOutput;

export type ConversationEmitted =
  | { type: 'tool_call'; callId: string; tool: string; args: Record<string, unknown> }
  | { type: 'tool_result'; callId: string; tool: string; args: Record<string, unknown>; result: ToolResult }
  | { type: 'approval_required'; callId: string; tool: string; args: Record<string, unknown> }
  | { type: 'error'; code: ErrorCode; message: string };

// A type alias, not an interface: setup() wants an object type with an index signature.
export type ConversationActors = {
  llmStream: LlmStreamLogic;
  toolCall: ToolCallLogic;
  persistence: PersistenceLogic;
};

const childId = (callId: string) => `tool:${callId}`;

export function createConversationMachine(actors: ConversationActors) {
  return setup({
    types: {
      context: {} as ConversationContext,
      events: {} as ConversationEvent,
      input: {} as ConversationInput,
      emitted: {} as ConversationEmitted,
    },
    actors,
    guards: {
      noToolCalls: ({ event }) => event.type === 'LLM.DONE' && event.toolCalls.length === 0,
      stepLimitReached: ({ context }) => context.step >= context.maxToolSteps,
      batchNeedsApproval: ({ context, event }) =>
        event.type === 'LLM.DONE' && planBatch(event.toolCalls, context.grants).some((c) => c.decision === CallDecision.Pending),
      holdsPendingApproval: ({ context }) => nextPendingApproval(context.batch) !== undefined,
      isUnknownPendingCall: ({ context, event }) =>
        (event.type === 'APPROVE' || event.type === 'REJECT') &&
        !context.batch.some((c) => c.id === event.callId && c.decision === CallDecision.Pending),
      decisionCompletesBatch: ({ context, event }) =>
        (event.type === 'APPROVE' || event.type === 'REJECT') && nextPendingApproval(decide(context, event).batch) === undefined,
      allResultsIn: ({ context }) => context.batch.every((c) => c.result !== undefined),
    },
    actions: {
      persistNew: enqueueActions(({ context, enqueue }) => {
        if (context.persistedCount >= context.messages.length) return;
        enqueue.sendTo('persistence', {
          type: 'PERSIST',
          fromPosition: context.persistedCount,
          messages: context.messages.slice(context.persistedCount),
        });
        enqueue.assign({ persistedCount: context.messages.length });
      }),
      /** New messages with the step's decisions, in one write: what was asked, decided and granted lands together. */
      persistStep: enqueueActions(({ context, enqueue }) => {
        enqueue.sendTo('persistence', {
          type: 'PERSIST',
          fromPosition: context.persistedCount,
          messages: context.messages.slice(context.persistedCount),
          decisions: { calls: context.batch.map(({ id, name, arguments: args, decision }) => ({ id, name, arguments: args, decision })), grants: context.grants },
        });
        enqueue.assign({ persistedCount: context.messages.length });
      }),
      emitBusy: enqueueActions(({ enqueue }) =>
        enqueue.emit({ type: 'error', code: ErrorCode.Busy, message: 'The assistant is still answering; wait for `done` or send `cancel`.' }),
      ),
      emitNotAwaiting: enqueueActions(({ enqueue }) =>
        enqueue.emit({ type: 'error', code: ErrorCode.NotAwaitingApproval, message: 'No tool call is waiting for approval.' }),
      ),
      emitUnknownCall: enqueueActions(({ event, enqueue }) => {
        if (event.type !== 'APPROVE' && event.type !== 'REJECT') return;
        enqueue.emit({ type: 'error', code: ErrorCode.UnknownCall, message: `No pending tool call has id "${event.callId}".` });
      }),
      emitApprovalRequest: enqueueActions(({ context, enqueue }) => {
        const call = nextPendingApproval(context.batch);
        if (call) enqueue.emit({ type: 'approval_required', callId: call.id, tool: call.name, args: call.arguments });
      }),
      /** Records the user's decision; a rejection is the call's result at once, so the LLM hears of it. */
      recordDecision: enqueueActions(({ context, event, enqueue }) => {
        if (event.type !== 'APPROVE' && event.type !== 'REJECT') return;
        const { batch, grants } = decide(context, event);
        const decided = batch.find((c) => c.id === event.callId)!;
        const messages = decided.result ? [...context.messages, toolMessage(decided, decided.result)] : context.messages;
        enqueue.assign({ batch, grants, messages });
        if (decided.result) enqueue.emit({ type: 'tool_result', callId: decided.id, tool: decided.name, args: decided.arguments, result: decided.result });
      }),
      startTools: enqueueActions(({ context, enqueue }) => {
        for (const call of context.batch.filter(isRunnable)) {
          enqueue.spawnChild('toolCall', {
            id: childId(call.id),
            input: {
              conversationId: context.conversationId,
              userEmail: context.userEmail,
              callId: call.id,
              tool: call.name,
              arguments: call.arguments,
              ...(call.target ? { target: { server: call.target.server, tool: call.target.tool } } : {}),
            },
          });
        }
      }),
      stopTools: enqueueActions(({ context, enqueue }) => {
        for (const call of context.batch) if (call.decision !== CallDecision.Rejected) enqueue.stopChild(childId(call.id));
      }),
      recordResult: enqueueActions(({ context, event, enqueue }) => {
        if (event.type !== 'TOOL.RESULT') return;
        const call = context.batch.find((c) => c.id === event.callId);
        if (!call || call.result) return;
        enqueue.assign({
          batch: context.batch.map((c) => (c.id === call.id ? { ...c, result: event.result } : c)),
          messages: [...context.messages, toolMessage(call, event.result)],
        });
        enqueue.emit({ type: 'tool_result', callId: call.id, tool: call.name, args: call.arguments, result: event.result });
        // The LLM hears of the failure through the result; the user also gets it as an error, not only as a card.
        if (event.result.isError) enqueue.emit({ type: 'error', code: ErrorCode.ToolError, message: `Tool "${call.name}" failed: ${event.result.text}` });
      }),
      /** Calls that never got a result are closed with "cancelled", so the history never holds an unanswered call. */
      closeUnfinishedCalls: enqueueActions(({ context, enqueue }) => {
        const unfinished = context.batch.filter((c) => !c.result);
        if (unfinished.length === 0) return;
        enqueue.assign({ messages: [...context.messages, ...unfinished.map((c) => toolMessage(c, CANCELLED_RESULT))] });
        for (const call of unfinished) enqueue.emit({ type: 'tool_result', callId: call.id, tool: call.name, args: call.arguments, result: CANCELLED_RESULT });
      }),
      /** A turn that starts with the user's own call: their request, then the call as the step to approve. */
      beginProposedStep: enqueueActions(({ context, event, enqueue }) => {
        if (event.type !== 'PROPOSE') return;
        const batch = proposedBatch(event.call);
        const toolCalls = batch.map(({ id, name, arguments: args }) => ({ id, name, arguments: args }));
        enqueue.assign({
          messages: [...context.messages, { role: 'user' as const, content: event.text }, { role: 'assistant' as const, content: '', toolCalls }],
          batch,
          step: 1,
          outcome: TurnOutcome.Complete,
        });
        for (const call of batch) enqueue.emit({ type: 'tool_call', callId: call.id, tool: call.name, args: call.arguments });
      }),
      beginToolStep: enqueueActions(({ context, event, enqueue }) => {
        if (event.type !== 'LLM.DONE') return;
        const batch = planBatch(event.toolCalls, context.grants);
        const toolCalls = batch.map(({ id, name, arguments: args }) => ({ id, name, arguments: args }));
        enqueue.assign({
          messages: [...context.messages, { role: 'assistant' as const, content: event.content, toolCalls, ...answeredBy(event) }],
          batch,
          step: context.step + 1,
        });
        for (const call of batch) enqueue.emit({ type: 'tool_call', callId: call.id, tool: call.name, args: call.arguments });
      }),
      abortLlm: sendTo('llm', { type: 'ABORT' }),
      /** What the user saw of an interrupted answer stays in the history, marked as such. */
      keepPartialAnswer: assign(({ context, event }) => {
        if ((event.type !== 'LLM.CANCELLED' && event.type !== 'LLM.ERROR') || event.partial === '') return {};
        return { messages: [...context.messages, { role: 'assistant' as const, content: event.partial, interrupted: true }] };
      }),
    },
  }).createMachine({
    id: 'conversation',
    context: ({ input: { grants, pendingBatch, ...input } }) => ({
      ...input,
      persistedCount: input.messages.length,
      // A restored step goes on counting the turn's steps (its own included).
      step: pendingBatch?.length ? Math.max(1, toolStepsInLastTurn(input.messages)) : 0,
      batch: pendingBatch ?? [],
      grants: grants ?? NO_GRANTS,
      outcome: TurnOutcome.Complete,
    }),
    invoke: { id: 'persistence', src: 'persistence', input: ({ context }) => ({ conversationId: context.conversationId }) },
    on: {
      CHAT: { actions: 'emitBusy' },
      PROPOSE: { actions: 'emitBusy' },
      APPROVE: { actions: 'emitNotAwaiting' },
      REJECT: { actions: 'emitNotAwaiting' },
      'PERSIST.ERROR': {
        actions: enqueueActions(({ event, enqueue }) => enqueue.emit({ type: 'error', code: ErrorCode.StorageError, message: event.message })),
      },
    },
    initial: 'idle',
    states: {
      idle: {
        // Only a restored actor has a batch in idle: the step it was waiting on before it was stopped.
        always: { guard: 'holdsPendingApproval', target: 'awaiting_approval' },
        on: {
          CHAT: {
            target: 'responding',
            actions: [
              assign(({ context, event }) => ({
                messages: [...context.messages, { role: 'user' as const, content: event.text }],
                step: 0,
                batch: [],
                outcome: TurnOutcome.Complete,
              })),
              'persistNew',
            ],
          },
          PROPOSE: { target: 'awaiting_approval', actions: ['beginProposedStep', 'persistStep'] },
        },
      },
      responding: {
        invoke: {
          id: 'llm',
          src: 'llmStream',
          input: ({ context }) => ({ conversationId: context.conversationId, userEmail: context.userEmail, messages: context.messages }),
        },
        initial: 'thinking',
        states: {
          thinking: { on: { 'LLM.FIRST_TOKEN': 'streaming' } },
          streaming: {},
        },
        on: {
          CANCEL: { actions: 'abortLlm' },
          'LLM.CANCELLED': { target: 'done', actions: ['keepPartialAnswer', 'persistNew', assign({ outcome: TurnOutcome.Cancelled })] },
          'LLM.ERROR': {
            target: 'done',
            actions: [
              'keepPartialAnswer',
              'persistNew',
              assign({ outcome: TurnOutcome.Error }),
              enqueueActions(({ event, enqueue }) => enqueue.emit({ type: 'error', code: event.code, message: event.message })),
            ],
          },
          'LLM.DONE': [
            {
              guard: 'noToolCalls',
              target: 'done',
              actions: [assign(({ context, event }) => ({ messages: [...context.messages, { role: 'assistant' as const, content: event.content, ...answeredBy(event) }] })), 'persistNew'],
            },
            {
              guard: 'stepLimitReached',
              target: 'done',
              actions: [
                assign(({ context, event }) => ({
                  messages: [
                    ...context.messages,
                    { role: 'assistant' as const, content: event.content, toolCalls: event.toolCalls.map(({ id, name, arguments: args }) => ({ id, name, arguments: args })), ...answeredBy(event) },
                    ...planBatch(event.toolCalls, NO_GRANTS).map((c) => toolMessage(c, STEP_LIMIT_RESULT(context.maxToolSteps))),
                  ],
                  outcome: TurnOutcome.MaxToolSteps,
                })),
                'persistNew',
                enqueueActions(({ context, enqueue }) =>
                  enqueue.emit({
                    type: 'error',
                    code: ErrorCode.MaxToolSteps,
                    message: `Stopped after ${context.maxToolSteps} tool steps without a final answer. Ask again more specifically, or raise [mcp] max_tool_steps.`,
                  }),
                ),
              ],
            },
            { guard: 'batchNeedsApproval', target: 'awaiting_approval', actions: ['beginToolStep', 'persistStep'] },
            { target: 'calling_tool', actions: ['beginToolStep', 'persistStep'] },
          ],
        },
      },
      awaiting_approval: {
        entry: 'emitApprovalRequest',
        on: {
          APPROVE: [
            { guard: 'isUnknownPendingCall', actions: 'emitUnknownCall' },
            { guard: 'decisionCompletesBatch', target: 'calling_tool', actions: ['recordDecision', 'persistStep'] },
            { target: 'awaiting_approval', reenter: true, actions: ['recordDecision', 'persistStep'] },
          ],
          REJECT: [
            { guard: 'isUnknownPendingCall', actions: 'emitUnknownCall' },
            { guard: 'decisionCompletesBatch', target: 'calling_tool', actions: ['recordDecision', 'persistStep'] },
            { target: 'awaiting_approval', reenter: true, actions: ['recordDecision', 'persistStep'] },
          ],
          CANCEL: { target: 'done', actions: ['closeUnfinishedCalls', 'persistNew', assign({ outcome: TurnOutcome.Cancelled })] },
        },
      },
      calling_tool: {
        entry: 'startTools',
        exit: 'stopTools',
        always: { guard: 'allResultsIn', target: 'responding', actions: assign({ batch: [] }) },
        on: {
          'TOOL.RESULT': { actions: ['recordResult', 'persistNew'] },
          CANCEL: { target: 'done', actions: ['closeUnfinishedCalls', 'persistNew', assign({ outcome: TurnOutcome.Cancelled })] },
        },
      },
      done: {
        entry: sendTo('persistence', { type: 'FLUSH' }),
        on: {
          // The wire `done` is sent by the conversation's owner on this done → idle change, after the `state`
          // message, so that it is the last message of every turn.
          'PERSIST.FLUSHED': { target: 'idle', actions: assign({ batch: [] }) },
        },
      },
    },
  });
}

export type ConversationMachine = ReturnType<typeof createConversationMachine>;
export type ConversationSnapshot = SnapshotFrom<ConversationMachine>;

/** The leaf state name a client sees (`responding` is an implementation detail around one LLM request). */
export function wireState(value: StateValue): ConversationState {
  if (typeof value === 'string') return value as ConversationState;
  const responding = value.responding;
  return (typeof responding === 'string' ? responding : ConversationState.Thinking) as ConversationState;
}
