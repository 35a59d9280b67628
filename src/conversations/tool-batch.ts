import type { PlannedToolCall } from '../actors/llm-stream.js';
import type { ToolMessage, ToolResult } from './chat-message.js';

export const CallDecision = {
  Pending: 'pending',
  Approved: 'approved',
  Rejected: 'rejected',
  /** No approval needed (read-only, allowed by policy, or "always allow" for this conversation). */
  Auto: 'auto',
} as const;
export type CallDecision = (typeof CallDecision)[keyof typeof CallDecision];

/** One call of the current tool step, with the user's decision and, once known, its result. */
export interface BatchCall {
  id: string;
  name: string;
  /** The arguments the call runs with: the model's, or the user's edit at approval. */
  arguments: Record<string, unknown>;
  decision: CallDecision;
  result?: ToolResult;
}

export function planBatch(calls: readonly PlannedToolCall[], alwaysAllowed: readonly string[]): BatchCall[] {
  return calls.map((call) => ({
    id: call.id,
    name: call.name,
    arguments: call.arguments,
    decision: call.requiresApproval && !alwaysAllowed.includes(call.name) ? CallDecision.Pending : CallDecision.Auto,
  }));
}

export function nextPendingApproval(batch: readonly BatchCall[]): BatchCall | undefined {
  return batch.find((c) => c.decision === CallDecision.Pending);
}

export function isRunnable(call: BatchCall): boolean {
  return (call.decision === CallDecision.Approved || call.decision === CallDecision.Auto) && !call.result;
}

export function toolMessage(call: BatchCall, result: ToolResult): ToolMessage {
  return { role: 'tool', callId: call.id, toolName: call.name, arguments: call.arguments, result };
}

export const REJECTED_RESULT = (reason: string | undefined): ToolResult => ({
  text: `The user rejected this call${reason ? `: ${reason}` : ''}. Do not retry it unless the user asks.`,
  isError: true,
});
export const CANCELLED_RESULT: ToolResult = { text: 'The user cancelled before this call finished.', isError: true };
export const STEP_LIMIT_RESULT = (limit: number): ToolResult => ({
  text: `Not run: the limit of ${limit} tool steps for one message was reached.`,
  isError: true,
});
