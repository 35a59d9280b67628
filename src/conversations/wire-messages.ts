import { ConversationState, wireState, type ConversationEmitted } from '../machines/conversation-machine.js';
import type { ServerMessage, UnnumberedEvent, WireChatMessage } from '../protocol/protocol.js';
import type { ChatMessage } from './chat-message.js';
import type { LiveConversation } from './live-conversation.js';
import { nextPendingApproval } from './tool-batch.js';

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

/** Everything a (re)attaching client needs to draw the conversation; live events after it have a higher `seq`. */
export function historyMessage(conversation: LiveConversation): Extract<ServerMessage, { type: 'history' }> {
  const snapshot = conversation.actor.getSnapshot();
  const state = wireState(snapshot.value);
  const pending = state === ConversationState.AwaitingApproval ? nextPendingApproval(snapshot.context.batch) : undefined;
  return {
    type: 'history',
    conversation_id: conversation.id,
    title: conversation.title,
    messages: snapshot.context.messages.map(toWireMessage),
    state: conversation.channel.remoteState ?? state,
    seq: conversation.channel.lastSeq,
    draft: conversation.channel.draft,
    ...(pending ? { pending_approval: { call_id: pending.id, tool: pending.name, args: pending.arguments } } : {}),
  };
}
