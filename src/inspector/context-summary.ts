import { nextPendingApproval } from '../conversations/tool-batch.js';
import type { ConversationContext } from '../machines/conversation-machine.js';
import type { ContextSummary } from './inspector-protocol.js';
import { redactArguments } from './redaction.js';

/** The machine context as the inspector shows it: counts and the pending call, never the messages themselves. */
export function summarizeContext(context: ConversationContext, reveal: boolean): ContextSummary {
  const pending = nextPendingApproval(context.batch);
  return {
    history_length: context.messages.length,
    step: context.step,
    max_tool_steps: context.maxToolSteps,
    pending_tool: pendingTool(context),
    pending_approval: pending ? { call_id: pending.id, tool: pending.name, args: reveal ? pending.arguments : redactArguments(pending.arguments) } : null,
    outcome: context.outcome,
  };
}

/** The first call of the current tool step still without a result (waiting for approval or running). */
export function pendingTool(context: ConversationContext): string | null {
  return context.batch.find((call) => call.result === undefined)?.name ?? null;
}
