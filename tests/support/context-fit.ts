import { estimateTextTokens } from '../../src/llm/context-window.js';
import type { TestClient } from './ws-client.js';

/** A chat request as a fake recorded it (Ollama's or OpenAI's): the tool schemas and the messages, system prompt included. */
export interface RecordedChatBody {
  tools?: readonly unknown[] | undefined;
  messages?: readonly unknown[] | undefined;
}

/** What a request costs, counted as the runtime counts it: system prompt, tool schemas and every message. */
export function requestTokens(body: RecordedChatBody): number {
  const messages = (body.messages ?? []) as ReadonlyArray<{ content?: string | null; tool_calls?: unknown[] }>;
  return (
    estimateTextTokens(JSON.stringify(body.tools ?? [])) +
    messages.reduce((sum, m) => sum + estimateTextTokens(m.content ?? '') + estimateTextTokens(JSON.stringify(m.tool_calls ?? [])) + 4, 0)
  );
}

/** About 1,500 tokens a question: two fit a 4,096-token window with a 512-token reply, three do not. */
export const LONG_QUESTION_CHARS = 6_000;

/**
 * `count` long questions in one conversation, each answered by whatever the fake says unscripted. From the third on,
 * the history only fits a small window if older turns are folded or left out: a runtime fitting requests to a larger
 * window than the model's sends them whole.
 */
export async function askLongQuestions(client: TestClient, count: number): Promise<void> {
  for (let i = 1; i <= count; i++) await client.chat(`Question ${i}: ${'lorem ipsum '.repeat(LONG_QUESTION_CHARS / 12)}`);
}
