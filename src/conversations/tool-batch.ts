import { z } from 'zod';
import type { PlannedToolCall } from '../actors/llm-stream.js';
import { GrantTargetSchema, isGranted, withGrant, type ApprovalGrants } from './approval-grants.js';
import { ToolResultSchema, type ToolMessage, type ToolResult } from './chat-message.js';

export const CallDecision = {
  Pending: 'pending',
  Approved: 'approved',
  Rejected: 'rejected',
  /** No approval needed (read-only, allowed by policy, or "always allow" for this conversation). */
  Auto: 'auto',
} as const;
export type CallDecision = (typeof CallDecision)[keyof typeof CallDecision];

/** One call of the current tool step, with the user's decision and, once known, its result. */
export const BatchCallSchema = z.object({
  id: z.string(),
  name: z.string(),
  /** The arguments the call runs with: the model's, or the user's edit at approval. */
  arguments: z.record(z.string(), z.unknown()),
  decision: z.enum(CallDecision),
  result: ToolResultSchema.optional(),
  /** What "always allow" for this call would cover; absent when no server offered the tool. */
  target: GrantTargetSchema.optional(),
});
export type BatchCall = z.infer<typeof BatchCallSchema>;

/** A tool call's decision as stored: the batch entry without its result (that is a message). */
export type CallDecisionRecord = Pick<BatchCall, 'id' | 'name' | 'arguments' | 'decision'>;

export interface StoredToolCall extends CallDecisionRecord {
  /** The call was handed to its tool (or was about to be): it may have taken effect. */
  started: boolean;
}

/** Decisions written with a step's messages, in the same transaction. */
export interface DecisionWrite {
  calls: readonly CallDecisionRecord[];
  grants: ApprovalGrants;
}

export function planBatch(calls: readonly PlannedToolCall[], grants: ApprovalGrants): BatchCall[] {
  return calls.map((call) => ({
    id: call.id,
    name: call.name,
    arguments: call.arguments,
    decision: call.requiresApproval && !isGranted(grants, call) ? CallDecision.Pending : CallDecision.Auto,
    ...(call.target ? { target: call.target } : {}),
  }));
}

/** A call the user put forward themselves (a reply they picked), as the machine records it. */
export type ProposedCall = Pick<BatchCall, 'id' | 'name' | 'arguments' | 'target'>;

/**
 * The step of a proposed call: it waits for the user's approval whatever they granted before. They see the exact
 * mail once more before it leaves; an "always" given to the model's calls is not a yes to this one.
 */
export function proposedBatch(call: ProposedCall): BatchCall[] {
  return [{ ...call, decision: CallDecision.Pending }];
}

/** The user's answer to one pending call (the machine's APPROVE and REJECT events). */
export type UserDecision =
  | { type: 'APPROVE'; callId: string; arguments?: Record<string, unknown>; always?: boolean }
  | { type: 'REJECT'; callId: string; reason?: string };

/**
 * The batch and grants after the user's answer to one pending call. "Always" grants what the approved call does (the
 * tool, or for send_email its recipients) and approves the step's other pending calls that the grant covers.
 */
export function decide(step: { batch: readonly BatchCall[]; grants: ApprovalGrants }, event: UserDecision): { batch: BatchCall[]; grants: ApprovalGrants } {
  const decided = step.batch.map((call): BatchCall => {
    if (call.id !== event.callId) return call;
    if (event.type === 'REJECT') return { ...call, decision: CallDecision.Rejected, result: REJECTED_RESULT(event.reason) };
    return { ...call, decision: CallDecision.Approved, arguments: event.arguments ?? call.arguments };
  });
  const target = decided.find((c) => c.id === event.callId);
  if (event.type !== 'APPROVE' || !event.always || !target) return { batch: decided, grants: step.grants };
  const grants = withGrant(step.grants, target);
  const batch = decided.map((call) => (call.decision === CallDecision.Pending && isGranted(grants, call) ? { ...call, decision: CallDecision.Approved } : call));
  return { batch, grants };
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
/** The call had been handed to its tool when the process stopped: whether it took effect is unknown. */
export const INTERRUPTED_RESULT: ToolResult = {
  text: 'Interrupted while running: the runtime restarted before this call finished. It may or may not have run.',
  isError: true,
};
/** The call was due to run (no approval needed) but the process stopped before it was handed to its tool. */
export const NOT_STARTED_RESULT: ToolResult = { text: 'Not run: the runtime restarted before this call started.', isError: true };
export const STEP_LIMIT_RESULT = (limit: number): ToolResult => ({
  text: `Not run: the limit of ${limit} tool steps for one message was reached.`,
  isError: true,
});
