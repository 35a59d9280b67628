import type { AssistantMessage, ChatMessage, ToolMessage, ToolResult } from './chat-message.js';
import { CallDecision, INTERRUPTED_RESULT, NOT_STARTED_RESULT, type BatchCall, type StoredToolCall } from './tool-batch.js';

/** How a conversation stopped mid-step comes back. */
export interface RestoredStep {
  /** Results for calls that cannot go on; appended to the history, so it never holds an unanswered call. */
  repairs: ToolMessage[];
  /** The last tool step, rebuilt, when it was waiting for the user: the actor starts in awaiting_approval with it. */
  pendingBatch?: BatchCall[];
}

/** Ids of the tool calls the history holds no result for: those whose stored decisions a restore needs. */
export function unansweredCallIds(messages: readonly ChatMessage[]): string[] {
  const answered = new Set(messages.flatMap((m) => (m.role === 'tool' ? [m.callId] : [])));
  return messages.flatMap((m) => (m.role === 'assistant' ? (m.toolCalls ?? []).map((c) => c.id).filter((id) => !answered.has(id)) : []));
}

/**
 * Tool steps of the turn the history ends in (assistant messages with calls since the last user message): a step
 * restored waiting for approval continues that count, so `max_tool_steps` holds across restarts without storing it.
 */
export function toolStepsInLastTurn(messages: readonly ChatMessage[]): number {
  let steps = 0;
  for (let i = messages.length - 1; i >= 0; i--) {
    const message = messages[i]!;
    if (message.role === 'user') break;
    if (message.role === 'assistant' && message.toolCalls?.length) steps += 1;
  }
  return steps;
}

function lastToolStep(messages: readonly ChatMessage[]): AssistantMessage | undefined {
  for (let i = messages.length - 1; i >= 0; i--) {
    const message = messages[i]!;
    if (message.role === 'assistant') return message.toolCalls?.length ? message : undefined;
    if (message.role === 'user') return undefined;
  }
  return undefined;
}

/**
 * What a stop (eviction, restart, crash) left unanswered, told apart by the stored decisions:
 * - a step still waiting for the user comes back waiting, with the same call ids; none of its calls has run;
 * - a call that was started (its marker is written before it is sent) is closed as "interrupted, may or may not have
 *   run"; so is a call with no stored decision (written before decisions were kept): it may have run;
 * - a call that was decided but not yet started never ran, and is closed as "not run".
 * A model handed a tool call without its result tends to repeat it, hence an explicit result for each.
 */
export function restoreToolStep(messages: readonly ChatMessage[], stored: readonly StoredToolCall[]): RestoredStep {
  const results = new Map(messages.flatMap((m) => (m.role === 'tool' ? [[m.callId, m.result] as const] : [])));
  const decisions = new Map(stored.map((call) => [call.id, call]));
  const step = lastToolStep(messages);
  const unanswered = (step?.toolCalls ?? []).filter((call) => !results.has(call.id));
  const mayHaveRun = unanswered.some((call) => decisions.get(call.id)?.started !== false);
  const waiting = !mayHaveRun && unanswered.some((call) => decisions.get(call.id)?.decision === CallDecision.Pending);

  const repairs: ToolMessage[] = [];
  for (const message of messages) {
    if (message.role !== 'assistant' || !message.toolCalls) continue;
    for (const call of message.toolCalls) {
      if (results.has(call.id) || (waiting && message === step)) continue;
      const decision = decisions.get(call.id);
      const result: ToolResult = decision && !decision.started ? NOT_STARTED_RESULT : INTERRUPTED_RESULT;
      repairs.push({ role: 'tool', callId: call.id, toolName: call.name, arguments: decision?.arguments ?? call.arguments, result });
    }
  }
  if (!waiting || !step?.toolCalls) return { repairs };

  const pendingBatch = step.toolCalls.map((call): BatchCall => {
    const decision = decisions.get(call.id);
    const restored = { id: call.id, name: call.name, arguments: decision?.arguments ?? call.arguments };
    const result = results.get(call.id);
    // Within a step still waiting for the user, only a rejection can have answered a call already.
    if (result) return { ...restored, decision: decision?.decision ?? CallDecision.Rejected, result };
    // Every unanswered call of a waiting step has a stored decision (else it "may have run" and the step is closed).
    return { ...restored, decision: decision?.decision ?? CallDecision.Pending };
  });
  return { repairs, pendingBatch };
}
