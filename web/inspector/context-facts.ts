import type { ContextSummary } from '../../src/inspector/inspector-protocol.js';

/** A context summary as label/value pairs, for the detail and the replay panel alike. */
export function contextFacts(context: ContextSummary): Array<readonly [string, string]> {
  const approval = context.pending_approval;
  return [
    ['History length', String(context.history_length)],
    ['Tool step', `${context.step} / ${context.max_tool_steps}`],
    ['Pending tool', context.pending_tool ?? '—'],
    ['Pending approval', approval ? `${approval.tool} (${approval.call_id}) ${JSON.stringify(approval.args)}` : '—'],
    ['Last outcome', context.outcome],
  ];
}
