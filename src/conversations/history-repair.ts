import type { ChatMessage, ToolMessage } from './chat-message.js';

/**
 * Tool results for calls that a crash or restart left unanswered. A model handed an assistant tool call without its
 * result tends to repeat the call, so each one is closed with an explicit "interrupted" result.
 */
export function unansweredCallResults(messages: readonly ChatMessage[]): ToolMessage[] {
  const answered = new Set(messages.flatMap((m) => (m.role === 'tool' ? [m.callId] : [])));
  const missing: ToolMessage[] = [];
  for (const message of messages) {
    if (message.role !== 'assistant' || !message.toolCalls) continue;
    for (const call of message.toolCalls) {
      if (answered.has(call.id)) continue;
      missing.push({
        role: 'tool',
        callId: call.id,
        toolName: call.name,
        arguments: call.arguments,
        result: { text: 'Interrupted: the runtime restarted before this call finished. It may or may not have run.', isError: true },
      });
    }
  }
  return missing;
}
