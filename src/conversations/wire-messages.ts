import type { WireChatMessage } from '../server/protocol.js';
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
