import type { ChatMessage, ToolMessage } from '../conversations/chat-message.js';

/** A rough, model-independent estimate; exactness is not needed to stay clear of the provider's limit or truncation. */
const CHARS_PER_TOKEN = 4;
/** Per message: role and framing. */
const MESSAGE_OVERHEAD_TOKENS = 4;
/** A cut tool result keeps at least this much: the start of an email says what it is. */
const MIN_KEPT_CHARS = 400;

export function estimateTextTokens(text: string): number {
  return Math.ceil(text.length / CHARS_PER_TOKEN);
}

/**
 * Messages are never changed once made (a cut result is a new object): each is estimated once, not once per turn over
 * the whole history of a long conversation.
 */
const estimates = new WeakMap<ChatMessage, number>();

function estimateTokens(message: ChatMessage): number {
  let estimate = estimates.get(message);
  if (estimate === undefined) {
    const chars = message.role === 'tool' ? message.result.text.length : message.content.length + JSON.stringify(message.role === 'assistant' ? (message.toolCalls ?? []) : []).length;
    estimate = Math.ceil(chars / CHARS_PER_TOKEN) + MESSAGE_OVERHEAD_TOKENS;
    estimates.set(message, estimate);
  }
  return estimate;
}

export function estimateMessagesTokens(messages: readonly ChatMessage[]): number {
  return messages.reduce((sum, message) => sum + estimateTokens(message), 0);
}

/**
 * The most recent messages that fit `budgetTokens`, cut at a user message so that a tool call is never separated from
 * its result. The latest turn is always kept; when it alone is over budget, its largest tool results are cut (with a
 * marker saying so) until it fits: a question with a 2 MB tool result still gets an answer, not a provider error.
 */
export function fitToContext(messages: readonly ChatMessage[], budgetTokens: number): readonly ChatMessage[] {
  const kept = latestTurnsWithin(messages, budgetTokens);
  const excess = estimateMessagesTokens(kept) - budgetTokens;
  return excess > 0 ? cutToolResults(kept, excess) : kept;
}

/** Whole turns, newest first, while they fit; the latest one in any case. */
function latestTurnsWithin(messages: readonly ChatMessage[], budgetTokens: number): readonly ChatMessage[] {
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

/** Shortens the largest tool results first, each by what is still over, down to `MIN_KEPT_CHARS`. */
function cutToolResults(messages: readonly ChatMessage[], excessTokens: number): readonly ChatMessage[] {
  const largestFirst = messages
    .map((message, index) => ({ message, index }))
    .filter((entry): entry is { message: ToolMessage; index: number } => entry.message.role === 'tool')
    .sort((a, b) => b.message.result.text.length - a.message.result.text.length);
  if (largestFirst.length === 0) return messages;
  const result = [...messages];
  let excessChars = excessTokens * CHARS_PER_TOKEN;
  for (const { message, index } of largestFirst) {
    if (excessChars <= 0) break;
    const text = message.result.text;
    const marker = `\n[… cut to fit the model's context window: ${text.length} characters in all; ask for less, e.g. one email at a time]`;
    const keep = Math.max(MIN_KEPT_CHARS, text.length - excessChars - marker.length);
    if (keep >= text.length) continue;
    const shortened = `${text.slice(0, keep)}${marker}`;
    excessChars -= text.length - shortened.length;
    result[index] = { ...message, result: { ...message.result, text: shortened } };
  }
  return result;
}
