import type { ChatMessage } from '../conversations/chat-message.js';

/** A rough, model-independent estimate; exactness is not needed to stay clear of Ollama's silent truncation. */
const CHARS_PER_TOKEN = 4;

function estimateTokens(message: ChatMessage): number {
  const text = message.role === 'tool' ? message.result.text : message.content + JSON.stringify(message.role === 'assistant' ? (message.toolCalls ?? []) : []);
  return Math.ceil(text.length / CHARS_PER_TOKEN) + 4;
}

/**
 * The most recent messages that fit `budgetTokens`, cut at a user message so that a tool call is never separated from
 * its result. The latest turn is always kept whole, even over budget: dropping the question would be worse.
 */
export function fitToContext(messages: readonly ChatMessage[], budgetTokens: number): readonly ChatMessage[] {
  let used = 0;
  let cut = messages.length;
  for (let i = messages.length - 1; i >= 0; i--) {
    const message = messages[i]!;
    used += estimateTokens(message);
    if (message.role !== 'user') continue;
    if (used > budgetTokens && cut < messages.length) return messages.slice(cut);
    cut = i;
  }
  return messages;
}
