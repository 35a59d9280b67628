import type { ConversationEmitted } from '../machines/conversation-machine.js';
import type { UnnumberedEvent, WireChatMessage } from '../protocol/protocol.js';
import type { ChatMessage } from './chat-message.js';

export function toWireMessage(message: ChatMessage): WireChatMessage {
  switch (message.role) {
    case 'user':
      return { role: 'user', content: message.content };
    case 'assistant':
      return {
        role: 'assistant',
        content: message.content,
        ...(message.toolCalls?.length ? { tool_calls: message.toolCalls.map((c) => ({ call_id: c.id, tool: c.name, args: c.arguments })) } : {}),
        ...(message.interrupted ? { interrupted: true } : {}),
      };
    case 'tool':
      return {
        role: 'tool',
        call_id: message.callId,
        tool: message.toolName,
        args: message.arguments,
        result: message.result.text,
        ...(message.result.structured ? { structured: message.result.structured } : {}),
        is_error: message.result.isError,
      };
  }
}

/** What the machine emits, as the conversation event the channel numbers and publishes. */
export function toWireEvent(event: ConversationEmitted): UnnumberedEvent {
  switch (event.type) {
    case 'tool_call':
      return { type: 'tool_call', call_id: event.callId, tool: event.tool, args: event.args };
    case 'tool_result':
      return {
        type: 'tool_result',
        call_id: event.callId,
        tool: event.tool,
        args: event.args,
        result: event.result.text,
        ...(event.result.structured ? { structured: event.result.structured } : {}),
        is_error: event.result.isError,
      };
    case 'approval_required':
      return { type: 'approval_required', call_id: event.callId, tool: event.tool, args: event.args };
    case 'error':
      return { type: 'error', code: event.code, message: event.message };
  }
}
