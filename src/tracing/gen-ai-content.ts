import type { ChatMessage, ToolResult } from '../conversations/chat-message.js';

/**
 * Content in the shapes the GenAI conventions define (`gen-ai-input-messages.json`, `…-output-messages.json`,
 * `…-system-instructions.json`), serialized to JSON strings: span attributes cannot hold structures yet. Built only
 * when content capture is opted in.
 */

type Part =
  | { type: 'text'; content: string }
  | { type: 'tool_call'; id?: string; name: string; arguments: unknown }
  | { type: 'tool_call_response'; id: string; response: unknown };

interface GenAiMessage {
  role: 'system' | 'user' | 'assistant' | 'tool';
  parts: Part[];
}

/** A tool's answer as the model got it: its structured result when there is one, else its text. */
export function toolResultContent(result: ToolResult): unknown {
  return result.structured ?? result.text;
}

function toGenAiMessage(message: ChatMessage): GenAiMessage {
  switch (message.role) {
    case 'user':
      return { role: 'user', parts: [{ type: 'text', content: message.content }] };
    case 'assistant': {
      const text: Part[] = message.content ? [{ type: 'text', content: message.content }] : [];
      const calls: Part[] = (message.toolCalls ?? []).map((call) => ({ type: 'tool_call', id: call.id, name: call.name, arguments: call.arguments }));
      return { role: 'assistant', parts: [...text, ...calls] };
    }
    case 'tool':
      return { role: 'tool', parts: [{ type: 'tool_call_response', id: message.callId, response: toolResultContent(message.result) }] };
  }
}

/** `gen_ai.input.messages` of a chat request. */
export function inputMessages(messages: readonly ChatMessage[]): string {
  return JSON.stringify(messages.map(toGenAiMessage));
}

/** `gen_ai.input.messages` of a one-shot completion: the prompt as the one user message. */
export function promptMessages(prompt: string): string {
  return JSON.stringify([{ role: 'user', parts: [{ type: 'text', content: prompt }] }]);
}

/** `gen_ai.system_instructions`. */
export function systemInstructions(system: string): string {
  return JSON.stringify([{ type: 'text', content: system }]);
}

/** `gen_ai.output.messages`: the one answer, with the tool calls it asked for. */
export function outputMessages(text: string, toolCalls: ReadonlyArray<{ name: string; arguments: unknown }>, finishReason: string): string {
  const parts: Part[] = [...(text ? [{ type: 'text' as const, content: text }] : []), ...toolCalls.map((call) => ({ type: 'tool_call' as const, name: call.name, arguments: call.arguments }))];
  return JSON.stringify([{ role: 'assistant', parts, finish_reason: finishReason }]);
}
