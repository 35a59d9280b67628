import { describe, expect, it } from 'vitest';
import type { ChatMessage } from '../src/conversations/chat-message.js';
import { fitToContext } from '../src/llm/context-window.js';

const words = (n: number) => 'word '.repeat(n);
const turn = (i: number, size: number): ChatMessage[] => [
  { role: 'user', content: `question ${i} ${words(size)}` },
  { role: 'assistant', content: '', toolCalls: [{ id: `c${i}`, name: 'list_emails', arguments: {} }] },
  { role: 'tool', callId: `c${i}`, toolName: 'list_emails', arguments: {}, result: { text: words(size), isError: false } },
  { role: 'assistant', content: `answer ${i}` },
];

describe('context window', () => {
  it('keeps everything that fits', () => {
    const history = [...turn(1, 10), ...turn(2, 10)];
    expect(fitToContext(history, 10_000)).toBe(history);
  });

  it('drops the oldest whole turns, never splitting a tool call from its result', () => {
    const history = [...turn(1, 400), ...turn(2, 400), ...turn(3, 400)];
    const kept = fitToContext(history, 2_500);
    expect(kept[0]).toMatchObject({ role: 'user', content: expect.stringMatching(/^question 2/) });
    expect(kept).toEqual(history.slice(4));
  });

  it('keeps the latest turn whole even when it alone is over budget', () => {
    const history = [...turn(1, 10), ...turn(2, 5_000)];
    expect(fitToContext(history, 100)).toEqual(history.slice(4));
  });
});
